package scenarios

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drydock-dev/drydock/fixtures/app/appconfig"
	"github.com/drydock-dev/drydock/harness"
)

// TestFullScan: a new version of the node image is published and a scan
// triggered; every managed node is recreated on the new digest, its
// systemd comes up healthy with the app's unit active, and the updater's
// metrics say so.
func TestFullScan(t *testing.T) {
	forEachProfile(t, []harness.Capability{harness.CapScope}, func(t *testing.T, p harness.Profile) {
		w := newWorld(t, p, worldSpec{})
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		before := w.nodes(ctx)
		for name, n := range before {
			require.Equal(t, w.v1.Digest, n.Digest, "node %s before the scan", name)
		}
		v2, err := w.sb.Publish(ctx, "node", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
		require.NoError(t, err)

		res := w.scan(ctx)
		require.Equal(t, http.StatusOK, res.Status, "scan answer: %s", res.Body)

		after := w.nodes(ctx)
		for name, n := range after {
			require.Equal(t, v2.Digest, n.Digest, "node %s runs the new version", name)
			require.NotEqual(t, before[name].ContainerID, n.ContainerID, "node %s was recreated", name)
			require.True(t, n.Running, "node %s runs", name)
			w.waitHealthy(ctx, name, n.ContainerID)
		}
		w.requireUnitActive(ctx)

		md := w.scrapeAfterScans(ctx, 1)
		require.EqualValues(t, 2, w.gauge(md, p.Metrics.Scanned))
		require.EqualValues(t, 2, w.gauge(md, p.Metrics.Updated))
		require.EqualValues(t, 0, w.gauge(md, p.Metrics.Failed))
		w.requireDelta(w.first, md, p.Metrics.ScansTotal, 1)
	})
}
