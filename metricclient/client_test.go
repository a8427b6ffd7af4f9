package metricclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
)

// The seatrial binary, built on first use (benchmarks and fuzzing never
// need it) and removed by TestMain.
var (
	buildOnce    sync.Once
	serverBinary string
	buildErr     error
	removeBinary = func() {}
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(spawnHelperEnv); spec != "" {
		runSpawnHelper(spec)
	}
	// testcontainers-go's settings are this test binary's (a test here
	// makes a sandbox): Ryuk off, its process-wide lines dropped.
	if err := harness.SetupTestcontainers(io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	removeBinary()
	os.Exit(code)
}

func needBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the seatrial binary")
	}
	buildOnce.Do(func() {
		// Not t.Context(): the binary is shared by every test of the binary.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		serverBinary, removeBinary, buildErr = BuildServerBinary(ctx, "")
		if buildErr != nil {
			removeBinary = func() {}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serverBinary
}

// newServerClient is a client of a metrics server on a socket of t's
// (the binary built once, see needBinary), the server's output in t's
// log; closed, its server killed, when t ends. The test spawns the server.
func newServerClient(t *testing.T) *MetricClient {
	t.Helper()
	c := NewMetricClient(filepath.Join(t.TempDir(), "metrics.sock"),
		WithServerBinary(needBinary(t)), WithServerOutput(testWriter{t}, testWriter{t}))
	t.Cleanup(c.Close)
	return c
}

// processGone reports whether pid no longer exists (not even as a zombie).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestSpawnScrapeShutdown(t *testing.T) {
	bin := needBinary(t)
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	c := NewMetricClient(sock, WithServerBinary(bin), WithServerOutput(testWriter{t}, testWriter{t}))
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	require.NoError(t, c.SpawnServer(ctx))
	pid := c.ServerPID()
	require.NotZero(t, pid)
	require.NoError(t, c.HealthCheck(ctx))

	err := c.SpawnServer(ctx)
	require.Error(t, err, "a second server on the same client is refused")
	assert.Contains(t, err.Error(), "already runs one")

	m, err := c.GetMetrics(ctx, map[string]string{"max_staleness": "0s"})
	require.NoError(t, err)
	_, _, err = m.GetPrometheusInteger("seatrial_sandboxes", nil)
	require.NoError(t, err)

	_, err = c.GetMetrics(ctx, map[string]string{"": "/nothing-here"})
	require.Error(t, err, "the \"\" key overrides the path")
	assert.Contains(t, err.Error(), "404")

	require.NoError(t, c.ShutdownServer(ctx))
	assert.True(t, processGone(pid), "server process %d is gone and reaped", pid)
	assert.Zero(t, c.ServerPID())
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket removed on shutdown")
	require.Error(t, c.HealthCheck(ctx))
	require.Error(t, c.ShutdownServer(ctx), "nothing left to shut down")

	// The client can start another one after that.
	require.NoError(t, c.SpawnServer(ctx))
	pid = c.ServerPID()
	c.Close()
	assert.True(t, processGone(pid), "Close kills and reaps")
}

func TestSpawnChildExitsAtOnce(t *testing.T) {
	// /bin/false exits before it could ever answer: a zombie until reaped.
	c := NewMetricClient(filepath.Join(t.TempDir(), "s"), WithServerBinary("/bin/false"))
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := c.SpawnServer(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited with status 1")
	assert.Contains(t, err.Error(), "before it answered")
	assert.Nil(t, ctx.Err(), "noticed the exit, not the deadline (took %v)", time.Since(start))
	assert.Zero(t, c.ServerPID())
}

func TestSpawnNeverAnswers(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "silent")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755))
	c := NewMetricClient(filepath.Join(dir, "s"), WithServerBinary(script), WithMaxBackoff(50*time.Millisecond))
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := c.SpawnServer(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.ServerPID(), "the child was killed and reaped")
}

func TestSpawnAddressTaken(t *testing.T) {
	bin := needBinary(t)
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	first := NewMetricClient(sock, WithServerBinary(bin))
	defer first.Close()
	require.NoError(t, first.SpawnServer(ctx))
	defer first.ShutdownServer(ctx)

	// The second server cannot listen and exits; the first one's health
	// check must not be taken for the second's.
	second := NewMetricClient(sock, WithServerBinary(bin))
	defer second.Close()
	err := second.SpawnServer(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited with status 1")
	assert.Contains(t, err.Error(), "another server answers there", "its stderr says why")
}

func TestNoBinary(t *testing.T) {
	c := NewMetricClient("127.0.0.1:1")
	require.Error(t, c.SpawnServer(t.Context()))
	require.Error(t, c.ShutdownServer(t.Context()))
	c.Close()
}

// testWriter sends a child's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
