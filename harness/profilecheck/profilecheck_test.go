package profilecheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/enginetest"
)

// These tests run real updaters in real sandboxes: the reference updater
// (a fixture, always there) and, where a test is about a fork's own
// behaviour, the fork's image when the engine has it.

// env is the engine client and the image set every test here reuses.
var env enginetest.Env

func engineAndImages(t *testing.T) []Option {
	t.Helper()
	cli, set := env.Get(t)
	return []Option{WithClient(cli), WithImages(set), WithSandboxOptions(harness.WithTest(t))}
}

func TestMain(m *testing.M) {
	if err := harness.SetupTestcontainers(io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func live(t *testing.T, p profile.Profile, opts ...Option) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	rep, err := Live(ctx, p, append(engineAndImages(t), opts...)...)
	require.NoError(t, err)
	return rep
}

func problemFields(r Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Field)
	}
	return out
}

func TestStaticNamesTheField(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"name": "x", "image": "y", "trigger": {"method": "FETCH"}}`), 0o600))
	_, err := Static(f)
	require.ErrorContains(t, err, "trigger.method: value must be one of 'GET', 'POST', 'PUT'")
	require.ErrorContains(t, err, "trigger: missing properties 'path', 'ok_statuses'")
}

func TestLiveReferenceAnswersAsItsProfileSays(t *testing.T) {
	t.Parallel()
	rep := live(t, profile.Reference())
	require.Empty(t, rep.Problems, "log:\n%s", rep.Log)
	require.Equal(t, 200, rep.Trigger.Status)
	require.Equal(t, 200, rep.Metrics.Status)
	require.Contains(t, rep.Metrics.BodyHead, "# HELP")
	exported := map[string]bool{}
	for field, n := range rep.Named {
		exported[field] = n.Exported
	}
	require.Equal(t, map[string]bool{
		"metrics.scanned": true, "metrics.updated": true, "metrics.failed": true, "metrics.scans_total": true,
		"metrics.scans_skipped": true, "metrics.rollbacks": true,
	}, exported)
}

func TestLiveOnAnotherPort(t *testing.T) {
	t.Parallel()
	p, err := profile.Load("../../examples/profiles/refupdater-port-9090.json")
	require.NoError(t, err)
	rep := live(t, p)
	require.Empty(t, rep.Problems, "log:\n%s", rep.Log)
	require.Equal(t, 200, rep.Trigger.Status)
}

func TestLiveWrongPort(t *testing.T) {
	t.Parallel()
	p := profile.Reference()
	// The updater listens on 9090 whatever api.port says.
	p.Args = []string{"--scope", "{scope}", "--http-api-update", "--http-api-metrics", "--http-api-addr", ":9090"}
	rep := live(t, p, WithAPIWait(20*time.Second))
	require.Equal(t, []string{"api.port"}, problemFields(rep))
	require.ErrorContains(t, rep.Err(), "api.port: nothing answered GET /v1/metrics on port 8080")
}

func TestLiveMetricNotExported(t *testing.T) {
	t.Parallel()
	p := profile.Reference()
	p.Metrics.Rollbacks = "watchtower_rollback_count"
	rep := live(t, p)
	require.Equal(t, []string{"metrics.rollbacks"}, problemFields(rep))
	require.False(t, rep.Named["metrics.rollbacks"].Exported)
	require.True(t, rep.Named["metrics.scanned"].Exported)
	require.ErrorContains(t, rep.Err(), "metrics.rollbacks: watchtower_rollback_count is not in the updater's exposition")
	require.ErrorContains(t, rep.Err(), "watchtower_rollbacks_total", "the message lists the names it does export")
}

func TestLiveWrongTokenHeader(t *testing.T) {
	t.Parallel()
	p := profile.Reference()
	p.API.Token = profile.Token{Env: "WATCHTOWER_HTTP_API_TOKEN", Header: "X-Api-Key"}
	rep := live(t, p, WithAPIWait(20*time.Second))
	require.Equal(t, []string{"api.token"}, problemFields(rep))
}

// TestLiveWrongMethod needs an updater that refuses a method: the
// reference updater takes any, nicholas-fedor/watchtower 1.21.0 only POST.
func TestLiveWrongMethod(t *testing.T) {
	t.Parallel()
	p := profile.NicholasFedor()
	opts := engineAndImages(t)
	cli, _ := env.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	if err := harness.EnsureUpdaterImage(ctx, cli, p, false); errors.Is(err, harness.ErrUpdaterImageAbsent) {
		t.Skip(err)
	}
	p.Trigger.Method = "GET"
	rep, err := Live(ctx, p, opts...)
	require.NoError(t, err)
	require.Equal(t, []string{"trigger.method"}, problemFields(rep), "log:\n%s", rep.Log)
	require.Equal(t, 405, rep.Trigger.Status)
	require.ErrorContains(t, rep.Err(), "trigger.method: GET /v1/update answered 405")
	require.True(t, rep.Named["metrics.skipped"].Exported, "watchtower_containers_skipped is exported")
}
