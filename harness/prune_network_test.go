package harness

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// TestRemoveNetworkWaitsForEndpoints: a network whose container is still
// being removed (by a parallel prune) is removed once its endpoint goes,
// not reported as "has active endpoints".
func TestRemoveNetworkWaitsForEndpoints(t *testing.T) {
	testenv.NeedsEngine(t)
	ctx := t.Context()
	cli, err := engine.Connect(ctx)
	require.NoError(t, err)
	set, err := images.Ensure(ctx, cli)
	require.NoError(t, err)
	node, err := set.Get("node")
	require.NoError(t, err)
	owner, err := labels.Self(labels.OwnerProcess)
	require.NoError(t, err)
	l := owner.Labels()
	l[labels.Sandbox] = NewID()
	l[labels.Role] = labels.RoleApp
	l[labels.Created] = time.Now().UTC().Format(time.RFC3339)

	net, err := cli.NetworkCreate(ctx, l[labels.Sandbox], client.NetworkCreateOptions{Labels: l})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = cli.NetworkRemove(context.WithoutCancel(ctx), net.ID, client.NetworkRemoveOptions{}) })
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: node.Ref, Labels: l, Entrypoint: []string{"/bin/sleep", "infinity"},
			// sleep as PID 1 ignores SIGTERM.
			StopSignal: "SIGKILL"},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(net.ID)},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, client.ContainerRemoveOptions{Force: true})
	})
	_, err = cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{})
	require.NoError(t, err)

	// The other prune: removes the container a moment after ours began.
	go func() {
		time.Sleep(time.Second)
		_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, client.ContainerRemoveOptions{Force: true})
	}()
	require.NoError(t, removeNetwork(ctx, cli, net.ID))
}
