package scenarios

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestNoOpScan: nothing new is published; a scan recreates nothing,
// updates nothing, fetches no blob from the registry, and makes exactly
// the manifest requests the profile says it makes per container (a HEAD
// for an updater that checks digests first; a GET for one that falls back
// to a pull). This is the regression that costs users their Docker Hub
// rate limit.
func TestNoOpScan(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, func(t testing.TB, p harness.Profile) {
		w := newWorld(t, p, worldSpec{})
		ctx := within(t, 3*time.Minute)
		before := w.nodes(ctx)

		res := w.scan(ctx)
		w.requireScanOK(res)

		after := w.nodes(ctx)
		require.Equal(t, before, after, "a scan with nothing new changed the nodes")
		md := w.scrapeAfterScans(ctx, 1)
		w.requireGauge(md, mScanned, 2)
		w.requireGauge(md, mUpdated, 0)
		w.requireGauge(md, mFailed, 0)
		w.requireDelta(w.first, md, mScansTotal, 1)

		managed := float64(len(after))
		w.requireRegistryDelta(w.first, md, map[string]string{"handler": "blob", "method": "get"}, 0,
			"blob GETs in a scan with nothing new: the updater pulled layers of an image it has?")
		w.requireRegistryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "head"}, managed*float64(p.NoopScan.ManifestHEADs),
			fmt.Sprintf("manifest HEADs: the profile's noop_scan.manifest_heads (%d) per managed node (%g)", p.NoopScan.ManifestHEADs, managed))
		w.requireRegistryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "get"}, managed*float64(p.NoopScan.ManifestGETs),
			fmt.Sprintf("manifest GETs: the profile's noop_scan.manifest_gets (%d) per managed node (%g)", p.NoopScan.ManifestGETs, managed))
	})
}
