// Package images builds every image seatrial runs, on this machine, with no
// registry: static Go binaries in FROM-scratch images, and a systemd node
// image from a debootstrap root filesystem. Images are assembled with
// go-containerregistry (no `docker build`, no Dockerfile, no pull), kept as
// OCI layouts in a cache directory, and loaded into the engine as
// seatrial/<name>:<tag>, where the tag is a hash of the image's inputs: a
// second Ensure with nothing changed builds nothing and takes milliseconds.
package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
)

// Image names.
const (
	Registry   = "registry"
	Watchtower = "watchtower"
	RefUpdater = "refupdater"
	// EngineProxy is the Docker API proxy a sandbox puts between its
	// updater and the engine when asked (harness.WithEngineProxy).
	EngineProxy = "engineproxy"
	// FaultProxy is the registry fault proxy a sandbox puts between its
	// registry and everyone else when asked (harness.WithFaultProxy).
	FaultProxy = "faultproxy"
	// TokenIssuer is the registry token issuer a sandbox runs when its
	// registry takes bearer tokens (harness.WithRegistryAuth("token")).
	TokenIssuer = "tokenissuer"
	App         = "app"
	Node        = "node"
)

// Names lists every image: the Go images, then the node (it carries the
// app binary). Ensure builds the node beside the Go images.
func Names() []string {
	return []string{Registry, Watchtower, RefUpdater, EngineProxy, FaultProxy, TokenIssuer, App, Node}
}

// Labels on every image seatrial builds.
const (
	// LabelImage is the image's name (one of Names).
	LabelImage = "io.seatrial.image"
	// LabelInputs is the full hash of the image's inputs; its first
	// characters are the tag. Ensure trusts an engine image only if this
	// label matches, so a foreign image that happens to carry the tag is
	// rebuilt, not used.
	LabelInputs = "io.seatrial.inputs"
	// LabelAppVersion and LabelAppBehaviour say which app configuration an
	// app or node image carries (set by the build and by WithConfig), so a
	// scenario can read a container's version from its image.
	LabelAppVersion   = "io.seatrial.app.version"
	LabelAppBehaviour = "io.seatrial.app.behaviour"
)

// modulePath is the module whose root holds the sources of the images.
const modulePath = "github.com/seatrial-dev/seatrial"

// Repository is the engine repository of seatrial's images.
const Repository = "seatrial"

// Built is one image that Ensure made sure of.
type Built struct {
	Name   string // one of Names
	Tag    string // hash of the inputs
	Ref    string // engine reference: seatrial/<name>:<tag>
	Layout string // OCI layout directory on disk holding the image
}

// Image reads the image from its OCI layout, for pushing to a registry or
// for making a new version of it (WithConfig).
func (b Built) Image() (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(b.Layout)
	if err != nil {
		return nil, fmt.Errorf("image %s: read layout %s: %w", b.Name, b.Layout, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s: read layout index: %w", b.Name, err)
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("image %s: layout %s holds %d manifests, want 1", b.Name, b.Layout, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", b.Name, err)
	}
	return img, nil
}

// Set is the result of Ensure.
type Set struct {
	built   map[string]Built
	skipped map[string]string // name -> why it was not built
}

// Get returns the image called name.
func (s *Set) Get(name string) (Built, error) {
	if b, ok := s.built[name]; ok {
		return b, nil
	}
	if why, ok := s.skipped[name]; ok {
		return Built{}, fmt.Errorf("image %q was not built: %s", name, why)
	}
	if !slices.Contains(Names(), name) {
		return Built{}, fmt.Errorf("no image called %q (images are %s)", name, strings.Join(Names(), ", "))
	}
	return Built{}, fmt.Errorf("image %q was not asked for (see images.Only)", name)
}

// All returns the images of the set, in build order.
func (s *Set) All() []Built {
	var out []Built
	for _, n := range Names() {
		if b, ok := s.built[n]; ok {
			out = append(out, b)
		}
	}
	return out
}

// Option changes how Ensure works.
type Option func(*options)

type options struct {
	progress  io.Writer
	cacheDir  string
	only      []string
	sourceDir string
	mirror    string
}

// WithProgress makes Ensure write one line per step ("building node image:
// debootstrap ...") to w. By default it is silent.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// WithCacheDir sets the directory holding layouts, locks and the node's root
// filesystem. Default: $SEATRIAL_CACHE, else os.UserCacheDir()/seatrial.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// Only restricts Ensure to the named images (and what they need: node needs
// app).
func Only(names ...string) Option { return func(o *options) { o.only = append(o.only, names...) } }

// WithSourceDir sets the root of the seatrial module (the directory of its
// go.mod). Default: found by walking up from the working directory.
func WithSourceDir(dir string) Option { return func(o *options) { o.sourceDir = dir } }

// WithDebianMirror sets the Debian mirror debootstrap uses. Default: the
// mirror apt uses for the suite (from /etc/apt/sources.list and
// sources.list.d), else http://deb.debian.org/debian.
func WithDebianMirror(url string) Option { return func(o *options) { o.mirror = url } }

// Ensure makes sure every image (or those named with Only) exists in the
// engine and as an OCI layout in the cache, building what is missing.
// Builds of one image are serialised across goroutines and processes by a
// lock file per image, and land in the cache by an atomic rename, so
// concurrent callers neither corrupt nor duplicate work.
func Ensure(ctx context.Context, cli *client.Client, opts ...Option) (*Set, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	want, err := wanted(o.only)
	if err != nil {
		return nil, err
	}
	b, err := newBuilder(ctx, cli, o)
	if err != nil {
		return nil, err
	}
	// What the machine lacks is said before minutes of other builds.
	if err := b.preflight(ctx, want); err != nil {
		return nil, err
	}
	set := &Set{built: map[string]Built{}, skipped: map[string]string{}}
	var mu sync.Mutex // guards set
	ensureOne := func(ctx context.Context, name string) error {
		start := time.Now()
		built, err := b.ensure(ctx, name)
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, errNoSource) {
			set.skipped[name] = err.Error()
			b.progressf("%s image: skipped: %v", name, err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("ensure %s image: %w", name, err)
		}
		b.progressf("%s image: %s ready (%s)", name, built.Ref, time.Since(start).Round(time.Millisecond))
		set.built[name] = built
		return nil
	}
	// The node image waits on the network and the disk (debootstrap), the
	// Go images on the CPU: the node is made beside the Go builds, which
	// take turns in goBuildSlots workers (one go build uses every core;
	// more at once only share them and compile the standard library
	// twice). Each image's lock file still serialises its build across
	// goroutines and processes: the node's need of the app binary waits on
	// the worker building it.
	g, gctx := errgroup.WithContext(ctx)
	if want[Node] {
		g.Go(func() error { return ensureOne(gctx, Node) })
	}
	queue := make(chan string, len(Names()))
	for _, name := range goBuildOrder() {
		if want[name] {
			queue <- name
		}
	}
	close(queue)
	for range goBuildSlots() {
		g.Go(func() error {
			for name := range queue {
				if err := ensureOne(gctx, name); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return set, nil
}

// goBuildOrder is the order the Go images are built in: the app first,
// since the node image needs its binary once debootstrap is done.
func goBuildOrder() []string {
	return []string{App, RefUpdater, EngineProxy, FaultProxy, TokenIssuer, Watchtower, Registry}
}

// goBuildSlots is how many Go images are built at once: one per two cores,
// at most two. A go build compiles packages in parallel on every core, so
// more builds at once gain only in their single-threaded links.
func goBuildSlots() int { return max(1, min(2, runtime.NumCPU()/2)) }

// wanted returns the set of images to ensure.
func wanted(only []string) (map[string]bool, error) {
	want := map[string]bool{}
	if len(only) == 0 {
		for _, n := range Names() {
			want[n] = true
		}
		return want, nil
	}
	for _, n := range only {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("no image called %q (images are %s)", n, strings.Join(Names(), ", "))
		}
		want[n] = true
	}
	if want[Node] {
		want[App] = true // the node image carries the app binary
	}
	return want, nil
}

// defaultCacheDir is $SEATRIAL_CACHE, else the user's cache dir + seatrial.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("SEATRIAL_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set SEATRIAL_CACHE): %w", err)
	}
	return filepath.Join(d, "seatrial"), nil
}

// FindModuleRoot walks up from dir to the directory whose go.mod declares
// the seatrial module (skipping nested modules such as fixtures/watchtower).
func FindModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if mp, err := readModulePath(filepath.Join(d, "go.mod")); err == nil && mp == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module %s in %s or above (cd into the seatrial checkout first: the fixture images are built from its sources; from Go, pass images.WithSourceDir)", modulePath, dir)
		}
	}
}

// LocateModule finds the seatrial module's sources, which the images
// are built from and the scenarios run in: the checkout dir is in (as
// FindModuleRoot); else the seatrial module that the module dir is in
// requires, as the go command resolves it (`go list -m`: a replace's
// directory, or the read-only copy in the module cache); else the module
// this program was built from, at its version (runtime/debug build info,
// `go mod download`), as after `go run .../cmd/seatrial@VERSION` or `go
// install`. Asking the go command for the module it already verified
// against go.sum needs no copy of the sources in the binary and no
// extraction (go:embed could not carry fixtures/watchtower, a module of
// its own, anyway).
func LocateModule(ctx context.Context, dir string) (string, error) {
	root, err := FindModuleRoot(dir)
	if err == nil {
		return root, nil
	}
	goMod := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		var m struct{ Dir string }
		if json.Unmarshal(out, &m) != nil {
			return ""
		}
		if mp, err := readModulePath(filepath.Join(m.Dir, "go.mod")); err != nil || mp != modulePath {
			return ""
		}
		return m.Dir
	}
	if d := goMod("list", "-m", "-json", modulePath); d != "" {
		return d, nil
	}
	if v := builtVersion(); v != "" {
		if d := goMod("mod", "download", "-json", modulePath+"@"+v); d != "" {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w; nor does the module in %s require %s, and this seatrial was not built at a released version (run it in a checkout, in a module that requires it, or as go run %s/cmd/seatrial@VERSION)", err, dir, modulePath, modulePath)
}

// builtVersion is the version of the seatrial module this program was
// built from, "" when it is unknown (a build in a checkout: "(devel)").
func builtVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m.Path != modulePath {
			continue
		}
		if m.Replace != nil {
			return "" // a replace's directory is the requiring module's to resolve
		}
		if m.Version != "" && m.Version != "(devel)" {
			return m.Version
		}
	}
	return ""
}

// readModulePath returns the module path a go.mod declares.
func readModulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
