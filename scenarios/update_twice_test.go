package scenarios

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestUpdateTwice: v1 → v2 → v3 (publish, scan, publish, scan). Every
// node is updated both times, and its identity, its labels and its
// configuration survive both recreates: an updater that loses something
// on a recreate (the scope label, say) is caught by the second scan, which
// would skip the node for ever, or before it by the Watcher.
func TestUpdateTwice(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, updateTwice)
}

func updateTwice(t testing.TB, p harness.Profile) {
	w := newWorld(t, p, worldSpec{nodes: []harness.NodeSpec{
		// A label of the operator's own, besides seatrial's: it must
		// survive too.
		{Name: "controller", Labels: map[string]string{"io.example.owner": "team-a"}},
		{Name: "worker-0"},
	}})
	ctx := within(t, 5*time.Minute)
	first := w.identities(ctx)
	before := w.nodes(ctx)
	for round, version := range []string{"v2", "v3"} {
		pub := w.publishNode(ctx, version)
		since := time.Now()
		res := w.scan(ctx)
		w.requireScanOK(res)
		why := fmt.Sprintf("was not recreated by scan %d (v%d → %s)", round+1, round+1, version)
		after := w.requireReplaced(ctx, before, since, saying(why))
		for name, n := range after {
			require.Equal(t, pub.Digest, n.Digest, "node %s after scan %d runs %s, want %s (%s)", name, round+1, n.Digest, pub.Digest, version)
			require.True(t, n.Running, "node %s runs after scan %d", name, round+1)
		}
		now := w.identities(ctx)
		for name, id := range first {
			require.Equal(t, id, now[name], "node %s after recreate %d (%s): its identity, labels or configuration changed (-as seatrial made it +now)", name, round+1, version)
		}
		w.requireUnitActive(ctx)
		md := w.scrapeAfterScans(ctx, int64(round+1))
		w.requireGauge(md, mScanned, int64(len(before)), "after scan %d (%s)", round+1, version)
		w.requireGauge(md, mUpdated, int64(len(before)), "after scan %d (%s): every node is updated both times", round+1, version)
		w.requireGauge(md, mFailed, 0, "after scan %d (%s)", round+1, version)
		w.requireDelta(w.first, md, mScansTotal, float64(round+1))
		before = after
	}
}
