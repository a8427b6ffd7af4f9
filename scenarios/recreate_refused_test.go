package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestRecreateRefused: the engine (through the engine proxy) refuses the
// replacement of an updated node, at its create and, in a variant, at its
// start. Nothing may be lost: every node still has a container under its
// name, either running (the old one restored, or a replacement made on a
// later try) or stopped with its image and configuration untouched. The
// failure is counted in the profile's failed metric or reported in the
// trigger's answer. A node that disappears is the updater's doing, and the
// failure says so.
func TestRecreateRefused(t *testing.T) {
	forEachVariant(t, []profile.Capability{profile.CapScope, profile.CapSurvivesRefusedRecreate}, []variant{
		// first=1: only the first replacement is refused, so an updater
		// that restores by recreating the old configuration can. The
		// detail is the path of the refused call.
		{"create", "fail call=create first=1", "/containers/create"},
		{"start", "fail call=start first=1", "/start"},
	}, recreateRefused)
}

func recreateRefused(t testing.TB, p harness.Profile, v variant) {
	rule, call := v.rule, v.detail
	w := newWorld(t, p, worldSpec{scanFailuresExpected: true, sandbox: []harness.Option{harness.WithEngineProxy()}})
	ctx := within(t, 4*time.Minute)
	before := map[string]container.InspectResponse{}
	for _, n := range w.cluster.Nodes() {
		insp, err := n.Inspect(ctx)
		require.NoError(t, err)
		before[n.Name()] = insp
	}
	v2 := w.publishNode(ctx, "v2")
	require.NoError(t, w.sb.InjectEngineFault(ctx, rule))

	res, err := w.trigger(ctx)
	require.NoError(t, err, "the scan trigger")
	calls, err := w.sb.EngineCalls(ctx)
	require.NoError(t, err)

	// Nothing lost: judged first, as it is the worst outcome.
	for _, name := range slices.Sorted(maps.Keys(before)) {
		n := w.cluster.Node(name)
		_, err := n.Inspect(ctx)
		if cerrdefs.IsNotFound(err) {
			require.FailNow(t, fmt.Sprintf("the updater removed node %s and did not recreate it", name), "%s\nengine calls: %s", w.nodeGone(ctx, name), engineCallLines(calls))
		}
		require.NoError(t, err)
	}
	refused := 0
	for _, c := range calls {
		if c.Fault != "" && strings.Contains(c.Path, call) {
			refused++
		}
	}
	require.Equal(t, 1, refused, "calls refused by the rule %q (the updater never tried to replace a node?): %s", rule, engineCallLines(calls))

	updated := 0
	states := w.nodes(ctx)
	for name, old := range before {
		now, err := w.cluster.Node(name).Inspect(ctx)
		require.NoError(t, err)
		if states[name].Digest == v2.Digest && states[name].Running {
			updated++ // replaced on a later try: nothing lost
			continue
		}
		if now.ID != old.ID && (now.State == nil || !now.State.Running) {
			require.FailNow(t, fmt.Sprintf("the updater replaced node %s with a container that is not running, and the old one is gone", name),
				"old container %s, now %s; engine calls: %s", old.ID[:12], now.ID[:12], engineCallLines(calls))
		}
		require.Equal(t, old.Config.Image, now.Config.Image, "node %s is neither updated nor as it was: its image reference changed", name)
		require.Equal(t, old.Image, now.Image, "node %s is neither updated nor as it was: its image changed", name)
		require.Equal(t, old.Config.Labels, now.Config.Labels, "node %s: its labels changed", name)
		require.ElementsMatch(t, old.Config.Env, now.Config.Env, "node %s: its environment changed", name)
		if now.State == nil || !now.State.Running {
			t.Logf("node %s was left stopped, intact (container %s)", name, now.ID[:12])
		}
	}
	require.Less(t, updated, len(before), "every node was updated, though the engine refused a replacement")

	md := w.scrapeAfterScans(ctx, 1)
	counted, _, err := md.GetPrometheusInteger(p.Metrics.Failed, w.updaterLabels())
	require.NoError(t, err, "the updater's %s", p.Metrics.Failed)
	answered, inAnswer := failedInAnswer(res.Body)
	require.True(t, counted >= 1 || (inAnswer && answered >= 1),
		"the refused replacement is not visible: %s = %d, and the trigger's answer (%d) says no failure: %s", p.Metrics.Failed, counted, res.Status, oneLine(res.Body, 200))
}

// engineCallLines is the updater's state-changing engine calls, one a line.
func engineCallLines(calls []harness.EngineCall) string {
	var b strings.Builder
	for _, c := range calls {
		if c.Method == "GET" || c.Method == "HEAD" {
			continue
		}
		b.WriteString("\n  " + c.String())
	}
	return b.String()
}
