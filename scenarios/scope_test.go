package scenarios

import (
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestScopeIsolation: two sandboxes side by side, each with its own
// updater, and a container outside every updater's scope that runs an
// image with a newer version available. Each updater touches only its own
// sandbox's nodes; nobody touches the outsider.
func TestScopeIsolation(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, func(t testing.TB, p harness.Profile) {
		one := []harness.NodeSpec{{Name: "controller"}}
		var a, b *world
		var wg sync.WaitGroup
		// Both worlds come up at once, as two parallel tests would.
		wg.Go(func() { a = newWorld(t, p, worldSpec{nodes: one}) })
		wg.Go(func() { b = newWorld(t, p, worldSpec{nodes: one}) })
		wg.Wait()
		if t.Failed() {
			return
		}
		ctx := within(t, 4*time.Minute)

		// The outsider: a third sandbox's app container with no scope
		// label, running an image from a's registry.
		c, err := harness.NewSandbox(ctx, s.sandboxOptions(t)...)
		require.NoError(t, err)
		_, err = a.sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
		require.NoError(t, err)
		outsider, err := c.RunApp(ctx, harness.AppSpec{Name: "outsider", Image: a.sb.Ref("app", "stable"), Unscoped: true})
		require.NoError(t, err)
		_, err = a.sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
		require.NoError(t, err)

		aBefore, bBefore := a.nodes(ctx), b.nodes(ctx)
		av2 := a.publishNode(ctx, "v2")
		bv2 := b.publishNode(ctx, "v2")

		since := time.Now()
		res := a.scan(ctx)
		a.requireScanOK(res)
		require.Equal(t, bBefore, b.nodes(ctx), "sandbox a's updater touched sandbox b")
		require.Equal(t, av2.Digest, a.requireReplaced(ctx, aBefore, since, saying("of sandbox a was not updated by its own updater"))["controller"].Digest, "sandbox a's node was not updated by its own updater")

		since = time.Now()
		res = b.scan(ctx)
		b.requireScanOK(res)
		b.requireReplaced(ctx, bBefore, since, saying("of sandbox b was not updated by its own updater"))
		aAfter := a.nodes(ctx)
		require.Equal(t, bv2.Digest, b.nodes(ctx)["controller"].Digest, "sandbox b's node was not updated by its own updater")
		require.NotEqual(t, aBefore["controller"].ContainerID, aAfter["controller"].ContainerID)

		insp, err := s.cli.ContainerInspect(ctx, outsider, client.ContainerInspectOptions{})
		require.NoError(t, err, "the outsider is gone")
		require.True(t, insp.Container.State.Running, "the outsider was stopped")
		require.Equal(t, outsider, insp.Container.ID)

		for _, w := range []*world{a, b} {
			md := w.scrapeAfterScans(ctx, 1)
			w.requireGauge(md, mScanned, 1)
			w.requireGauge(md, mUpdated, 1)
		}
	})
}
