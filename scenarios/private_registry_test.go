package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestPrivateRegistry: the sandbox's registry wants credentials, by
// htpasswd basic auth (variant basic) or the bearer token flow through the
// sandbox's token issuer (variant token); the updater gets them as its
// profile's registry_auth says. With the right credentials a new version
// updates every node, as in FullScan. Then the updater is replaced by one
// with wrong credentials, and then by one with none, and a newer version
// is published: each scan must replace nothing, fetch no blob (the
// registry's own series), and not look clean (failed or skipped counts,
// or the trigger's answer).
//
// One world per variant: the wrong and missing cases replace the updater
// (ReplaceUpdater, a second or two) instead of making a sandbox each (two
// systemd nodes, most of a world's cost). They come after the update
// with the right credentials, because a replaced updater's exit is in the
// Watcher's timeline, and the health waits of an update read the
// timeline from its start.
func TestPrivateRegistry(t *testing.T) {
	forEachVariant(t, []profile.Capability{profile.CapScope, profile.CapPrivateRegistry}, []variant{
		{name: harness.RegistryAuthBasic, detail: "htpasswd basic auth"},
		{name: harness.RegistryAuthToken, detail: "bearer tokens from the sandbox's token issuer"},
	}, privateRegistry)
}

func privateRegistry(t testing.TB, p harness.Profile, v variant) {
	w := privateWorld(t, p, v.name, harness.CredentialsRight)
	ctx := within(t, 5*time.Minute)

	before := w.nodes(ctx)
	since := time.Now()
	v2 := w.publishNode(ctx, "v2")
	res := w.scan(ctx)
	w.requireScanOK(res)
	after := w.requireReplaced(ctx, before, since, saying(fmt.Sprintf("was not updated with the registry's credentials (%s)", v.detail)))
	for name, n := range after {
		require.Equal(t, v2.Digest, n.Digest, "node %s runs the new version", name)
		w.waitHealthy(ctx, name, n.ContainerID)
	}
	md := w.scrapeAfterScans(ctx, 1)
	w.requireGauge(md, mUpdated, 2)
	w.requireGauge(md, mFailed, 0)
	t.Logf("scan with the right credentials (%s): answer %d %s; %g manifest requests, %g blob GETs, %g answered 401",
		v.detail, res.Status, oneLine(res.Body, 200),
		w.registryDelta(w.first, md, map[string]string{"handler": "manifest"}),
		w.registryDelta(w.first, md, map[string]string{"handler": "blob", "method": "get"}),
		w.registryDelta(w.first, md, map[string]string{"code": "401"}))

	var v3 *harness.Published
	for _, c := range []harness.Credentials{harness.CredentialsWrong, harness.CredentialsNone} {
		u, err := w.sb.ReplaceUpdater(ctx, w.profile, harness.UpdaterOptions{Credentials: c})
		require.NoError(t, err, "replace the updater by one with %s credentials", c)
		w.updaterReplaced(ctx, u)
		refusedLogin(t, ctx, w, v.detail, c, &v3)
	}
}

// privateWorld is a world whose registry wants credentials by mode, and
// whose updater is given creds.
func privateWorld(t testing.TB, p harness.Profile, mode string, creds harness.Credentials) *world {
	return newWorld(t, p, worldSpec{
		// The wrong and missing credentials' scans fail on purpose.
		scanFailuresExpected: true,
		updater:              harness.UpdaterOptions{Credentials: creds},
		sandbox:              []harness.Option{harness.WithRegistryAuth(mode)},
	})
}

// updaterReplaced makes u the world's updater: its metrics start anew
// (the first scrape is taken again), and the Watcher has seen the old
// one's exit before any wait is armed.
func (w *world) updaterReplaced(ctx context.Context, u *harness.Updater) {
	w.t.Helper()
	require.NoError(w.t, w.watcher.CatchUp(ctx), "the Watcher catching up with the updater's replacement")
	w.updater = u
	w.scans = 0
	w.first = w.scrape(ctx)
}

// refusedLogin publishes a version of the sandbox's own (once: *pub keeps
// it, and no scan may deploy it) and scans with the updater w runs, which
// has creds (wrong or missing): no node may change, no blob be fetched,
// and the scan must not look clean.
func refusedLogin(t testing.TB, ctx context.Context, w *world, how string, creds harness.Credentials, pub **harness.Published) {
	t.Helper()
	p := w.profile
	before := w.nodes(ctx)
	if *pub == nil {
		// Of this sandbox's own: no other sandbox's identical version
		// can be on the engine for a pull to take without the registry.
		v := w.publishNode(ctx, "v3-"+w.sb.ID())
		*pub = &v
	}
	for name := range before {
		w.keepUntouched(name, fmt.Sprintf("the updater stopped node %s with %s registry credentials: it cannot have pulled %s", name, creds, (*pub).Config.Version))
	}
	defer w.touchAgain()
	start := w.scrape(ctx)
	res := w.scan(ctx)
	require.Equal(t, before, w.nodes(ctx), "nodes changed with %s registry credentials", creds)
	requireNodeContainers(t, ctx, w, len(before))

	md := w.scrapeAfterScans(ctx, 1)
	blobs := w.registryDelta(start, md, map[string]string{"handler": "blob", "method": "get"})
	manifests := w.registryDelta(start, md, map[string]string{"handler": "manifest"})
	refused := w.registryDelta(start, md, map[string]string{"code": "401"})
	n := len(before)
	failed, skipped, clean := w.uncheckedCounted(md, res, n)
	t.Logf("scan with %s credentials (%s): answer %d %s; %s=%d, skipped=%d; registry: %g manifest requests, %g blob GETs, %g answered 401, for %d nodes",
		creds, how, res.Status, oneLine(res.Body, 200), p.Metrics.Failed, failed, skipped, manifests, blobs, refused, n)
	if clean {
		require.FailNow(t, fmt.Sprintf("a scan with %s registry credentials looked clean", creds),
			"%d nodes could not be checked (%s), but %s = %d, skipped = %d, and the trigger answered %d: %s (the registry answered 401 to %g requests)",
			n, how, p.Metrics.Failed, failed, skipped, res.Status, oneLine(res.Body, 200), refused)
	}
	if blobs != 0 {
		require.FailNow(t, fmt.Sprintf("%g blob GETs with %s registry credentials", blobs, creds),
			"nothing may be fetched without a login (%s); %g manifest requests, %g answered 401", how, manifests, refused)
	}
}
