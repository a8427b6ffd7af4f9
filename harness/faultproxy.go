package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// Ports inside a sandbox's network namespace when its registry has a
// fault proxy in front (WithFaultProxy): the proxy's control API, which
// the namespace's holder publishes, and the registry's own listener, which
// nobody outside the namespace reaches.
const (
	faultProxyControlPort   = 5002
	registryBehindProxyPort = 5003
)

// WithFaultProxy puts seatrial's registry fault proxy
// (fixtures/faultproxy) in front of the sandbox's registry: the proxy
// holds the registry's address localhost:P (with its certificate, over
// TLS) and forwards to the registry, which listens on another port inside
// the namespace; so the host's pushes, the engine's pulls and the
// updater's registry requests all pass it, and its rules
// (Sandbox.InjectFault) answer 429 with Retry-After, 5xx, delay, reset a
// download, or corrupt a manifest. Off by default, for two reasons: it is
// one more container per sandbox (BenchmarkNewSandboxRegistry, 2026-12-06,
// shared 2-core engine, 3 runs of 3: new sandbox median 1.31 s plain, 1.39 s
// TLS, 1.79 s TLS behind the proxy, each run 0.8 to 2.7 s), and with it a
// stopped registry (RegistryDownDuringScan) answers 502 from the proxy
// instead of refusing the connection, which is another fault.
func WithFaultProxy() Option { return func(c *sandboxConfig) { c.faultProxy = true } }

// FaultProxy is a sandbox's running registry fault proxy.
type FaultProxy struct {
	id      string
	control proxyControl
}

// ControlURL is the proxy's control API (rules, /metrics) as reachable
// from the host.
func (p *FaultProxy) ControlURL() string { return p.control.url }

// startFaultProxy runs the proxy in the sandbox's network namespace, on P,
// in front of the registry (on registryBehindProxyPort, plain HTTP: the
// hop never leaves the namespace), serving TLS with the registry's
// certificate when the registry has one.
func (r *Registry) startFaultProxy(ctx context.Context, e partEnv, set *images.Set, controlHostPort int) error {
	img, err := set.Get(images.FaultProxy)
	if err != nil {
		return err
	}
	args := []string{
		"--listen", ":" + strconv.Itoa(r.port),
		"--upstream", "http://127.0.0.1:" + strconv.Itoa(registryBehindProxyPort),
		"--control", ":" + strconv.Itoa(faultProxyControlPort),
	}
	var files []testcontainers.ContainerFile
	if r.pki != nil {
		args = append(args, "--tls-cert", registryCertPath, "--tls-key", registryKeyPath)
		files = r.pki.serverFiles()
	}
	// In the registry's namespace: it is the registry there.
	id, err := r.runBeside(ctx, e, img.Ref, labels.RoleFaultProxy, args, files)
	p := &FaultProxy{id: id, control: newProxyControl("registry fault", "http://"+e.reach().Dial(strconv.Itoa(controlHostPort)))}
	r.faultProxy = p
	if err != nil {
		return fmt.Errorf("start registry fault proxy: %w", err)
	}
	if err := p.control.wait(ctx, e.cli, p.id, "registry fault proxy"); err != nil {
		return err
	}
	e.logf("registry fault proxy on %s, control %s", e.desc.Registry.Addr, p.control.url)
	return nil
}

// openFaultProxy finds the fault proxy of a sandbox made earlier (its role
// label) and its control port (the holder's binding), or nil if it has
// none.
func openFaultProxy(ctx context.Context, cli *client.Client, d descriptor.Sandbox) (*FaultProxy, error) {
	for _, c := range d.Containers {
		if c.Role != labels.RoleFaultProxy {
			continue
		}
		if d.NetNS == nil {
			return nil, fmt.Errorf("fault proxy %s of sandbox %s: the sandbox has no namespace holder", c.Name, d.ID)
		}
		insp, err := cli.ContainerInspect(ctx, d.NetNS.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("fault proxy of sandbox %s: inspect the namespace holder: %w", d.ID, err)
		}
		p := &FaultProxy{id: c.ID}
		if hc := insp.Container.HostConfig; hc != nil {
			for _, b := range hc.PortBindings[network.MustParsePort(strconv.Itoa(faultProxyControlPort)+"/tcp")] {
				p.control = newProxyControl("registry fault", "http://"+engine.ReachOf(cli.DaemonHost()).Dial(b.HostPort))
			}
		}
		if p.control.url == "" {
			return nil, fmt.Errorf("the namespace holder of sandbox %s publishes no fault proxy control port", d.ID)
		}
		return p, nil
	}
	return nil, nil
}

// errNoFaultProxy is returned by the registry-fault calls of a sandbox
// made without WithFaultProxy.
var errNoFaultProxy = errors.New("the sandbox has no registry fault proxy: make it with harness.WithFaultProxy() (seatrial up --fault-proxy)")

// FaultProxy returns the sandbox's registry fault proxy, or nil if it has
// none.
func (sb *Sandbox) FaultProxy() *FaultProxy { return sb.registry.faultProxy }

// InjectFault adds rule (the fault proxy's rule language, e.g.
// "429 retry-after=2s path=/manifests/"; see fixtures/faultproxy/README.md)
// to the registry faults in force. A rule the proxy refuses is an error
// that quotes the rule and the proxy's reason.
func (sb *Sandbox) InjectFault(ctx context.Context, rule string) error {
	if sb.registry.faultProxy == nil {
		return errNoFaultProxy
	}
	return sb.registry.faultProxy.control.addRule(ctx, rule)
}

// ClearFaults lifts every registry fault in force.
func (sb *Sandbox) ClearFaults(ctx context.Context) error {
	if sb.registry.faultProxy == nil {
		return errNoFaultProxy
	}
	return sb.registry.faultProxy.control.clearRules(ctx)
}

// FaultRule is a registry fault in force, as the proxy reports it.
type FaultRule struct {
	ID   int    `json:"id"`
	Text string `json:"text"` // canonical text form
	// Seen is how many requests the rule selected (method and path) while
	// it was in force, faulted or not: the requests an updater made while
	// throttled.
	Seen int64 `json:"seen"`
	// Burst, for a rule that answers with a Retry-After, is the most
	// requests to one path it refused within one Retry-After: a client
	// that waits as asked makes one per path and window (0: no such rule).
	Burst int64 `json:"burst"`
}

// FaultRules returns the registry faults in force, in order.
func (sb *Sandbox) FaultRules(ctx context.Context) ([]FaultRule, error) {
	if sb.registry.faultProxy == nil {
		return nil, errNoFaultProxy
	}
	body, err := sb.registry.faultProxy.control.get(ctx, "/rules")
	if err != nil {
		return nil, err
	}
	var rules []FaultRule
	if err := json.Unmarshal([]byte(body), &rules); err != nil {
		return nil, fmt.Errorf("registry fault rules: %w", err)
	}
	return rules, nil
}
