package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// The engine proxy's ports inside its container (fixtures/engineproxy).
const (
	engineProxyAPIPort     = "2375"
	engineProxyControlPort = "9375/tcp"
)

// WithEngineProxy puts seatrial's Docker API proxy (fixtures/engineproxy)
// between the sandbox's updater and the engine: the updater is given
// DOCKER_HOST=tcp://<proxy>:2375 and no engine socket, so every call it
// makes passes the proxy, which records it and, by rule
// (Sandbox.InjectEngineFault), refuses API versions, fails calls, answers
// 503, drops connections or delays. The proxy shows the updater only its
// sandbox's containers in a container list (its view: see
// fixtures/engineproxy/proxy.View).
//
// Off by default: the proxy is one more container and one more hop, and
// only engine-fault scenarios and updaters that cannot bear other
// containers coming and going need it. StartUpdater adds it by itself for
// a profile without CapToleratesEngineChurn.
func WithEngineProxy() Option { return func(c *sandboxConfig) { c.engineProxy = true } }

// EngineProxy is a sandbox's running engine proxy.
type EngineProxy struct {
	id      string
	apiHost string // DOCKER_HOST for the updater
	control proxyControl
}

// ControlURL is the proxy's control API (rules, calls, /metrics) as
// reachable from the host.
func (p *EngineProxy) ControlURL() string { return p.control.url }

// startEngineProxy runs the proxy on the sandbox's network (the updater,
// in the namespace holder's namespace, reaches it there by name), with the
// engine's socket mounted, and its control API published on a loopback
// port the engine picks.
func startEngineProxy(ctx context.Context, e partEnv, set *images.Set) (*EngineProxy, error) {
	img, err := set.Get(images.EngineProxy)
	if err != nil {
		return nil, err
	}
	name := e.desc.ID + "-engineproxy"
	ctr, err := testcontainers.Run(ctx, img.Ref,
		e.tcLogger(),
		testcontainers.WithName(name),
		testcontainers.WithLabels(e.desc.Labels(labels.RoleEngineProxy)),
		// The view: the sandbox's containers alone, as if the engine
		// were the sandbox's own.
		testcontainers.WithCmd("--listen-tcp", ":"+engineProxyAPIPort, "--control", ":9375", "--view-label", labels.Sandbox+"="+e.desc.ID),
		testcontainers.WithExposedPorts(engineProxyControlPort),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(e.desc.ID)
			// The proxy forwards to the real engine through its socket.
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"})
			// Control API on loopback only, on a port the engine picks
			// (nothing records it in a label: it is read back below).
			hc.PortBindings = network.PortMap{
				network.MustParsePort(engineProxyControlPort): {{HostIP: e.reach().Bind}},
			}
		}),
	)
	p := &EngineProxy{apiHost: "tcp://" + name + ":" + engineProxyAPIPort}
	if ctr != nil {
		p.id = ctr.GetContainerID()
	}
	if err != nil {
		return nil, fmt.Errorf("start engine proxy: %w", err)
	}
	port, err := ctr.MappedPort(ctx, engineProxyControlPort)
	if err != nil {
		return nil, fmt.Errorf("engine proxy: its control port: %w", err)
	}
	p.control = newProxyControl("engine fault", "http://"+e.reach().Dial(strconv.Itoa(int(port.Num()))))
	if err := p.control.wait(ctx, e.cli, p.id, "engine proxy"); err != nil {
		return nil, err
	}
	e.logf("engine proxy: API %s, control %s", p.apiHost, p.control.url)
	return p, nil
}

// openEngineProxy finds the engine proxy of a sandbox made earlier (its
// role label) and its control port (the engine's port binding), or nil if
// it has none.
func openEngineProxy(ctx context.Context, e partEnv, d descriptor.Sandbox) (*EngineProxy, error) {
	for _, c := range d.Containers {
		if c.Role != labels.RoleEngineProxy {
			continue
		}
		insp, err := e.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("engine proxy of sandbox %s: %w", d.ID, err)
		}
		p := &EngineProxy{id: c.ID, apiHost: "tcp://" + c.Name + ":" + engineProxyAPIPort}
		if ns := insp.Container.NetworkSettings; ns != nil {
			for _, b := range ns.Ports[network.MustParsePort(engineProxyControlPort)] {
				p.control = newProxyControl("engine fault", "http://"+e.reach().Dial(b.HostPort))
			}
		}
		if p.control.url == "" {
			return nil, fmt.Errorf("engine proxy %s of sandbox %s publishes no control port (is it running?)", c.Name, d.ID)
		}
		return p, nil
	}
	return nil, nil
}

// errNoEngineProxy is returned by the engine-fault calls of a sandbox made
// without WithEngineProxy.
var errNoEngineProxy = errors.New("the sandbox has no engine proxy: make it with harness.WithEngineProxy()")

// EngineProxy returns the sandbox's engine proxy, or nil if it has none.
func (sb *Sandbox) EngineProxy() *EngineProxy { return sb.engineProxy }

// InjectEngineFault adds rule (the engine proxy's rule language, e.g.
// "fail call=create first=1"; see fixtures/engineproxy/README.md) to the
// rules in force. A rule the proxy refuses is an error that quotes the
// rule and the proxy's reason.
func (sb *Sandbox) InjectEngineFault(ctx context.Context, rule string) error {
	if sb.engineProxy == nil {
		return errNoEngineProxy
	}
	return sb.engineProxy.control.addRule(ctx, rule)
}

// ClearEngineFaults lifts every engine fault in force.
func (sb *Sandbox) ClearEngineFaults(ctx context.Context) error {
	if sb.engineProxy == nil {
		return errNoEngineProxy
	}
	return sb.engineProxy.control.clearRules(ctx)
}

// EngineCall is one Engine API call the updater made, as the proxy
// recorded it.
type EngineCall struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"` // as sent: version prefix and query included
	Version    string    `json:"version,omitempty"`
	Status     int       `json:"status"` // 0: dropped before any answer
	DurationMS float64   `json:"duration_ms"`
	Fault      string    `json:"fault,omitempty"` // the rules that acted on it
}

// String is the call as a timeline line: "POST /v1.41/containers/create?name=x 409 [1-fail-create]".
func (c EngineCall) String() string {
	s := fmt.Sprintf("%s %s %d", c.Method, c.Path, c.Status)
	if c.Fault != "" {
		s += " [" + c.Fault + "]"
	}
	return s
}

// Event is the call as an event of a Watcher's timeline (its engine-api
// lane): "GET /v1.41/containers/json?all=1 200 3.1ms [1-503]".
func (c EngineCall) Event() monitor.Event {
	d := time.Duration(c.DurationMS * float64(time.Millisecond)).Round(100 * time.Microsecond)
	detail := fmt.Sprintf("%s %s %d %s", c.Method, c.Path, c.Status, d)
	if c.Status == 0 {
		detail = fmt.Sprintf("%s %s dropped %s", c.Method, c.Path, d)
	}
	if c.Fault != "" {
		detail += " [" + c.Fault + "]"
	}
	return monitor.Event{Time: c.Time, Kind: monitor.EventEngineCall, Role: monitor.RoleEngineAPI, Detail: detail}
}

// FollowEngineCalls calls fn with each Engine API call the updater makes
// through the sandbox's engine proxy, as the proxy records it, until ctx
// ends (then it returns nil) or the stream breaks.
func (sb *Sandbox) FollowEngineCalls(ctx context.Context, fn func(EngineCall)) error {
	if sb.engineProxy == nil {
		return errNoEngineProxy
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sb.engineProxy.control.url+"/calls/stream", nil)
	if err != nil {
		return fmt.Errorf("follow engine calls: %w", err)
	}
	// Not the proxy's client: its timeout would end the stream.
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow engine calls: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("follow engine calls: the proxy answered %s", res.Status)
	}
	dec := json.NewDecoder(res.Body)
	for {
		var c EngineCall
		if err := dec.Decode(&c); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow engine calls: %w", err)
		}
		fn(c)
	}
}

// LaneEngineCalls publishes the updater's engine calls on w (its
// engine-api lane) until ctx ends, if the sandbox has an engine proxy.
// The returned wait blocks until that has stopped, and says why it stopped
// before ctx ended, if it did.
func (sb *Sandbox) LaneEngineCalls(ctx context.Context, w *monitor.Watcher) (wait func() error) {
	if sb.engineProxy == nil {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- sb.FollowEngineCalls(ctx, func(c EngineCall) { w.Publish(c.Event()) }) }()
	return sync.OnceValue(func() error { return <-done })
}

// EngineCalls returns the Engine API calls the proxy kept (the last 1000),
// oldest first.
func (sb *Sandbox) EngineCalls(ctx context.Context) ([]EngineCall, error) {
	if sb.engineProxy == nil {
		return nil, errNoEngineProxy
	}
	body, err := sb.engineProxy.control.get(ctx, "/calls")
	if err != nil {
		return nil, fmt.Errorf("engine calls: %w", err)
	}
	var calls []EngineCall
	if err := json.Unmarshal([]byte(body), &calls); err != nil {
		return nil, fmt.Errorf("engine calls: %w", err)
	}
	return calls, nil
}
