package harness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/enginetest"
)

// env is the engine client and the image set every test here reuses.
var env enginetest.Env

func TestMain(m *testing.M) {
	// testcontainers-go's settings are this test binary's: Ryuk off, and its
	// process-wide lines dropped (each sandbox's go to its test's log).
	if err := harness.SetupTestcontainers(io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// within is the context a test's steps run in: t's, ended after d (the
// test's deadline) or when t ends, whichever comes first.
func within(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func newSandbox(t testing.TB, opts ...harness.Option) *harness.Sandbox {
	t.Helper()
	ctx := within(t, 3*time.Minute)
	sb, err := harness.NewSandbox(ctx, append(env.SandboxOptions(t), opts...)...)
	require.NoError(t, err)
	return sb
}

func TestClusterOfThreeBecomesReady(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	ctx := within(t, 3*time.Minute)
	c, err := sb.StartCluster(ctx, harness.ClusterSpec{Workers: 2})
	require.NoError(t, err)
	require.Len(t, c.Nodes(), 3)
	for _, n := range c.Nodes() {
		state, err := n.SystemState(ctx)
		require.NoError(t, err)
		require.Equal(t, "running", state, "node %s", n.Name())
		active, err := n.UnitActive(ctx, harness.AppUnit)
		require.NoError(t, err)
		require.Equal(t, "active", active, "node %s", n.Name())
		insp, err := n.Inspect(ctx)
		require.NoError(t, err)
		require.Equal(t, sb.ID(), insp.Config.Labels[labels.Sandbox])
		require.Equal(t, n.Name(), insp.Config.Labels[labels.Node])
		require.Equal(t, sb.ID(), insp.Config.Labels[harness.ScopeLabel])
		require.Equal(t, c.Image(), insp.Config.Image)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	t.Parallel()
	cli, set := env.Get(t)
	ctx := within(t, 3*time.Minute)
	sb, err := harness.NewSandbox(ctx, harness.WithClient(cli), harness.WithImages(set))
	require.NoError(t, err)
	_, err = sb.StartCluster(ctx, harness.ClusterSpec{Nodes: []harness.NodeSpec{{Name: "solo"}}})
	require.NoError(t, err)
	require.NoError(t, sb.Close(ctx))
	requireGone(t, cli, sb.ID())
}

func TestPublishedDigestIsWhatTheEnginePulls(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	ctx := within(t, 2*time.Minute)
	v1, err := sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	v2, err := sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.Unhealthy})
	require.NoError(t, err)
	require.NotEqual(t, v1.Digest, v2.Digest)
	require.NoError(t, sb.Pull(ctx, v2.Ref))
	insp, err := sb.Client().ImageInspect(ctx, v2.Ref)
	require.NoError(t, err)
	require.Contains(t, insp.RepoDigests, strings.Split(v2.Ref, ":stable")[0]+"@"+v2.Digest)
	_, err = sb.Publish(ctx, "registry", "x", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.ErrorContains(t, err, "want app or node")
}

// TestPruneRemovesWhatACrashLeft runs a child process that creates a
// sandbox and panics, then checks that Prune removes all of it.
func TestPruneRemovesWhatACrashLeft(t *testing.T) {
	if os.Getenv("SEATRIAL_TEST_PANIC_CHILD") == "1" {
		sb := newSandbox(t)
		os.Stdout.WriteString("SANDBOX=" + sb.ID() + "\n")
		panic("a test that panics after creating a sandbox")
	}
	t.Parallel()
	cli, _ := env.Get(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPruneRemovesWhatACrashLeft$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SEATRIAL_TEST_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child must panic")
	var id string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "SANDBOX="); ok {
			id = strings.TrimSpace(v)
		}
	}
	require.NotEmpty(t, id, "child output:\n%s", out)
	ctx := within(t, 2*time.Minute)
	// t.Cleanup does run after a panic in Go's testing package, so the
	// child may already have removed its sandbox; what matters is that
	// after Prune nothing is left.
	_, err = harness.Prune(ctx, cli)
	require.NoError(t, err)
	requireGone(t, cli, id)
}

// TestPruneSparesTheLivingAndPersons: Prune removes a sandbox whose owner
// process is gone and keeps one whose owner lives and one owned by a person.
func TestPruneSparesTheLivingAndPersons(t *testing.T) {
	t.Parallel()
	cli, _ := env.Get(t)
	live := newSandbox(t)
	person := newSandbox(t, harness.WithOwnerKind(labels.OwnerPerson))
	ctx := within(t, time.Minute)
	_, err := harness.Prune(ctx, cli)
	require.NoError(t, err)
	sbs, err := harness.ListSandboxes(ctx, cli)
	require.NoError(t, err)
	ids := map[string]bool{}
	for _, s := range sbs {
		ids[s.ID] = true
	}
	require.True(t, ids[live.ID()], "a sandbox whose owner lives was pruned")
	require.True(t, ids[person.ID()], "a person's sandbox was pruned")
}

// TestReopenKeepsAFileProfile: a sandbox whose updater was started from a
// profile file (here the reference updater's image, named and shaped by
// the file, with a skipped status that is not watchtower's) is reopened, as
// `seatrial scan` does, with that whole profile, and a scan through the
// reopened updater reaches the real updater.
func TestReopenKeepsAFileProfile(t *testing.T) {
	t.Parallel()
	cli, set := env.Get(t)
	ref, err := set.Get(images.RefUpdater)
	require.NoError(t, err)
	p := profile.Reference()
	p.Name, p.Fixture, p.Image = "my-updater", "", ref.Ref
	p.Env = map[string]string{"SEATRIAL_NOTE": "from a file"}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "my-updater.json")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	loaded, err := harness.ProfileByName(file)
	require.NoError(t, err)
	require.NotEqual(t, profile.Watchtower().Trigger, loaded.Trigger, "the file differs from watchtower's shape")

	sb := newSandbox(t)
	ctx := within(t, 2*time.Minute)
	_, err = sb.StartUpdater(ctx, loaded, harness.UpdaterOptions{})
	require.NoError(t, err)

	re, err := harness.OpenSandbox(ctx, cli, sb.ID())
	require.NoError(t, err)
	u := re.Updater()
	require.NotNil(t, u, "the reopened sandbox has its updater")
	require.Empty(t, cmp.Diff(loaded, u.Profile()), "the reopened updater's profile is the file's, whole")
	require.Equal(t, sb.RegistryAddr(), re.RegistryAddr())
	require.Equal(t, sb.Owner(), re.Owner())
	require.Equal(t, sb.Created(), re.Created())

	res, err := u.Scan(ctx)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status, res.Body)
	require.False(t, res.Skipped(u.Profile()))
	m, err := u.Metrics(ctx)
	require.NoError(t, err)
	require.Contains(t, m, p.Metrics.ScansTotal+" 1", "the scan reached the real updater")
}

// TestOpenSandboxUnknown: an id with nothing behind it lists the
// sandboxes that exist.
func TestOpenSandboxUnknown(t *testing.T) {
	t.Parallel()
	cli, _ := env.Get(t)
	_, err := harness.OpenSandbox(t.Context(), cli, "st-nothing-here")
	require.ErrorIs(t, err, harness.ErrNoSandbox)
	require.ErrorContains(t, err, "sandboxes here:")
}

func requireGone(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	ctx := t.Context()
	f := make(client.Filters).Add("label", labels.Sandbox+"="+id)
	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	require.Empty(t, ctrs.Items, "containers of sandbox %s left", id)
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	require.Empty(t, nets.Items, "networks of sandbox %s left", id)
}

// BenchmarkClusterReady measures a 3-node cluster from nothing (a new
// sandbox) to every node's systemd running.
func BenchmarkClusterReady(b *testing.B) {
	benchSandbox(b, nil, func(ctx context.Context, sb *harness.Sandbox) error {
		_, err := sb.StartCluster(ctx, harness.ClusterSpec{Workers: 2})
		return err
	})
}

// benchSandbox times, each iteration, making a sandbox with opts and then
// step on it (nil: nothing more). Removing the sandbox is not timed, but
// done in the iteration, so iterations do not pile up containers.
func benchSandbox(b *testing.B, opts []harness.Option, step func(context.Context, *harness.Sandbox) error) {
	cli, set := env.Get(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), 3*time.Minute)
		sb, err := harness.NewSandbox(ctx, append([]harness.Option{harness.WithClient(cli), harness.WithImages(set)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		if step != nil {
			if err := step(ctx, sb); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := sb.Close(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StartTimer()
	}
}

// TestEnsureUpdaterImage: an absent updater image is not pulled unless
// asked, and the error says how to provide it; a present one is used.
func TestEnsureUpdaterImage(t *testing.T) {
	t.Parallel()
	cli, set := env.Get(t)
	ctx := t.Context()
	p := profile.Reference()
	p.Name, p.Fixture, p.Image = "absent-updater", "", "seatrial.invalid/absent-updater:0"
	err := harness.EnsureUpdaterImage(ctx, cli, p, false)
	require.ErrorIs(t, err, harness.ErrUpdaterImageAbsent)
	require.ErrorContains(t, err, "seatrial.invalid/absent-updater:0")
	require.ErrorContains(t, err, "--pull-updater")
	require.ErrorContains(t, err, "docker load")

	ref, err := set.Get(images.RefUpdater)
	require.NoError(t, err)
	p.Image = ref.Ref
	require.NoError(t, harness.EnsureUpdaterImage(ctx, cli, p, false))
	require.NoError(t, harness.EnsureUpdaterImage(ctx, cli, profile.Reference(), false), "a fixture profile has nothing to ensure")
}

// TestPruneRemovesStateAndSupersededImages: a child process makes a
// sandbox with an updater (so a token file lives on the host), pulls two
// versions of a node image under one tag (so the first is superseded:
// untagged, kept by its digest reference), and is killed before any
// cleanup runs. Prune then removes the sandbox's host-side state dir and
// every image reference of its registry, the superseded one included.
func TestPruneRemovesStateAndSupersededImages(t *testing.T) {
	if root := os.Getenv("SEATRIAL_TEST_KILLED_CHILD"); root != "" {
		cli, set := env.Get(t)
		ctx := t.Context()
		// Not tied to t: the point is that nothing of ours removes it.
		sb, err := harness.NewSandbox(ctx, harness.WithClient(cli), harness.WithImages(set), harness.WithStateDir(root))
		require.NoError(t, err)
		os.Stdout.WriteString("SANDBOX=" + sb.ID() + "\nREGISTRY=" + sb.RegistryAddr() + "\n")
		u, err := sb.StartUpdater(ctx, profile.Reference(), harness.UpdaterOptions{})
		require.NoError(t, err)
		os.Stdout.WriteString("STATE=" + filepath.Dir(u.TokenFile()) + "\n")
		for _, v := range []string{"v1", "v2"} {
			p, err := sb.Publish(ctx, "node", "stable", appconfig.Config{Version: v, Behaviour: appconfig.Healthy})
			require.NoError(t, err)
			require.NoError(t, sb.Pull(ctx, p.Ref))
			os.Stdout.WriteString("DIGEST=" + p.Digest + "\n")
		}
		os.Stdout.WriteString("READY\n")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	t.Parallel()
	cli, _ := env.Get(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPruneRemovesStateAndSupersededImages$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SEATRIAL_TEST_KILLED_CHILD="+t.TempDir())
	out, _ := cmd.CombinedOutput()
	got := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.ToUpper(k) == k {
			got[k] = append(got[k], strings.TrimSpace(v))
		}
	}
	ctx := within(t, 2*time.Minute)
	if len(got["SANDBOX"]) == 1 {
		// Whatever happened, the child's sandbox goes.
		// (In a Cleanup, t.Context() is already cancelled.)
		t.Cleanup(func() { _, _ = harness.RemoveSandbox(context.Background(), cli, got["SANDBOX"][0]) })
	}
	require.Contains(t, string(out), "READY", "child output:\n%s", out)
	id, reg, state := got["SANDBOX"][0], got["REGISTRY"][0], got["STATE"][0]
	require.DirExists(t, state, "the killed child's state dir is there before the prune")
	v1 := got["DIGEST"][0]
	requireRefs := func(want bool) {
		t.Helper()
		list, err := cli.ImageList(ctx, client.ImageListOptions{})
		require.NoError(t, err)
		var refs []string
		for _, img := range list.Items {
			for _, r := range append(img.RepoTags, img.RepoDigests...) {
				if strings.HasPrefix(r, reg+"/") {
					refs = append(refs, r)
				}
			}
		}
		if want {
			require.Contains(t, refs, reg+"/node@"+v1, "the superseded v1 is kept by its digest before the prune")
			return
		}
		require.Empty(t, refs, "image references of sandbox %s's registry left", id)
	}
	requireRefs(true)

	_, err := harness.Prune(ctx, cli)
	require.NoError(t, err)
	requireGone(t, cli, id)
	require.NoDirExists(t, state, "the dead owner's state dir (its token file) was left")
	requireRefs(false)
}
