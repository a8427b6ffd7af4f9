package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// Removed says what Prune or a sandbox's removal took away.
type Removed struct {
	Sandbox    string
	Containers []string // names
	Images     []string // references pulled from the sandbox's registry
	Networks   []string
	Volumes    []string
	// Owner is whose the sandbox was, and OwnerAlive whether that owner
	// still ran when it was removed (set by Prune).
	Owner      labels.Owner
	OwnerAlive bool
}

// String says in one line what was removed and whose it was, for the
// output of whatever pruned it: a leftover removed quietly would hide the
// leak that left it.
func (r Removed) String() string {
	whose := "owner unknown"
	if r.Owner.PID != 0 {
		state := "gone"
		if r.OwnerAlive {
			state = "running"
		}
		whose = fmt.Sprintf("owner pid %d, %s, %s", r.Owner.PID, r.Owner.Kind, state)
	}
	var parts []string
	for _, g := range []struct {
		what  string
		names []string
	}{{"container", r.Containers}, {"image", r.Images}, {"network", r.Networks}, {"volume", r.Volumes}} {
		if len(g.names) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s(s) %s", len(g.names), g.what, strings.Join(g.names, ", ")))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing on the engine"}
	}
	return fmt.Sprintf("sandbox %s (%s): %s", r.Sandbox, whose, strings.Join(parts, "; "))
}

// SandboxInfo is a sandbox found on the engine: its descriptor, and
// whether its owner process still runs.
type SandboxInfo struct {
	descriptor.Sandbox
	OwnerAlive bool
}

// ListSandboxes finds every sandbox on the engine, read through its
// descriptor. A sandbox whose labels cannot be read whole is listed too,
// with Err saying what is wrong, so that it can be removed.
func ListSandboxes(ctx context.Context, cli *client.Client) ([]SandboxInfo, error) {
	ds, err := descriptor.List(ctx, cli, "")
	if err != nil {
		return nil, err
	}
	out := make([]SandboxInfo, 0, len(ds))
	for _, d := range ds {
		out = append(out, SandboxInfo{Sandbox: d, OwnerAlive: d.Owner.PID != 0 && d.Owner.Alive()})
	}
	return out, nil
}

type pruneConfig struct{ all bool }

// PruneOption configures Prune.
type PruneOption func(*pruneConfig)

// PruneAll removes every sandbox, also those whose owner still runs,
// those that belong to a person (`seatrial up`) and those kept after
// their test failed (`seatrial run --keep-on-failure`).
func PruneAll() PruneOption { return func(c *pruneConfig) { c.all = true } }

// Prune removes the sandboxes whose owner process is gone: what a crashed
// or killed run left behind, on the engine and their state dirs under the
// default state root. A sandbox made by `seatrial up` belongs to a person
// and is kept unless PruneAll is given, and so is one a failed test left
// up for a look (labels.KeepOnFailure). Besides what carries the
// io.seatrial.sandbox label, it removes what an updater made in its place
// without the label: containers named for the sandbox or attached to its
// labelled networks, and containers named for a sandbox (st-<10 hex>-)
// none of whose labelled objects is left. Callers should print what it returns (see
// Removed.String), so that what an earlier run leaked shows.
func Prune(ctx context.Context, cli *client.Client, opts ...PruneOption) ([]Removed, error) {
	var cfg pruneConfig
	for _, o := range opts {
		o(&cfg)
	}
	sbs, err := ListSandboxes(ctx, cli)
	if err != nil {
		return nil, err
	}
	var removed []Removed
	var errs []error
	known := map[string]bool{}
	for _, s := range sbs {
		known[s.ID] = true
	}
	orphans, err := pruneOrphans(ctx, cli, known)
	removed = append(removed, orphans...)
	if err != nil {
		errs = append(errs, err)
	}
	for _, s := range sbs {
		if !cfg.all && (s.Owner.Kind == labels.OwnerPerson || s.OwnerAlive || s.KeepOnFailure != "") {
			continue
		}
		r, err := removeSandbox(ctx, cli, s.ID)
		r.Owner, r.OwnerAlive = s.Owner, s.OwnerAlive
		removed = append(removed, r)
		err = errors.Join(err, RemoveStateDirs(s.ID))
		if err != nil {
			errs = append(errs, err)
		}
	}
	volumes, err := pruneOrphanVolumes(ctx, cli, sbs, cfg.all)
	removed = append(removed, volumes...)
	if err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// RemoveSandbox removes one sandbox by id, whoever owns it.
func RemoveSandbox(ctx context.Context, cli *client.Client, id string) (Removed, error) {
	return removeSandbox(ctx, cli, id)
}

// removeOrder: the updater first (so it does not recreate what is being
// removed), its engine proxy, then the containers it manages, the
// registry fault proxy, the registry, and last the
// holder of the network namespace the updater and the registry share.
var removeOrder = []string{labels.RoleUpdater, labels.RoleEngineProxy, labels.RoleNode, labels.RoleApp, labels.RoleProbe, "", labels.RoleFaultProxy, labels.RoleTokenIssuer, labels.RoleRegistry, labels.RoleNetNS}

func roleRank(role string) int {
	if i := slices.Index(removeOrder, role); i >= 0 {
		return i
	}
	return slices.Index(removeOrder, "")
}

// removeSandbox removes every object of the sandbox, as its descriptor
// lists them: its containers (updater first, holder last), the images
// pulled from its registry (superseded ones too, see
// RemoveRegistryImages), its networks, and its host-side state dir (found
// from the token file's path in its labels, else under the default state
// root), so a dead owner's token file does not outlive its sandbox. It
// goes on past errors and returns them all.
func removeSandbox(ctx context.Context, cli *client.Client, id string) (Removed, error) {
	r := Removed{Sandbox: id}
	found, err := descriptor.List(ctx, cli, id)
	if err != nil {
		return r, err
	}
	if len(found) == 0 {
		return r, nil
	}
	d := found[0]
	var errs []error
	removed := map[string]bool{}
	// The updater goes first, but a create it had sent may still land
	// after it is gone, and what is listed before that misses it: list
	// again after each pass until a pass finds nothing new (bounded).
	for pass := 0; pass < 3; pass++ {
		ctrs, err := sandboxContainers(ctx, cli, id, d)
		if err != nil {
			errs = append(errs, err)
		}
		ctrs = slices.DeleteFunc(ctrs, func(c descriptor.Container) bool { return removed[c.ID] })
		if len(ctrs) == 0 {
			break
		}
		sort.SliceStable(ctrs, func(i, j int) bool { return roleRank(ctrs[i].Role) < roleRank(ctrs[j].Role) })
		for _, c := range ctrs {
			removed[c.ID] = true
			// Force: a node is killed rather than shut down cleanly; its
			// state is thrown away anyway. RemoveVolumes: anonymous
			// volumes go too.
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isGoing(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", c.Name, err))
				continue
			}
			r.Containers = append(r.Containers, c.Name)
		}
	}
	if d.Registry.Addr != "" {
		imgs, err := RemoveRegistryImages(ctx, cli, d.Registry.Addr)
		r.Images = imgs
		if err != nil {
			errs = append(errs, err)
		}
	}
	vols, err := removeVolumes(ctx, cli, id)
	r.Volumes = vols
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range d.Networks {
		if err := removeNetwork(ctx, cli, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		r.Networks = append(r.Networks, n.Name)
	}
	if dir := findStateDir("", d); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove state dir of sandbox %s: %w", id, err))
		}
	}
	return r, errors.Join(errs...)
}

// sandboxContainers lists the containers of sandbox id as they are now:
// those its labels name, and those that lack them (see unlabelledOf); d
// gives its networks.
func sandboxContainers(ctx context.Context, cli *client.Client, id string, d descriptor.Sandbox) ([]descriptor.Container, error) {
	found, err := descriptor.List(ctx, cli, id)
	if err != nil {
		return nil, err
	}
	var ctrs []descriptor.Container
	if len(found) > 0 {
		ctrs = slices.Clone(found[0].Containers)
	}
	// An updater may have replaced a container with one that lacks the
	// sandbox's labels: follow it by name and by network, or it (and the
	// networks it is attached to) would outlive the sandbox.
	unlabelled, err := unlabelledOf(ctx, cli, d)
	return append(ctrs, unlabelled...), err
}

// unlabelledOf finds the containers of sandbox d that lack its label:
// those named with its id and a dash (every name seatrial gives; an
// updater keeps the name when it recreates) and those attached to one of
// its labelled networks. They rank with the nodes when removed.
func unlabelledOf(ctx context.Context, cli *client.Client, d descriptor.Sandbox) ([]descriptor.Container, error) {
	all, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers to find sandbox %s's unlabelled ones: %w", d.ID, err)
	}
	nets := map[string]bool{}
	for _, n := range d.Networks {
		nets[n.ID], nets[n.Name] = true, true
	}
	var out []descriptor.Container
	for _, c := range all.Items {
		if c.Labels[labels.Sandbox] == d.ID {
			continue // listed by its labels
		}
		name := strings.TrimPrefix(firstName(c.Names), "/")
		if !strings.HasPrefix(name, d.ID+"-") && !onNetworks(c, nets) {
			continue
		}
		out = append(out, descriptor.Container{ID: c.ID, Name: name, Image: c.Image, State: string(c.State), Role: labels.RoleNode})
	}
	return out, nil
}

// onNetworks reports whether c is attached to one of nets (ids and names).
func onNetworks(c container.Summary, nets map[string]bool) bool {
	if c.NetworkSettings == nil {
		return false
	}
	for name, ep := range c.NetworkSettings.Networks {
		if nets[name] || (ep != nil && nets[ep.NetworkID]) {
			return true
		}
	}
	return false
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// orphanName matches the name of a container of a sandbox with a
// generated id (see NewID).
var orphanName = regexp.MustCompile(`^/?(st-[0-9a-f]{10})-`)

// pruneOrphans removes the containers named for a sandbox that has no
// labelled object left on the engine: the unlabelled replacements an
// updater made in a sandbox whose labelled parts are gone. A live sandbox
// always has a labelled network (made first, removed last), so such a
// container's sandbox is gone. known holds the ids of the sandboxes found
// by their labels.
func pruneOrphans(ctx context.Context, cli *client.Client, known map[string]bool) ([]Removed, error) {
	all, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers to find orphans: %w", err)
	}
	var removed bySandbox
	var errs []error
	for _, c := range all.Items {
		m := orphanName.FindStringSubmatch(firstName(c.Names))
		if m == nil || known[m[1]] || c.Labels[labels.Sandbox] != "" {
			continue
		}
		name := strings.TrimPrefix(firstName(c.Names), "/")
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isGoing(err) {
			errs = append(errs, fmt.Errorf("remove orphan container %s: %w", name, err))
			continue
		}
		r, _ := removed.of(m[1])
		r.Containers = append(r.Containers, name)
	}
	return removed.list(), errors.Join(errs...)
}

// bySandbox gathers what a prune removed, by sandbox, in the order the
// sandboxes were first met.
type bySandbox struct {
	byID map[string]*Removed
	ids  []string
}

// of is the record of sandbox id; isNew on the first call for id.
func (b *bySandbox) of(id string) (r *Removed, isNew bool) {
	if r = b.byID[id]; r != nil {
		return r, false
	}
	if b.byID == nil {
		b.byID = map[string]*Removed{}
	}
	r = &Removed{Sandbox: id}
	b.byID[id] = r
	b.ids = append(b.ids, id)
	return r, true
}

func (b *bySandbox) list() []Removed {
	out := make([]Removed, 0, len(b.ids))
	for _, id := range b.ids {
		out = append(out, *b.byID[id])
	}
	return out
}

// RemoveRegistryImages untags every image pulled from the given registry
// (references "localhost:P/..."), also the images a later pull of the same
// tag superseded (they keep only a digest reference "localhost:P/x@sha256:…").
// It removes references, never image ids:
// the same image (same id) may be pulled from another sandbox's registry
// and run there, and layers shared with other images stay.
func RemoveRegistryImages(ctx context.Context, cli *client.Client, addr string) ([]string, error) {
	list, err := cli.ImageList(ctx, client.ImageListOptions{All: false})
	if err != nil {
		return nil, fmt.Errorf("list images of registry %s: %w", addr, err)
	}
	var removed []string
	var errs []error
	prefix := addr + "/"
	for _, img := range list.Items {
		var refs []string
		for _, t := range img.RepoTags {
			if strings.HasPrefix(t, prefix) {
				refs = append(refs, t)
			}
		}
		if len(refs) == 0 {
			for _, d := range img.RepoDigests {
				if strings.HasPrefix(d, prefix) {
					refs = append(refs, d)
				}
			}
		}
		for _, ref := range refs {
			if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", ref, err))
				continue
			}
			removed = append(removed, ref)
		}
	}
	return removed, errors.Join(errs...)
}

// networkSettle bounds how long a network may keep the endpoints of
// containers already removed: the engine releases them after the removal
// returns, and a parallel prune of the same dead sandbox may have removed
// the containers a moment before (seen: "has active endpoints" with no
// container of the sandbox left, which failed a suite's setup).
var networkSettle = readiness{bound: 30 * time.Second, first: 100 * time.Millisecond, longest: time.Second}

// removeNetwork removes a network, waiting for its endpoints to go (see
// networkSettle); a network already gone is not an error.
func removeNetwork(ctx context.Context, cli *client.Client, id string) error {
	return waitReady(ctx, "its endpoints to be released", networkSettle, func(ctx context.Context) error {
		_, err := cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		switch {
		case err == nil || isNotFound(err):
			return nil
		case strings.Contains(err.Error(), "active endpoints"):
			return err
		}
		return backoff.Permanent(err)
	})
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// isGoing reports an object already gone or being removed by someone else
// (a parallel prune): either way, not this caller's failure.
func isGoing(err error) bool {
	return cerrdefs.IsNotFound(err) || (cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"))
}

// pruneOrphanVolumes removes the volumes of sandboxes the descriptor no
// longer finds (every container and network gone, a volume left: a
// removal that failed half-way), under the rule Prune applies to
// sandboxes: their owner is gone and was a process, or all is set.
func pruneOrphanVolumes(ctx context.Context, cli *client.Client, known []SandboxInfo, all bool) ([]Removed, error) {
	list, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: descriptor.Filter("")})
	if err != nil {
		return nil, fmt.Errorf("list sandbox volumes: %w", err)
	}
	var removed bySandbox
	var errs []error
	for _, v := range list.Items {
		id := v.Labels[labels.Sandbox]
		if slices.ContainsFunc(known, func(s SandboxInfo) bool { return s.ID == id }) {
			continue
		}
		owner, oerr := labels.OwnerFromLabels(v.Labels)
		alive := oerr == nil && owner.Alive()
		if !all && oerr == nil && (owner.Kind == labels.OwnerPerson || alive || v.Labels[labels.KeepOnFailure] != "") {
			continue
		}
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !isGoing(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		r, isNew := removed.of(id)
		if isNew {
			r.Owner, r.OwnerAlive = owner, alive
		}
		r.Volumes = append(r.Volumes, v.Name)
	}
	return removed.list(), errors.Join(errs...)
}
