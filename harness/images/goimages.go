package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
)

// registryConfig is distribution's configuration, baked at
// /etc/distribution/config.yml. Every key can be overridden by environment
// (REGISTRY_HTTP_ADDR, REGISTRY_HTTP_DEBUG_ADDR, ...), which is how a
// sandbox makes the registry listen on its own port.
const registryConfig = `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  # delete enabled: scenarios may remove a published version.
  delete:
    enabled: true
http:
  addr: :5000
  # The debug listener serves Prometheus metrics
  # (registry_http_requests_total and friends) at /metrics.
  debug:
    addr: :5001
    prometheus:
      enabled: true
      path: /metrics
`

// goImage describes a FROM-scratch image holding one static Go binary.
type goImage struct {
	modDir     string   // module directory the build runs in
	pkg        string   // package to build (import path or ./dir)
	binary     string   // path in the image, without the leading slash
	entrypoint []string // image entrypoint
	cmd        []string
	env        []string
	ports      []string
	files      []layerFile // extra files (config) in the binary's layer
}

// goImageSpec returns the spec of a Go image other than the app.
func (b *builder) goImageSpec(imgName string) (goImage, error) {
	switch imgName {
	case Registry:
		return goImage{
			modDir: b.root,
			// distribution at the version go.sum pins, with only the
			// drivers a sandbox uses (fixtures/registry says which).
			pkg:        "./" + filepath.ToSlash(goPackageDir(Registry)),
			binary:     "registry",
			entrypoint: []string{"/registry"},
			cmd:        []string{"serve", "/etc/distribution/config.yml"},
			env: []string{
				// distribution v3 traces with OpenTelemetry's autoexport,
				// whose default exporter sends OTLP to localhost:4318 and
				// logs an error per failed export: nothing listens there.
				"OTEL_TRACES_EXPORTER=none",
			},
			ports: []string{"5000/tcp", "5001/tcp"},
			files: []layerFile{
				{name: "etc/", mode: 0o755},
				{name: "etc/distribution/", mode: 0o755},
				{name: "etc/distribution/config.yml", mode: 0o644, data: []byte(registryConfig)},
				{name: "var/", mode: 0o755},
				{name: "var/lib/", mode: 0o755},
				{name: "var/lib/registry/", mode: 0o755},
			},
		}, nil
	case Watchtower:
		return goImage{
			// Its own module: watchtower v1.7.1's old Docker client does
			// not build in the main module's dependency graph.
			modDir:     filepath.Join(b.root, "fixtures", "watchtower"),
			pkg:        "github.com/containrrr/watchtower",
			binary:     "watchtower",
			entrypoint: []string{"/watchtower"},
			ports:      []string{"8080/tcp"},
		}, nil
	case RefUpdater:
		return b.ownProgram(RefUpdater, "8080/tcp"), nil
	case EngineProxy:
		// 2375: the Engine API it forwards (--listen-tcp); 9375: its
		// control API (rules, calls, /metrics).
		return b.ownProgram(EngineProxy, "2375/tcp", "9375/tcp"), nil
	case FaultProxy:
		return b.ownProgram(FaultProxy), nil
	case TokenIssuer:
		return b.ownProgram(TokenIssuer), nil
	}
	return goImage{}, fmt.Errorf("no Go image called %q", imgName)
}

// ownProgram is the image of one of this module's programs: its package
// (goPackageDir), its binary named after the image, run as the entrypoint.
func (b *builder) ownProgram(imgName string, ports ...string) goImage {
	return goImage{
		modDir:     b.root,
		pkg:        "./" + filepath.ToSlash(goPackageDir(imgName)),
		binary:     imgName,
		entrypoint: []string{"/" + imgName},
		ports:      ports,
	}
}

func (b *builder) buildGoImage(ctx context.Context, imgName, h, tmp string) (v1.Image, error) {
	spec, err := b.goImageSpec(imgName)
	if err != nil {
		return nil, err
	}
	bin, err := b.goBuild(ctx, imgName, spec.modDir, spec.pkg, tmp)
	if err != nil {
		return nil, err
	}
	files := append(baseDirs(), spec.files...)
	files = append(files, layerFile{name: spec.binary, mode: 0o755, path: bin})
	layer, err := newLayer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: "seatrial: /" + spec.binary + " (go build " + spec.pkg + ")", Created: v1.Time{Time: layerTime}},
	})
	if err != nil {
		return nil, err
	}
	return b.configure(img, imgName, h, v1.Config{
		Entrypoint:   spec.entrypoint,
		Cmd:          spec.cmd,
		Env:          spec.env,
		ExposedPorts: portSet(spec.ports),
	})
}

func (b *builder) buildApp(ctx context.Context, h, tmp string) (v1.Image, error) {
	bin, err := b.goBuild(ctx, App, b.root, "./"+filepath.ToSlash(goPackageDir(App)), tmp)
	if err != nil {
		return nil, err
	}
	layer, err := newLayer(append(baseDirs(), layerFile{name: "app", mode: 0o755, path: bin}))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{CreatedBy: "seatrial: /app (go build ./fixtures/app)", Created: v1.Time{Time: layerTime}},
	})
	if err != nil {
		return nil, err
	}
	return b.configureWithApp(img, App, h, v1.Config{
		Entrypoint:   []string{"/app", "serve"},
		ExposedPorts: portSet([]string{"8080/tcp"}),
		// A scratch image has no shell or curl: the binary checks itself.
		Healthcheck: healthcheck(2*time.Second, 2*time.Second, "/app", "health"),
	})
}

// goBuild builds a static binary of pkg in modDir and returns its path.
func (b *builder) goBuild(ctx context.Context, imgName, modDir, pkg, tmp string) (string, error) {
	out := filepath.Join(tmp, imgName)
	b.progressf("building %s image: go build %s", imgName, pkg)
	// -trimpath and -buildvcs=false: the binary does not depend on where
	// the checkout is or which commit it is at; -s -w: no symbol tables or
	// DWARF (a third of the size, and nobody debugs these in the image).
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", // static: FROM scratch has no libc
		"GOOS=linux",
		"GOARCH="+b.tc.goarch,
		"GOWORK=off", // the module's own go.mod/go.sum, nothing else
		"GOFLAGS=-mod=readonly",
	)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s (in %s): %w\n%s", pkg, modDir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// configure sets the image config: OS and architecture, the seatrial labels
// and the given container config.
func (b *builder) configure(img v1.Image, imgName, h string, cfg v1.Config) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = b.tc.goarch
	cf.Created = v1.Time{Time: layerTime}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[LabelImage] = imgName
	cfg.Labels[LabelInputs] = h
	if cfg.Env == nil || !hasEnv(cfg.Env, "PATH") {
		cfg.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, cfg.Env...)
	}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// configureWithApp is configure for an image that runs the app (the app
// image, the node): the app's default configuration is added as a layer of
// its own, as every later version's is, so the layers below stay shared
// between versions.
func (b *builder) configureWithApp(img v1.Image, imgName, h string, cfg v1.Config) (v1.Image, error) {
	img, err := b.configure(img, imgName, h, cfg)
	if err != nil {
		return nil, err
	}
	return WithConfig(img, appconfig.Default())
}

// healthInterval is how often an image's health check runs. Each check is
// an exec (a runc process, the command, the shim's and dockerd's work), and
// with a node's check every second an idle, booted node cost 46 ms/s of CPU
// (17 in its cgroup, 29 in its containerd-shim and the runc children it
// reaped; dockerd's share not counted), 11 ms/s every 5 s, nothing without
// one (measured: docker run the node with --health-interval, then read its
// cpuacct.usage and the shim's /proc stat over 20 s). Scenarios wait for a
// node's units on the Watcher instead of the verdict; the one that waits
// on verdicts (a health-gated rollback) sets a 1 s interval on its nodes.
const healthInterval = 5 * time.Second

// healthcheck runs cmd every healthInterval; two failures in a row make the
// container unhealthy. The timeout and the start period are the image's.
func healthcheck(timeout, startPeriod time.Duration, cmd ...string) *v1.HealthConfig {
	return &v1.HealthConfig{
		Test:        append([]string{"CMD"}, cmd...),
		Interval:    healthInterval,
		Timeout:     timeout,
		Retries:     2,
		StartPeriod: startPeriod,
	}
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

func portSet(ports []string) map[string]struct{} {
	if len(ports) == 0 {
		return nil
	}
	m := map[string]struct{}{}
	for _, p := range ports {
		m[p] = struct{}{}
	}
	return m
}

// WithConfig returns base with one more layer holding appconfig.Path with
// cfg: how a scenario publishes "v2" or "v3, broken" of the app or node
// image without a rebuild. The layer is deterministic (same cfg, same
// digest), and the image's labels say the version and behaviour.
func WithConfig(base v1.Image, cfg appconfig.Config) (v1.Image, error) {
	data, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	dir := strings.TrimPrefix(path.Dir(appconfig.Path), "/")
	var files []layerFile
	for _, d := range parentDirs(dir) {
		files = append(files, layerFile{name: d + "/", mode: 0o755})
	}
	files = append(files, layerFile{name: strings.TrimPrefix(appconfig.Path, "/"), mode: 0o644, data: data})
	layer, err := newLayer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			CreatedBy: fmt.Sprintf("seatrial: %s version=%s behaviour=%s", appconfig.Path, cfg.Version, cfg.Behaviour),
			Created:   v1.Time{Time: layerTime},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("with config: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("with config: %w", err)
	}
	cf = cf.DeepCopy()
	labels := map[string]string{}
	for k, v := range cf.Config.Labels {
		labels[k] = v
	}
	labels[LabelAppVersion] = cfg.Version
	labels[LabelAppBehaviour] = string(cfg.Behaviour)
	cf.Config.Labels = labels
	return mutate.ConfigFile(img, cf)
}

// parentDirs returns "a", "a/b", "a/b/c" for "a/b/c".
func parentDirs(dir string) []string {
	var out []string
	parts := strings.Split(dir, "/")
	for i := range parts {
		out = append(out, strings.Join(parts[:i+1], "/"))
	}
	return out
}

// layerTime is the modification time of every file in seatrial's layers and
// the creation time of its images: fixed, so the same inputs give the same
// digests.
var layerTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// layerFile is one entry of a layer built in memory. A name ending in "/"
// is a directory; link makes a symlink; path reads the content from disk,
// data gives it directly.
type layerFile struct {
	name string
	mode int64
	data []byte
	path string
	link string
}

// baseDirs are the directories every scratch image gets: /tmp (some
// programs need a temp dir; sticky and world-writable as usual).
func baseDirs() []layerFile {
	return []layerFile{{name: "tmp/", mode: 0o1777}}
}

// newLayer makes a layer from files: a tar sorted by name, owned by root,
// with layerTime as mtime, gzipped by go-containerregistry (deterministic:
// no name or time in the gzip header).
func newLayer(files []layerFile) (v1.Layer, error) {
	sort.SliceStable(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			ModTime: layerTime,
		}
		var data []byte
		switch {
		case strings.HasSuffix(f.name, "/"):
			hdr.Typeflag = tar.TypeDir
		case f.link != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.link
		default:
			hdr.Typeflag = tar.TypeReg
			data = f.data
			if f.path != "" {
				var err error
				if data, err = os.ReadFile(f.path); err != nil {
					return nil, fmt.Errorf("layer: %w", err)
				}
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	b := buf.Bytes()
	// Compressed caching: the gzip stream is made once, not once for the
	// digest and again for the layout.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithCompressedCaching)
}

// extractFile returns the content of the file called name (no leading
// slash) in img's layers, the topmost winning.
func extractFile(img v1.Image, name string) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return nil, err
		}
		data, found, err := findInTar(rc, name)
		rc.Close()
		if err != nil {
			return nil, err
		}
		if found {
			return data, nil
		}
	}
	return nil, fmt.Errorf("no file %s in the image", name)
}

func findInTar(r io.Reader, name string) ([]byte, bool, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if strings.TrimPrefix(hdr.Name, "./") == name && hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			return b, true, err
		}
	}
}
