package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// TestRegistryDownDuringScan: the registry is down when a scan runs. The
// scan finishes, nothing is lost or left half-replaced, and the failure
// shows in the metrics: the metrics server counts its failed scrape of the
// registry, and an updater that counts failed pulls counts one per
// container (one that does not, as its profile says, must report 0, so a
// change either way is caught). Once the registry is back, the next scan
// updates.
func TestRegistryDownDuringScan(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope}, worldSpec{scanFailuresExpected: true}, 4*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		// A scan while the registry is down counts failed pulls.
		before := w.nodes(ctx)
		w.publishNode(ctx, "v2")
		require.NoError(t, w.sb.StopRegistry(ctx))

		res := w.scan(ctx)
		w.requireScanOK(res)

		require.Equal(t, before, w.nodes(ctx), "nodes changed while the registry was down")
		requireNodeContainers(t, ctx, w, len(before))
		md := w.scrapeAfterScans(ctx, 1)
		// Where the containers count is the profile's to say; the
		// other places must stay 0, so a change either way is caught.
		wantFailed := 0
		switch w.profile.Metrics.RegistryDown {
		case profile.CountedFailed:
			wantFailed = len(before)
		case profile.CountedSkipped:
			w.requireGauge(md, mSkipped, int64(len(before)), "metrics.registry_down is %q", w.profile.Metrics.RegistryDown)
		default:
			t.Logf("profile %s counts a registry-down container nowhere: %s must stay 0", w.profile.Name, w.profile.Metrics.Failed)
		}
		w.requireGauge(md, mFailed, int64(wantFailed), "while the registry was down (metrics.registry_down is %q)", w.profile.Metrics.RegistryDown)
		w.requireGauge(md, mUpdated, 0)
		d, err := metricclient.Diff(w.first, md)
		require.NoError(t, err)
		scrapeErrs, err := d.Delta("seatrial_scrape_errors_total", map[string]string{metricclient.LabelSandbox: w.sb.ID(), "source": "registry"})
		require.NoError(t, err)
		require.GreaterOrEqual(t, scrapeErrs, 1.0, "the metrics server did not count the registry as down")

		// Back up: its blobs were on tmpfs, so publish v2 again.
		require.NoError(t, w.sb.StartRegistry(ctx))
		v2 := w.publishNode(ctx, "v2")
		since := time.Now()
		res = w.scan(ctx)
		w.requireScanOK(res)
		for name, n := range w.requireReplaced(ctx, before, since, saying("was not updated after the registry came back")) {
			require.Equal(t, v2.Digest, n.Digest, "node %s after the registry came back", name)
		}
		requireNodeContainers(t, ctx, w, len(before))
		md = w.scrapeAfterScans(ctx, 2)
		w.requireGauge(md, mFailed, 0)
		w.requireGauge(md, mUpdated, int64(len(before)))
	})
}

// requireNodeContainers asserts the sandbox has exactly n node containers,
// all running: no half-replaced leftover (a renamed old container, a
// created-but-not-started new one).
func requireNodeContainers(t testing.TB, ctx context.Context, w *world, n int) {
	t.Helper()
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{
		All: true,
		Filters: make(client.Filters).
			Add("label", labels.Sandbox+"="+w.sb.ID()).
			Add("label", labels.Role+"="+labels.RoleNode),
	})
	require.NoError(t, err)
	var names []string
	for _, c := range list.Items {
		names = append(names, c.Names[0]+" "+string(c.State))
	}
	require.Len(t, list.Items, n, "node containers: %v", names)
	for _, c := range list.Items {
		require.Equal(t, "running", string(c.State), "node containers: %v", names)
	}
}
