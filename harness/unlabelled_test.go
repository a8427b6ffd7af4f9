package harness_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
)

// TestPruneFindsUnlabelledReplacements: a child process makes a sandbox
// and is killed; then, as an updater that strips labels would have, two
// containers without any label are made for it: one under a name of the
// sandbox's (an updater keeps the name), one under a name of its own but
// on the sandbox's network. A third, unlabelled and named for a sandbox
// of which nothing labelled is left, stands for a crashed run whose
// network is gone. The next prune removes all three and the network.
func TestPruneFindsUnlabelledReplacements(t *testing.T) {
	if os.Getenv("SEATRIAL_TEST_UNLABELLED_CHILD") == "1" {
		cli, set := env.Get(t)
		sb, err := harness.NewSandbox(t.Context(), harness.WithClient(cli), harness.WithImages(set))
		require.NoError(t, err)
		os.Stdout.WriteString("SANDBOX=" + sb.ID() + "\nREADY\n")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	t.Parallel()
	cli, set := env.Get(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPruneFindsUnlabelledReplacements$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SEATRIAL_TEST_UNLABELLED_CHILD=1")
	out, _ := cmd.CombinedOutput()
	require.Contains(t, string(out), "READY", "child output:\n%s", out)
	var id string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "SANDBOX="); ok {
			id = strings.TrimSpace(v)
		}
	}
	ctx := within(t, 2*time.Minute)
	app, err := set.Get("app")
	require.NoError(t, err)
	orphanOf := harness.NewID()
	made := map[string]string{}
	for _, c := range []struct {
		name string
		net  string
	}{
		{name: id + "-c1-controller"},
		{name: "renamed-by-an-updater-" + id, net: id},
		{name: orphanOf + "-c1-worker-0"},
	} {
		var nc *network.NetworkingConfig
		if c.net != "" {
			nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{c.net: {}}}
		}
		// No labels at all: what a label-stripping updater creates.
		res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: c.name, Config: &container.Config{Image: app.Ref}, NetworkingConfig: nc,
		})
		require.NoError(t, err)
		made[c.name] = res.ID
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
		})
	}

	removed, err := harness.Prune(ctx, cli)
	require.NoError(t, err)
	var said []string
	for _, r := range removed {
		said = append(said, r.String())
	}
	t.Logf("prune said:\n%s", strings.Join(said, "\n"))
	for name, cid := range made {
		_, err := cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
		require.Error(t, err, "the unlabelled container %s was left by the prune", name)
	}
	requireGone(t, cli, id)
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{})
	require.NoError(t, err)
	for _, n := range nets.Items {
		require.NotEqual(t, id, n.Name, "the sandbox's network was left")
	}
	require.Contains(t, strings.Join(said, "\n"), orphanOf, "the prune did not say it removed the orphan")
}
