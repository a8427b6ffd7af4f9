package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
)

// TestNoOpScan: nothing new is published; a scan recreates nothing,
// updates nothing, fetches no blob from the registry, and makes exactly
// the manifest requests the profile says it makes per container (a HEAD
// for an updater that checks digests first; a GET for one that falls back
// to a pull). This is the regression that costs users their Docker Hub
// rate limit.
func TestNoOpScan(t *testing.T) {
	forEachProfile(t, []harness.Capability{harness.CapScope}, func(t testing.TB, p harness.Profile) {
		w := newWorld(t, p, worldSpec{})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		before := w.nodes(ctx)

		res := w.scan(ctx)
		w.requireScanOK(res)

		after := w.nodes(ctx)
		require.Equal(t, before, after, "a scan with nothing new changed the nodes")
		md := w.scrapeAfterScans(ctx, 1)
		require.EqualValues(t, 2, w.gauge(md, p.Metrics.Scanned))
		require.EqualValues(t, 0, w.gauge(md, p.Metrics.Updated))
		require.EqualValues(t, 0, w.gauge(md, p.Metrics.Failed))
		w.requireDelta(w.first, md, p.Metrics.ScansTotal, 1)

		managed := float64(len(after))
		require.Zero(t, w.registryDelta(w.first, md, map[string]string{"handler": "blob", "method": "get"}), "blob GETs in a no-op scan")
		require.Equal(t, managed*float64(p.NoopScan.ManifestHEADs), w.registryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "head"}), "manifest HEADs")
		require.Equal(t, managed*float64(p.NoopScan.ManifestGETs), w.registryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "get"}), "manifest GETs")
	})
}
