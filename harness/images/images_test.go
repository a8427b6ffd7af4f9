package images_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/nodeflags"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// Timeouts. The first Ensure may debootstrap (about a minute) and compile
// distribution (about 90 s cold), so it gets a generous budget; everything
// else is short.
const (
	ensureTimeout = 10 * time.Minute
	runTimeout    = 90 * time.Second
)

// connect returns an engine client, closed when the test ends.
func connect(t testing.TB) *client.Client {
	t.Helper()
	return testenv.Engine(t)
}

// logWriter sends Ensure's progress lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ensure ensures the named images, with progress in the test log.
func ensure(t testing.TB, cli *client.Client, names ...string) *images.Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ensureTimeout)
	defer cancel()
	set, err := images.Ensure(ctx, cli, images.WithProgress(logWriter{t}), images.Only(names...))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func get(t testing.TB, set *images.Set, name string) images.Built {
	t.Helper()
	b, err := set.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ensureOne ensures the named image and returns it, also as an image to
// derive versions from.
func ensureOne(t testing.TB, cli *client.Client, name string) (images.Built, v1.Image) {
	t.Helper()
	b := get(t, ensure(t, cli, name), name)
	img, err := b.Image()
	if err != nil {
		t.Fatal(err)
	}
	return b, img
}

// testLabels returns the labels of everything a test creates: a sandbox id
// of its own, the role, and this process as owner, so a crashed run's
// leftovers can be pruned.
func testLabels(t testing.TB, role string) map[string]string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	owner, err := labels.Self(labels.OwnerProcess)
	if err != nil {
		t.Fatal(err)
	}
	l := owner.Labels()
	l[labels.Sandbox] = "st-" + hex.EncodeToString(b[:])
	l[labels.Role] = role
	l[labels.Created] = time.Now().UTC().Format(time.RFC3339)
	return l
}

// run creates and starts a container, removed (with its anonymous volumes)
// when the test ends.
func run(t testing.TB, ctx context.Context, cli *client.Client, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	if hc == nil {
		hc = &container.HostConfig{}
	}
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatalf("create container from %s: %v", cfg.Image, err)
	}
	t.Cleanup(func() {
		// Not t.Context(): it is cancelled before Cleanup functions run.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ContainerRemove(cctx, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove container %.12s: %v", res.ID, err)
		}
	})
	if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start container from %s: %v\n%s", cfg.Image, err, logs(cli, res.ID))
	}
	return res.ID
}

// logs returns a container's output, for failure messages.
func logs(cli *client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "60"})
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return fmt.Sprintf("%s(reading logs: %v)", out.String(), err)
	}
	return out.String()
}

// waitHealth polls the container's health until it is want. It stops at
// once if the container exits, or if the health reaches the other terminal
// state and stays there (healthy vs unhealthy).
func waitHealth(t testing.TB, ctx context.Context, cli *client.Client, id string, want container.HealthStatus) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatalf("inspect %.12s: %v", id, err)
		}
		st := res.Container.State
		if st.Health != nil && st.Health.Status == want {
			return time.Since(start)
		}
		if !st.Running {
			t.Fatalf("container %.12s exited (status %d) while waiting for %s\n%s", id, st.ExitCode, want, logs(cli, id))
		}
		select {
		case <-ctx.Done():
			var last string
			if st.Health != nil {
				last = string(st.Health.Status)
				if n := len(st.Health.Log); n > 0 {
					last += fmt.Sprintf(", last check: exit %d %q", st.Health.Log[n-1].ExitCode, st.Health.Log[n-1].Output)
				}
			}
			t.Fatalf("container %.12s not %s after %s (health: %s)\n%s", id, want, time.Since(start).Round(time.Millisecond), last, logs(cli, id))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// execIn runs cmd in the container and returns its exit code and output.
func execIn(ctx context.Context, cli *client.Client, id string, cmd ...string) (int, string, error) {
	ex, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, "", fmt.Errorf("exec %v: %w", cmd, err)
	}
	att, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec %v: %w", cmd, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return 0, out.String(), fmt.Errorf("exec %v: read output: %w", cmd, err)
	}
	res, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		return 0, out.String(), fmt.Errorf("exec %v: %w", cmd, err)
	}
	return res.ExitCode, out.String(), nil
}

// loadVariant loads img into the engine under a tag of this test, labelled
// as this test's, and removes it when the test ends.
func loadVariant(t testing.TB, ctx context.Context, cli *client.Client, img v1.Image, name string, l map[string]string) string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := *cf.Config.DeepCopy()
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	// The sandbox label goes on the image too, so a prune of this test's
	// sandbox can find the image as well as its containers.
	cfg.Labels[labels.Sandbox] = l[labels.Sandbox]
	img, err = mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref := "seatrial-test/" + name + ":" + l[labels.Sandbox]
	if err := images.Load(ctx, cli, ref, img); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Not t.Context(): it is cancelled before Cleanup functions run.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ImageRemove(cctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", ref, err)
		}
	})
	return ref
}

func TestEnsure(t *testing.T) {
	cli := connect(t)
	// One image at a time, to give each its own first-build figure (a
	// no-op figure when the cache is already warm).
	for _, name := range images.Names() {
		start := time.Now()
		set := ensure(t, cli, name)
		b := get(t, set, name)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		res, err := cli.ImageInspect(ctx, b.Ref)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Config.Labels[images.LabelImage]; got != name {
			t.Errorf("%s: label %s = %q, want %q", b.Ref, images.LabelImage, got, name)
		}
		img, err := b.Image()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := img.Digest(); err != nil {
			t.Fatalf("%s: layout image unreadable: %v", name, err)
		}
		t.Logf("FIGURE image %-10s %s: ensure took %s, engine size %.1f MB", name, b.Ref, time.Since(start).Round(time.Millisecond), float64(res.Size)/1e6)
	}

	start := time.Now()
	set := ensure(t, cli)
	took := time.Since(start)
	t.Logf("FIGURE second Ensure of all images: %s", took.Round(time.Microsecond))
	if len(set.All()) != len(images.Names()) {
		t.Errorf("second Ensure returned %d images, want %d", len(set.All()), len(images.Names()))
	}
	// Loose sanity bound only; the real figure comes from the benchmark.
	if took > 10*time.Second {
		t.Errorf("second Ensure took %s; everything was cached", took)
	}
}

// TestEnsureConcurrent: two goroutines ensuring at once must agree and
// leave a usable cache (the lock file serialises them).
func TestEnsureConcurrent(t *testing.T) {
	cli := connect(t)
	ctx, cancel := context.WithTimeout(t.Context(), ensureTimeout)
	defer cancel()
	dir := t.TempDir()
	errs := make(chan error, 2)
	sets := make(chan *images.Set, 2)
	for range 2 {
		go func() {
			s, err := images.Ensure(ctx, cli, images.WithCacheDir(dir), images.Only(images.App))
			errs <- err
			sets <- s
		}()
	}
	var refs []string
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		b := get(t, <-sets, images.App)
		if _, err := b.Image(); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, b.Ref+" "+b.Layout)
	}
	if refs[0] != refs[1] {
		t.Errorf("concurrent Ensures disagree: %q vs %q", refs[0], refs[1])
	}
}

// helperCacheEnv, when set, makes TestEnsureTwoProcesses a helper process
// that ensures the app image in that cache dir and prints its ref.
const helperCacheEnv = "SEATRIAL_IMAGES_TEST_HELPER_CACHE"

// TestEnsureTwoProcesses: two processes ensuring into one empty cache at
// once both succeed with the same image (the flock is per process too).
func TestEnsureTwoProcesses(t *testing.T) {
	testenv.NeedsEngine(t)
	if dir := os.Getenv(helperCacheEnv); dir != "" {
		cli := connect(t)
		ctx, cancel := context.WithTimeout(t.Context(), ensureTimeout)
		defer cancel()
		set, err := images.Ensure(ctx, cli, images.WithCacheDir(dir), images.Only(images.App))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("REF", get(t, set, images.App).Ref)
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), ensureTimeout)
	defer cancel()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestEnsureTwoProcesses$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperCacheEnv+"="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	var refs []string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		_, after, ok := strings.Cut(outs[i].String(), "REF ")
		if !ok {
			t.Fatalf("helper %d printed no ref:\n%s", i, outs[i])
		}
		refs = append(refs, strings.Fields(after)[0])
	}
	if refs[0] != refs[1] {
		t.Errorf("processes disagree: %s vs %s", refs[0], refs[1])
	}
	// The layout both wrote to (one of them, by rename) must be whole.
	set, err := images.Ensure(ctx, connect(t), images.WithCacheDir(dir), images.Only(images.App))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, set, images.App).Image(); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryServesV2AndMetrics(t *testing.T) {
	cli := connect(t)
	b := get(t, ensure(t, cli, images.Registry), images.Registry)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()

	api, debug := network.MustParsePort("5000/tcp"), network.MustParsePort("5001/tcp")
	loopback := netip.MustParseAddr("127.0.0.1")
	id := run(t, ctx, cli, &container.Config{
		Image:  b.Ref,
		Labels: testLabels(t, labels.RoleRegistry),
	}, &container.HostConfig{
		// -p 127.0.0.1::5000 -p 127.0.0.1::5001: random host ports on
		// loopback only, so parallel tests do not clash and nothing is
		// exposed beyond this machine.
		PortBindings: network.PortMap{
			api:   {{HostIP: loopback}},
			debug: {{HostIP: loopback}},
		},
	})
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ports := res.Container.NetworkSettings.Ports
	apiURL := "http://127.0.0.1:" + ports[api][0].HostPort
	debugURL := "http://127.0.0.1:" + ports[debug][0].HostPort

	code, _ := getUntil(t, ctx, cli, id, apiURL+"/v2/")
	if code != http.StatusOK {
		t.Fatalf("GET /v2/: %d, want 200", code)
	}
	code, body := getUntil(t, ctx, cli, id, debugURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d, want 200", code)
	}
	if !strings.Contains(body, "\nregistry_") && !strings.Contains(body, "\ngo_") {
		t.Fatalf("GET /metrics: no registry_ or go_ series in:\n%.2000s", body)
	}
	if !strings.Contains(body, "# TYPE ") {
		t.Fatalf("GET /metrics: not Prometheus text format:\n%.2000s", body)
	}
}

// getUntil GETs url until the server answers (the container needs a moment
// to listen), and returns the status and body.
func getUntil(t testing.TB, ctx context.Context, cli *client.Client, id, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				return resp.StatusCode, string(body)
			}
			err = rerr
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s: %v\n%s", url, err, logs(cli, id))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestWatchtowerPrintsHelp(t *testing.T) {
	cli := connect(t)
	b := get(t, ensure(t, cli, images.Watchtower), images.Watchtower)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	id := run(t, ctx, cli, &container.Config{
		Image:  b.Ref,
		Cmd:    []string{"--help"},
		Labels: testLabels(t, labels.RoleUpdater),
	}, nil)
	w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case err := <-w.Error:
		t.Fatal(err)
	case r := <-w.Result:
		out := logs(cli, id)
		if r.StatusCode != 0 {
			t.Fatalf("watchtower --help exited %d\n%s", r.StatusCode, out)
		}
		if !strings.Contains(strings.ToLower(out), "watchtower") {
			t.Fatalf("watchtower --help does not mention watchtower:\n%s", out)
		}
	}
}

func TestAppHealthyAndBrokenVersions(t *testing.T) {
	cli := connect(t)
	b, base := ensureOne(t, cli, images.App)

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
		defer cancel()
		id := run(t, ctx, cli, &container.Config{Image: b.Ref, Labels: testLabels(t, labels.RoleApp)}, nil)
		t.Logf("healthy after %s", waitHealth(t, ctx, cli, id, container.Healthy).Round(time.Millisecond))
		code, out, err := execIn(ctx, cli, id, "/app", "health")
		if err != nil || code != 0 {
			t.Fatalf("/app health: exit %d, %v: %s", code, err, out)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
		defer cancel()
		id := runAppVersion(t, ctx, cli, base, appconfig.Config{Version: "v2", Behaviour: appconfig.Unhealthy})
		t.Logf("unhealthy after %s", waitHealth(t, ctx, cli, id, container.Unhealthy).Round(time.Millisecond))
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := res.Container.Config.Labels[images.LabelAppVersion]; v != "v2" {
			t.Errorf("label %s = %q, want v2", images.LabelAppVersion, v)
		}
	})
	t.Run("crash", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
		defer cancel()
		id := runAppVersion(t, ctx, cli, base, appconfig.Config{Version: "v3", Behaviour: appconfig.Crash})
		w := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case err := <-w.Error:
			t.Fatal(err)
		case r := <-w.Result:
			if r.StatusCode != 3 {
				t.Fatalf("crash version exited %d, want 3\n%s", r.StatusCode, logs(cli, id))
			}
		}
	})
}

// runAppVersion runs the app image base with cfg as its configuration
// layer, loaded into the engine as a variant of its own.
func runAppVersion(t testing.TB, ctx context.Context, cli *client.Client, base v1.Image, cfg appconfig.Config) string {
	t.Helper()
	img, err := images.WithConfig(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := testLabels(t, labels.RoleApp)
	ref := loadVariant(t, ctx, cli, img, "app", l)
	return run(t, ctx, cli, &container.Config{Image: ref, Labels: l}, nil)
}

// runNode starts a node container from ref with the node run flags.
func runNode(t testing.TB, ctx context.Context, cli *client.Client, ref string, l map[string]string) string {
	hc := &container.HostConfig{}
	// --cgroupns=private, --cap-add SYS_ADMIN, tmpfs /run /run/lock /tmp:
	// the smallest set that boots systemd on this engine (see nodeflags).
	nodeflags.Apply(hc)
	return run(t, ctx, cli, &container.Config{Image: ref, Labels: l}, hc)
}

func nodeLabels(t testing.TB) map[string]string {
	l := testLabels(t, labels.RoleNode)
	l[labels.Cluster] = "images-test"
	l[labels.Node] = "node-0"
	return l
}

// healthyNode runs the node image and returns its container once it is
// healthy. No exec of ours comes before that: the health check itself is
// systemctl is-system-running, so healthy means systemd finished booting
// and owns its cgroups (kind issue 2409).
func healthyNode(t *testing.T, ctx context.Context, cli *client.Client) string {
	t.Helper()
	b := get(t, ensure(t, cli, images.Node), images.Node)
	id := runNode(t, ctx, cli, b.Ref, nodeLabels(t))
	t.Logf("node healthy after %s", waitHealth(t, ctx, cli, id, container.Healthy).Round(time.Millisecond))
	return id
}

func TestNodeBootsSystemd(t *testing.T) {
	cli := connect(t)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	id := healthyNode(t, ctx, cli)

	code, out, err := execIn(ctx, cli, id, "systemctl", "is-system-running", "--wait")
	if err != nil || code != 0 || strings.TrimSpace(out) != "running" {
		t.Fatalf("systemctl is-system-running: exit %d, %v, %q", code, err, out)
	}
	if code, out, err := execIn(ctx, cli, id, "systemctl", "is-active", "seatrial-app.service"); err != nil || code != 0 {
		t.Fatalf("seatrial-app.service not active: exit %d, %v, %q", code, err, out)
	}
	if code, out, err := execIn(ctx, cli, id, "seatrial-app", "health"); err != nil || code != 0 {
		t.Fatalf("seatrial-app health: exit %d, %v, %q", code, err, out)
	}
	if code, out, err := execIn(ctx, cli, id, "cat", "/proc/1/comm"); err != nil || code != 0 || strings.TrimSpace(out) != "systemd" {
		t.Fatalf("PID 1 is %q (exit %d, %v), want systemd", out, code, err)
	}

	// busctl monitor prints one JSON object a line for each bus message;
	// restarting a unit makes systemd send PropertiesChanged and JobNew.
	code, out, err = execIn(ctx, cli, id, "sh", "-c",
		"timeout 4 busctl monitor --json=short & sleep 1; systemctl restart seatrial-app.service; wait")
	if err != nil {
		t.Fatal(err)
	}
	var jsonLines int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "{") && json.Valid([]byte(line)) {
			jsonLines++
		}
	}
	if jsonLines == 0 {
		t.Fatalf("busctl monitor --json=short printed no JSON line (exit %d):\n%.3000s", code, out)
	}
	t.Logf("busctl monitor: %d JSON lines while restarting a unit", jsonLines)
	if code, out, err := execIn(ctx, cli, id, "systemctl", "is-active", "seatrial-app.service"); err != nil || code != 0 {
		t.Fatalf("seatrial-app.service not active after restart: exit %d, %v, %q", code, err, out)
	}
}

// TestNodeStopsWithAnExecRunning: a node stopped while a process started
// by `docker exec` is still there (as a health check may be) shuts down
// cleanly within its grace period. systemd-shutdown is not told when such
// a process exits (its parent is outside the container) and looks again
// only after half its timeout, at most 10 s: without the image's shorter
// DefaultTimeoutStopSec (fixtures/node/system.conf) that outlasts a grace
// period of 8 s, and the engine SIGKILLs the node.
func TestNodeStopsWithAnExecRunning(t *testing.T) {
	cli := connect(t)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	id := healthyNode(t, ctx, cli)

	// A process that takes half a second to go on SIGTERM: it is still
	// there when systemd-shutdown first looks.
	ex, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"sh", "-c", `trap "sleep 0.5; exit 0" TERM; while :; do sleep 0.1; done`}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	grace := 8
	if _, err := cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace}); err != nil {
		t.Fatal(err)
	}
	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := insp.Container.State; st.ExitCode != 0 {
		t.Fatalf("the node exited with code %d, not 0: its shutdown outlasted its %d s grace period and the engine killed it", st.ExitCode, grace)
	}
}

// TestNodeUnitFails: a node version whose app unit fails turns unhealthy
// (systemd says degraded), which is what a health-gated updater rolls back.
func TestNodeUnitFails(t *testing.T) {
	cli := connect(t)
	_, base := ensureOne(t, cli, images.Node)
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	img, err := images.WithConfig(base, appconfig.Config{Version: "v3", Behaviour: appconfig.UnitFails})
	if err != nil {
		t.Fatal(err)
	}
	l := nodeLabels(t)
	ref := loadVariant(t, ctx, cli, img, "node", l)
	id := runNode(t, ctx, cli, ref, l)
	t.Logf("node unhealthy after %s", waitHealth(t, ctx, cli, id, container.Unhealthy).Round(time.Millisecond))
	code, out, err := execIn(ctx, cli, id, "systemctl", "is-failed", "seatrial-app.service")
	if err != nil || strings.TrimSpace(out) != "failed" {
		t.Fatalf("systemctl is-failed seatrial-app.service: exit %d, %v, %q", code, err, out)
	}
	if code, out, _ := execIn(ctx, cli, id, "systemctl", "is-system-running"); strings.TrimSpace(out) != "degraded" {
		t.Fatalf("systemctl is-system-running: exit %d, %q, want degraded", code, out)
	}
}

func BenchmarkEnsureCached(b *testing.B) {
	cli := connect(b)
	ctx := b.Context()
	if _, err := images.Ensure(ctx, cli, images.WithProgress(logWriter{b})); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := images.Ensure(ctx, cli); err != nil {
			b.Fatal(err)
		}
	}
}
