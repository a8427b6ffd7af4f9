package descriptor

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// Engine is what List needs of the engine; *client.Client has it.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
}

// List reads the sandboxes on the engine: the one with the given id, or
// every sandbox if id is empty. Stopped containers count: a stopped node or
// registry is still part of its sandbox.
func List(ctx context.Context, e Engine, id string) ([]Sandbox, error) {
	f := Filter(id)
	ctrs, err := e.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list sandbox containers: %w", err)
	}
	nets, err := e.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list sandbox networks: %w", err)
	}
	return Decode(ctrs.Items, nets.Items), nil
}

// ValidName says whether name can name a sandbox (its id), or one of its
// parts (a cluster, a node, a network, a volume): 1 to 40 letters, digits,
// '-' and '_', so that it can stand in container, network and file names
// and in a label filter. The caller says what the name was for.
func ValidName(name string) error {
	if name == "" || len(name) > 40 {
		return fmt.Errorf("%q: want 1 to 40 characters", name)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%q: only letters, digits, '-' and '_' may be used", name)
		}
	}
	return nil
}

// Filter is the engine filter for the objects of sandbox id, or of every
// sandbox if id is empty.
func Filter(id string) client.Filters {
	if id == "" {
		return make(client.Filters).Add("label", labels.Sandbox)
	}
	return make(client.Filters).Add("label", labels.Sandbox+"="+id)
}

// Decode reads sandboxes from their containers and networks (either may
// be nil), sorted by id. Objects without the sandbox label are ignored. What
// cannot be read is said in each Sandbox's Err; the rest is filled in.
func Decode(ctrs []container.Summary, nets []network.Summary) []Sandbox {
	type parts struct {
		ctrs []container.Summary
		nets []network.Summary
	}
	byID := map[string]*parts{}
	get := func(id string) *parts {
		p := byID[id]
		if p == nil {
			p = &parts{}
			byID[id] = p
		}
		return p
	}
	for _, c := range ctrs {
		if id := c.Labels[labels.Sandbox]; id != "" {
			get(id).ctrs = append(get(id).ctrs, c)
		}
	}
	for _, n := range nets {
		if id := n.Labels[labels.Sandbox]; id != "" {
			get(id).nets = append(get(id).nets, n)
		}
	}
	out := make([]Sandbox, 0, len(byID))
	for id, p := range byID {
		out = append(out, decodeOne(id, p.ctrs, p.nets))
	}
	slices.SortFunc(out, func(a, b Sandbox) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func decodeOne(id string, ctrs []container.Summary, nets []network.Summary) Sandbox {
	s := Sandbox{ID: id}
	var problems []error
	slices.SortFunc(ctrs, func(a, b container.Summary) int {
		return strings.Compare(trimName(a.Names, a.ID), trimName(b.Names, b.ID))
	})
	for _, n := range nets {
		s.Networks = append(s.Networks, Network{ID: n.ID, Name: n.Name})
	}

	// The sandbox's identity is on every object; the holder's copy is the
	// one read when it is there, else the first object's.
	var identity map[string]string
	var identityOf string
	var registry, updater *container.Summary
	clusters := map[string]*Cluster{}
	for i := range ctrs {
		c := &ctrs[i]
		ct := Container{
			ID: c.ID, Name: trimName(c.Names, c.ID), Image: c.Image, State: string(c.State),
			Role: c.Labels[labels.Role],
		}
		switch ct.Role {
		case labels.RoleNetNS:
			if s.NetNS == nil || (!s.NetNS.Running() && ct.Running()) {
				s.NetNS = &ct
				identity, identityOf = c.Labels, "container "+ct.Name
			}
		case labels.RoleRegistry:
			// Prefer a running one, as an updater may leave an old
			// container behind; registries do not, but the rule is cheap.
			if registry == nil || (registry.State != container.StateRunning && c.State == container.StateRunning) {
				registry = c
			}
		case labels.RoleUpdater:
			if updater == nil || (updater.State != container.StateRunning && c.State == container.StateRunning) {
				updater = c
			}
		case labels.RoleNode:
			ct.Cluster, ct.Node = c.Labels[labels.Cluster], c.Labels[labels.Node]
			if ct.Cluster == "" || ct.Node == "" {
				problems = append(problems, fmt.Errorf("node container %s: labels %s=%q and %s=%q: both must be set", ct.Name, labels.Cluster, ct.Cluster, labels.Node, ct.Node))
				break
			}
			cl := clusters[ct.Cluster]
			if cl == nil {
				cl = &Cluster{Name: ct.Cluster, Image: c.Labels[labels.ClusterImage]}
				clusters[ct.Cluster] = cl
			}
			cl.Nodes = append(cl.Nodes, Node{Name: ct.Node, Container: ct})
		}
		s.Containers = append(s.Containers, ct)
	}
	if identity == nil {
		switch {
		case len(ctrs) > 0:
			identity, identityOf = ctrs[0].Labels, "container "+trimName(ctrs[0].Names, ctrs[0].ID)
		case len(nets) > 0:
			identity, identityOf = nets[0].Labels, "network "+nets[0].Name
		}
	}
	if identity != nil {
		var err error
		if s.Created, err = time.Parse(time.RFC3339, identity[labels.Created]); err != nil {
			problems = append(problems, fmt.Errorf("%s: label %s=%q is not an RFC 3339 time: %w", identityOf, labels.Created, identity[labels.Created], err))
		}
		s.KeepOnFailure = identity[labels.KeepOnFailure]
		if s.Owner, err = labels.OwnerFromLabels(identity); err != nil {
			problems = append(problems, fmt.Errorf("%s: owner: %w", identityOf, err))
		}
	}

	if s.NetNS == nil {
		problems = append(problems, errors.New("no namespace holder (role netns) with the registry's and the updater API's addresses: the sandbox is half made or half removed"))
	} else {
		l := identity
		s.Registry.Addr = l[labels.RegistryAddr]
		s.Registry.MetricsURL = l[labels.RegistryMetrics]
		s.Registry.CA = l[labels.RegistryCA]
		s.Registry.Auth = l[labels.RegistryAuth]
		if a := s.Registry.Auth; a != "" && a != "basic" && a != "token" {
			problems = append(problems, fmt.Errorf("container %s: label %s=%q: want basic or token", s.NetNS.Name, labels.RegistryAuth, a))
			s.Registry.Auth = ""
		}
		s.UpdaterAPI = l[labels.UpdaterAPI]
		if b, _ := pem.Decode([]byte(s.Registry.CA)); s.Registry.CA != "" && (b == nil || b.Type != "CERTIFICATE") {
			problems = append(problems, fmt.Errorf("container %s: label %s: want a PEM certificate", s.NetNS.Name, labels.RegistryCA))
			s.Registry.CA = ""
		}
		if s.Registry.Port() == 0 || !strings.HasPrefix(s.Registry.Addr, "localhost:") {
			problems = append(problems, fmt.Errorf("container %s: label %s=%q: want localhost:PORT", s.NetNS.Name, labels.RegistryAddr, s.Registry.Addr))
			s.Registry.Addr = ""
		}
		for _, k := range []string{labels.RegistryMetrics, labels.UpdaterAPI} {
			if !strings.HasPrefix(l[k], "http://") {
				problems = append(problems, fmt.Errorf("container %s: label %s=%q: want an http:// URL", s.NetNS.Name, k, l[k]))
			}
		}
	}
	if registry != nil {
		s.Registry.Container = containerOf(s.Containers, registry.ID)
	}
	if updater != nil {
		u, err := decodeUpdater(updater)
		if err != nil {
			problems = append(problems, err)
		} else {
			u.Container = *containerOf(s.Containers, updater.ID)
			s.Updater = &u
		}
	}
	for _, cl := range clusters {
		sortNodes(cl.Nodes)
		s.Clusters = append(s.Clusters, *cl)
	}
	slices.SortFunc(s.Clusters, func(a, b Cluster) int { return strings.Compare(a.Name, b.Name) })
	if len(problems) > 0 {
		s.Err = fmt.Errorf("sandbox %s: %w", id, errors.Join(problems...))
	}
	return s
}

func containerOf(cs []Container, id string) *Container {
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i]
		}
	}
	return nil
}

func decodeUpdater(c *container.Summary) (Updater, error) {
	name := trimName(c.Names, c.ID)
	raw, ok := c.Labels[labels.UpdaterProfile]
	if !ok {
		return Updater{}, fmt.Errorf("updater container %s: label %s is absent (made by an older seatrial? remove the sandbox and start it again)", name, labels.UpdaterProfile)
	}
	p, err := decodeProfile(raw)
	if err != nil {
		return Updater{}, fmt.Errorf("updater container %s: label %s: %w", name, labels.UpdaterProfile, err)
	}
	return Updater{Profile: p, TokenFile: c.Labels[labels.UpdaterTokenFile]}, nil
}

func encodeProfile(p profile.Profile) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("updater profile %s: %w", p.Name, err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode updater profile %s: %w", p.Name, err)
	}
	if len(b) > maxProfileLabel {
		return nil, fmt.Errorf("updater profile %s is %d bytes as JSON, over the %d a label may carry here: shorten its args and env", p.Name, len(b), maxProfileLabel)
	}
	return b, nil
}

// decodeProfile reads a profile label strictly, as a profile file is read:
// an unknown field means the label was not written by this encoder.
func decodeProfile(raw string) (profile.Profile, error) {
	p, err := profile.Parse([]byte(raw))
	if err != nil {
		return profile.Profile{}, fmt.Errorf("not a valid profile as JSON (%.40q...): %w", raw, err)
	}
	return p, nil
}
