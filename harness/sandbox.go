// Package harness builds the world a scenario runs in: a Sandbox (one
// isolated world on a shared Docker engine: its network, its registry, its
// updater), a Cluster of systemd nodes inside it, and Prune for what a
// crashed run left behind.
//
// Everything a Sandbox creates is labelled by the encoder of package
// descriptor, and everything that lists, reopens or prunes sandboxes reads
// them through its decoder, so no state file is needed, and nothing
// seatrial did not create is ever touched.
package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// ScopeLabel is the label watchtower and its forks read to scope an
// updater: an updater started with --scope S manages only containers whose
// label equals S. Every managed container in a sandbox carries it with the
// sandbox id, so one sandbox's updater never touches another's containers.
const ScopeLabel = "com.centurylinklabs.watchtower.scope"

// Sandbox is one isolated world on the shared engine: a thin façade over
// its parts (the registry, the updater, the clusters), each of which gets
// what it needs (a partEnv) instead of reaching back through the Sandbox.
type Sandbox struct {
	// desc is the sandbox's descriptor: its identity and the registry's
	// and updater API's addresses, the source of every label it writes.
	desc   descriptor.Sandbox
	cli    *client.Client
	ownCli bool
	images *images.Set
	log    io.Writer
	// stateDir holds what must live on the host for the sandbox's lifetime
	// (the updater's token file); it is removed with the sandbox.
	stateDir string
	registry *Registry
	// engineProxy is the Docker API proxy the updater reaches the engine
	// through, or nil (WithEngineProxy).
	engineProxy *EngineProxy

	mu sync.Mutex
	// registryCreds are the registry's credentials when it wants some
	// (read from the state dir on first use for a reopened sandbox).
	registryCreds *RegistryCredentials
	closed        bool
	clusters      []*Cluster
	updater       *Updater
	published     map[string]bool // repo:tag pushed by StartCluster
}

// partEnv is what a sandbox's parts need of it: the engine, the
// descriptor their labels are encoded from, and where progress goes.
type partEnv struct {
	cli  *client.Client
	desc descriptor.Sandbox
	log  io.Writer
}

func (e partEnv) logf(format string, args ...any) { fmt.Fprintf(e.log, format+"\n", args...) }

// reach is where this machine reaches what the sandbox publishes on the
// engine's host.
func (e partEnv) reach() engine.Reach { return engine.ReachOf(e.cli.DaemonHost()) }

// tcLogger sends testcontainers-go's progress lines for one container where
// the sandbox's own go, instead of the process's standard error.
func (e partEnv) tcLogger() testcontainers.LoggerOption {
	return testcontainers.WithLogger(printfLogger{e.log})
}

func (sb *Sandbox) env() partEnv {
	return partEnv{cli: sb.cli, desc: sb.desc, log: sb.log}
}

type sandboxConfig struct {
	tb        testing.TB
	cli       *client.Client
	ownerKind string
	id        string
	images    *images.Set
	log       io.Writer
	stateRoot string
	apiPort   int
	// engineProxy: put the engine proxy between updater and engine
	// (WithEngineProxy).
	engineProxy bool
	// keepOnFailure is the run that asks to keep the sandbox if its test
	// fails (WithKeepOnFailure, or KeepOnFailureEnv).
	keepOnFailure string
	// plainHTTP: the registry speaks plain HTTP, not TLS
	// (WithPlainHTTPRegistry).
	plainHTTP bool
	// faultProxy: the registry fault proxy holds the registry's address
	// (WithFaultProxy).
	faultProxy bool
	// registryAuth: the registry wants credentials (WithRegistryAuth).
	registryAuth string
}

// Option configures NewSandbox.
type Option func(*sandboxConfig)

// WithTest ties the sandbox to a test: its removal is registered with
// t.Cleanup, and progress goes to t.Log.
func WithTest(tb testing.TB) Option { return func(c *sandboxConfig) { c.tb = tb } }

// KeepOnFailureEnv carries `seatrial run --keep-on-failure` to the test
// binary: its value is the run's id. A sandbox tied to a test
// (WithTest) made while it is set is labelled with it
// (labels.KeepOnFailure), and is left up, not removed, when its test
// fails; Prune keeps it until `seatrial down` removes it.
const KeepOnFailureEnv = "SEATRIAL_KEEP_ON_FAILURE"

// WithKeepOnFailure keeps a test's sandbox on the engine if the test
// fails, labelled with run (see KeepOnFailureEnv, which sets it for every
// sandbox tied to a test).
func WithKeepOnFailure(run string) Option { return func(c *sandboxConfig) { c.keepOnFailure = run } }

// WithClient uses an existing engine client instead of connecting anew.
func WithClient(cli *client.Client) Option { return func(c *sandboxConfig) { c.cli = cli } }

// WithOwnerKind marks who owns the sandbox: labels.OwnerProcess (the
// default: pruned once this process is gone) or labels.OwnerPerson (made
// by `seatrial up`: kept until `seatrial down` or `prune --all`).
func WithOwnerKind(kind string) Option { return func(c *sandboxConfig) { c.ownerKind = kind } }

// WithID sets the sandbox id instead of a random one. It must be a valid
// container name part: letters, digits, '-' and '_'.
func WithID(id string) Option { return func(c *sandboxConfig) { c.id = id } }

// WithImages uses an already ensured image set (so parallel sandboxes do
// not each ask for it).
func WithImages(set *images.Set) Option { return func(c *sandboxConfig) { c.images = set } }

// WithLog sends progress lines to w.
func WithLog(w io.Writer) Option { return func(c *sandboxConfig) { c.log = w } }

// WithStateDir sets where host-side files of sandboxes (token files) live;
// the default is $XDG_RUNTIME_DIR/seatrial or the temp dir.
func WithStateDir(dir string) Option { return func(c *sandboxConfig) { c.stateRoot = dir } }

// WithUpdaterProfile makes the sandbox for p's updater. The namespace's
// holder publishes p's API port (api.port) when it is made, before any
// updater starts; it cannot change afterwards. And an updater that cannot
// bear other containers coming and going on the engine (p lacks
// CapToleratesEngineChurn) gets the engine proxy, whose view shows it only
// the sandbox's containers (see WithEngineProxy). Without this option the
// sandbox publishes profile.DefaultAPIPort and has no engine proxy.
func WithUpdaterProfile(p Profile) Option {
	return func(c *sandboxConfig) {
		c.apiPort = p.API.Port
		if !p.Has(profile.CapToleratesEngineChurn) {
			c.engineProxy = true
		}
	}
}

// WithPlainHTTPRegistry makes the sandbox's registry speak plain HTTP
// instead of TLS (the default, with a CA made for the sandbox), for an
// updater that cannot be given a CA, or to compare what an updater does
// over each.
func WithPlainHTTPRegistry() Option { return func(c *sandboxConfig) { c.plainHTTP = true } }

// NewSandbox creates a sandbox: an id, a bridge network and a registry,
// all labelled. It first prunes what dead owners left behind. On failure
// it removes whatever it made.
func NewSandbox(ctx context.Context, opts ...Option) (_ *Sandbox, err error) {
	cfg := sandboxConfig{ownerKind: labels.OwnerProcess, apiPort: profile.DefaultAPIPort}
	for _, o := range opts {
		o(&cfg)
	}
	if err := CheckRyukDisabled(); err != nil {
		return nil, err
	}
	if cfg.tb != nil {
		cfg.tb.Helper()
		if cfg.keepOnFailure == "" {
			cfg.keepOnFailure = os.Getenv(KeepOnFailureEnv)
		}
		if cfg.log == nil {
			cfg.log = tbWriter{cfg.tb}
		}
	}
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	owner, err := labels.Self(cfg.ownerKind)
	if err != nil {
		return nil, fmt.Errorf("sandbox owner: %w", err)
	}
	sb := &Sandbox{
		desc: descriptor.Sandbox{
			ID:            cfg.id,
			Owner:         owner,
			Created:       time.Now().UTC().Truncate(time.Second),
			KeepOnFailure: cfg.keepOnFailure,
		},
		cli:    cfg.cli,
		images: cfg.images,
		log:    cfg.log,
	}
	if sb.desc.ID == "" {
		sb.desc.ID = NewID()
	}
	if err := descriptor.ValidName(sb.desc.ID); err != nil {
		return nil, fmt.Errorf("sandbox id %w", err)
	}
	if a := cfg.registryAuth; a != "" && !slices.Contains(RegistryAuthModes(), a) {
		return nil, fmt.Errorf("registry auth %q: want one of %s", a, strings.Join(RegistryAuthModes(), ", "))
	}
	if cfg.apiPort <= 0 || cfg.apiPort > 65535 || cfg.apiPort == registryDebugPort || cfg.apiPort == faultProxyControlPort || cfg.apiPort == registryBehindProxyPort {
		return nil, fmt.Errorf("updater API port %d: not a port, or one the sandbox's namespace uses (%d, %d, %d: the registry's debug port, the fault proxy's control port, the registry behind it)", cfg.apiPort, registryDebugPort, faultProxyControlPort, registryBehindProxyPort)
	}
	if sb.cli == nil {
		if sb.cli, err = engine.Connect(ctx); err != nil {
			return nil, err
		}
		sb.ownCli = true
	}
	defer func() {
		if err != nil {
			// A failed create cleans up by default, as kind does.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = sb.Close(cctx)
		}
	}()
	// Leftovers of dead owners go first. This is housekeeping, not the
	// job at hand: parallel sandboxes prune at the same time, and one that
	// finds another already removing a leftover must not fail for it.
	removed, perr := Prune(ctx, sb.cli)
	if perr != nil {
		sb.logf("prune leftovers (continuing): %v", perr)
	} else {
		for _, r := range removed {
			sb.logf("pruned the leftovers of %s", r)
		}
	}
	if sb.images == nil {
		set, err := images.Ensure(ctx, sb.cli, images.WithProgress(sb.log))
		if err != nil {
			return nil, fmt.Errorf("ensure fixture images: %w", err)
		}
		sb.images = set
	}
	root := cfg.stateRoot
	if root == "" {
		root = defaultStateRoot()
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox state dir: %w", err)
	}
	if sb.stateDir, err = os.MkdirTemp(root, sb.desc.ID+"-"); err != nil {
		return nil, fmt.Errorf("sandbox state dir: %w", err)
	}
	if err := sb.createNetwork(ctx); err != nil {
		return nil, err
	}
	if sb.registry, sb.desc, err = startRegistry(ctx, sb.env(), sb.images, registrySpec{apiPort: cfg.apiPort, plainHTTP: cfg.plainHTTP, faultProxy: cfg.faultProxy, auth: cfg.registryAuth}); err != nil {
		return nil, err
	}
	if a := sb.registry.auth; a != nil {
		c := a.creds
		sb.registryCreds = &c
		if err := writeRegistryCredentials(sb.stateDir, c); err != nil {
			return nil, err
		}
	}
	if ca := sb.registry.caPEM; len(ca) > 0 {
		// For a person's curl --cacert; seatrial itself reads the label.
		if err := os.WriteFile(sb.RegistryCAFile(), ca, 0o644); err != nil {
			return nil, fmt.Errorf("write the registry's CA: %w", err)
		}
	}
	if cfg.engineProxy {
		if sb.engineProxy, err = startEngineProxy(ctx, sb.env(), sb.images); err != nil {
			return nil, err
		}
	}
	if cfg.tb != nil {
		cfg.tb.Cleanup(func() {
			// A skipped test's failure was judged known (see the
			// scenarios' runJudged): not one to look at.
			if cfg.keepOnFailure != "" && cfg.tb.Failed() && !cfg.tb.Skipped() {
				sb.logf("sandbox %s is kept, its test failed (--keep-on-failure): seatrial watch %s; seatrial down %s removes it", sb.desc.ID, sb.desc.ID, sb.desc.ID)
				if sb.ownCli {
					sb.cli.Close()
				}
				return
			}
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := sb.Close(cctx); err != nil {
				cfg.tb.Errorf("remove sandbox %s: %v", sb.desc.ID, err)
			}
		})
	}
	auth := ""
	if a := sb.desc.Registry.Auth; a != "" {
		auth = ", " + a + " auth"
	}
	sb.logf("sandbox %s: network %s, registry %s (%s%s)", sb.desc.ID, sb.Network(), sb.desc.Registry.Addr, sb.registry.scheme(), auth)
	return sb, nil
}

// ID is the sandbox's id, the value of its io.seatrial.sandbox label.
func (sb *Sandbox) ID() string { return sb.desc.ID }

// Descriptor is what the sandbox's labels say about it: its identity, its
// registry, its updater API. (Updater and Clusters give the running parts.)
func (sb *Sandbox) Descriptor() descriptor.Sandbox { return sb.desc }

// Client is the engine client the sandbox uses.
func (sb *Sandbox) Client() *client.Client { return sb.cli }

// Images is the fixture image set the sandbox uses.
func (sb *Sandbox) Images() *images.Set { return sb.images }

// Network is the name of the sandbox's bridge network: its id.
func (sb *Sandbox) Network() string { return sb.desc.ID }

// RegistryAddr is the registry's host:port ("localhost:P"), the same for
// the host, the engine and the updater.
func (sb *Sandbox) RegistryAddr() string { return sb.desc.Registry.Addr }

// RegistryCA is the PEM certificate of the CA the registry's certificate
// is signed by, or nil when the registry speaks plain HTTP.
func (sb *Sandbox) RegistryCA() []byte { return sb.registry.caPEM }

// RegistryCAFile is the host path of the registry's CA certificate (PEM)
// in the sandbox's state dir, or "" if the registry speaks plain HTTP or
// the state dir is not on this host.
func (sb *Sandbox) RegistryCAFile() string {
	if len(sb.registry.caPEM) == 0 || sb.stateDir == "" {
		return ""
	}
	return filepath.Join(sb.stateDir, "registry-ca.pem")
}

// RegistryTransport is an HTTP transport for the sandbox's registry from
// the host: it trusts the sandbox's CA (and only it) over TLS.
func (sb *Sandbox) RegistryTransport() (*http.Transport, error) { return sb.registry.Transport() }

// RegistryURL is the registry's base URL from the host
// ("https://localhost:P").
func (sb *Sandbox) RegistryURL() string { return sb.registry.scheme() + "://" + sb.desc.Registry.Addr }

// RegistryMetricsURL is the URL of the registry's Prometheus endpoint, as
// reachable from the host.
func (sb *Sandbox) RegistryMetricsURL() string { return sb.desc.Registry.MetricsURL }

// StopRegistry stops the sandbox's registry (the updater keeps its
// network and API): "the registry is down".
func (sb *Sandbox) StopRegistry(ctx context.Context) error { return sb.registry.Stop(ctx) }

// StartRegistry starts the stopped registry again and waits until it
// answers. Its blobs were on tmpfs, so they are gone: publish again.
func (sb *Sandbox) StartRegistry(ctx context.Context) error { return sb.registry.Start(ctx) }

// Owner is the sandbox's owner, from its labels.
func (sb *Sandbox) Owner() labels.Owner { return sb.desc.Owner }

// Created is when the sandbox was made.
func (sb *Sandbox) Created() time.Time { return sb.desc.Created }

// Updater returns the sandbox's updater, or nil if none runs.
func (sb *Sandbox) Updater() *Updater {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.updater
}

// Clusters returns the sandbox's clusters.
func (sb *Sandbox) Clusters() []*Cluster {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]*Cluster(nil), sb.clusters...)
}

func (sb *Sandbox) logf(format string, args ...any) {
	fmt.Fprintf(sb.log, format+"\n", args...)
}

// NewID returns a fresh sandbox id: "st-" and 10 hex digits.
func NewID() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "st-" + hex.EncodeToString(b[:])
}

// StateRoot is where sandboxes keep their host-side state (token files)
// unless WithStateDir says otherwise: $XDG_RUNTIME_DIR/seatrial, else
// seatrial under the temp dir. Each sandbox has a dir "<id>-<random>" in it.
func StateRoot() string { return defaultStateRoot() }

func defaultStateRoot() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "seatrial")
	}
	return filepath.Join(os.TempDir(), "seatrial")
}

// Close removes everything the sandbox made, in order: updater, clusters,
// app containers, registry, the images pulled from its registry, the
// network, its state dir. It goes on past errors and returns them all.
func (sb *Sandbox) Close(ctx context.Context) error {
	sb.mu.Lock()
	closed := sb.closed
	sb.mu.Unlock()
	if closed || sb.cli == nil {
		return nil
	}
	_, err := sb.Remove(ctx)
	if sb.ownCli {
		sb.cli.Close()
	}
	return err
}

// Remove removes everything the sandbox made (see Close), and says what
// it removed. Unlike Close, it leaves the engine client open.
func (sb *Sandbox) Remove(ctx context.Context) (Removed, error) {
	sb.mu.Lock()
	sb.closed = true
	sb.mu.Unlock()
	r, err := removeSandbox(ctx, sb.cli, sb.desc.ID)
	if sb.stateDir != "" {
		if rerr := os.RemoveAll(sb.stateDir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove state dir: %w", rerr))
		}
	}
	return r, err
}

// tbWriter sends lines to t.Log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	return p
}
