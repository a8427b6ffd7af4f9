package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestMonitorOnly: a monitor-only updater reports the new version and
// applies nothing.
func TestMonitorOnly(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope, profile.CapMonitorOnly}, worldSpec{updater: harness.UpdaterOptions{MonitorOnly: true}}, 3*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		before := w.nodes(ctx)
		w.publishNode(ctx, "v2")

		res := w.scan(ctx)
		w.requireScanOK(res)

		require.Equal(t, before, w.nodes(ctx), "a monitor-only scan changed the nodes")
		md := w.scrapeAfterScans(ctx, 1)
		w.requireGauge(md, mFailed, 0)
		// What "updated" counts in monitor-only is the profile's to say
		// (watchtower counts stale containers as updated).
		wantUpdated := 0
		if w.profile.Metrics.MonitorOnlyCountsUpdated {
			wantUpdated = len(before)
		}
		// Which way the updater counts is the profile's to say; the
		// message tells a profile's author which value fits.
		w.requireGauge(md, mUpdated, int64(wantUpdated), "after a monitor-only scan of %d stale node(s): the profile's metrics.monitor_only_counts_updated is %v; if the updater counts the stale containers it only reported as updated, set it to %v",
			len(before), w.profile.Metrics.MonitorOnlyCountsUpdated, !w.profile.Metrics.MonitorOnlyCountsUpdated)
		w.requireDelta(w.first, md, mScansTotal, 1)
		logs, err := w.updater.Logs(ctx)
		require.NoError(t, err)
		require.Regexp(t, w.profile.UpdateFoundLog, logs, "the updater's log has no line matching the profile's update_found_log: it did not report the new version")
	})
}
