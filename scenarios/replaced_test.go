package scenarios

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// requireReplaced waits, on the Watcher, until every node of before runs
// in another container started since (the time the scan was triggered;
// a node replaced twice has run in other containers before), healthy, and
// returns the nodes as they are then. Call it once the scan's trigger
// answered: a replacement the answer stood for is in the past by then,
// so each is awaited for at most nodeLossGrace (an engine's events can
// lag); a node replaced later than that, after the answer, is the
// trigger's contradiction (scan.early), which ends the wait at once.
// Waiting on events rather than inspecting at once: a wait fails at once,
// in the scenario's words, on what contradicts it (a label lost by the
// replacement, a node replaced after the trigger answered), where an
// inspection would only see "not updated yet".
func (w *world) requireReplaced(ctx context.Context, before map[string]nodeState, since time.Time, why func(node string) string) map[string]nodeState {
	w.t.Helper()
	for _, name := range slices.Sorted(maps.Keys(before)) {
		old := before[name].ContainerID
		replaced := monitor.Matching(fmt.Sprintf("node %s to be recreated (a container other than %.12s to start after %s)", name, old, since.UTC().Format("15:04:05.0")),
			func(ev monitor.Event) bool {
				return monitor.Recreated(name, old).Match(ev) && !ev.Time.Before(since)
			})
		wctx, cancel := context.WithTimeout(ctx, nodeLossGrace)
		ev, err := w.waitFor(wctx, replaced, monitor.IncludePast())
		cancel()
		w.requireWaited(err, "node %s %s", name, why(name))
		w.waitHealthy(ctx, name, ev.ContainerID)
	}
	return w.nodes(ctx)
}

// saying is a why of requireReplaced that says the same of every node.
func saying(why string) func(string) string { return func(string) string { return why } }

// requireWaited fails on a wait's error. A wait that a contradiction
// ended fails in the contradiction's words alone: what happened is the
// finding, and the scenario's guess at what went wrong (msgAndArgs: "the
// node was not recreated", "was it rolled back?") would blame the wrong
// thing. Any other error (a deadline) comes with the guess.
func (w *world) requireWaited(err error, msgAndArgs ...any) {
	w.t.Helper()
	var c *monitor.ContradictionError
	if errors.As(err, &c) {
		require.NoError(w.t, err)
		return
	}
	require.NoError(w.t, err, msgAndArgs...)
}

// nodeIdentity is what a node must keep across an updater's recreate:
// its name, host name and network identity, every label the harness put
// on it, and the run configuration systemd needs. (What the image
// defines may change with the image.)
type nodeIdentity struct {
	Name, Hostname   string
	Labels           map[string]string
	Networks         map[string][]string // network name: the aliases other than the container's short id
	Tty              bool
	StopSignal       string
	Privileged       bool
	CgroupnsMode     container.CgroupnsMode
	Tmpfs            map[string]string
	SecurityOpt, Cap []string
	RestartPolicy    container.RestartPolicy
}

// identityOf reads a node's identity from its inspection.
func identityOf(insp container.InspectResponse) nodeIdentity {
	id := nodeIdentity{
		Name: strings.TrimPrefix(insp.Name, "/"), Hostname: insp.Config.Hostname,
		Labels: insp.Config.Labels, Networks: map[string][]string{},
		Tty: insp.Config.Tty, StopSignal: insp.Config.StopSignal,
	}
	if hc := insp.HostConfig; hc != nil {
		id.Privileged, id.CgroupnsMode, id.Tmpfs = hc.Privileged, hc.CgroupnsMode, hc.Tmpfs
		id.SecurityOpt, id.Cap, id.RestartPolicy = hc.SecurityOpt, hc.CapAdd, hc.RestartPolicy
	}
	if insp.NetworkSettings != nil {
		for name, ep := range insp.NetworkSettings.Networks {
			var aliases []string
			if ep != nil {
				aliases = slices.DeleteFunc(slices.Clone(ep.Aliases), func(a string) bool {
					return len(insp.ID) >= 12 && a == insp.ID[:12]
				})
				slices.Sort(aliases)
			}
			id.Networks[name] = aliases
		}
	}
	return id
}

// identities inspects every node of the world. A node's labels are its
// container's less those its image defines (they change with the image).
func (w *world) identities(ctx context.Context) map[string]nodeIdentity {
	w.t.Helper()
	out := map[string]nodeIdentity{}
	for _, n := range w.inspectNodes(ctx) {
		id := identityOf(n.insp)
		id.Labels = maps.Clone(id.Labels)
		if n.img.Config != nil {
			for k := range n.img.Config.Labels {
				delete(id.Labels, k)
			}
		}
		out[n.name] = id
	}
	return out
}

// nodeInspection is a node's container and its image, as inspected.
type nodeInspection struct {
	name string
	insp container.InspectResponse
	img  client.ImageInspectResult
}

// inspectNodes inspects every node's container and its image; a node
// without a container fails the test saying why (see nodeGone).
func (w *world) inspectNodes(ctx context.Context) []nodeInspection {
	w.t.Helper()
	var out []nodeInspection
	for _, n := range w.cluster.Nodes() {
		insp, err := n.Inspect(ctx)
		if cerrdefs.IsNotFound(err) {
			require.FailNow(w.t, w.nodeGone(ctx, n.Name()), "the engine: %v", err)
		}
		require.NoError(w.t, err)
		img, err := s.cli.ImageInspect(ctx, insp.Image)
		require.NoError(w.t, err)
		out = append(out, nodeInspection{n.Name(), insp, img})
	}
	return out
}
