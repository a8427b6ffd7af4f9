package scenarios

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// dependsOnLabel names the containers a container depends on, in the
// watchtower family's contract.
const dependsOnLabel = "com.centurylinklabs.watchtower.depends-on"

// TestDependentsRestarted: a node is updated while four containers
// depend on it: two in its network namespace (network_mode
// container:<id>, as the docker CLI and compose write it, and
// container:<name>), one naming it in the depends-on label, one linked to
// it on the sandbox's network. Each is stopped before the node's old container and started after
// its new one, as the Watcher's engine events show, and ends up running,
// attached where it was: in the new container's namespace, on its
// networks, with its link.
//
// The dependents are app containers (a static binary, up in well under a
// second, no shell, no systemd), not nodes: what is tested is the
// updater's order and how it recreates them, which does not depend on
// what runs inside, and a node costs a systemd boot.
//
// Engine API: nothing newer than 1.25 (network_mode container:, links,
// labels); the suite's floor is 1.41, for the nodes' cgroupns.
func TestDependentsRestarted(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapRestartsDependents}, dependentsRestarted)
}

// dependent is a container that depends on the node "controller", and
// how it does.
type dependent struct {
	spec harness.AppSpec
	how  string // in the failure messages
	// does says whether the created container depends as meant: the
	// scenario proves nothing if the engine dropped the link.
	does func(container.InspectResponse) bool
}

func dependentsRestarted(t testing.TB, p harness.Profile) {
	w := newWorld(t, p, worldSpec{nodes: []harness.NodeSpec{{Name: "controller"}}})
	ctx := within(t, 4*time.Minute)
	parent := w.cluster.Node("controller")
	app, err := w.sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	parentBefore, err := parent.Inspect(ctx)
	require.NoError(t, err)
	inNetns := func(c container.InspectResponse) bool { return c.HostConfig.NetworkMode.IsContainer() }
	deps := []dependent{
		// The node runs the app on :8080 itself; in its namespace the
		// dependents listen elsewhere. The docker CLI and compose's
		// network_mode service:<s> name the namespace's owner by id,
		// a person may name it by name.
		{harness.AppSpec{Name: "dep-netns-id", Image: app.Ref, NetworkMode: "container:" + parentBefore.ID, Env: []string{"APP_ADDR=:8081"}}, "in its network namespace, by id", inNetns},
		{harness.AppSpec{Name: "dep-netns-name", Image: app.Ref, NetworkMode: "container:" + parent.ContainerName(), Env: []string{"APP_ADDR=:8082"}}, "in its network namespace, by name", inNetns},
		{harness.AppSpec{Name: "dep-label", Image: app.Ref, Labels: map[string]string{dependsOnLabel: parent.ContainerName()}}, "naming it in " + dependsOnLabel,
			func(c container.InspectResponse) bool { return c.Config.Labels[dependsOnLabel] != "" }},
		{harness.AppSpec{Name: "dep-link", Image: app.Ref, Links: []string{parent.ContainerName() + ":parent"}}, "linked to it",
			func(c container.InspectResponse) bool { return len(links(c)) == 1 }},
	}
	before := map[string]container.InspectResponse{}
	for _, d := range deps {
		id, err := w.sb.RunApp(ctx, d.spec)
		require.NoError(t, err)
		before[d.spec.Name] = inspectContainer(ctx, t, id)
		require.True(t, d.does(before[d.spec.Name]), "dependent %s was created, but not %s", d.spec.Name, d.how)
	}

	w.publishNode(ctx, "v2")
	res := w.scan(ctx)
	w.requireScanOK(res)

	parentAfter, err := parent.Inspect(ctx)
	require.NoError(t, err)
	require.NotEqual(t, parentBefore.ID, parentAfter.ID, "the node controller was not recreated: nothing to restart its dependents for")
	// The waits make sure the Watcher has seen the restarts before the
	// timeline is read.
	parentStart, err := w.waitFor(ctx, monitor.Recreated("controller", parentBefore.ID), monitor.IncludePast())
	require.NoError(t, err)
	parentStop, ok := firstEvent(w.watcher.Timeline(), func(ev monitor.Event) bool {
		return ev.ContainerID == parentBefore.ID && slices.Contains([]monitor.EventKind{monitor.EventContainerKill, monitor.EventContainerStop, monitor.EventContainerDie}, ev.Kind)
	})
	require.True(t, ok, "the node controller's old container %.12s was replaced without a kill, stop or die event", parentBefore.ID)

	for _, d := range deps {
		name := d.spec.Name
		old := before[name]
		stop, ok := firstEvent(w.watcher.Timeline(), func(ev monitor.Event) bool {
			return ev.ContainerID == old.ID && ev.Kind == monitor.EventContainerDie
		})
		require.True(t, ok, "dependent %s (%s) was never stopped while its parent was updated", name, d.how)
		require.True(t, stop.Time.Before(parentStop.Time),
			"dependent %s (%s) stopped at %s, after its parent began stopping at %s: dependents must stop first",
			name, d.how, clock(stop.Time), clock(parentStop.Time))
		// The first start of a container of that name after the stop,
		// whether or not it lasted.
		if start, ok := firstEvent(w.watcher.Timeline(), func(ev monitor.Event) bool {
			return ev.Container == strings.TrimPrefix(old.Name, "/") && ev.Kind == monitor.EventContainerStart && ev.Time.After(stop.Time)
		}); ok {
			require.True(t, start.Time.After(parentStart.Time),
				"dependent %s (%s) started at %s, before its parent's new container started at %s: dependents must start after it",
				name, d.how, clock(start.Time), clock(parentStart.Time))
		}
	}
	// Then where each ended up: the order is checked for all first, as a
	// dependent started too early may not have lasted.
	for _, d := range deps {
		name := d.spec.Name
		old := before[name]
		now, err := s.cli.ContainerInspect(ctx, old.Name, client.ContainerInspectOptions{})
		require.NoError(t, err, "dependent %s (%s) is gone after its parent's update", name, d.how)
		cur := now.Container
		require.True(t, cur.State != nil && cur.State.Running, "dependent %s (%s) is %s after its parent's update, want running", name, d.how, stateOf(cur))
		start, err := w.waitFor(ctx, monitor.Matching("dependent "+name+" to start after the scan", func(ev monitor.Event) bool {
			return ev.ContainerID == cur.ID && ev.Kind == monitor.EventContainerStart && ev.Time.After(parentStop.Time)
		}), monitor.IncludePast())
		require.NoError(t, err)
		require.True(t, start.Time.After(parentStart.Time),
			"dependent %s (%s) started at %s, before its parent's new container started at %s: dependents must start after it",
			name, d.how, clock(start.Time), clock(parentStart.Time))
		requireAttachedAsBefore(ctx, t, name, d.how, old, cur, parentAfter.ID)
	}
}

// requireAttachedAsBefore asserts a restarted dependent is attached where
// it was: in the namespace of its parent's current container, on the
// same networks, with the same links and labels.
func requireAttachedAsBefore(ctx context.Context, t testing.TB, name, how string, old, cur container.InspectResponse, parentID string) {
	t.Helper()
	if target, ok := strings.CutPrefix(string(cur.HostConfig.NetworkMode), "container:"); ok {
		joined := inspectContainer(ctx, t, target)
		require.Equal(t, parentID, joined.ID, "dependent %s (%s) joins the namespace of %.12s, want its parent's new container %.12s", name, how, joined.ID, parentID)
	} else {
		require.Equal(t, old.HostConfig.NetworkMode, cur.HostConfig.NetworkMode, "dependent %s (%s): network mode", name, how)
		require.Equal(t, slices.Sorted(maps.Keys(old.NetworkSettings.Networks)), slices.Sorted(maps.Keys(cur.NetworkSettings.Networks)), "dependent %s (%s): networks", name, how)
	}
	require.Equal(t, links(old), links(cur), "dependent %s (%s): links", name, how)
	require.Equal(t, old.Config.Labels[dependsOnLabel], cur.Config.Labels[dependsOnLabel], "dependent %s (%s): %s", name, how, dependsOnLabel)
}

// links are a container's legacy links: in its host config on the default
// bridge, in its endpoints on a user network.
func links(c container.InspectResponse) []string {
	out := slices.Clone(c.HostConfig.Links)
	if c.NetworkSettings != nil {
		for _, ep := range c.NetworkSettings.Networks {
			if ep != nil {
				out = append(out, ep.Links...)
			}
		}
	}
	slices.Sort(out)
	return out
}

func inspectContainer(ctx context.Context, t testing.TB, ref string) container.InspectResponse {
	t.Helper()
	res, err := s.cli.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	require.NoError(t, err)
	return res.Container
}

// firstEvent is the first event of a timeline that matches.
func firstEvent(timeline []monitor.Event, match func(monitor.Event) bool) (monitor.Event, bool) {
	for _, ev := range timeline {
		if match(ev) {
			return ev, true
		}
	}
	return monitor.Event{}, false
}

func stateOf(c container.InspectResponse) string {
	if c.State == nil {
		return "in no state"
	}
	return string(c.State.Status)
}

// clock formats an event time as the timeline does.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000000") }
