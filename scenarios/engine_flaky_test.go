package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestEngineFlaky: the engine answers 503 to the scan's container list,
// then, on the next scan, drops the connection after the list's headers.
// The updater survives both (it neither exits nor is restarted: the
// container's state and restart count), and once the faults are lifted
// the next scan updates every node.
func TestEngineFlaky(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope, profile.CapSurvivesFlakyEngine}, worldSpec{scanFailuresExpected: true, sandbox: []harness.Option{harness.WithEngineProxy()}}, 4*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		before := w.nodes(ctx)
		v2 := w.publishNode(ctx, "v2")

		for _, rule := range []string{
			"503 path=^/containers/json first=1",
			"drop path=^/containers/json first=1",
		} {
			require.NoError(t, w.sb.InjectEngineFault(ctx, rule))
			res, err := w.updater.Scan(ctx)
			t.Logf("scan under %q: answer %d %s, error %v", rule, res.Status, oneLine(res.Body, 200), err)
			requireUpdaterAlive(t, ctx, w, rule)
			require.NoError(t, w.sb.ClearEngineFaults(ctx))
		}
		calls, err := w.sb.EngineCalls(ctx)
		require.NoError(t, err)
		faulted := 0
		for _, c := range calls {
			if c.Fault != "" {
				faulted++
			}
		}
		require.Equal(t, 2, faulted, "faults the proxy injected (the updater did not list containers?): %s", engineCallLines(calls))

		res := w.scan(ctx)
		w.requireScanOK(res)
		for name, n := range w.nodes(ctx) {
			require.Equal(t, v2.Digest, n.Digest, "node %s after the engine recovered", name)
			w.waitHealthy(ctx, name, n.ContainerID)
		}
		requireNodeContainers(t, ctx, w, len(before))
	})
}

// requireUpdaterAlive asserts the updater's container runs and was never
// restarted.
func requireUpdaterAlive(t testing.TB, ctx context.Context, w *world, after string) {
	t.Helper()
	insp, err := s.cli.ContainerInspect(ctx, w.updater.ContainerID(), client.ContainerInspectOptions{})
	require.NoError(t, err)
	st := insp.Container.State
	require.NotNil(t, st)
	if !st.Running {
		require.FailNow(t, "the updater exited after an engine fault", "fault %q: exit code %d; its log:\n%s", after, st.ExitCode, w.updaterLogTail(ctx))
	}
	require.Zero(t, insp.Container.RestartCount, "the updater restarted after the engine fault %q; its log:\n%s", after, w.updaterLogTail(ctx))
}
