package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// helperEnv makes the test binary, run as the checked command, create a
// network and exit instead of running tests. Its value says whose the
// network claims to be: "self" (the helper process: a leak of the
// command) or "init" (pid 1, a live process that is not the command's).
const helperEnv = "LEFTOVERS_TEST_NETWORK"

func TestMain(m *testing.M) {
	if who := os.Getenv(helperEnv); who != "" {
		if err := helperMakeNetwork(who); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperMakeNetwork creates a labelled network named after its sandbox
// and prints the sandbox id.
func helperMakeNetwork(who string) error {
	ctx := context.Background()
	cli, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	owner, err := labels.Self(labels.OwnerProcess)
	if err != nil {
		return err
	}
	if who == "init" {
		_, start, err := readStat(1)
		if err != nil {
			return err
		}
		owner = labels.Owner{PID: 1, Start: start, Kind: labels.OwnerProcess}
	}
	id := harness.NewID()
	l := owner.Labels()
	l[labels.Sandbox] = id
	l[labels.Role] = labels.RoleNetwork
	l[labels.Created] = time.Now().UTC().Format(time.RFC3339)
	if _, err := cli.NetworkCreate(ctx, id, client.NetworkCreateOptions{Driver: "bridge", Labels: l}); err != nil {
		return err
	}
	fmt.Println(id)
	// Stay alive a few of the checker's polls, as a process that makes a
	// sandbox does (it starts a registry, nodes: seconds): the checker
	// learns its descendants by polling /proc every 100 ms, and a helper
	// that exits within one poll goes unseen (see descendants).
	time.Sleep(500 * time.Millisecond)
	return nil
}

func connect(t *testing.T) *client.Client {
	t.Helper()
	testenv.NeedsEngine(t)
	cli, err := engine.Connect(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

// networksOf takes its context from the caller: a Cleanup passes one that
// outlives t.Context(), which is cancelled before Cleanup functions run.
func networksOf(t *testing.T, ctx context.Context, cli *client.Client, ownerPID string) []string {
	t.Helper()
	list, err := cli.NetworkList(ctx, client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", labels.OwnerPID+"="+ownerPID),
	})
	require.NoError(t, err)
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names
}

// A network left by a process under the command is reported with its
// sandbox and owner, fails the check and is removed.
func TestCommandThatLeaksFails(t *testing.T) {
	cli := connect(t)
	t.Setenv(helperEnv, "self")
	var report bytes.Buffer
	c := &checker{stateRoot: t.TempDir(), stderr: &report}
	code, err := c.check(t.Context(), "leaky/pkg", []string{os.Args[0]})
	require.NoError(t, err)
	assert.Equal(t, exitLeak, code)
	out := report.String()
	assert.Contains(t, out, "leftovers: leaky/pkg left 1 object(s) behind:\n  network   st-")
	assert.Contains(t, out, "FAIL\tleaky/pkg\t")
	// Removed once reported: nothing of this test's tree stays.
	assert.Regexp(t, `owner pid (\d+), process\)`, out)
	pid := regexpGroup(t, `owner pid (\d+),`, out)
	assert.Empty(t, networksOf(t, t.Context(), cli, pid), "the leaked network was not removed")
}

// A network created while the command runs but owned by a process that
// is not the command's (here pid 1, alive) is not the command's leak.
func TestOtherProcessesObjectsAreNotTheCommands(t *testing.T) {
	cli := connect(t)
	t.Cleanup(func() {
		// The helper made it in pid 1's name: remove it here (t.Context()
		// is already cancelled in a Cleanup).
		ctx := context.Background()
		for _, n := range networksOf(t, ctx, cli, "1") {
			if _, err := cli.NetworkRemove(ctx, n, client.NetworkRemoveOptions{}); err != nil {
				t.Errorf("remove %s: %v", n, err)
			}
		}
	})
	t.Setenv(helperEnv, "init")
	var report bytes.Buffer
	c := &checker{stateRoot: t.TempDir(), stderr: &report}
	code, err := c.check(t.Context(), "clean/pkg", []string{os.Args[0]})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Empty(t, report.String())
	assert.NotEmpty(t, networksOf(t, t.Context(), cli, "1"), "the other process's network is gone: the check removed what was not the command's")
}

// A failing command's status is kept; a clean one passes silently.
func TestExitStatusIsTheCommands(t *testing.T) {
	connect(t)
	for _, tc := range []struct {
		cmd  []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 7"}, 7},
	} {
		var report bytes.Buffer
		c := &checker{stateRoot: t.TempDir(), stderr: &report}
		code, err := c.check(t.Context(), "p", tc.cmd)
		require.NoError(t, err)
		assert.Equal(t, tc.want, code, tc.cmd)
		assert.Empty(t, report.String())
	}
}

// A new state dir of a sandbox nothing on the engine names is reported
// but neither counted nor removed: it may be another process's.
func TestUnknownOwnerIsReportedNotCounted(t *testing.T) {
	connect(t)
	root := t.TempDir()
	var report bytes.Buffer
	c := &checker{stateRoot: root, stderr: &report}
	code, err := c.check(t.Context(), "p", []string{"mkdir", root + "/st-0123456789-42"})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Equal(t, "leftovers: p: 1 new object(s) whose owner nothing names (not counted, left alone):\n"+
		"  state dir "+root+"/st-0123456789-42 (sandbox st-0123456789, owner unknown)\n", report.String())
	assert.DirExists(t, root+"/st-0123456789-42")
}

func TestNewSinceResolvesOwners(t *testing.T) {
	mine := labels.Owner{PID: 10, Start: 100, Kind: labels.OwnerProcess}
	before := newSnapshot()
	before.objects["network n0"] = object{kind: kindNetwork, name: "old", ref: "n0", sandbox: "st-old"}
	after := newSnapshot()
	after.objects["network n0"] = before.objects["network n0"]
	after.objects["image localhost:5000/app:v1"] = object{kind: kindImage, name: "localhost:5000/app:v1", ref: "localhost:5000/app:v1", registry: "localhost:5000"}
	after.objects["image localhost:6000/app:v1"] = object{kind: kindImage, name: "localhost:6000/app:v1", ref: "localhost:6000/app:v1", registry: "localhost:6000"}
	// The registry on 5000 was created and removed in between: only the
	// engine's events knew it.
	seen := newSnapshot()
	seen.learn(map[string]string{
		labels.Sandbox: "st-a", labels.RegistryAddr: "localhost:5000",
		labels.OwnerPID: "10", labels.OwnerStart: "100", labels.OwnerKind: labels.OwnerProcess,
	})
	got := newSince(before, after, seen)
	require.Len(t, got, 2)
	assert.Equal(t, "st-a", got[1].sandbox)
	assert.Equal(t, &mine, got[1].owner)
	assert.Equal(t, "image     localhost:5000/app:v1 (sandbox st-a, owner pid 10, process)", got[1].String())
	assert.Nil(t, got[0].owner)
	assert.Equal(t, "image     localhost:6000/app:v1 (from registry localhost:6000, its sandbox unknown)", got[0].String())
}

// Every object of a sandbox that asked to be kept on failure says so,
// its state dir too, which carries no label.
func TestNewSinceKnowsKept(t *testing.T) {
	before, after := newSnapshot(), newSnapshot()
	after.learn(map[string]string{labels.Sandbox: "st-k", labels.KeepOnFailure: "run-1"})
	after.objects["state dir /s/st-k-1"] = object{kind: kindStateDir, name: "/s/st-k-1", ref: "/s/st-k-1", sandbox: "st-k"}
	after.objects["network n1"] = object{kind: kindNetwork, name: "st-other", ref: "n1", sandbox: "st-other"}
	got := newSince(before, after)
	require.Len(t, got, 2)
	assert.Equal(t, "run-1", got[0].kept)
	assert.Empty(t, got[1].kept)
}

func TestReadStat(t *testing.T) {
	ppid, start, err := readStat(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getppid(), ppid)
	self, err := labels.Self(labels.OwnerProcess)
	require.NoError(t, err)
	assert.Equal(t, self.Start, start)
}

func regexpGroup(t *testing.T, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	require.Len(t, m, 2, "%q in %q", re, s)
	_, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return m[1]
}
