package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestNodeLoss: a node is killed; the Watcher reports container.die with
// the exit code; the next scan updates the live node, leaves the dead one
// as it is (no resurrection, no failure), and counts only what it scanned.
func TestNodeLoss(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope}, worldSpec{}, 3*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		before := w.nodes(ctx)
		lost := w.cluster.Node("worker-0")
		require.NoError(t, lost.Kill(ctx, "SIGKILL"))
		die, err := w.waitFor(ctx, monitor.Died("worker-0"), monitor.IncludePast())
		require.NoError(t, err)
		require.Equal(t, 137, die.ExitCode, "a SIGKILLed node exits 128+9")
		require.Equal(t, before["worker-0"].ContainerID, die.ContainerID)

		v2 := w.publishNode(ctx, "v2")
		since := time.Now()
		res := w.scan(ctx)
		w.requireScanOK(res)

		after := w.requireReplaced(ctx, map[string]nodeState{"controller": before["controller"]}, since, saying("(the live node) was not updated"))
		require.Equal(t, v2.Digest, after["controller"].Digest, "the live node was not updated")
		require.Equal(t, before["worker-0"].ContainerID, after["worker-0"].ContainerID, "the dead node was recreated")
		require.False(t, after["worker-0"].Running, "the dead node was started again")

		md := w.scrapeAfterScans(ctx, 1)
		w.requireGauge(md, mScanned, 1)
		w.requireGauge(md, mUpdated, 1)
		w.requireGauge(md, mFailed, 0)
	})
}
