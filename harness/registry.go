package harness

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// registryDebugPort is distribution's debug listener (REGISTRY_HTTP_DEBUG_ADDR),
// where it serves Prometheus metrics.
const registryDebugPort = 5001

// registryReady bounds the wait for the registry's API: distribution
// starts in well under a second; a minute covers a loaded engine.
var registryReady = readiness{bound: time.Minute, first: 10 * time.Millisecond, longest: 500 * time.Millisecond}

// Registry is a sandbox's registry and the holder of the network namespace
// it lives in.
type Registry struct {
	cli     *client.Client
	netnsID string // the container that owns the network namespace
	id      string // the registry container
	port    int    // the same inside and out
	// caPEM is the CA the registry's certificate is signed by; empty when
	// it speaks plain HTTP.
	caPEM []byte
	// pki is the whole of what the registry serves TLS with, while it is
	// being made (a reopened sandbox has the CA only).
	pki *registryPKI
	// faultProxy holds P in front of the registry (WithFaultProxy), or nil.
	faultProxy *FaultProxy
	// auth is what the registry authenticates with, while it is being
	// made (WithRegistryAuth), or nil.
	auth *registryAuth
	// authMode is the descriptor's Registry.Auth ("" for anonymous).
	authMode string
	// tokenIssuerID is the token issuer's container (token auth).
	tokenIssuerID string
}

// registrySpec is how a sandbox's registry is to be made.
type registrySpec struct {
	apiPort    int
	plainHTTP  bool
	faultProxy bool
	auth       string // "" or one of RegistryAuthModes
}

// scheme is how the registry is spoken to.
func (r *Registry) scheme() string {
	if len(r.caPEM) > 0 {
		return "https"
	}
	return "http"
}

// nameOptions parse a reference to the registry as pushes need it: plain
// HTTP allowed unless the registry speaks TLS.
func (r *Registry) nameOptions() []name.Option {
	if len(r.caPEM) > 0 {
		return nil
	}
	return []name.Option{name.Insecure}
}

// Transport is an HTTP transport for the registry from the host: it
// trusts the sandbox's CA (and nothing else) when the registry speaks TLS.
func (r *Registry) Transport() (*http.Transport, error) { return registryTransport(r.caPEM) }

func (sb *Sandbox) createNetwork(ctx context.Context) error {
	name := sb.Network()
	_, err := sb.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: sb.desc.Labels(labels.RoleNetwork),
	})
	if err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// startRegistry starts the sandbox's network namespace holder and its
// registry, and returns the registry and the descriptor with the
// registry's and the updater API's addresses filled in.
//
// The registry listens on a free host port P inside and is published on
// 127.0.0.1:P, so "localhost:P/app:tag" names the same registry for the
// host (pushes), the engine (pulls) and the updater, which shares the
// namespace. Several sandboxes run side by side because each has its own P.
// On a remote engine (engine.Reach) the ports are published where this
// machine reaches them, the host pushes to the engine's host:P, and the
// engine and the updater still pull localhost:P.
//
// With plainHTTP false it serves https with a certificate for localhost,
// 127.0.0.1, ::1 and its containers' names, signed by a CA made here for
// the sandbox, whose certificate goes into the descriptor. The engine
// treats loopback registries as insecure: it tries https without verifying
// and then plain http, so it pulls from either without a change to the
// host (measured on Docker 20.10, see TestRegistryTLS).
//
// The namespace and the published ports belong to a holder container
// that does nothing (the app's "pause"), not to the registry, so that a
// scenario can stop and start the registry ("registry down during a
// scan") without the updater losing its network or its published API.
// The host ports of the registry's debug listener and of the updater's API
// are chosen here, not left to the engine, because they go into labels,
// and labels are fixed at create.
func startRegistry(ctx context.Context, e partEnv, set *images.Set, spec registrySpec) (*Registry, descriptor.Sandbox, error) {
	apiPort, plainHTTP, faultProxy := spec.apiPort, spec.plainHTTP, spec.faultProxy
	var pki *registryPKI
	if !plainHTTP {
		// Its names on the sandbox's network: the registry shares the
		// holder's namespace, so both names lead to it.
		names := []string{"localhost", e.desc.ID + "-netns", e.desc.ID + "-registry"}
		if reach := e.reach(); reach.Remote() {
			// Pushed to, and waited for, at the remote engine's host.
			names = append(names, reach.Host)
		}
		p, err := newRegistryPKI(e.desc.ID, names)
		if err != nil {
			return nil, e.desc, fmt.Errorf("sandbox %s: %w", e.desc.ID, err)
		}
		pki = &p
	}
	var auth *registryAuth
	if spec.auth != "" {
		a, err := newRegistryAuth(e.desc.ID, spec.auth)
		if err != nil {
			return nil, e.desc, fmt.Errorf("sandbox %s: %w", e.desc.ID, err)
		}
		auth = a
	}
	var lastErr error
	// A port found free can be taken by someone else before the holder
	// binds it; try again with others.
	for range 3 {
		// The 4th: the fault proxy's control port; the 5th: the token
		// issuer's (token auth).
		ports, err := freePorts(5)
		if err != nil {
			return nil, e.desc, err
		}
		fixed := func(p int) bool {
			return p == apiPort || p == registryDebugPort || p == faultProxyControlPort || p == registryBehindProxyPort
		}
		if fixed(ports[0]) || fixed(ports[4]) {
			// P (and T) are ports inside the namespace too.
			continue
		}
		d := e.desc
		// The debug listener and the updater's API are dialled from
		// this machine: at the engine's host (127.0.0.1 unless remote).
		reach := e.reach()
		d.Registry = descriptor.Registry{
			Addr:       "localhost:" + strconv.Itoa(ports[0]),
			MetricsURL: "http://" + reach.Dial(strconv.Itoa(ports[1])) + "/metrics",
		}
		d.UpdaterAPI = "http://" + reach.Dial(strconv.Itoa(ports[2]))
		r := &Registry{cli: e.cli, port: ports[0], pki: pki, auth: auth}
		tokenPort := 0
		if auth != nil {
			d.Registry.Auth = auth.mode
			r.authMode = auth.mode
			if auth.mode == RegistryAuthToken {
				tokenPort = ports[4]
				auth.tokenPort = tokenPort
			}
		}
		controlPort := 0
		if faultProxy {
			controlPort = ports[3]
		}
		if pki != nil {
			r.caPEM = pki.caPEM
			d.Registry.CA = string(pki.caPEM)
		}
		e.desc = d
		err = r.runNetNS(ctx, e, set, ports[1], ports[2], apiPort, controlPort, tokenPort)
		if err == nil {
			err = r.run(ctx, e, set, controlPort)
			if err == nil {
				return r, d, nil
			}
			if r.tokenIssuerID != "" {
				removeFailed(ctx, e.cli, r.tokenIssuerID)
				r.tokenIssuerID = ""
			}
			// Seen once under load: the registry found P taken inside
			// the fresh namespace ("bind: address already in use").
			// Like a host port lost to a race, that is worth another
			// pair of containers on other ports; anything else is not.
			err = fmt.Errorf("start registry: %w", err)
			if r.faultProxy != nil {
				removeFailed(ctx, e.cli, r.faultProxy.id)
			}
			removeFailed(ctx, e.cli, r.id)
			removeFailed(ctx, e.cli, r.netnsID)
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") && !strings.Contains(err.Error(), "port is already allocated") {
			break
		}
	}
	return nil, e.desc, fmt.Errorf("start network namespace and registry of sandbox %s: %w", e.desc.ID, lastErr)
}

func (r *Registry) runNetNS(ctx context.Context, e partEnv, set *images.Set, debugPort, apiHostPort, apiPort, controlHostPort, tokenPort int) error {
	app, err := set.Get("app")
	if err != nil {
		return err
	}
	port := func(p int) network.Port { return network.MustParsePort(strconv.Itoa(p) + "/tcp") }
	// On the engine host's loopback, or where a remote engine's ports
	// are reached from here (engine.Reach).
	ips := e.reach().Bindings()
	bind := func(p int) []network.PortBinding {
		var bs []network.PortBinding
		for _, ip := range ips {
			bs = append(bs, network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p)})
		}
		return bs
	}
	// The ports the namespace serves: the registry, its debug listener,
	// the updater's API and, with a fault proxy, its control API.
	exposed := []string{fmt.Sprintf("%d/tcp", r.port), fmt.Sprintf("%d/tcp", registryDebugPort), fmt.Sprintf("%d/tcp", apiPort)}
	bindings := network.PortMap{
		port(r.port):            bind(r.port),
		port(registryDebugPort): bind(debugPort),
		port(apiPort):           bind(apiHostPort),
	}
	if controlHostPort != 0 {
		exposed = append(exposed, fmt.Sprintf("%d/tcp", faultProxyControlPort))
		bindings[port(faultProxyControlPort)] = bind(controlHostPort)
	}
	if tokenPort != 0 {
		// The token issuer: T inside and out, like P, so the realm
		// localhost:T means it for the engine and the updater.
		exposed = append(exposed, fmt.Sprintf("%d/tcp", tokenPort))
		bindings[port(tokenPort)] = bind(tokenPort)
	}
	ctr, err := testcontainers.Run(ctx, app.Ref,
		e.tcLogger(),
		testcontainers.WithName(e.desc.ID+"-netns"),
		testcontainers.WithLabels(e.desc.Labels(labels.RoleNetNS)),
		testcontainers.WithEntrypoint("/app", "pause"),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithConfigModifier(func(cfg *container.Config) {
			// It serves nothing, so it has no health to check.
			cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(e.desc.ID)
			// Published on loopback only: nothing outside this machine
			// reaches a sandbox. P maps to P (see startRegistry); the
			// others to the ports in the labels (the fault proxy's control
			// port is read back from this binding).
			hc.PortBindings = bindings
		}),
	)
	if ctr != nil {
		r.netnsID = ctr.GetContainerID()
	}
	if err != nil {
		removeFailed(ctx, e.cli, r.netnsID)
		return err
	}
	return nil
}

func (r *Registry) run(ctx context.Context, e partEnv, set *images.Set, controlHostPort int) error {
	img, err := set.Get("registry")
	if err != nil {
		return err
	}
	listen := r.port
	if controlHostPort != 0 {
		// The fault proxy holds P; the registry sits behind it.
		listen = registryBehindProxyPort
	}
	env := map[string]string{
		// Listen on P inside too, so that localhost:P means the
		// registry inside the namespace (for the updater).
		"REGISTRY_HTTP_ADDR": ":" + strconv.Itoa(listen),
		// The debug listener (metrics) stays plain HTTP: only seatrial
		// reads it.
		"REGISTRY_HTTP_DEBUG_ADDR": ":" + strconv.Itoa(registryDebugPort),
	}
	var files []testcontainers.ContainerFile
	if r.pki != nil && controlHostPort == 0 {
		// (Behind a fault proxy the proxy serves TLS, and the hop to
		// the registry stays inside the namespace, in plain HTTP.)
		env["REGISTRY_HTTP_TLS_CERTIFICATE"] = registryCertPath
		env["REGISTRY_HTTP_TLS_KEY"] = registryKeyPath
		files = r.pki.serverFiles()
	}
	if r.auth != nil {
		maps.Copy(env, r.auth.registryEnv(e.desc.ID, r.scheme()))
		files = append(files, r.auth.registryFiles()...)
		if r.auth.mode == RegistryAuthToken {
			if err := r.startTokenIssuer(ctx, e, set); err != nil {
				return err
			}
		}
	}
	ctr, err := testcontainers.Run(ctx, img.Ref,
		e.tcLogger(),
		testcontainers.WithName(e.desc.ID+"-registry"),
		testcontainers.WithLabels(e.desc.Labels(labels.RoleRegistry)),
		testcontainers.WithEnv(env),
		testcontainers.WithFiles(files...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + r.netnsID)
			// Blobs on tmpfs: a sandbox's registry is thrown away with it,
			// and the storage driver here (fuse-overlayfs) is slow to write.
			hc.Tmpfs = map[string]string{"/var/lib/registry": "rw"}
		}),
	)
	if ctr != nil {
		r.id = ctr.GetContainerID()
	}
	if err != nil {
		return err
	}
	if controlHostPort != 0 {
		if err := r.startFaultProxy(ctx, e, set, controlHostPort); err != nil {
			return err
		}
	}
	// Through the proxy, if there is one: what everyone else sees.
	if err := r.wait(ctx); err != nil {
		return err
	}
	if r.tokenIssuerID != "" {
		return r.waitTokenIssuer(ctx)
	}
	return nil
}

// wait polls GET /v2/ until the registry answers 200, with backoff; a
// registry that stopped will not answer, and says so at once.
func (r *Registry) wait(ctx context.Context) error {
	// At the engine's host (127.0.0.1 unless remote): the certificate
	// names it.
	url := r.scheme() + "://" + engine.ReachOf(r.cli.DaemonHost()).Dial(strconv.Itoa(r.port)) + "/v2/"
	tr, err := r.Transport()
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	return waitServes(ctx, r.cli, r.id, "the registry", "the registry to answer GET "+url, registryReady, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		if resp.StatusCode == http.StatusUnauthorized && r.authMode != "" && resp.Header.Get("WWW-Authenticate") != "" {
			// A registry that wants credentials answers GET /v2/ so
			// when it is up.
			return nil
		}
		return fmt.Errorf("status %d", resp.StatusCode)
	})
}

// runBeside runs one of the registry's companions (a fault proxy, a token
// issuer): the sandbox's container of that role, named after it, with
// args and files, in the registry's network namespace. It returns the
// container's id, empty if none was made.
func (r *Registry) runBeside(ctx context.Context, e partEnv, ref, role string, args []string, files []testcontainers.ContainerFile) (string, error) {
	ctr, err := testcontainers.Run(ctx, ref,
		e.tcLogger(),
		testcontainers.WithName(e.desc.ID+"-"+role),
		testcontainers.WithLabels(e.desc.Labels(role)),
		testcontainers.WithCmd(args...),
		testcontainers.WithFiles(files...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + r.netnsID)
		}),
	)
	if ctr == nil {
		return "", err
	}
	return ctr.GetContainerID(), err
}

// exited is a permanent error if the container is not running (it will not
// answer), else nil.
func exited(ctx context.Context, cli *client.Client, id string) error {
	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err == nil && insp.Container.State != nil && !insp.Container.State.Running {
		return backoff.Permanent(fmt.Errorf("the container exited with code %d", insp.Container.State.ExitCode))
	}
	return nil
}

// Stop stops the registry (the updater keeps its network and API).
func (r *Registry) Stop(ctx context.Context) error {
	if _, err := r.cli.ContainerStop(ctx, r.id, client.ContainerStopOptions{}); err != nil {
		return fmt.Errorf("stop registry: %w", err)
	}
	return nil
}

// Start starts the stopped registry again and waits until it answers.
func (r *Registry) Start(ctx context.Context) error {
	if _, err := r.cli.ContainerStart(ctx, r.id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start registry: %w", err)
	}
	return r.wait(ctx)
}

// removeFailed removes a container that testcontainers-go created but
// could not start (it returns it on error so that the caller can), so that
// a retry can take its name.
func removeFailed(ctx context.Context, cli *client.Client, id string) {
	if id == "" {
		return
	}
	_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// publishedPort is the port inside the sandbox's namespace that the
// holder publishes on the host port of apiURL (the updater API's URL in
// the descriptor): read from the engine, so a reopened sandbox answers as
// a new one does.
func (r *Registry) publishedPort(ctx context.Context, apiURL string) (int, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return 0, fmt.Errorf("updater API URL %q: %w", apiURL, err)
	}
	ins, err := r.cli.ContainerInspect(ctx, r.netnsID, client.ContainerInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("inspect the sandbox's network namespace holder: %w", err)
	}
	if ins.Container.HostConfig != nil {
		for p, binds := range ins.Container.HostConfig.PortBindings {
			for _, b := range binds {
				if b.HostPort == u.Port() {
					return int(p.Num()), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("the sandbox's namespace holder publishes nothing on the updater API's host port %s", u.Port())
}
