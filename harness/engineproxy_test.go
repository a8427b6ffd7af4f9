package harness_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestEngineProxyCarriesTheUpdater: with WithEngineProxy the updater's
// calls pass the proxy (they are recorded), a rule the proxy refuses is an
// error naming it, and a rule in force acts on the updater's calls.
func TestEngineProxyCarriesTheUpdater(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, harness.WithEngineProxy())
	ctx := within(t, 3*time.Minute)
	u, err := sb.StartUpdater(ctx, profile.Reference(), harness.UpdaterOptions{})
	require.NoError(t, err)
	// The calls as the timeline's engine-api lane shows them.
	lane := make(chan monitor.Event, 1000)
	fctx, stopFollowing := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() { followed <- sb.FollowEngineCalls(fctx, func(c harness.EngineCall) { lane <- c.Event() }) }()
	waitLane := func(what string) monitor.Event {
		t.Helper()
		for {
			select {
			case ev := <-lane:
				require.Equal(t, monitor.EventEngineCall, ev.Kind)
				require.Equal(t, monitor.RoleEngineAPI, ev.Role)
				if strings.Contains(ev.Detail, what) {
					return ev
				}
			case <-time.After(30 * time.Second):
				require.FailNow(t, "no engine call on the lane", "want one with %q", what)
			}
		}
	}
	// The stream may connect after the first scan's calls: scan until the
	// lane shows a call.
	var res harness.ScanResult
	for range 3 {
		res, err = u.Scan(ctx)
		require.NoError(t, err)
		if len(lane) > 0 {
			break
		}
	}
	waitLane("/containers/json")
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
	ev := waitLane("[1-503]")
	require.Regexp(t, `^GET /v[0-9.]+/containers/json\S* 503 \S+ \[1-503\]$`, ev.Detail, "the faulted call on the lane")
	require.NoError(t, sb.ClearEngineFaults(ctx))
	stopFollowing()
	require.NoError(t, <-followed, "following ends without an error when its context does")
}

// TestEngineFaultNeedsTheProxy: a sandbox without the proxy says how to
// get one.
func TestEngineFaultNeedsTheProxy(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	err := sb.InjectEngineFault(t.Context(), "fail call=create")
	require.ErrorContains(t, err, "harness.WithEngineProxy()")
}
