package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// Kinds of objects a sandbox leaves behind.
const (
	kindContainer = "container"
	kindNetwork   = "network"
	kindVolume    = "volume"
	kindImage     = "image"
	kindStateDir  = "state dir"
)

// object is one thing a sandbox put on the engine or the host.
type object struct {
	kind    string
	name    string // what a person would type: a container name, an image reference, a path
	ref     string // what removes it: an id, a reference, a path
	sandbox string // "" when nothing says (an image pulled from a registry never seen)
	// registry is the address an image reference was pulled from
	// ("localhost:P"): its registry's labels name the sandbox.
	registry string
	owner    *labels.Owner
	// kept is the run that asked to keep the sandbox if its test failed
	// (labels.KeepOnFailure); "" for none.
	kept string
}

func (o object) key() string { return o.kind + " " + o.ref }

func (o object) String() string {
	s := fmt.Sprintf("%-9s %s", o.kind, o.name)
	switch {
	case o.owner != nil:
		s += fmt.Sprintf(" (sandbox %s, owner pid %d, %s)", o.sandbox, o.owner.PID, o.owner.Kind)
	case o.sandbox != "":
		s += fmt.Sprintf(" (sandbox %s, owner unknown)", o.sandbox)
	case o.registry != "":
		s += fmt.Sprintf(" (from registry %s, its sandbox unknown)", o.registry)
	default:
		s += " (owner unknown)"
	}
	return s
}

// snapshot is every seatrial object on the engine and under the state root
// at one moment, and what it takes to tell whose each one is.
type snapshot struct {
	objects map[string]object
	// owners maps a sandbox id to its owner, from any object that carries
	// both labels.
	owners map[string]labels.Owner
	// registries maps a sandbox registry's address ("localhost:P") to
	// its sandbox id: images pulled from it carry no labels of their own.
	registries map[string]string
	// kept maps a sandbox id to the run that asked to keep it on failure.
	kept map[string]string
}

func newSnapshot() *snapshot {
	return &snapshot{objects: map[string]object{}, owners: map[string]labels.Owner{}, registries: map[string]string{}, kept: map[string]string{}}
}

// learn records what a container's labels say about its sandbox: its
// owner and, for a registry, its address.
func (s *snapshot) learn(l map[string]string) {
	id := l[labels.Sandbox]
	if id == "" {
		return
	}
	if ow, err := labels.OwnerFromLabels(l); err == nil {
		s.owners[id] = ow
	}
	if a := l[labels.RegistryAddr]; a != "" {
		s.registries[a] = id
	}
	if k := l[labels.KeepOnFailure]; k != "" {
		s.kept[id] = k
	}
}

// learnPort records that a container of sandbox id publishes host port
// p: a registry listening there is the sandbox's, whether it says so in a
// label or not (the harness's registry joins a namespace holder that
// publishes its port; tests run registries of their own).
func (s *snapshot) learnPort(id string, p uint16) {
	if id == "" || p == 0 {
		return
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		s.registries[fmt.Sprintf("%s:%d", host, p)] = id
	}
}

// registryRef matches a reference pulled from a sandbox registry: the
// registries listen on loopback, named localhost:P (or 127.0.0.1:P).
var registryRef = regexp.MustCompile(`^((?:localhost|127\.0\.0\.1):[0-9]+)/`)

// take lists every object labelled io.seatrial.sandbox (containers,
// networks, volumes, images), every image reference pulled from a loopback
// registry, and every entry under stateRoot.
func take(ctx context.Context, cli *client.Client, stateRoot string) (*snapshot, error) {
	s := newSnapshot()
	byLabel := make(client.Filters).Add("label", labels.Sandbox)
	add := func(kind, name, ref string, l map[string]string) {
		o := object{kind: kind, name: name, ref: ref, sandbox: l[labels.Sandbox]}
		if ow, err := labels.OwnerFromLabels(l); err == nil {
			o.owner = &ow
		}
		s.learn(l)
		s.objects[o.key()] = o
	}

	ctrs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: byLabel})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range ctrs.Items {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		add(kindContainer, name, c.ID, c.Labels)
		for _, p := range c.Ports {
			s.learnPort(c.Labels[labels.Sandbox], p.PublicPort)
		}
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: byLabel})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
		add(kindNetwork, n.Name, n.ID, n.Labels)
	}
	vols, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: byLabel})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Items {
		add(kindVolume, v.Name, v.Name, v.Labels)
	}
	imgs, err := cli.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	for _, img := range imgs.Items {
		refs := append(append([]string(nil), img.RepoTags...), img.RepoDigests...)
		for _, r := range refs {
			if m := registryRef.FindStringSubmatch(r); m != nil {
				// newSince names the sandbox, from the registry's labels.
				s.objects[kindImage+" "+r] = object{kind: kindImage, name: r, ref: r, registry: m[1]}
			}
		}
		if _, ok := img.Labels[labels.Sandbox]; ok {
			name := img.ID
			if len(img.RepoTags) > 0 {
				name = img.RepoTags[0]
			}
			add(kindImage, name, name, img.Labels)
		}
	}
	ents, err := os.ReadDir(stateRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list sandbox state dirs: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			// Not a sandbox's: NewSandbox makes a directory.
			continue
		}
		p := filepath.Join(stateRoot, e.Name())
		// NewSandbox names it "<sandbox id>-<random>".
		id := e.Name()
		if i := strings.LastIndexByte(id, '-'); i > 0 {
			id = id[:i]
		}
		s.objects[kindStateDir+" "+p] = object{kind: kindStateDir, name: p, ref: p, sandbox: id}
	}
	return s, nil
}

// newSince returns the objects of after that were not in before, with the
// owners of their sandboxes filled in from what any of the snapshots knows
// (seen holds what was learnt in between, from the engine's events), sorted
// by sandbox and kind.
func newSince(before, after *snapshot, seen ...*snapshot) []object {
	owners := map[string]labels.Owner{}
	registries := map[string]string{}
	kept := map[string]string{}
	for _, s := range append([]*snapshot{before, after}, seen...) {
		for id, o := range s.owners {
			owners[id] = o
		}
		maps.Copy(kept, s.kept)
		for a, id := range s.registries {
			registries[a] = id
		}
	}
	var out []object
	for k, o := range after.objects {
		if _, ok := before.objects[k]; ok {
			continue
		}
		if o.sandbox == "" && o.registry != "" {
			o.sandbox = registries[o.registry]
		}
		if o.owner == nil && o.sandbox != "" {
			if ow, ok := owners[o.sandbox]; ok {
				o.owner = &ow
			}
		}
		o.kept = kept[o.sandbox]
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].sandbox != out[j].sandbox {
			return out[i].sandbox < out[j].sandbox
		}
		return out[i].key() < out[j].key()
	})
	return out
}
