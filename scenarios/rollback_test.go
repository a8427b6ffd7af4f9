package scenarios

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestHealthGatedRollback: a version whose app unit fails (so systemd is
// degraded and the node unhealthy) is published; the updater tries it,
// sees it unhealthy, and rolls back: the old image runs again in a new
// container, healthy, and rollbacks and failed count it.
func TestHealthGatedRollback(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapHealthGatedRollback}, healthGatedRollback)
}

func healthGatedRollback(t testing.TB, p harness.Profile) {
	w := newWorld(t, p, worldSpec{
		// Checked every second, not every 5 s as the image says: the
		// updater's gate and this scenario wait on the verdicts.
		nodes:                []harness.NodeSpec{{Name: "controller", Config: &harness.NodeConfig{Healthcheck: &container.HealthConfig{Interval: time.Second}}}},
		updater:              harness.UpdaterOptions{HealthGated: true, HealthTimeout: 90 * time.Second},
		scanFailuresExpected: true,
	})
	ctx := within(t, 4*time.Minute)
	before := w.nodes(ctx)["controller"]
	broken, err := w.sb.Publish(ctx, "node", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.UnitFails})
	require.NoError(t, err)

	res := w.scan(ctx)
	w.requireScanOK(res)

	// The broken version did run (the first container to replace the
	// old one), and turned unhealthy.
	tried, err := w.waitFor(ctx, monitor.Recreated("controller", before.ContainerID), monitor.IncludePast())
	w.requireWaited(err, "the broken version %s never ran", broken.Digest)
	_, err = w.waitFor(ctx, monitor.HealthIs("controller", tried.ContainerID, "unhealthy"), monitor.IncludePast())
	w.requireWaited(err, "the broken version %s ran but never turned unhealthy", broken.Digest)

	after := w.nodes(ctx)["controller"]
	require.Equal(t, w.v1.Digest, after.Digest,
		"after the broken version %s turned unhealthy, the node runs %s; want the old version %s back (was it rolled back?)",
		broken.Digest, after.Digest, w.v1.Digest)
	require.Equal(t, before.ImageID, after.ImageID, "the old image runs again")
	require.NotEqual(t, before.ContainerID, after.ContainerID, "the rollback is a new container")
	require.True(t, after.Running)
	w.waitHealthy(ctx, "controller", after.ContainerID)
	w.requireUnitActive(ctx)

	md := w.scrapeAfterScans(ctx, 1)
	w.requireDelta(w.first, md, mRollbacks, 1)
	w.requireGauge(md, mFailed, 1)
	w.requireGauge(md, mUpdated, 0)
}
