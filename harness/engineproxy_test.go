package harness_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestEngineProxyCarriesTheUpdater: with WithEngineProxy the updater's
// calls pass the proxy (they are recorded), a rule the proxy refuses is an
// error naming it, and a rule in force acts on the updater's calls.
func TestEngineProxyCarriesTheUpdater(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, harness.WithEngineProxy())
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	u, err := sb.StartUpdater(ctx, profile.Reference(), harness.UpdaterOptions{})
	require.NoError(t, err)

	res, err := u.Scan(ctx)
	require.NoError(t, err)
	require.True(t, res.OK(u.Profile()), "scan through the proxy: %d %s", res.Status, res.Body)
	calls, err := sb.EngineCalls(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, calls, "a scan lists containers: the proxy saw nothing, so the updater bypassed it")

	err = sb.InjectEngineFault(ctx, "fail call=teleport")
	require.Error(t, err)
	require.Contains(t, err.Error(), `engine fault "fail call=teleport": the proxy refused it`)
	require.Contains(t, err.Error(), "teleport")

	require.NoError(t, sb.InjectEngineFault(ctx, "503 path=^/containers/json first=1"))
	_, _ = u.Scan(ctx)
	calls, err = sb.EngineCalls(ctx)
	require.NoError(t, err)
	var faulted []string
	for _, c := range calls {
		if c.Fault != "" {
			faulted = append(faulted, c.String())
		}
	}
	require.Len(t, faulted, 1, "one 503 injected")
	require.True(t, strings.Contains(faulted[0], "/containers/json") && strings.Contains(faulted[0], " 503 "), faulted[0])
	require.NoError(t, sb.ClearEngineFaults(ctx))
}

// TestEngineFaultNeedsTheProxy: a sandbox without the proxy says how to
// get one.
func TestEngineFaultNeedsTheProxy(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	err := sb.InjectEngineFault(t.Context(), "fail call=create")
	require.ErrorContains(t, err, "harness.WithEngineProxy()")
}
