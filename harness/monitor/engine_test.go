package monitor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/nodeflags"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// Helpers for the tests that run real containers on the engine. Every
// container carries the sandbox and owner labels and is removed by the test
// that made it.

func connect(t testing.TB) *client.Client {
	t.Helper()
	return testenv.Engine(t)
}

// newSandboxID returns a fresh sandbox id ("st-" and 10 hex digits).
func newSandboxID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "st-" + hex.EncodeToString(b)
}

// baseLabels are the labels every test container carries.
func baseLabels(t testing.TB, sandbox, role string) map[string]string {
	t.Helper()
	owner, err := labels.Self(labels.OwnerProcess)
	if err != nil {
		t.Fatal(err)
	}
	l := owner.Labels()
	l[labels.Sandbox] = sandbox
	l[labels.Role] = role
	l[labels.Created] = time.Now().UTC().Format(time.RFC3339)
	return l
}

// testLogger logs through t while the test runs.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startWatcher starts a Watcher for the sandbox and stops it at cleanup,
// writing its timeline to the log if the test failed.
func startWatcher(t testing.TB, cli Client, sandbox string, nodes []NodeTarget, opts ...Option) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := NewWatcher(cli, sandbox, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err := w.Start(ctx, nodes); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		w.Wait()
		if t.Failed() {
			for _, ev := range w.Timeline() {
				t.Logf("timeline: %s", ev)
			}
		}
	})
	return w
}

// waitFor is WaitFor with a deadline, failing the test on timeout (the
// error says what it waited for).
func waitFor(t testing.TB, w *Watcher, d time.Duration, p Predicate, opts ...WaitOption) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	ev, err := w.WaitFor(ctx, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

type nodeSpec struct {
	sandbox string
	node    string
	image   string
	// sleeper runs /bin/sleep instead of systemd: a cheap container that
	// makes engine events (pause, kill) without booting anything.
	sleeper bool
	// tty gives the node a TTY, as the harness's nodes have: systemd then
	// writes its progress to the container's log. Without one, the log
	// stays empty.
	tty bool
}

// runContainer creates and starts a labelled container and removes it at
// cleanup. It returns the container's id and name.
func runContainer(t testing.TB, cli *client.Client, s nodeSpec) (id, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	role := labels.RoleNode
	if s.sleeper {
		role = labels.RoleApp
	}
	l := baseLabels(t, s.sandbox, role)
	name = s.sandbox + "-" + s.node
	cfg := &container.Config{Image: s.image, Labels: l}
	hc := &container.HostConfig{}
	if s.sleeper {
		cfg.Entrypoint = []string{"/bin/sleep", "infinity"}
		cfg.Cmd = nil
		// sleep as PID 1 ignores SIGTERM; kill is what the tests do anyway.
		cfg.StopSignal = "SIGKILL"
	} else {
		l[labels.Cluster] = "c"
		l[labels.Node] = s.node
		cfg.Entrypoint = []string{"/sbin/init"}
		// systemd in a container reads this to know it is one.
		cfg.Env = []string{"container=docker"}
		cfg.StopSignal = nodeflags.StopSignal
		cfg.Tty = s.tty
		nodeflags.Apply(hc)
	}
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc, Name: name})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { removeContainer(t, cli, res.ID) })
	if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return res.ID, name
}

// removeContainer runs in a Cleanup, so its context is not t.Context()
// (cancelled by then).
func removeContainer(t testing.TB, cli *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !strings.Contains(err.Error(), "No such container") {
		t.Errorf("remove %s: %v", id, err)
	}
}

// execIn runs a command in a container and returns its output, failing
// the test if it does not exit 0.
func execIn(t testing.TB, cli *client.Client, id string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ex, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	ins, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	if ins.ExitCode != 0 {
		t.Fatalf("exec %v: exit %d: %s", cmd, ins.ExitCode, out.String())
	}
	return out.String()
}

// nodeImage returns the engine reference of the node image, building it
// if the engine lacks it (the first run on an empty engine takes about a
// minute; later ones milliseconds).
func nodeImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	set, err := images.Ensure(ctx, cli, images.Only(images.Node), images.WithProgress(tWriter{t}))
	if err != nil {
		t.Fatalf("node image: %v", err)
	}
	b, err := set.Get(images.Node)
	if err != nil {
		t.Fatal(err)
	}
	return b.Ref
}
