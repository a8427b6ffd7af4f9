package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestConcurrentScanTrigger: a scan is triggered while one runs. The
// second is skipped, as the profile says it answers, and counted in the
// scans-skipped metric; the first completes.
func TestConcurrentScanTrigger(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope, profile.CapSkipBusyScan}, worldSpec{}, 4*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		before := w.nodes(ctx)
		w.publishNode(ctx, "v2")

		// The first scan is under way once the updater stops an old node
		// (both updaters stop before they recreate): armed before the
		// trigger, so only what the scan does counts.
		var stopping []monitor.Predicate
		for _, n := range w.cluster.Nodes() {
			stopping = append(stopping, monitor.Stopping(n.Name(), before[n.Name()].ContainerID))
		}
		underway := w.expect(monitor.AnyOf(stopping...))
		first := make(chan harness.ScanResult, 1)
		go func() {
			res, err := w.trigger(ctx)
			if err != nil {
				res.Body = err.Error()
			}
			first <- res
		}()
		_, err := underway.wait(ctx)
		require.NoError(t, err, "the first scan never began replacing a node")

		second, err := w.updater.Scan(ctx)
		require.NoError(t, err)
		require.True(t, second.Skipped(w.profile), "the second trigger's answer %d does not say it was skipped (the profile's trigger.busy_statuses %v, busy_body %q): %s", second.Status, w.profile.Trigger.BusyStatuses, w.profile.Trigger.BusyBody, second.Body)

		res := <-first
		w.requireScanOK(res)
		md := w.scrapeAfterScans(ctx, 1)
		w.requireDelta(w.first, md, mScansSkipped, 1)
		w.requireDelta(w.first, md, mScansTotal, 1)
		w.requireGauge(md, mUpdated, 2)
	})
}
