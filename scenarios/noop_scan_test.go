package scenarios

import (
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
// rate limit. It is measured over the sandbox's TLS registry and, if the
// profile gives noop_scan.plain_http, again over a plain-HTTP one.
func TestNoOpScan(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, func(t testing.TB, p harness.Profile) {
		noopScan(t, p, "TLS", "noop_scan", p.NoopScan, worldSpec{})
		if h := p.NoopScan.PlainHTTP; h != nil {
			noopScan(t, p, "plain HTTP", "noop_scan.plain_http", *h, worldSpec{sandbox: []harness.Option{harness.WithPlainHTTPRegistry()}})
		}
	})
}

func noopScan(t testing.TB, p harness.Profile, over, key string, want profile.NoopScan, spec worldSpec) {
	w := newWorld(t, p, spec)
	ctx := within(t, 3*time.Minute)
	before := w.nodes(ctx)

	res := w.scan(ctx)
	w.requireScanOK(res)

	after := w.nodes(ctx)
	require.Equal(t, before, after, "a scan with nothing new changed the nodes (registry over %s)", over)
	md := w.scrapeAfterScans(ctx, 1)
	w.requireGauge(md, mScanned, 2)
	w.requireGauge(md, mUpdated, 0)
	w.requireGauge(md, mFailed, 0)
	w.requireDelta(w.first, md, mScansTotal, 1)

	// The three counts are read together, so that one failure says
	// what the scan cost in all (and the registry's base GETs, which no
	// profile states, for the reader).
	managed := float64(len(after))
	blobs := w.registryDelta(w.first, md, map[string]string{"handler": "blob", "method": "get"})
	heads := w.registryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "head"})
	gets := w.registryDelta(w.first, md, map[string]string{"handler": "manifest", "method": "get"})
	base := w.registryDelta(w.first, md, map[string]string{"handler": "base"})
	if blobs != 0 || heads != managed*float64(want.ManifestHEADs) || gets != managed*float64(want.ManifestGETs) {
		require.Failf(t, "registry requests of a no-op scan",
			"over %s, %g managed nodes cost the registry of sandbox %s %g manifest HEADs, %g manifest GETs and %g blob GETs (and %g GET /v2/) between %s and %s; the profile's %s says %d HEAD and %d GET per node and no blob GET is ever right (the updater pulled layers of an image it has)",
			over, managed, w.sb.ID(), heads, gets, blobs, base, w.first.Origin(), md.Origin(), key, want.ManifestHEADs, want.ManifestGETs)
	}
	t.Logf("no-op scan over %s: %g nodes, %g manifest HEADs, %g manifest GETs, %g blob GETs, %g GET /v2/", over, managed, heads, gets, blobs, base)
}
