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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/client"
)

// errNoSource means an image's sources are not in the tree (yet): Ensure
// skips it rather than failing every other image.
var errNoSource = errors.New("no sources")

// tagLen is how many hex digits of the inputs hash make the tag.
const tagLen = 16

// builder holds what one Ensure call needs.
type builder struct {
	cli      *client.Client
	opts     options
	root     string // module root (directory of seatrial's go.mod)
	cache    string
	tc       toolchain
	recipe   string // hash of this package's sources: how images are made
	progress io.Writer

	// Ensure builds images in several goroutines.
	mu      sync.Mutex        // guards hashes, ensured and writes to progress
	hashes  map[string]string // image name -> inputs hash, memoised per Ensure
	ensured map[string]Built
}

func newBuilder(ctx context.Context, cli *client.Client, o options) (*builder, error) {
	root := o.sourceDir
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if root, err = LocateModule(ctx, wd); err != nil {
			return nil, err
		}
	} else if mp, err := readModulePath(filepath.Join(root, "go.mod")); err != nil || mp != modulePath {
		return nil, fmt.Errorf("source dir %s does not hold the go.mod of %s (found %q): %v", root, modulePath, mp, err)
	}
	cache := o.cacheDir
	if cache == "" {
		var err error
		if cache, err = defaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	tc, err := goToolchain(ctx, root)
	if err != nil {
		return nil, err
	}
	// The recipe (this package's code) is an input of every image: a
	// change in how images are assembled must give new tags.
	recipe, err := hashDirFiles(filepath.Join(root, "harness", "images"))
	if err != nil {
		return nil, fmt.Errorf("hash image recipe: %w", err)
	}
	w := o.progress
	if w == nil {
		w = io.Discard
	}
	return &builder{
		cli: cli, opts: o, root: root, cache: cache, tc: tc, recipe: recipe,
		hashes: map[string]string{}, ensured: map[string]Built{}, progress: w,
	}, nil
}

func (b *builder) progressf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.progress, format+"\n", args...)
}

// ensuredImage returns the image this Ensure made sure of already.
func (b *builder) ensuredImage(imgName string) (Built, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt, ok := b.ensured[imgName]
	return bt, ok
}

func (b *builder) setEnsured(bt Built) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ensured[bt.Name] = bt
}

// ensure makes sure of one image: fast path (engine has the tag with the
// right inputs label and the layout exists), else, under the image's lock,
// build the layout if missing and load it into the engine if missing.
func (b *builder) ensure(ctx context.Context, imgName string) (Built, error) {
	if bt, ok := b.ensuredImage(imgName); ok {
		return bt, nil
	}
	h, err := b.inputs(imgName)
	if err != nil {
		return Built{}, err
	}
	bt := b.planned(imgName, h)
	tag := bt.Tag
	if ok, err := b.present(ctx, bt, h); err != nil || ok {
		if ok {
			b.setEnsured(bt)
		}
		return bt, err
	}

	unlock, err := lockFile(ctx, filepath.Join(b.cache, "locks", imgName+".lock"))
	if err != nil {
		return Built{}, err
	}
	defer unlock()

	// Another goroutine or process may have finished while we waited.
	if !layoutExists(bt.Layout) {
		start := time.Now()
		b.progressf("building %s image %s", imgName, bt.Ref)
		if err := b.buildLayout(ctx, bt, h); err != nil {
			return Built{}, err
		}
		b.progressf("built %s image in %s", imgName, time.Since(start).Round(time.Millisecond))
		pruneOldLayouts(filepath.Dir(bt.Layout), tag, layoutMaxAge)
	}
	has, err := b.engineHas(ctx, bt.Ref, h)
	if err != nil {
		return Built{}, err
	}
	if !has {
		start := time.Now()
		b.progressf("loading %s image into the engine as %s", imgName, bt.Ref)
		img, err := bt.Image()
		if err != nil {
			return Built{}, err
		}
		if err := Load(ctx, b.cli, bt.Ref, img); err != nil {
			return Built{}, err
		}
		b.progressf("loaded %s image in %s", imgName, time.Since(start).Round(time.Millisecond))
	}
	b.setEnsured(bt)
	return bt, nil
}

// planned is the image called imgName made from inputs h: its tag,
// engine reference and layout directory, whether or not it exists yet.
func (b *builder) planned(imgName, h string) Built {
	tag := h[:tagLen]
	return Built{
		Name:   imgName,
		Tag:    tag,
		Ref:    Repository + "/" + imgName + ":" + tag,
		Layout: filepath.Join(b.cache, "images", imgName, tag),
	}
}

// present reports whether the image needs no work at all.
func (b *builder) present(ctx context.Context, bt Built, h string) (bool, error) {
	if !layoutExists(bt.Layout) {
		return false, nil
	}
	return b.engineHas(ctx, bt.Ref, h)
}

// engineHas reports whether the engine has ref, made from inputs h.
func (b *builder) engineHas(ctx context.Context, ref, h string) (bool, error) {
	res, err := b.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect %s: %w", ref, err)
	}
	if res.Config == nil || res.Config.Labels[LabelInputs] != h {
		return false, nil
	}
	return true, nil
}

// layoutExists reports whether dir is a complete layout. Layouts appear by
// rename, so index.json present means complete.
func layoutExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "index.json"))
	return err == nil
}

// buildLayout builds the image and writes its layout to bt.Layout: into a
// temporary directory beside it first, then renamed, so a reader never sees
// half a layout and a crashed build leaves only a temp dir (removed by the
// next build under the same lock).
func (b *builder) buildLayout(ctx context.Context, bt Built, h string) error {
	parent := filepath.Dir(bt.Layout)
	tmp, err := freshTemp(parent)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	img, err := b.build(ctx, bt.Name, h, tmp)
	if err != nil {
		return err
	}
	lp, err := layout.Write(filepath.Join(tmp, "layout"), empty.Index)
	if err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": bt.Ref,
	})); err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "layout"), bt.Layout); err != nil {
		return fmt.Errorf("move layout into place: %w", err)
	}
	return nil
}

// layoutMaxAge is how long the layout of a superseded tag is kept in the
// cache. Another checkout may still use it; if it is gone, that checkout
// rebuilds it (Ensure checks that the layout exists), so this only bounds
// the disk the cache takes (a node layout is about 60 MB).
const layoutMaxAge = 24 * time.Hour

// pruneOldLayouts removes layouts in dir, other than keep, not written for
// maxAge. Called under the image's lock. Images in the engine are left
// alone: containers may run them.
func pruneOldLayouts(dir, keep string, maxAge time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !e.IsDir() || e.Name() == keep || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > maxAge {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// freshTemp makes dir if need be, removes the temp dirs crashed builds
// left in it, and makes a temp dir there for this build (on the same file
// system, so the result can be renamed into place). Called under the
// image's lock.
func freshTemp(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	removeStaleTemps(dir)
	return os.MkdirTemp(dir, ".tmp-")
}

// removeStaleTemps removes temp dirs of crashed builds. Called under the
// image's lock, so no live build owns them.
func removeStaleTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// build assembles the image called imgName; tmp is scratch space.
func (b *builder) build(ctx context.Context, imgName, h, tmp string) (v1.Image, error) {
	switch imgName {
	case Registry, Watchtower, RefUpdater, EngineProxy, FaultProxy, TokenIssuer:
		return b.buildGoImage(ctx, imgName, h, tmp)
	case App:
		return b.buildApp(ctx, h, tmp)
	case Node:
		return b.buildNode(ctx, h, tmp)
	}
	return nil, fmt.Errorf("no recipe for image %q", imgName)
}

// Load loads img into the engine under ref (for example
// "seatrial/app:test-1"), streaming a docker-load tarball through a pipe: no
// temporary file, no registry.
func Load(ctx context.Context, cli *client.Client, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("load: reference %q: %w", ref, err)
	}
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := tarball.Write(tag, img, pw)
		pw.CloseWithError(err)
		werr <- err
	}()
	res, err := cli.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err != nil {
		pr.CloseWithError(err)
		<-werr
		return fmt.Errorf("load %s: %w", ref, err)
	}
	defer res.Close()
	// The engine answers with a JSON message stream; an error (bad layer,
	// disk full) comes as a message, not as an HTTP status.
	dec := json.NewDecoder(res)
	var msgErr error
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			msgErr = fmt.Errorf("read engine answer: %w", err)
			break
		}
		if m.Error != "" && msgErr == nil {
			msgErr = errors.New(m.Error)
		}
	}
	pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if the engine stopped reading
	if err := <-werr; err != nil && msgErr == nil && !errors.Is(err, io.ErrClosedPipe) {
		msgErr = fmt.Errorf("write image tarball: %w", err)
	}
	if msgErr != nil {
		return fmt.Errorf("load %s: %w", ref, msgErr)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("load %s: engine does not show it after loading: %w", ref, err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting (and honouring ctx)
// while another goroutine or process holds it. flock locks belong to the
// open file description, so two goroutines of one process exclude each
// other as two processes do; the kernel drops the lock if the holder dies.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// A non-blocking flock, tried again while another holder has it: a
	// blocking one could not be given up when ctx ends. Tried 50ms to 1s
	// apart, as a build takes from seconds (a Go image) to a minute (the
	// node's root filesystem). Only ctx bounds the wait: how long the
	// holder's build may take is the holder's deadline.
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval:     50 * time.Millisecond,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         time.Second,
	}), backoff.WithMaxElapsedTime(0))
	if err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for lock %s (another build of this image runs): %w", path, err)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// toolchain is what the Go images are compiled with.
type toolchain struct {
	goVersion string
	goarch    string
}

// goToolchain asks the go command (the one that builds) for its version and
// target architecture. GOOS is always linux: images are Linux images.
func goToolchain(ctx context.Context, root string) (toolchain, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOARCH")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return toolchain{}, fmt.Errorf("go env (the go command builds the images' binaries; is Go installed?): %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return toolchain{}, fmt.Errorf("go env GOVERSION GOARCH: unexpected output %q", out)
	}
	return toolchain{goVersion: f[0], goarch: f[1]}, nil
}
