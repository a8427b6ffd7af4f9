package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestMonitorOnly: a monitor-only updater reports the new version and
// applies nothing.
func TestMonitorOnly(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapMonitorOnly}, func(t testing.TB, p harness.Profile) {
		w := newWorld(t, p, worldSpec{updater: harness.UpdaterOptions{MonitorOnly: true}})
		ctx := within(t, 3*time.Minute)
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
		if p.Metrics.MonitorOnlyCountsUpdated {
			wantUpdated = len(before)
		}
		// Which way the updater counts is the profile's to say; the
		// message tells a profile's author which value fits.
		w.requireGauge(md, mUpdated, int64(wantUpdated), "after a monitor-only scan of %d stale node(s): the profile's metrics.monitor_only_counts_updated is %v; if the updater counts the stale containers it only reported as updated, set it to %v",
			len(before), p.Metrics.MonitorOnlyCountsUpdated, !p.Metrics.MonitorOnlyCountsUpdated)
		w.requireDelta(w.first, md, mScansTotal, 1)
		logs, err := w.updater.Logs(ctx)
		require.NoError(t, err)
		require.Regexp(t, p.UpdateFoundLog, logs, "the updater's log has no line matching the profile's update_found_log: it did not report the new version")
	})
}
