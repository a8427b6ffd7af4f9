package main

// These tests drive the real seatrial binary, built once per run, against
// the real Docker engine: the flow a person follows by hand (up, ls,
// publish, scan, metrics, watch, down), Ctrl-C during `up --wait`, and
// every bad input's message and exit code against golden files. Run with
// -update to rewrite the golden files.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// bin is the seatrial binary built for this run; root is the module root,
// the directory the children run in (up and publish read the fixtures'
// sources from it).
var bin, root string

func TestMain(m *testing.M) {
	flag.Parse()
	wd, _ := os.Getwd()
	var err error
	if root, err = images.FindModuleRoot(wd); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(testenv.MainWithProgram(m, "seatrial", ".", &bin))
}

type result struct {
	code           int
	stdout, stderr string
}

// seatrial runs the binary to its end. env entries override the
// environment.
func seatrial(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run seatrial %v: %v", args, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func childEnv(extra ...string) []string {
	// Ryuk's image cannot be pulled here; seatrial cleans up by labels.
	return append(append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true"), extra...)
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run the test with -update to create it")
	assert.Equal(t, string(want), got, "golden file %s (rerun with -update if the change is intended)", path)
}

// Every command's --help, and the top-level usage.
func TestHelp(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" {
				continue // cobra's, and the same as --help
			}
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(newRootCmd(), nil)
	for _, p := range paths {
		name := strings.Join(p, "-")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := seatrial(t, nil, append(p, "--help")...)
			assert.Equal(t, 0, r.code, "stderr: %s", r.stderr)
			golden(t, "help/"+name+".golden", r.stdout+r.stderr)
		})
	}
	r := seatrial(t, nil, "--help")
	assert.Equal(t, 0, r.code)
	golden(t, "help/seatrial.golden", r.stdout)
}

// sandboxList is the list of sandboxes an unknown-sandbox error names: it
// depends on what else runs on the engine, so it is masked.
var sandboxList = regexp.MustCompile(`\(sandboxes here: [^)]*\)`)

// Each bad input: one line saying what was wrong and what to do, and its
// exit code; never a stack trace.
func TestBadInput(t *testing.T) {
	oldEngine := func(version string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Enough of the engine API for the client's version negotiation.
			w.Header().Set("Api-Version", version)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "OK")
		}))
		t.Cleanup(srv.Close)
		return "tcp://" + strings.TrimPrefix(srv.URL, "http://")
	}
	old130, old140 := oldEngine("1.30"), oldEngine("1.40")
	cases := []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"unknown-command", nil, []string{"bogus"}, 2},
		{"no-command", nil, nil, 2},
		{"bad-flag", nil, []string{"ls", "--bogus"}, 2},
		{"up-unknown-profile", nil, []string{"up", "--profile", "nope"}, 2},
		{"up-bad-nodes", nil, []string{"up", "--nodes", "0"}, 2},
		{"up-bad-registry-auth", nil, []string{"up", "--registry-auth", "kerberos"}, 2},
		{"publish-unknown-behaviour", nil, []string{"publish", "st-x", "node", "--behaviour", "weird"}, 2},
		{"publish-unknown-image", nil, []string{"publish", "st-x", "registry"}, 2},
		{"publish-unknown-sandbox", nil, []string{"publish", "st-nosuchsandbox", "node"}, 2},
		{"scan-no-sandbox", nil, []string{"scan"}, 2},
		{"scan-unknown-sandbox", nil, []string{"scan", "st-nosuchsandbox"}, 2},
		{"watch-unknown-sandbox", nil, []string{"watch", "st-nosuchsandbox"}, 2},
		{"watch-html-no-directory", nil, []string{"watch", "st-x", "--html", "/nonexistent/timeline.html"}, 2},
		{"metrics-unknown-sandbox", nil, []string{"metrics", "st-nosuchsandbox"}, 2},
		{"down-unknown-sandbox", nil, []string{"down", "st-nosuchsandbox"}, 2},
		{"down-nothing", nil, []string{"down"}, 2},
		{"run-unknown-scenario", nil, []string{"run", "nope"}, 2},
		{"run-unknown-profile", nil, []string{"run", "full-scan", "--profile", "nope"}, 2},
		{"run-bad-shard", nil, []string{"run", "--shard", "3/2"}, 2},
		{"junit-merge-nothing", nil, []string{"junit-merge", "out.xml"}, 2},
		{"run-bad-repeat", nil, []string{"run", "--repeat", "0"}, 2},
		{"run-bad-keep-on-failure", nil, []string{"run", "--keep-on-failure=yes"}, 2},
		{"run-bad-focus", nil, []string{"run", "--focus", "Full("}, 2},
		{"run-bad-skip", nil, []string{"run", "--skip", "["}, 2},
		{"run-unknown-capability", nil, []string{"run", "--capability", "teleport"}, 2},
		{"run-focus-matches-nothing", nil, []string{"run", "--focus", "NoSuchScenario", "--profile", "reference"}, 2},
		{"fault-unknown-fault", nil, []string{"fault", "st-x", "4299 path=/manifests/"}, 2},
		{"fault-bad-number", nil, []string{"fault", "st-x", "429 first=many"}, 2},
		{"fault-unknown-sandbox", nil, []string{"fault", "st-nosuchsandbox", "503"}, 2},
		{"fault-engine-unknown-fault", nil, []string{"fault", "--engine", "st-x", "fail call=teleport"}, 2},
		{"fault-no-rule", nil, []string{"fault", "st-x"}, 2},
		{"images-unknown-subcommand", nil, []string{"images", "push"}, 2},
		{"diff-unknown-profile", nil, []string{"diff", "reference", "nope"}, 2},
		{"diff-same-profile", nil, []string{"diff", "reference", "reference"}, 2},
		{"diff-same-image", nil, []string{"diff", "reference", "--image-a", "seatrial/x:1", "--image-b", "seatrial/x:1"}, 2},
		{"diff-one-image", nil, []string{"diff", "reference", "--image-a", "seatrial/x:1"}, 2},
		{"diff-profiles-and-images", nil, []string{"diff", "reference", "watchtower-1.7.1", "--image-a", "seatrial/x:1", "--image-b", "seatrial/x:2"}, 2},
		{"diff-bad-tolerance", nil, []string{"diff", "reference", "watchtower-1.7.1", "--time-tolerance", "-5%"}, 2},
		{"diff-bad-repeat", nil, []string{"diff", "reference", "watchtower-1.7.1", "--repeat", "0"}, 2},
		{"diff-focus-matches-nothing", nil, []string{"diff", "reference", "watchtower-1.7.1", "--focus", "NoSuchScenario"}, 2},
		{"diff-image-absent", nil, []string{"diff", "reference", "--image-a", "seatrial/no-such-image:1", "--image-b", "seatrial/no-such-image:2"}, 2},
		{"no-engine", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, []string{"ls"}, 1},
		{"engine-too-old", []string{"DOCKER_HOST=" + old130}, []string{"ls"}, 1},
		{"engine-api-1.40", []string{"DOCKER_HOST=" + old140}, []string{"up"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasSuffix(c.name, "-unknown-sandbox") || c.name == "diff-image-absent" {
				// Looking a sandbox (or an image) up asks the engine.
				testenv.NeedsEngine(t)
			}
			t.Parallel()
			r := seatrial(t, c.env, c.args...)
			assert.Equal(t, c.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			assert.NotContains(t, r.stderr, "goroutine ", "a stack trace")
			assert.NotContains(t, r.stderr, "panic", "a panic")
			got := sandboxList.ReplaceAllString(r.stderr, "(sandboxes here: ...)")
			got = strings.NewReplacer(old130, "tcp://FAKE", old140, "tcp://FAKE").Replace(got)
			golden(t, "errors/"+c.name+".golden", fmt.Sprintf("exit %d\n%s", r.code, got))
		})
	}
}

func newName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "st-clitest-" + hex.EncodeToString(b[:])
}

// removeAfter removes the sandbox when the test ends, however it ends.
func removeAfter(t *testing.T, cli *client.Client, id string) {
	t.Cleanup(func() {
		// Not t.Context(): it is cancelled before Cleanup functions run.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := harness.RemoveSandbox(ctx, cli, id); err != nil {
			t.Errorf("remove sandbox %s: %v", id, err)
		}
		_ = harness.RemoveStateDirs(id)
	})
}

// requireGone checks that nothing labelled with the sandbox id is left.
func requireGone(t *testing.T, cli *client.Client, id, registry, tokenFile string) {
	t.Helper()
	ctx := t.Context()
	f := make(client.Filters).Add("label", labels.Sandbox+"="+id)
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	assert.Empty(t, ctrs.Items, "containers left")
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	assert.Empty(t, nets.Items, "networks left")
	if registry != "" {
		imgs, err := cli.ImageList(ctx, client.ImageListOptions{})
		require.NoError(t, err)
		for _, img := range imgs.Items {
			for _, tag := range img.RepoTags {
				assert.False(t, strings.HasPrefix(tag, registry+"/"), "image %s left", tag)
			}
		}
	}
	if tokenFile != "" {
		_, err := os.Stat(filepath.Dir(tokenFile))
		assert.True(t, os.IsNotExist(err), "state dir %s left", filepath.Dir(tokenFile))
	}
}

// syncBuffer is a bytes.Buffer safe to read while a child writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until buf holds want, or fails.
func waitFor(t *testing.T, buf *syncBuffer, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s; got:\n%s", want, d, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backgroundWatch is `seatrial watch SANDBOX --json --html PICTURE` left
// running through a flow, as a person leaves it in another terminal.
type backgroundWatch struct {
	cmd      *exec.Cmd
	out, err syncBuffer
	picture  string
}

// startWatch starts seatrial watch on the sandbox name, its picture in a
// temporary directory, and waits until it watches. It is killed at the
// test's end unless stop ended it.
func startWatch(t *testing.T, bin, root, name string) *backgroundWatch {
	t.Helper()
	w := &backgroundWatch{picture: filepath.Join(t.TempDir(), "timeline.html")}
	w.cmd = exec.Command(bin, "watch", name, "--json", "--html", w.picture)
	w.cmd.Dir, w.cmd.Env = root, childEnv()
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.err
	require.NoError(t, w.cmd.Start())
	t.Cleanup(func() { _ = w.cmd.Process.Kill(); _ = w.cmd.Wait() })
	waitFor(t, &w.err, "watching sandbox "+name, time.Minute)
	return w
}

// stop ends the watch as Ctrl-C does (it writes its picture then) and
// waits for it to exit.
func (w *backgroundWatch) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, w.cmd.Wait())
}

// The by-hand flow: up, ls, watch, publish, scan, metrics, down.
func TestFlow(t *testing.T) {
	cli := testenv.Engine(t)
	name := newName(t)
	removeAfter(t, cli, name)

	// With the engine proxy, so that watch shows the updater's engine
	// calls as a lane.
	r := seatrial(t, nil, "up", "--json", "--nodes", "1", "--name", name, "--engine-proxy")
	require.Equal(t, 0, r.code, "up: %s", r.stderr)
	var info upInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info), r.stdout)
	assert.Equal(t, name, info.Sandbox)
	assert.Equal(t, harness.DefaultProfile, info.Profile)
	require.Len(t, info.Nodes, 1)
	assert.Equal(t, "controller", info.Nodes[0].Name)
	assert.FileExists(t, info.TokenFile)
	assert.NotEmpty(t, info.UpdaterAPI)
	assert.NotEmpty(t, info.Registry)
	assert.NotEmpty(t, info.MetricsServer)
	assert.NotEmpty(t, info.Next)

	r = seatrial(t, nil, "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rows []lsRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	var row *lsRow
	for i := range rows {
		if rows[i].ID == name {
			row = &rows[i]
		}
	}
	require.NotNil(t, row, "ls does not list %s: %s", name, r.stdout)
	assert.Equal(t, labels.OwnerPerson, row.Owner)
	assert.Equal(t, 1, row.NodesRunning)
	assert.Equal(t, "running", row.Updater)
	assert.Equal(t, info.Registry, row.Registry)

	// watch runs in the background until the end of the flow.
	watch := startWatch(t, bin, root, name)

	r = seatrial(t, nil, "publish", name, "node", "--behaviour", "healthy", "--version", "v2", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var pub map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &pub), r.stdout)
	assert.Equal(t, info.Registry+"/node:stable", pub["ref"])
	assert.True(t, strings.HasPrefix(pub["digest"], "sha256:"), pub["digest"])

	r = seatrial(t, nil, "scan", name)
	require.Equal(t, 0, r.code, "scan: %s %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "answered 200")

	// A metrics server of this test's own, on a socket nobody else uses:
	// metrics starts it and stops it.
	sock := filepath.Join(t.TempDir(), "metrics.sock")
	r = seatrial(t, nil, "metrics", name, "--addr", sock)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "starting one for this read")
	assert.Regexp(t, `(?m)^updater\s+-\s+watchtower_containers_updated\s+-\s+1$`, r.stdout)
	assert.Regexp(t, `(?m)^updater\s+-\s+watchtower_scans_total\s+-\s+1$`, r.stdout)
	_, err := os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "the spawned metrics server was stopped and its socket removed")
	r = seatrial(t, nil, "metrics", name, "--raw", "--addr", sock)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "# TYPE watchtower_containers_updated gauge")
	assert.Regexp(t, `watchtower_containers_updated\{[^}]*sandbox="`+name+`"[^}]*\} 1`, r.stdout)
	assert.NotRegexp(t, `sandbox="st-[0-9a-f]{10}"`, r.stdout, "only this sandbox's series")

	// The watch saw the update: the node's old container died, a new one
	// started from the published image.
	watch.stop(t)
	var events []watchEvent
	for _, l := range strings.Split(strings.TrimSpace(watch.out.String()), "\n") {
		var e watchEvent
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		events = append(events, e)
	}
	var died, started, pulled, created bool
	for _, e := range events {
		switch {
		case e.Kind == "engine.call" && e.Role == "engine-api" && regexp.MustCompile(`^POST /v[0-9.]+/containers/create\S* 201 `).MatchString(e.Detail):
			created = true
		case e.Kind == "container.die" && e.Node == "controller":
			died = true
		case e.Kind == "container.start" && e.Node == "controller" && died:
			started = true
		case e.Kind == "image.pull" && strings.HasPrefix(e.Image, info.Registry+"/node"):
			pulled = true
		}
	}
	assert.True(t, died && started && pulled, "watch saw die=%v start-after-die=%v pull=%v in:\n%s", died, started, pulled, watch.out.String())
	assert.True(t, created, "watch showed no engine-api call creating the node's new container in:\n%s", watch.out.String())
	// --html drew the same: the node's lane with its two containers'
	// bars, the engine-api lane, the pull (the picture's own test checks
	// where things are drawn).
	page, err := os.ReadFile(watch.picture)
	require.NoError(t, err, "watch --html wrote no picture; stderr: %s", watch.err.String())
	assert.Contains(t, watch.err.String(), "wrote the timeline's picture to "+watch.picture)
	assert.Contains(t, string(page), ">controller</text>")
	assert.Contains(t, string(page), ">engine-api</text>")
	assert.Contains(t, string(page), "image.pull")
	assert.Regexp(t, `(?s)<rect class="b"[^>]*><title>controller, container .*<rect class="b"[^>]*><title>controller, container `, string(page), "the node's old and new containers' bars")

	r = seatrial(t, nil, "down", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "removed sandbox "+name+": 5 containers")
	assert.Contains(t, r.stdout, "network   "+name)
	requireGone(t, cli, name, info.Registry, info.TokenFile)

	r = seatrial(t, nil, "scan", name)
	assert.Equal(t, 2, r.code, "the sandbox is gone: %s", r.stderr)
}

// Ctrl-C during `up --wait` removes everything up made: once it is up,
// and while it is still creating the sandbox.
func TestUpWaitInterrupt(t *testing.T) {
	testenv.NeedsEngine(t)
	t.Run("up", testUpWaitInterruptWhenUp)
	t.Run("creating", testUpWaitInterruptWhileCreating)
}

func testUpWaitInterruptWhileCreating(t *testing.T) {
	cli := testenv.Engine(t)
	name := newName(t)
	removeAfter(t, cli, name)

	var errb syncBuffer
	up := exec.Command(bin, "up", "--wait", "--nodes", "1", "--name", name)
	up.Dir, up.Env = root, childEnv()
	up.Stderr = &errb
	require.NoError(t, up.Start())
	t.Cleanup(func() { _ = up.Process.Kill() })
	// The network and the registry exist; the node is starting.
	waitFor(t, &errb, "starting 1 systemd node", 3*time.Minute)
	require.NoError(t, up.Process.Signal(syscall.SIGINT))
	err := up.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "interrupted while creating: a failure; stderr:\n%s", errb.String())
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, errb.String(), "seatrial up: interrupted; nothing was left behind")
	requireGone(t, cli, name, "", "")
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "seatrial", name+"-*"))
	assert.Empty(t, matches, "state dir left")
}

func testUpWaitInterruptWhenUp(t *testing.T) {
	cli := testenv.Engine(t)
	name := newName(t)
	removeAfter(t, cli, name)

	var out, errb syncBuffer
	up := exec.Command(bin, "up", "--wait", "--json", "--nodes", "1", "--name", name)
	up.Dir, up.Env = root, childEnv()
	up.Stdout, up.Stderr = &out, &errb
	require.NoError(t, up.Start())
	t.Cleanup(func() { _ = up.Process.Kill() })
	waitFor(t, &errb, "Ctrl-C removes it", 3*time.Minute)
	var info upInfo
	require.NoError(t, json.Unmarshal([]byte(out.String()), &info))

	require.NoError(t, up.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "up --wait exits 0 after removing the sandbox; stderr:\n%s", errb.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("up --wait did not exit after SIGINT; stderr:\n%s", errb.String())
	}
	assert.Contains(t, errb.String(), "removed sandbox "+name)
	requireGone(t, cli, name, info.Registry, info.TokenFile)
}
