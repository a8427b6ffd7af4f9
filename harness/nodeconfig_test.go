package harness_test

import (
	"context"
	"testing"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// A volume whose sandbox is otherwise gone (a removal that failed half
// way), and whose owner process is dead, is pruned and reported; one of a
// live owner is left alone.
func TestPruneRemovesOrphanVolumes(t *testing.T) {
	cli, _ := env.Get(t)
	ctx := t.Context()
	self, err := labels.Self(labels.OwnerProcess)
	require.NoError(t, err)
	dead := labels.Owner{PID: self.PID, Start: self.Start + 1, Kind: labels.OwnerProcess} // same pid, another start: not this process
	mk := func(id string, o labels.Owner) string {
		l := o.Labels()
		l[labels.Sandbox], l[labels.Role] = id, labels.RoleVolume
		name := id + "-c1-journal"
		_, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: l})
		require.NoError(t, err)
		// Not t.Context(): it is cancelled before cleanups run.
		t.Cleanup(func() { _, _ = cli.VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{}) })
		return name
	}
	deadID, liveID := harness.NewID(), harness.NewID()
	deadVol := mk(deadID, dead)
	liveVol := mk(liveID, self)

	removed, err := harness.Prune(ctx, cli)
	require.NoError(t, err)
	var got *harness.Removed
	for i := range removed {
		if removed[i].Sandbox == deadID {
			got = &removed[i]
		}
		require.NotEqual(t, liveID, removed[i].Sandbox, "a live owner's volume was pruned")
	}
	require.NotNil(t, got, "the dead owner's orphan volume was not pruned: %v", removed)
	require.Equal(t, []string{deadVol}, got.Volumes)
	require.Contains(t, got.String(), "1 volume(s) "+deadVol)
	_, err = cli.VolumeInspect(ctx, liveVol, client.VolumeInspectOptions{})
	require.NoError(t, err, "the live owner's volume is still there")
}
