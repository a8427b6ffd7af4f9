package scenarios

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestCleanupKeepsImagesInUse: with the updater's cleanup flag, two app
// containers are updated. The image the first ran is run by no one after
// the update and must be gone; the image the second ran is still run by a
// third container, excluded from updates, and must stay, under its name
// (a nameless image cannot be pulled again or told apart by a person).
//
// The images are versions only this sandbox publishes: image ids are
// content-addressed, so an image another sandbox published with the same
// content would have the same id, and its containers would keep it in use
// (or its cleanup remove it) whatever this updater does.
//
// Engine API: nothing newer than 1.25 (image remove, container list by
// image); the suite's floor is 1.41, for the nodes' cgroupns.
func TestCleanupKeepsImagesInUse(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope, profile.CapCleanup}, worldSpec{nodes: []harness.NodeSpec{{Name: "controller"}}, updater: harness.UpdaterOptions{Cleanup: true}}, 4*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		version := func(tag, v string) appconfig.Config {
			return appconfig.Config{Version: tag + "-" + v + "-" + w.sb.ID(), Behaviour: appconfig.Healthy}
		}
		lone, err := w.sb.Publish(ctx, "app", "lone", version("lone", "v1"))
		require.NoError(t, err)
		shared, err := w.sb.Publish(ctx, "app", "shared", version("shared", "v1"))
		require.NoError(t, err)
		ids := map[string]string{}
		for _, a := range []harness.AppSpec{
			{Name: "lone", Image: lone.Ref},
			{Name: "shared", Image: shared.Ref},
			// enable=false excludes it with or without --label-enable.
			{Name: "keeper", Image: shared.Ref, Labels: map[string]string{EnableLabel: "false"}},
		} {
			ids[a.Name], err = w.sb.RunApp(ctx, a)
			require.NoError(t, err)
		}
		image := func(name string) string { return inspectContainer(ctx, t, ids[name]).Image }
		loneOld, sharedOld := image("lone"), image("shared")
		require.NotEqual(t, loneOld, sharedOld, "the two versions must be two images")
		require.Equal(t, sharedOld, image("keeper"))
		// An updater that strips the names of an image in use leaves it where
		// the sandbox's removal (by the registry's names) cannot find it; the
		// image is this sandbox's alone, so it goes here, after its keeper.
		t.Cleanup(func() {
			ctx := context.WithoutCancel(ctx)
			if img, err := s.cli.ImageInspect(ctx, sharedOld); err != nil || len(img.RepoTags)+len(img.RepoDigests) > 0 {
				return
			}
			_, _ = s.cli.ContainerRemove(ctx, ids["keeper"], client.ContainerRemoveOptions{Force: true})
			if _, err := s.cli.ImageRemove(ctx, sharedOld, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				t.Logf("remove the nameless image %.19s: %v", sharedOld, err)
			}
		})

		for _, tag := range []string{"lone", "shared"} {
			_, err := w.sb.Publish(ctx, "app", tag, version(tag, "v2"))
			require.NoError(t, err)
		}
		res := w.scan(ctx)
		w.requireScanOK(res)

		for _, name := range []string{"lone", "shared"} {
			now, err := s.cli.ContainerInspect(ctx, w.sb.ID()+"-"+name, client.ContainerInspectOptions{})
			require.NoError(t, err, "container %s after the scan", name)
			require.NotEqual(t, ids[name], now.Container.ID, "container %s was not updated: nothing was superseded", name)
		}
		require.Equal(t, sharedOld, image("keeper"), "container keeper (%s=false) was updated", EnableLabel)

		// An updater may clean up after its trigger answered: the image is
		// given a while to go.
		gone, cancelGone := context.WithTimeout(ctx, 30*time.Second)
		defer cancelGone()
		_, err = retry(gone, 100*time.Millisecond, time.Second, func() (struct{}, error) {
			if _, err := s.cli.ImageInspect(gone, loneOld); !cerrdefs.IsNotFound(err) {
				return struct{}{}, fmt.Errorf("image %.19s is still there (%v)", loneOld, err)
			}
			return struct{}{}, nil
		})
		require.NoError(t, err, "the superseded image %.19s of container lone is still there 30 s after the scan, though no container runs it: cleanup did not remove it", loneOld)

		kept, err := s.cli.ImageInspect(ctx, sharedOld)
		require.NoError(t, err, "the superseded image %.19s of container shared was removed, though container keeper still runs it", sharedOld)
		name := w.sb.RegistryAddr() + "/app@" + shared.Digest
		require.True(t, slices.Contains(kept.RepoDigests, name),
			"the superseded image %.19s of container shared, which container keeper still runs, lost its name %s: cleanup removed what it could of an image in use (names left: %v)",
			sharedOld, name, kept.RepoDigests)
	})
}
