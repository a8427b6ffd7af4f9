package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// The lifecycle hook labels of the watchtower family
// (docs/lifecycle-hooks.md of watchtower v1.7.1).
const (
	preCheckLabel   = "com.centurylinklabs.watchtower.lifecycle.pre-check"
	preUpdateLabel  = "com.centurylinklabs.watchtower.lifecycle.pre-update"
	postUpdateLabel = "com.centurylinklabs.watchtower.lifecycle.post-update"
	postCheckLabel  = "com.centurylinklabs.watchtower.lifecycle.post-check"
)

// hookLog is where, in a node, each hook appends a line: a host
// directory bound into the node, so that the lines of the old container
// and of its replacement land in one file.
const hookLog = "/seatrial-hooks/log"

// TestLifecycleHooks: two nodes carry all four lifecycle hooks, and the
// updater runs with its lifecycle hooks flag. Each hook appends its name
// and the id of the container it ran in to a file. On node "hooked" they
// run pre-check, pre-update (both in the old container), post-update and
// post-check (in the new one), in that order, and the node is updated.
// On node "skipped" the pre-update hook exits 75, which watchtower
// documents as "skip this container": the node keeps its container and
// its version, and its post-update hook never runs.
//
// Engine API: nothing newer than 1.25 (exec); the suite's floor is 1.41,
// for the nodes' cgroupns.
func TestLifecycleHooks(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapLifecycleHooks}, lifecycleHooks)
}

// hookCommand appends "<hook> <container id>" to hookLog. The id is read
// from the node's mount table (the engine bind-mounts the container's own
// hostname file from its directory, named after the id), so a line says
// which container the hook ran in.
func hookCommand(hook string) string {
	return fmt.Sprintf(`echo "%s $(grep -o -m1 'containers/[0-9a-f]\{64\}' /proc/self/mountinfo | cut -d/ -f2)" >> %s`, hook, hookLog)
}

func hookedNode(name, dir string, preUpdateExit int) harness.NodeSpec {
	return harness.NodeSpec{
		Name: name,
		Labels: map[string]string{
			preCheckLabel:   hookCommand("pre-check"),
			preUpdateLabel:  hookCommand("pre-update") + fmt.Sprintf("; exit %d", preUpdateExit),
			postUpdateLabel: hookCommand("post-update"),
			postCheckLabel:  hookCommand("post-check"),
		},
		Binds: []string{filepath.Join(dir, name) + ":" + filepath.Dir(hookLog)},
	}
}

func lifecycleHooks(t testing.TB, p harness.Profile) {
	dir := t.TempDir()
	w := newWorld(t, p, worldSpec{
		nodes:   []harness.NodeSpec{hookedNode("hooked", dir, 0), hookedNode("skipped", dir, 75)},
		updater: harness.UpdaterOptions{LifecycleHooks: true},
		// The skipped update counts as failed in the watchtower family
		// (watchtower v1.7.1: stopStaleContainer returns an error).
		scanFailuresExpected: true,
	})
	ctx := within(t, 4*time.Minute)
	before, after, v2 := w.updateNodes(ctx)

	require.NotEqual(t, before["hooked"].ContainerID, after["hooked"].ContainerID, "node hooked was not recreated")
	require.Equal(t, v2.Digest, after["hooked"].Digest, "node hooked runs the new version")
	require.True(t, after["hooked"].Running, "node hooked runs")
	require.Equal(t, before["skipped"].ContainerID, after["skipped"].ContainerID,
		"node skipped was recreated, though its pre-update hook exited 75 (documented: skip this container's update)")
	require.True(t, after["skipped"].Running, "node skipped runs")

	oldH, newH, oldS := before["hooked"].ContainerID, after["hooked"].ContainerID, before["skipped"].ContainerID
	want := map[string][]string{
		"hooked":  {"pre-check " + oldH, "pre-update " + oldH, "post-update " + newH, "post-check " + newH},
		"skipped": {"pre-check " + oldS, "pre-update " + oldS, "post-check " + oldS},
	}
	for _, node := range []string{"hooked", "skipped"} {
		got := w.hookLines(ctx, node, len(want[node]))
		require.Equal(t, short12(want[node]), short12(got),
			"the lifecycle hooks of node %s ran as listed, want pre-check and pre-update in the old container, then post-update and post-check in the new one (old %.12s, new %.12s)",
			node, before[node].ContainerID, after[node].ContainerID)
	}
}

// hookLines reads a node's hook log until it has n lines: an updater may
// run the post-check hooks after its trigger answered. If it never has
// them, the lines there are are returned, for the comparison to show.
func (w *world) hookLines(ctx context.Context, node string, n int) []string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lines []string
	_, err := retry(ctx, 100*time.Millisecond, time.Second, func() (struct{}, error) {
		res, err := w.cluster.Node(node).Exec(ctx, "cat", hookLog)
		if err != nil {
			return struct{}{}, err
		}
		lines = nil
		if out := strings.TrimSpace(res.Stdout); out != "" {
			lines = strings.Split(out, "\n")
		}
		if len(lines) < n {
			return struct{}{}, fmt.Errorf("%d of %d lines", len(lines), n)
		}
		return struct{}{}, nil
	})
	if err != nil {
		w.t.Logf("the hook log of node %s: %v", node, err)
	}
	return lines
}

// short12 shortens the container ids in hook lines, for readable diffs.
func short12(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		hook, id, _ := strings.Cut(l, " ")
		if len(id) > 12 {
			id = id[:12]
		}
		out[i] = hook + " " + id
	}
	return out
}
