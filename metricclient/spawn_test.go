package metricclient

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spawnHelperEnv, when set, makes the test binary a process that spawns a
// server on the socket it names and then waits to be killed: the parent
// whose death the server must notice.
const spawnHelperEnv = "SEATRIAL_TEST_SPAWN_HELPER"

// runSpawnHelper is the helper's whole life; called from TestMain.
func runSpawnHelper(spec string) {
	bin, sock, _ := strings.Cut(spec, "|")
	c := NewMetricClient(sock, WithServerBinary(bin))
	if err := c.SpawnServer(context.Background()); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(c.ServerPID())
	select {}
}

// gone reports whether pid has ended: no such process, or a zombie no one
// reaped yet (in a container, pid 1 may never reap an orphan).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z")
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if gone(pid) {
			return
		}
	}
	t.Fatalf("%s (pid %d) still runs", what, pid)
}

// Defect 7: a server that died after it was healthy is known to be dead:
// GetMetrics says how it ended, and a new one can be spawned.
func TestDeadServerReported(t *testing.T) {
	bin := needBinary(t)
	sock := filepath.Join(t.TempDir(), "m.sock")
	c := NewMetricClient(sock, WithServerBinary(bin))
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, c.SpawnServer(ctx))
	pid := c.ServerPID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL)) // the server crashes
	waitGone(t, pid, "killed server")

	_, err := c.GetMetrics(ctx, nil)
	require.Error(t, err)
	var exit *ServerExit
	require.ErrorAs(t, err, &exit)
	assert.Contains(t, err.Error(), fmt.Sprintf("metrics server (pid %d) was killed by signal 9", pid))
	assert.Zero(t, c.ServerPID())

	require.NoError(t, c.SpawnServer(ctx), "a dead server does not block a new one")
	assert.NotEqual(t, pid, c.ServerPID())
	require.NoError(t, c.ShutdownServer(ctx))
}

// requireSpawnFails spawns c's server, which must fail with an error that
// says each of wants; it returns the error.
func requireSpawnFails(t *testing.T, c *MetricClient, wants ...string) error {
	t.Helper()
	err := c.SpawnServer(t.Context())
	require.Error(t, err)
	for _, w := range wants {
		assert.Contains(t, err.Error(), w)
	}
	return err
}

// Defect 8: the server's stderr says why it failed, and reaches the user.
func TestServerStderrSurfaced(t *testing.T) {
	bin := needBinary(t)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	c := NewMetricClient(filepath.Join(t.TempDir(), "m.sock"), WithServerBinary(bin))
	defer c.Close()
	requireSpawnFails(t, c, "exited with status 1", "no Docker engine answers")
}

// Defect 8: a port in use is reported as such, not as another program's
// 404.
func TestPortInUse(t *testing.T) {
	bin := needBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	other := &http.Server{Handler: http.NotFoundHandler()}
	go other.Serve(ln)
	defer other.Close()
	c := NewMetricClient(ln.Addr().String(), WithServerBinary(bin))
	defer c.Close()
	requireSpawnFails(t, c, "address already in use", "exited with status 1")
}

// Defect 8: an exit with status 0 is said as such.
func TestExitStatusZero(t *testing.T) {
	c := NewMetricClient(filepath.Join(t.TempDir(), "s"), WithServerBinary("/bin/true"))
	defer c.Close()
	err := requireSpawnFails(t, c, "exited with status 0")
	assert.NotContains(t, err.Error(), "<nil>")
}

// The wait is bounded even under context.Background(); stopping kills the
// server's whole process group.
func TestSpawnBoundedAndGroupKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "silent")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nsleep 300 &\necho $! > "+pidFile+"\nexec sleep 300\n"), 0o755))
	c := NewMetricClient(filepath.Join(dir, "s"), WithServerBinary(script), WithSpawnTimeout(time.Second), WithMaxBackoff(50*time.Millisecond))
	defer c.Close()
	done := make(chan error, 1)
	// Background, not t.Context(): the point is a context that never ends.
	go func() { done <- c.SpawnServer(context.Background()) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "within 1s")
	case <-time.After(30 * time.Second):
		t.Fatal("SpawnServer waits without bound under context.Background()")
	}
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	waitGone(t, child, "the server's own child")
}

// A server whose parent died exits by itself.
func TestServerExitsWithParent(t *testing.T) {
	bin := needBinary(t)
	sock := filepath.Join(t.TempDir(), "m.sock")
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), spawnHelperEnv+"="+bin+"|"+sock)
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	defer helper.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err, line)
	require.False(t, gone(pid))
	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	waitGone(t, pid, "server whose parent died")
}
