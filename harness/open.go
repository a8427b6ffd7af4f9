package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
)

// ErrNoSandbox is wrapped by OpenSandbox when no object on the engine
// carries the sandbox id.
var ErrNoSandbox = errors.New("no such sandbox")

// OpenSandbox rebuilds a *Sandbox for a sandbox that already runs on the
// engine (made by another process, typically `seatrial up`), from its
// descriptor alone: the registry's and the updater API's addresses, the
// updater's whole profile and token file, the clusters and their nodes.
//
// The options WithImages (needed by Publish), WithLog and WithStateDir
// apply; the others are ignored. Closing the returned
// sandbox removes it; a caller that only looks at it simply drops it. An
// id that matches nothing is an error wrapping ErrNoSandbox that lists the
// sandboxes that exist; a sandbox whose labels cannot be read whole is an
// error that says which label and how to remove it.
func OpenSandbox(ctx context.Context, cli *client.Client, id string, opts ...Option) (*Sandbox, error) {
	cfg := sandboxConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	found, err := descriptor.List(ctx, cli, id)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, noSandboxError(ctx, cli, id)
	}
	d := found[0]
	if d.Err != nil {
		return nil, fmt.Errorf("reopen %w; remove it with `seatrial down %s`", d.Err, id)
	}
	if d.Registry.Container == nil {
		return nil, fmt.Errorf("sandbox %s has no registry container: it is half made or half removed; remove it with `seatrial down %s`", id, id)
	}
	sb := &Sandbox{desc: d, cli: cli, images: cfg.images, log: cfg.log}
	sb.registry = &Registry{cli: cli, netnsID: d.NetNS.ID, id: d.Registry.Container.ID, port: d.Registry.Port(), caPEM: []byte(d.Registry.CA), authMode: d.Registry.Auth}
	sb.stateDir = findStateDir(cfg.stateRoot, d)
	e := sb.env()
	for _, dc := range d.Clusters {
		names := make([]string, 0, len(dc.Nodes))
		for _, n := range dc.Nodes {
			names = append(names, n.Name)
		}
		sb.clusters = append(sb.clusters, newCluster(e, dc.Name, dc.Image, names))
	}
	if d.Updater != nil {
		if sb.updater, err = openUpdater(e, *d.Updater); err != nil {
			return nil, err
		}
	}
	if sb.engineProxy, err = openEngineProxy(ctx, e, d); err != nil {
		return nil, err
	}
	if sb.registry.faultProxy, err = openFaultProxy(ctx, cli, d); err != nil {
		return nil, err
	}
	return sb, nil
}

// findStateDir finds the sandbox's host-side state dir: the token file's
// directory if an updater runs, else the one NewSandbox made under the
// state root ("<root>/<id>-*").
func findStateDir(root string, d descriptor.Sandbox) string {
	if d.Updater != nil && d.Updater.TokenFile != "" {
		dir := filepath.Dir(d.Updater.TokenFile)
		if strings.HasPrefix(filepath.Base(dir), d.ID+"-") {
			return dir
		}
	}
	if root == "" {
		root = defaultStateRoot()
	}
	matches, _ := filepath.Glob(filepath.Join(root, d.ID+"-*"))
	if len(matches) == 1 {
		return matches[0]
	}
	return ""
}

// RemoveStateDirs removes the host-side state dirs (token files) of a
// sandbox that was removed from the engine without its *Sandbox (by Prune
// or RemoveSandbox), under the default state root.
func RemoveStateDirs(id string) error {
	if descriptor.ValidName(id) != nil {
		return nil // never glob with a pattern that could escape the root
	}
	matches, _ := filepath.Glob(filepath.Join(defaultStateRoot(), id+"-*"))
	var errs []error
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func noSandboxError(ctx context.Context, cli *client.Client, id string) error {
	sbs, err := ListSandboxes(ctx, cli)
	if err != nil {
		return fmt.Errorf("sandbox %q: %w (and listing the others failed: %v)", id, ErrNoSandbox, err)
	}
	ids := make([]string, 0, len(sbs))
	for _, s := range sbs {
		ids = append(ids, s.ID)
	}
	have := "none"
	if len(ids) > 0 {
		have = strings.Join(ids, ", ")
	}
	return fmt.Errorf("sandbox %q: %w on this engine (sandboxes here: %s)", id, ErrNoSandbox, have)
}
