package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// UpdaterOptions turns on an updater's optional behaviour.
type UpdaterOptions struct {
	MonitorOnly   bool
	LabelEnable   bool
	HealthGated   bool
	HealthTimeout time.Duration // with HealthGated; 45 s if zero
	// Cleanup adds the profile's flags.cleanup.
	Cleanup bool
	// LifecycleHooks adds the profile's flags.lifecycle_hooks.
	LifecycleHooks bool
	ExtraArgs      []string
	// Credentials says which registry credentials the updater gets when
	// the sandbox's registry wants some (WithRegistryAuth): its own (the
	// default), wrong ones, or none.
	Credentials Credentials

	// engineHost, set by StartUpdater for a sandbox with an engine proxy,
	// is the updater's DOCKER_HOST instead of the engine's socket.
	engineHost string
	// registryCA, set by StartUpdater for a sandbox whose registry speaks
	// TLS, is the CA's PEM certificate the updater must trust.
	registryCA []byte
	// credEnv and credFiles, set by StartUpdater for a sandbox whose
	// registry wants credentials, carry them as the profile's
	// registry_auth says.
	credEnv   map[string]string
	credFiles []testcontainers.ContainerFile
}

// updaterReady bounds the wait for the updater's API: an updater lists
// the engine's containers before it serves, which on a busy shared engine
// takes seconds.
var updaterReady = readiness{bound: time.Minute, first: 20 * time.Millisecond, longest: time.Second}

// Updater is a sandbox's running updater. It holds what it needs (the
// engine, its scope) rather than its sandbox.
type Updater struct {
	cli       *client.Client
	scope     string // the sandbox id, which --scope is set to
	profile   Profile
	id        string
	apiURL    string
	token     string
	tokenFile string
	http      *http.Client
}

// Profile is the updater's profile.
func (u *Updater) Profile() Profile { return u.profile }

// ContainerID is the updater container's id.
func (u *Updater) ContainerID() string { return u.id }

// APIURL is the updater's API base URL, as reachable from the host.
func (u *Updater) APIURL() string { return u.apiURL }

// TokenFile is the host path of the 0600 file holding the API token.
func (u *Updater) TokenFile() string { return u.tokenFile }

// StartUpdater starts the profile's updater in the sandbox, scoped to it,
// with a random API token, in the registry's network namespace (so it
// reaches the registry by the same "localhost:P" reference the engine
// pulls), and waits until its API answers.
func (sb *Sandbox) StartUpdater(ctx context.Context, p Profile, o UpdaterOptions) (*Updater, error) {
	// testcontainers-go would pull an absent image; the updater's image
	// is pulled only when the user asked (EnsureUpdaterImage with pull).
	if err := EnsureUpdaterImage(ctx, sb.cli, p, false); err != nil {
		return nil, err
	}
	image := p.Image
	if p.Fixture != "" {
		b, err := sb.images.Get(p.Fixture)
		if err != nil {
			return nil, err
		}
		image = b.Ref
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("updater profile %s: %w", p.Name, err)
	}
	published, err := sb.registry.publishedPort(ctx, sb.desc.UpdaterAPI)
	if err != nil {
		return nil, err
	}
	if p.API.Port != published {
		// The namespace's holder published its ports when the sandbox
		// was made; they cannot change afterwards.
		return nil, fmt.Errorf("updater profile %s: api.port is %d, but sandbox %s publishes the updater API on %d: make the sandbox with harness.WithUpdaterProfile (seatrial up does so for its --profile)", p.Name, p.API.Port, sb.desc.ID, published)
	}
	if !p.Has(profile.CapToleratesEngineChurn) && sb.engineProxy == nil {
		// It inspects every container on the engine, and fails when one
		// elsewhere goes between its list and its inspect; on a shared
		// engine they go all the time. Through the proxy's view it lists
		// only its sandbox's, as on an engine of its own.
		return nil, fmt.Errorf("updater profile %s lacks %s, so it must reach the engine through the sandbox's engine proxy, and sandbox %s has none: make the sandbox with harness.WithUpdaterProfile (seatrial up does so for its --profile)", p.Name, profile.CapToleratesEngineChurn, sb.desc.ID)
	}
	if sb.engineProxy != nil {
		o.engineHost = sb.engineProxy.apiHost
	}
	o.registryCA = sb.registry.caPEM
	if sb.desc.Registry.Auth != "" {
		c, err := sb.RegistryCredentials()
		if err != nil {
			return nil, err
		}
		if o.credEnv, o.credFiles, err = updaterCredentials(p, o.Credentials, *c, sb.desc.Registry.Addr); err != nil {
			return nil, err
		}
		sb.logf("updater %s: %s registry credentials (%s)", p.Name, o.Credentials, p.RegistryAuth.Mode)
	}
	u, err := startUpdater(ctx, sb.env(), sb.registry.netnsID, sb.stateDir, image, p, o)
	if err != nil {
		return nil, err
	}
	sb.mu.Lock()
	sb.updater = u
	sb.mu.Unlock()
	return u, nil
}

func startUpdater(ctx context.Context, e partEnv, netnsID, stateDir, image string, p Profile, o UpdaterOptions) (*Updater, error) {
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	u := &Updater{
		cli:       e.cli,
		scope:     e.desc.ID,
		profile:   p,
		apiURL:    e.desc.UpdaterAPI,
		token:     hex.EncodeToString(tok[:]),
		tokenFile: filepath.Join(stateDir, "updater-token"),
		http:      &http.Client{Timeout: 5 * time.Minute},
	}
	l, err := e.desc.UpdaterLabels(descriptor.Updater{Profile: p, TokenFile: u.tokenFile})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(u.tokenFile, []byte(u.token), 0o600); err != nil {
		return nil, fmt.Errorf("write updater token: %w", err)
	}
	env := map[string]string{p.API.Token.Env: u.token}
	if p.DockerAPI.Mode == profile.DockerAPIInject {
		// An updater that asks for a fixed old version by default
		// (watchtower: 1.25, which newer engines refuse) is told the
		// version this engine negotiated. One that negotiates gets
		// nothing: pinning can break it (see the forks' profiles).
		env[p.DockerAPI.Env] = e.cli.ClientVersion()
	}
	for k, v := range p.Env {
		env[k] = v
	}
	if o.engineHost != "" {
		// Through the engine proxy, whatever the profile says: the
		// scenario asked for it.
		env["DOCKER_HOST"] = o.engineHost
	}
	// The registry's credentials, if it wants some: variables or a file
	// (never arguments, which a process listing shows).
	maps.Copy(env, o.credEnv)
	files := slices.Clone(o.credFiles)
	if len(o.registryCA) > 0 {
		// The registry's CA, where the profile says; copied in before
		// the start (no host path: the image may be FROM scratch, and
		// the engine may not share the host's file system).
		files = append(files, testcontainers.ContainerFile{Reader: bytes.NewReader(o.registryCA), ContainerFilePath: p.RegistryCA.CAPath(), FileMode: 0o644})
		if v := p.RegistryCA.CAEnv(); v != "" {
			env[v] = p.RegistryCA.CAPath()
		}
	}
	ctr, err := testcontainers.Run(ctx, image,
		e.tcLogger(),
		testcontainers.WithName(e.desc.ID+"-updater"),
		testcontainers.WithLabels(l),
		testcontainers.WithCmd(u.args(o)...),
		testcontainers.WithEnv(env),
		testcontainers.WithFiles(files...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Join the sandbox's network namespace: localhost:P is the
			// registry here too, and the namespace's holder publishes our
			// API port.
			hc.NetworkMode = container.NetworkMode("container:" + netnsID)
			if o.engineHost != "" {
				// No socket: every call goes through the proxy.
				return
			}
			// The updater drives the engine through its socket.
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"})
		}),
	)
	if ctr != nil {
		u.id = ctr.GetContainerID()
	}
	if err != nil {
		return nil, fmt.Errorf("start updater %s: %w", p.Name, err)
	}
	if err := u.waitAPI(ctx); err != nil {
		logs, _ := u.Logs(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("updater %s: %w\nits log:\n%s", p.Name, err, tail(logs, 30))
	}
	e.logf("updater %s: API %s", p.Name, u.apiURL)
	return u, nil
}

// openUpdater rebuilds the *Updater of a running updater from its
// sandbox's descriptor: the profile it was started from, whole.
func openUpdater(e partEnv, d descriptor.Updater) (*Updater, error) {
	u := &Updater{
		cli:       e.cli,
		scope:     e.desc.ID,
		profile:   d.Profile,
		id:        d.Container.ID,
		apiURL:    e.desc.UpdaterAPI,
		tokenFile: d.TokenFile,
		http:      &http.Client{Timeout: 5 * time.Minute},
	}
	if u.tokenFile != "" {
		b, err := os.ReadFile(u.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("updater of sandbox %s: read its API token: %w (the token file lives on the host that ran `seatrial up`)", e.desc.ID, err)
		}
		u.token = strings.TrimSpace(string(b))
	}
	return u, nil
}

func (u *Updater) args(o UpdaterOptions) []string {
	p := u.profile
	r := strings.NewReplacer("{scope}", u.scope, "{api_port}", strconv.Itoa(p.API.Port), "{registry_ca}", p.RegistryCA.CAPath())
	var args []string
	for _, a := range p.Args {
		args = append(args, r.Replace(a))
	}
	if o.MonitorOnly {
		args = append(args, p.Flags.MonitorOnly)
	}
	if o.LabelEnable {
		args = append(args, p.Flags.LabelEnable)
	}
	if o.HealthGated {
		args = append(args, p.Flags.HealthGate)
		if p.Flags.HealthTimeout != "" {
			t := o.HealthTimeout
			if t == 0 {
				t = 45 * time.Second
			}
			args = append(args, strings.ReplaceAll(p.Flags.HealthTimeout, "{timeout}", t.String()))
		}
	}
	if o.Cleanup {
		args = append(args, p.Flags.Cleanup)
	}
	if o.LifecycleHooks {
		args = append(args, p.Flags.LifecycleHooks)
	}
	return append(args, o.ExtraArgs...)
}

// waitAPI polls the metrics endpoint until the API answers, with
// backoff, and fails at once if the updater exits.
func (u *Updater) waitAPI(ctx context.Context) error {
	return waitReady(ctx, "the updater's API to answer GET "+u.apiURL+u.profile.API.MetricsPath, updaterReady, func(ctx context.Context) error {
		st, _, err := u.do(ctx, http.MethodGet, u.profile.API.MetricsPath, "")
		if err == nil && st != http.StatusOK {
			err = fmt.Errorf("status %d", st)
		}
		if err == nil {
			return nil
		}
		return errors.Join(err, exited(ctx, u.cli, u.id))
	})
}

// ScanResult is the updater's answer to a scan trigger.
type ScanResult struct {
	Status int
	Body   string
}

// OK reports whether the answer says the scan ran, as the profile's
// trigger.ok_statuses define it.
func (r ScanResult) OK(p Profile) bool { return p.IsOK(r.Status) }

// Skipped reports whether the answer says the scan was skipped because
// one was running, as the profile's trigger.busy_statuses and busy_body
// define it (watchtower answers 200 anyway, so only its log tells).
func (r ScanResult) Skipped(p Profile) bool { return p.IsBusy(r.Status, r.Body) }

// Scan triggers a scan and returns the answer; optional images limit it.
func (u *Updater) Scan(ctx context.Context, images ...string) (ScanResult, error) {
	path := u.profile.Trigger.Path
	if len(images) > 0 {
		q := url.Values{}
		for _, i := range images {
			q.Add("image", i)
		}
		path += "?" + q.Encode()
	}
	return u.trigger(ctx, path)
}

// trigger sends the profile's trigger request to path.
func (u *Updater) trigger(ctx context.Context, path string) (ScanResult, error) {
	t := u.profile.Trigger
	st, body, err := u.do(ctx, t.Method, path, t.Body)
	if err != nil {
		return ScanResult{}, fmt.Errorf("trigger scan (%s %s): %w", t.Method, path, err)
	}
	return ScanResult{Status: st, Body: body}, nil
}

// Metrics returns the updater's own exposition, read directly.
func (u *Updater) Metrics(ctx context.Context) (string, error) {
	st, body, err := u.do(ctx, http.MethodGet, u.profile.API.MetricsPath, "")
	if err != nil {
		return "", err
	}
	if st != http.StatusOK {
		return "", fmt.Errorf("updater metrics: status %d: %s", st, tail(body, 5))
	}
	return body, nil
}

// do sends a request to the updater's API with the token where the
// profile says it goes.
func (u *Updater) do(ctx context.Context, method, path, body string) (int, string, error) {
	tok := u.profile.API.Token
	return sendHTTP(ctx, u.http, method, u.apiURL+path, body, http.Header{tok.Header: {tok.Value(u.token)}})
}

// Logs returns the updater's log (stdout and stderr).
func (u *Updater) Logs(ctx context.Context) (string, error) {
	return engine.Logs(ctx, u.cli, u.id)
}

// ReplaceUpdater removes the sandbox's updater and starts another from p
// with o (other registry credentials, say): the sandbox's nodes and
// registry stay as they are. The new updater's metrics start from zero.
func (sb *Sandbox) ReplaceUpdater(ctx context.Context, p Profile, o UpdaterOptions) (*Updater, error) {
	if old := sb.Updater(); old != nil {
		if _, err := sb.cli.ContainerRemove(ctx, old.id, client.ContainerRemoveOptions{Force: true}); err != nil {
			return nil, fmt.Errorf("remove updater %s: %w", old.profile.Name, err)
		}
		sb.mu.Lock()
		sb.updater = nil
		sb.mu.Unlock()
	}
	return sb.StartUpdater(ctx, p, o)
}

// Stop stops the updater container.
func (u *Updater) Stop(ctx context.Context) error {
	if _, err := u.cli.ContainerStop(ctx, u.id, client.ContainerStopOptions{}); err != nil {
		return fmt.Errorf("stop updater: %w", err)
	}
	return nil
}

// Redact replaces the updater's token in s, for artifacts.
func (u *Updater) Redact(s string) string {
	if u == nil || u.token == "" {
		return s
	}
	return strings.ReplaceAll(s, u.token, "[REDACTED]")
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
