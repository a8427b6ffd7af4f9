package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/legacymac"
)

// NodeConfig is what a user's container carries besides a systemd node's
// own flags (harness/nodeflags): the configuration an updater must keep
// when it recreates the container. A nil NodeConfig is a bare node.
//
// Networks, volumes and bind-mounted directories are named here by short
// names; StartCluster makes each one once per cluster, labelled with the
// sandbox's labels, and the sandbox removes them with itself.
type NodeConfig struct {
	// Env is added to the image's environment ("KEY=value").
	Env []string
	// Networks are user networks the node joins besides the sandbox's
	// own (which stays its primary network).
	Networks []NodeNetwork
	// Publish lists container ports ("8080/tcp") published on 127.0.0.1
	// with a host port the engine picks, so parallel sandboxes never
	// collide on one and nothing is reachable from off the host.
	Publish []string
	// Volumes maps a named volume's short name to its path in the node.
	Volumes map[string]string
	// Binds maps a host directory's short name (made in the sandbox's
	// state dir) to its path in the node.
	Binds map[string]string
	// Restart is the restart policy.
	Restart container.RestartPolicy
	// Healthcheck replaces the image's health check.
	Healthcheck *container.HealthConfig
	// MacAddress is a user-set MAC address on the node's primary network;
	// empty lets the engine generate one. On engines before API 1.44 a
	// container has only this one (see internal/legacymac).
	MacAddress string
	// StopTimeout is the node's own grace period between its stop signal
	// and SIGKILL, in seconds (the engine's default is 10).
	StopTimeout *int
	// Domainname is the node's DNS domain (its hostname is its name).
	Domainname string
	// ExtraHosts are added to the node's /etc/hosts ("name:ip").
	ExtraHosts []string
	// CapAdd adds capabilities to the ones a node needs.
	CapAdd []string
	// Tmpfs adds tmpfs mounts (path: options) to a node's own.
	Tmpfs map[string]string
	// Ulimits sets resource limits.
	Ulimits []*container.Ulimit
	// Log is the log driver and its options; empty keeps the engine's.
	Log container.LogConfig
	// Sysctls sets namespaced kernel parameters.
	Sysctls map[string]string
}

// NodeNetwork is a user network a node joins.
type NodeNetwork struct {
	// Name is the network's short name in the cluster.
	Name string
	// Aliases are the node's extra DNS names on it (its name is one
	// already).
	Aliases []string
	// StaticIP gives the node a fixed address on it, chosen by the
	// harness in the network's subnet (see NodeResources.StaticIP).
	StaticIP bool
}

// staticSubnets is where a cluster's user networks get their subnets: a
// static address needs a network with a subnet set by its creator (the
// engine refuses --ip on a network whose subnet it chose). 10.213.0.0/16
// is outside the engine's default pools (172.17-31/16, 192.168/20s); a
// /24 in it is picked at random, and another one if a parallel sandbox
// holds that one already.
var staticSubnets = netip.MustParsePrefix("10.213.0.0/16")

// firstStaticHost is the host number of the first static address in a
// subnet; the ones below are left to the engine's own allocation, which
// starts at .2.
const firstStaticHost = 200

// nodeResources are what a cluster's node configurations refer to, made
// before the nodes: full names of networks and volumes, bind sources on
// the host, and the static address of each node on each network.
type nodeResources struct {
	networks map[string]string // short name -> engine name
	volumes  map[string]string
	binds    map[string]string // short name -> host path
	static   map[[2]string]netip.Addr
}

// makeNodeResources creates the networks, volumes and bind directories
// the spec's node configurations name, once each, labelled as the
// sandbox's. Whatever it made stays on failure: the sandbox's removal
// finds it by its labels.
func (sb *Sandbox) makeNodeResources(ctx context.Context, spec ClusterSpec) (nodeResources, error) {
	r := nodeResources{networks: map[string]string{}, volumes: map[string]string{}, binds: map[string]string{}, static: map[[2]string]netip.Addr{}}
	prefix := sb.desc.ID + "-" + spec.Name + "-"
	l := sb.desc.Labels(labels.RoleNetwork)
	l[labels.Cluster] = spec.Name
	subnets := map[string]netip.Prefix{}
	for _, ns := range spec.Nodes {
		if ns.Config == nil {
			continue
		}
		for _, nw := range ns.Config.Networks {
			if _, ok := r.networks[nw.Name]; !ok {
				if err := descriptor.ValidName(nw.Name); err != nil {
					return r, fmt.Errorf("node %s: network name %w", ns.Name, err)
				}
				subnet, err := sb.createSubnetNetwork(ctx, prefix+nw.Name, l)
				if err != nil {
					return r, err
				}
				r.networks[nw.Name] = prefix + nw.Name
				subnets[nw.Name] = subnet
			}
			if nw.StaticIP {
				n := 0
				for k := range r.static {
					if k[1] == nw.Name {
						n++
					}
				}
				if firstStaticHost+n > 254 {
					return r, fmt.Errorf("node %s: network %s: more than %d static addresses in a /24", ns.Name, nw.Name, 255-firstStaticHost)
				}
				a := subnets[nw.Name].Addr().As4()
				a[3] = byte(firstStaticHost + n)
				r.static[[2]string{ns.Name, nw.Name}] = netip.AddrFrom4(a)
			}
		}
		for _, v := range slices.Sorted(maps.Keys(ns.Config.Volumes)) {
			if _, ok := r.volumes[v]; ok {
				continue
			}
			if err := descriptor.ValidName(v); err != nil {
				return r, fmt.Errorf("node %s: volume name %w", ns.Name, err)
			}
			vl := sb.desc.Labels(labels.RoleVolume)
			vl[labels.Cluster] = spec.Name
			if _, err := sb.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: prefix + v, Labels: vl}); err != nil {
				return r, fmt.Errorf("create volume %s: %w", prefix+v, err)
			}
			r.volumes[v] = prefix + v
		}
		for _, b := range slices.Sorted(maps.Keys(ns.Config.Binds)) {
			if _, ok := r.binds[b]; ok {
				continue
			}
			if err := descriptor.ValidName(b); err != nil {
				return r, fmt.Errorf("node %s: bind directory name %w", ns.Name, err)
			}
			dir := filepath.Join(sb.stateDir, spec.Name, b)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return r, fmt.Errorf("bind directory: %w", err)
			}
			r.binds[b] = dir
		}
	}
	return r, nil
}

// createSubnetNetwork creates a bridge network with a /24 of its own in
// staticSubnets and returns the subnet.
func (sb *Sandbox) createSubnetNetwork(ctx context.Context, name string, l map[string]string) (netip.Prefix, error) {
	var last error
	for range 8 {
		base := staticSubnets.Addr().As4()
		base[2] = byte(rand.IntN(256))
		subnet := netip.PrefixFrom(netip.AddrFrom4(base), 24)
		gw := base
		gw[3] = 1
		_, err := sb.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver: "bridge",
			Labels: l,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet:  subnet,
				Gateway: netip.AddrFrom4(gw),
			}}},
		})
		if err == nil {
			return subnet, nil
		}
		last = err
		// "Pool overlaps with other one on this address space": another
		// sandbox has that /24; try another.
		if !strings.Contains(err.Error(), "overlaps") {
			break
		}
	}
	return netip.Prefix{}, fmt.Errorf("create network %s: %w", name, last)
}

// applyConfig sets the node configuration's part of the container config.
func (nc *NodeConfig) applyConfig(cfg *container.Config) {
	if nc == nil {
		return
	}
	cfg.Env = append(cfg.Env, nc.Env...)
	if nc.Healthcheck != nil {
		h := *nc.Healthcheck
		cfg.Healthcheck = &h
	}
	cfg.StopTimeout = nc.StopTimeout
	cfg.Domainname = nc.Domainname
	if len(nc.Publish) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		for _, p := range nc.Publish {
			if port, err := network.ParsePort(p); err == nil {
				cfg.ExposedPorts[port] = struct{}{}
			}
		}
	}
}

// applyHost sets the node configuration's part of the host config.
func (nc *NodeConfig) applyHost(hc *container.HostConfig, r nodeResources) {
	if nc == nil {
		return
	}
	for _, p := range nc.Publish {
		if port, err := network.ParsePort(p); err == nil {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			// Loopback only, and no host port: the engine picks a free
			// one, so sandboxes running side by side never collide.
			hc.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(nc.Volumes)) {
		hc.Binds = append(hc.Binds, r.volumes[v]+":"+nc.Volumes[v])
	}
	for _, b := range slices.Sorted(maps.Keys(nc.Binds)) {
		hc.Binds = append(hc.Binds, r.binds[b]+":"+nc.Binds[b])
	}
	hc.RestartPolicy = nc.Restart
	hc.ExtraHosts = append(hc.ExtraHosts, nc.ExtraHosts...)
	hc.CapAdd = append(hc.CapAdd, nc.CapAdd...)
	if len(nc.Tmpfs) > 0 && hc.Tmpfs == nil {
		hc.Tmpfs = map[string]string{}
	}
	maps.Copy(hc.Tmpfs, nc.Tmpfs)
	hc.Ulimits = append(hc.Ulimits, nc.Ulimits...)
	if nc.Log.Type != "" {
		hc.LogConfig = nc.Log
	}
	if len(nc.Sysctls) > 0 {
		hc.Sysctls = maps.Clone(nc.Sysctls)
	}
}

// validate says what in the configuration the engine would refuse, or
// the harness cannot make.
func (nc *NodeConfig) validate() error {
	if nc == nil {
		return nil
	}
	var errs []error
	for _, p := range nc.Publish {
		if _, err := network.ParsePort(p); err != nil {
			errs = append(errs, fmt.Errorf("publish %q: want a container port such as 8080/tcp: %w", p, err))
		}
	}
	seen := map[string]bool{}
	for _, nw := range nc.Networks {
		if seen[nw.Name] {
			errs = append(errs, fmt.Errorf("network %q given twice", nw.Name))
		}
		seen[nw.Name] = true
	}
	return errors.Join(errs...)
}

// precreate creates a configured node's container itself, with cfgMod
// and hcMod applied as testcontainers would, its MAC address if it has a
// user-set one, and its extra networks connected (with aliases and static
// addresses, which testcontainers cannot set on a second network);
// testcontainers then starts it by name and waits for it. testcontainers
// alone cannot make such a node: its Go types have no per-container MAC
// address for an API 1.41 engine (see internal/legacymac).
func (c *Cluster) precreate(ctx context.Context, n *Node, spec NodeSpec, l map[string]string, cfgMod func(*container.Config), hcMod func(*container.HostConfig), r nodeResources) error {
	primary := c.e.desc.ID
	cfg := &container.Config{Image: c.image, Labels: l}
	cfgMod(cfg)
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(primary)}
	hcMod(hc)
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		primary: {Aliases: []string{n.name}},
	}}
	id, err := legacymac.Create(ctx, c.e.cli, client.ContainerCreateOptions{
		Name: n.ContainerName(), Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	}, spec.Config.MacAddress)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	for _, nw := range spec.Config.Networks {
		ep := &network.EndpointSettings{Aliases: slices.Concat([]string{n.name}, nw.Aliases)}
		if ip, ok := r.static[[2]string{n.name, nw.Name}]; ok {
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
		}
		if _, err := c.e.cli.NetworkConnect(ctx, r.networks[nw.Name], client.NetworkConnectOptions{Container: id, EndpointConfig: ep}); err != nil {
			return fmt.Errorf("connect to network %s: %w", r.networks[nw.Name], err)
		}
	}
	return nil
}

// StaticIP is the static address the harness gave node on the cluster
// network with the given short name, if it has one.
func (c *Cluster) StaticIP(node, network string) (netip.Addr, bool) {
	ip, ok := c.res.static[[2]string{node, network}]
	return ip, ok
}

// NetworkName is the engine's name of the cluster's user network with
// the given short name, or "".
func (c *Cluster) NetworkName(short string) string { return c.res.networks[short] }

// VolumeName is the engine's name of the cluster's volume with the given
// short name, or "".
func (c *Cluster) VolumeName(short string) string { return c.res.volumes[short] }

// removeVolumes removes the volumes labelled with the sandbox's id (its
// nodes' named volumes), after its containers are gone.
func removeVolumes(ctx context.Context, cli *client.Client, id string) ([]string, error) {
	list, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: descriptor.Filter(id)})
	if err != nil {
		return nil, fmt.Errorf("list volumes of sandbox %s: %w", id, err)
	}
	var removed []string
	var errs []error
	for _, v := range list.Items {
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}
