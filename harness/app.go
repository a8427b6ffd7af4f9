package harness

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"net/netip"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// AppSpec describes a plain app container (no systemd) in a sandbox.
type AppSpec struct {
	// Name is the container name's suffix: the container is
	// "<sandbox>-<Name>".
	Name string
	// Image is a reference, usually sb.Ref("app", tag) after a Publish.
	Image string
	// Labels are added to the container's labels.
	Labels map[string]string
	// Unscoped leaves the updater scope label off: the container belongs
	// to no updater's scope, as a container outside any sandbox would.
	Unscoped bool
	// Env is added to the container's environment (APP_ADDR moves the
	// app's port).
	Env []string
	// NetworkMode, if set, replaces the sandbox network: "container:<name>"
	// joins another container's network namespace (nothing is published
	// then: the engine refuses ports in that mode).
	NetworkMode string
	// Links are legacy links, "<container>:<alias>", as docker run --link
	// takes them.
	Links []string
}

// RunApp pulls the spec's image and starts the container on the sandbox
// network. The app image has its own health check.
func (sb *Sandbox) RunApp(ctx context.Context, spec AppSpec) (string, error) {
	if err := descriptor.ValidName(spec.Name); err != nil {
		return "", fmt.Errorf("app name %w", err)
	}
	if err := sb.Pull(ctx, spec.Image); err != nil {
		return "", err
	}
	l := sb.desc.Labels(labels.RoleApp)
	if !spec.Unscoped {
		l[ScopeLabel] = sb.desc.ID
	}
	maps.Copy(l, spec.Labels)
	ctr, err := testcontainers.Run(ctx, spec.Image,
		sb.env().tcLogger(),
		testcontainers.WithName(sb.desc.ID+"-"+spec.Name),
		testcontainers.WithLabels(l),
		testcontainers.WithEnv(envMap(spec.Env)),
		// On a user network a legacy link is the endpoint's, as the docker
		// CLI puts it (the engine ignores the host config's there).
		testcontainers.WithEndpointSettingsModifier(func(eps map[string]*network.EndpointSettings) {
			if spec.NetworkMode == "" && len(spec.Links) > 0 {
				eps[sb.Network()] = &network.EndpointSettings{Links: spec.Links}
			}
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if spec.NetworkMode != "" {
				hc.NetworkMode = container.NetworkMode(spec.NetworkMode)
				hc.PortBindings, hc.PublishAllPorts = nil, false
				return
			}
			hc.NetworkMode = container.NetworkMode(sb.Network())
			// testcontainers-go publishes the ports an image exposes (the
			// app's 8080); on loopback only, as everything of a sandbox.
			hc.PortBindings = network.PortMap{appPort: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
		}),
	)
	if err != nil {
		if ctr != nil {
			removeFailed(ctx, sb.cli, ctr.GetContainerID())
		}
		return "", fmt.Errorf("run app %s: %w", spec.Name, err)
	}
	return ctr.GetContainerID(), nil
}

// envMap turns KEY=value pairs into testcontainers-go's map.
func envMap(env []string) map[string]string {
	out := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		out[k] = v
	}
	return out
}

// appPort is the port the app image exposes.
var appPort = network.MustParsePort("8080/tcp")
