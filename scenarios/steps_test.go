package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
)

// within is the context a scenario's steps run in: t's, ended after d
// (the scenario's deadline) or when t's cleanups start, whichever comes
// first.
func within(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// forEachWorld runs fn once per selected profile that has caps, as
// forEachProfile does, in a world made with spec; fn's steps run in ctx,
// which ends after d (the scenario's deadline, see within).
func forEachWorld(t *testing.T, caps []harness.Capability, spec worldSpec, d time.Duration, fn func(ctx context.Context, t testing.TB, w *world)) {
	t.Helper()
	forEachProfile(t, caps, func(t testing.TB, p harness.Profile) {
		w := newWorld(t, p, spec)
		fn(within(t, d), t, w)
	})
}

// publishNode publishes node:stable at version, healthy, into w's
// registry (what most scenarios update the nodes to), failing the test if
// it cannot.
func (w *world) publishNode(ctx context.Context, version string) harness.Published {
	w.t.Helper()
	pub, err := w.sb.Publish(ctx, "node", "stable", appconfig.Config{Version: version, Behaviour: appconfig.Healthy})
	require.NoError(w.t, err)
	return pub
}
