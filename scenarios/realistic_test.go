package scenarios

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/configdiff"
	"github.com/seatrial-dev/seatrial/internal/legacymac"
)

// userMAC is the user-set MAC address of the realistic node that has one:
// locally administered (02:...), outside the engine's 02:42:... range.
const userMAC = "02:5e:a7:00:00:01"

// realisticStopTimeout is a realistic node's own grace period, in seconds:
// longer than the 10 s that the engine and updaters default to.
const realisticStopTimeout = 30

// realisticNode is a node configured as users run containers: two user
// networks besides the sandbox's (aliases on both, a static address on
// "front"), a published port, environment and labels, its journal on a
// named volume of its own (so the journal outlives the container, as
// GracefulStop reads it) and a read-only bind mount, a restart policy, a
// health check of its own, a MAC address if mac is not empty, its own
// stop timeout, a domain, extra hosts, one more capability, a tmpfs,
// ulimits, log options and a sysctl. (Per-network MAC addresses, API
// 1.44, do not exist on this API 1.41 engine.)
func realisticNode(name, mac string) harness.NodeSpec {
	stop := realisticStopTimeout
	return harness.NodeSpec{
		Name:   name,
		Labels: map[string]string{"com.example.tier": name, "com.example.owner": "seatrial"},
		Config: &harness.NodeConfig{
			// A value with spaces and an '=' keeps the updater honest about
			// splitting KEY=value.
			Env: []string{"TZ=Etc/UTC", "APP_OPTS=--mode=a b", "SEATRIAL_NODE=" + name},
			Networks: []harness.NodeNetwork{
				{Name: "front", Aliases: []string{name + ".front", "api-" + name}, StaticIP: true},
				{Name: "back", Aliases: []string{name + ".back"}},
			},
			Publish: []string{"8080/tcp"},
			Volumes: map[string]string{"journal-" + name: "/var/log/journal"},
			Binds:   map[string]string{"shared": "/srv/shared:ro"},
			Restart: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
			// The image's check, with a longer start period and more
			// retries: a user's own, which an updater must not replace by
			// the image's.
			Healthcheck: &container.HealthConfig{
				Test:        []string{"CMD", "/bin/systemctl", "is-system-running", "--quiet"},
				Interval:    time.Second,
				Timeout:     3 * time.Second,
				StartPeriod: 30 * time.Second,
				Retries:     3,
			},
			MacAddress:  mac,
			StopTimeout: &stop,
			Domainname:  "seatrial.test",
			ExtraHosts:  []string{"mirror.seatrial.test:10.213.255.254"},
			CapAdd:      []string{"NET_ADMIN"},
			Tmpfs:       map[string]string{"/var/cache/app": "rw,size=16m"},
			Ulimits:     []*container.Ulimit{{Name: "nofile", Soft: 4096, Hard: 8192}},
			Log:         container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "2"}},
			Sysctls:     map[string]string{"net.ipv4.ip_local_port_range": "20000 40000"},
		},
	}
}

// inspectSide is a node's current container as configdiff compares it:
// its raw inspect and its own image's environment and labels.
func (w *world) inspectSide(ctx context.Context, node string) (configdiff.Side, container.InspectResponse) {
	w.t.Helper()
	n := w.cluster.Node(node)
	res, err := s.cli.ContainerInspect(ctx, n.ContainerName(), client.ContainerInspectOptions{})
	require.NoError(w.t, err)
	img, err := s.cli.ImageInspect(ctx, res.Container.Image)
	require.NoError(w.t, err)
	side := configdiff.Side{Inspect: res.Raw}
	if img.Config != nil {
		side.ImageEnv, side.ImageLabels = img.Config.Env, img.Config.Labels
	}
	return side, res.Container
}

// requireConfigured checks that a realistic node's container carries what
// its spec asked for, so a comparison of two containers that both lack
// it cannot pass for a kept configuration.
func (w *world) requireConfigured(node string, spec harness.NodeSpec, side configdiff.Side, insp container.InspectResponse) {
	w.t.Helper()
	t, nc := w.t, spec.Config
	for _, e := range nc.Env {
		require.Contains(t, insp.Config.Env, e, "node %s: env", node)
	}
	mac, err := legacymac.FromInspect(side.Inspect)
	require.NoError(t, err)
	require.Equal(t, nc.MacAddress, mac, "node %s: Config.MacAddress", node)
	for _, nw := range nc.Networks {
		name := w.cluster.NetworkName(nw.Name)
		ep := insp.NetworkSettings.Networks[name]
		require.NotNil(t, ep, "node %s: on network %s", node, name)
		for _, a := range nw.Aliases {
			require.Contains(t, ep.Aliases, a, "node %s: alias on %s", node, name)
		}
		if ip, ok := w.cluster.StaticIP(node, nw.Name); ok {
			require.Equal(t, ip, ep.IPAddress, "node %s: static address on %s", node, name)
		}
	}
	require.Equal(t, nc.StopTimeout, insp.Config.StopTimeout, "node %s: stop timeout", node)
	require.Equal(t, nc.Restart.Name, insp.HostConfig.RestartPolicy.Name, "node %s: restart policy", node)
	require.True(t, slices.ContainsFunc(insp.Mounts, func(m container.MountPoint) bool {
		return m.Name != "" && strings.HasPrefix(m.Name, w.sb.ID()) && m.Destination == "/var/log/journal"
	}), "node %s: the journal volume is mounted: %v", node, insp.Mounts)
	require.NotEmpty(t, insp.NetworkSettings.Ports, "node %s: published port", node)
	require.NotEmpty(t, insp.HostConfig.Ulimits, "node %s: ulimits", node)
}

// rawMAC reads Config.MacAddress from a raw inspect.
func rawMAC(raw json.RawMessage) string {
	mac, _ := legacymac.FromInspect(raw)
	return mac
}
