package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"

	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/nodeflags"
)

// StopSignalLabel is the label watchtower reads for the signal that stops
// a container.
const StopSignalLabel = "com.centurylinklabs.watchtower.stop-signal"

// AppUnit is the systemd unit that runs the app inside a node.
const AppUnit = "seatrial-app.service"

// NodeSpec describes one node of a cluster.
type NodeSpec struct {
	// Name is the node's short name: "controller", "worker-0".
	Name string
	// Labels are added to the node's container (updater filters such as
	// com.centurylinklabs.watchtower.enable go here).
	Labels map[string]string
	// Config is what a user's container carries besides a node's own
	// flags (networks, ports, volumes, ...); nil for a bare node.
	Config *NodeConfig
	// OwnStopSignalOnly leaves out watchtower's stop-signal label
	// (StopSignalLabel), so the container's own stop signal is the only
	// place an updater can learn it from.
	OwnStopSignalOnly bool
	// Binds are host paths mounted into the node, "host:container[:opts]"
	// as docker run -v takes them; the host path must be the engine's.
	Binds []string
}

// ClusterSpec describes a cluster to start.
type ClusterSpec struct {
	// Name of the cluster; "c1" if empty.
	Name string
	// Nodes to start. If empty, Workers workers and one controller.
	Nodes []NodeSpec
	// Workers is used when Nodes is empty.
	Workers int
	// Repo and Tag name the node image in the sandbox's registry; "node"
	// and "stable" if empty. If the sandbox has not published it yet,
	// StartCluster publishes version "v1", healthy.
	Repo, Tag string
	// AllowDegraded accepts a node whose systemd is `degraded` as ready.
	AllowDegraded bool
	// ReadyTimeout bounds the wait for every node; 90 s if zero.
	ReadyTimeout time.Duration
}

// Cluster is a set of systemd nodes in a sandbox.
type Cluster struct {
	e     partEnv
	name  string
	image string
	nodes []*Node
	res   nodeResources
}

// Node is a small handle on one node of a cluster, as kind's are: the
// engine and a name. The updater may replace its container; a Node always
// acts on the current one, found by its name (which updaters keep).
type Node struct {
	cli       *client.Client
	name      string
	container string // "<sandbox>-<cluster>-<node>"
}

func newCluster(e partEnv, name, image string, nodes []string) *Cluster {
	c := &Cluster{e: e, name: name, image: image}
	for _, n := range nodes {
		c.nodes = append(c.nodes, &Node{cli: e.cli, name: n, container: e.desc.ID + "-" + name + "-" + n})
	}
	return c
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Image is the reference the nodes were started from.
func (c *Cluster) Image() string { return c.image }

// Nodes returns the cluster's nodes, in spec order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with the given short name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// Name is the node's short name.
func (n *Node) Name() string { return n.name }

// ContainerName is the node's container name; it stays the same when an
// updater recreates the container.
func (n *Node) ContainerName() string { return n.container }

func (spec ClusterSpec) withDefaults() ClusterSpec {
	if spec.Name == "" {
		spec.Name = "c1"
	}
	if len(spec.Nodes) == 0 {
		spec.Nodes = append(spec.Nodes, NodeSpec{Name: "controller"})
		for i := range spec.Workers {
			spec.Nodes = append(spec.Nodes, NodeSpec{Name: fmt.Sprintf("worker-%d", i)})
		}
	}
	if spec.Repo == "" {
		spec.Repo = "node"
	}
	if spec.Tag == "" {
		spec.Tag = "stable"
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 90 * time.Second
	}
	return spec
}

func (spec ClusterSpec) validate() error {
	seen := map[string]bool{}
	for _, n := range spec.Nodes {
		if err := descriptor.ValidName(n.Name); err != nil {
			return fmt.Errorf("node name %w", err)
		}
		if seen[n.Name] {
			return fmt.Errorf("node name %q given twice", n.Name)
		}
		if err := n.Config.validate(); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		seen[n.Name] = true
	}
	if err := descriptor.ValidName(spec.Name); err != nil {
		return fmt.Errorf("cluster name %w", err)
	}
	return nil
}

// StartCluster starts the spec's nodes concurrently, each running systemd
// as PID 1 from the node image in the sandbox's registry (so that an
// updater can later replace them), and waits until every node's systemd
// is `running` (or `degraded`, if allowed). On any failure it removes the
// nodes it made and says which node failed and why, with its journal tail.
func (sb *Sandbox) StartCluster(ctx context.Context, spec ClusterSpec) (_ *Cluster, err error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("cluster spec: %w", err)
	}
	names := make([]string, 0, len(spec.Nodes))
	for _, ns := range spec.Nodes {
		names = append(names, ns.Name)
	}
	c := newCluster(sb.env(), spec.Name, sb.Ref(spec.Repo, spec.Tag), names)
	if err := sb.ensurePublished(ctx, spec.Repo, spec.Tag); err != nil {
		return nil, err
	}
	if c.res, err = sb.makeNodeResources(ctx, spec); err != nil {
		return nil, fmt.Errorf("cluster %s in sandbox %s: %w", c.name, sb.ID(), err)
	}
	// Pull once before the nodes start, rather than once per node.
	if err := sb.Pull(ctx, c.image); err != nil {
		return nil, err
	}
	if err := c.start(ctx, spec); err != nil {
		return nil, fmt.Errorf("start cluster %s in sandbox %s: %w", c.name, sb.ID(), err)
	}
	sb.mu.Lock()
	sb.clusters = append(sb.clusters, c)
	sb.mu.Unlock()
	sb.logf("cluster %s: %d nodes ready", c.name, len(c.nodes))
	return c, nil
}

// start starts the nodes concurrently and waits until each is ready; on
// failure it removes them all.
func (c *Cluster) start(ctx context.Context, spec ClusterSpec) (err error) {
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			for _, n := range c.nodes {
				_ = n.remove(cctx)
			}
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, spec.ReadyTimeout)
	defer cancel()
	g, gctx := errgroup.WithContext(rctx)
	for i, n := range c.nodes {
		g.Go(func() error {
			if err := c.startNode(gctx, n, spec.Nodes[i], spec.AllowDegraded); err != nil {
				return fmt.Errorf("node %s: %w", n.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// ensurePublished publishes repo:tag as version v1, healthy, unless the
// registry has it already.
func (sb *Sandbox) ensurePublished(ctx context.Context, repo, tag string) error {
	sb.mu.Lock()
	done := sb.published[repo+":"+tag]
	sb.mu.Unlock()
	if done {
		return nil
	}
	_, err := sb.Publish(ctx, repo, tag, appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	return err
}

// systemdReady matches systemd's console line once the default target is
// reached (colour codes sit between the words, hence the wildcard).
const systemdReady = `Reached target .*Multi-User System`

func (c *Cluster) startNode(ctx context.Context, n *Node, spec NodeSpec, allowDegraded bool) error {
	l := c.e.desc.NodeLabels(descriptor.Cluster{Name: c.name, Image: c.image}, n.name)
	// The updater is scoped to the sandbox: see ScopeLabel.
	l[ScopeLabel] = c.e.desc.ID
	// watchtower stops a container with the signal in this label, else
	// SIGTERM, and ignores the container's own stop signal; systemd
	// answers SIGTERM by re-executing itself, so without it every stop
	// waits out watchtower's 10 s timeout and a SIGKILL.
	if !spec.OwnStopSignalOnly {
		l[StopSignalLabel] = nodeflags.StopSignal
	}
	maps.Copy(l, spec.Labels)
	network := c.e.desc.ID
	cfgMod := func(cfg *container.Config) {
		cfg.Hostname = n.name
		// A TTY makes systemd write its progress to the container's
		// log (without one it has no console), which is how readiness
		// is seen without exec'ing into a half-booted node.
		cfg.Tty = true
		cfg.StopSignal = nodeflags.StopSignal
		spec.Config.applyConfig(cfg)
	}
	hcMod := func(hc *container.HostConfig) {
		nodeflags.Apply(hc)
		spec.Config.applyHost(hc, c.res)
		hc.Binds = append(hc.Binds, spec.Binds...)
	}
	opts := []testcontainers.ContainerCustomizer{
		c.e.tcLogger(),
		testcontainers.WithName(n.ContainerName()),
		testcontainers.WithLabels(l),
		testcontainers.WithConfigModifier(cfgMod),
		testcontainers.WithHostConfigModifier(hcMod),
		// On the sandbox network, reachable by its short name.
		testcontainers.CustomizeRequestOption(func(req *testcontainers.GenericContainerRequest) error {
			req.Networks = []string{network}
			req.NetworkAliases = map[string][]string{network: {n.name}}
			return nil
		}),
		testcontainers.WithWaitStrategy(wait.ForLog(systemdReady).AsRegexp().
			WithPollInterval(100 * time.Millisecond).WithStartupTimeout(time.Until(deadline(ctx)))),
	}
	if spec.Config != nil {
		if err := c.precreate(ctx, n, spec, l, cfgMod, hcMod, c.res); err != nil {
			return err
		}
		// testcontainers finds the container made above by its name,
		// starts it and waits for it as for any other.
		opts = append(opts, testcontainers.WithReuseByName(n.ContainerName()))
	}
	ctr, err := testcontainers.Run(ctx, c.image, opts...)
	if err != nil {
		detail := ""
		if ctr != nil {
			detail = n.tail(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("systemd did not reach multi-user.target: %w%s", err, detail)
	}
	// Now that systemd owns its cgroups, exec is safe (kind issue 2409).
	res, err := engine.Exec(ctx, c.e.cli, ctr.GetContainerID(), "systemctl", "is-system-running", "--wait")
	if err != nil {
		return fmt.Errorf("ask systemd for its state: %w", err)
	}
	state := strings.TrimSpace(res.Stdout)
	switch {
	case state == "running":
		return nil
	case state == "degraded" && allowDegraded:
		return nil
	default:
		return fmt.Errorf("systemd is %q, want running%s", state, n.tail(context.WithoutCancel(ctx)))
	}
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(90 * time.Second)
}

// tail returns failed units and the journal's last lines, for an error.
func (n *Node) tail(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b strings.Builder
	if res, err := n.Exec(ctx, "systemctl", "--failed", "--no-legend", "--plain"); err == nil && strings.TrimSpace(res.Stdout) != "" {
		fmt.Fprintf(&b, "\nfailed units:\n%s", res.Stdout)
	}
	if j, err := n.Journal(ctx, 30); err == nil {
		fmt.Fprintf(&b, "\njournal tail:\n%s", j)
	} else if logs, err := n.consoleLog(ctx); err == nil {
		fmt.Fprintf(&b, "\nconsole tail:\n%s", logs)
	}
	return b.String()
}

// ContainerID returns the id of the node's current container.
func (n *Node) ContainerID(ctx context.Context) (string, error) {
	insp, err := n.cli.ContainerInspect(ctx, n.ContainerName(), client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("node %s: %w", n.name, err)
	}
	return insp.Container.ID, nil
}

// Inspect returns the engine's view of the node's current container.
func (n *Node) Inspect(ctx context.Context) (container.InspectResponse, error) {
	insp, err := n.cli.ContainerInspect(ctx, n.ContainerName(), client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("node %s: %w", n.name, err)
	}
	return insp.Container, nil
}

// BootTime is how long the node's current container took from its
// creation to systemd's "Reached target Multi-User System": the engine's
// create and start plus systemd's boot. It is the floor the suite's
// benchmarks measure scenarios against (a machine twice as slow boots
// twice as slowly), read from the engine's own timestamps, not a stopwatch
// around the calls.
func (n *Node) BootTime(ctx context.Context) (time.Duration, error) {
	insp, err := n.Inspect(ctx)
	if err != nil {
		return 0, err
	}
	created, err := time.Parse(time.RFC3339Nano, insp.Created)
	if err != nil {
		return 0, fmt.Errorf("node %s: creation time %q: %w", n.name, insp.Created, err)
	}
	rc, err := n.cli.ContainerLogs(ctx, insp.ID, client.ContainerLogsOptions{ShowStdout: true, Timestamps: true})
	if err != nil {
		return 0, fmt.Errorf("node %s: log: %w", n.name, err)
	}
	defer rc.Close()
	ready, err := readyTime(rc)
	if err != nil {
		return 0, fmt.Errorf("node %s (container %.12s): %w", n.name, insp.ID, err)
	}
	return ready.Sub(created), nil
}

// systemdReadyLine is systemdReady compiled.
var systemdReadyLine = regexp.MustCompile(systemdReady)

// readyTime returns the timestamp of the systemdReady line in a TTY
// container's log read with timestamps. The engine stamps each chunk the
// TTY delivered, not each line, so a line without a stamp of its own has
// its chunk's.
func readyTime(log io.Reader) (time.Time, error) {
	var stamp time.Time
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if first, rest, ok := strings.Cut(line, " "); ok {
			if t, err := time.Parse(time.RFC3339Nano, first); err == nil {
				stamp, line = t, rest
			}
		}
		if systemdReadyLine.MatchString(line) && !stamp.IsZero() {
			return stamp, nil
		}
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, fmt.Errorf("read log: %w", err)
	}
	return time.Time{}, fmt.Errorf("no line matching %q in its log: systemd has not reached multi-user.target", systemdReady)
}

// Exec runs cmd in the node.
func (n *Node) Exec(ctx context.Context, cmd ...string) (engine.ExecResult, error) {
	return engine.Exec(ctx, n.cli, n.ContainerName(), cmd...)
}

// Journal returns the last lines of the node's journal.
func (n *Node) Journal(ctx context.Context, lines int) (string, error) {
	args := []string{"journalctl", "--no-pager", "-o", "short-iso"}
	if lines > 0 {
		args = append(args, "-n", fmt.Sprint(lines))
	}
	res, err := n.Exec(ctx, args...)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("journalctl exited %d: %s", res.ExitCode, res.Stderr)
	}
	return res.Stdout, nil
}

func (n *Node) consoleLog(ctx context.Context) (string, error) {
	rc, err := n.cli.ContainerLogs(ctx, n.ContainerName(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "30"})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	// A node has a TTY, so its log is one raw stream, not multiplexed.
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	return string(b), err
}

// UnitActive reports a unit's ActiveState in the node ("active", "failed", ...).
func (n *Node) UnitActive(ctx context.Context, unit string) (string, error) {
	res, err := n.Exec(ctx, "systemctl", "is-active", unit)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// SystemState is systemd's overall state in the node ("running", "degraded", ...).
func (n *Node) SystemState(ctx context.Context) (string, error) {
	res, err := n.Exec(ctx, "systemctl", "is-system-running")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// Stop stops the node cleanly (systemd's halt).
func (n *Node) Stop(ctx context.Context) error {
	_, err := n.cli.ContainerStop(ctx, n.ContainerName(), client.ContainerStopOptions{})
	if err != nil {
		return fmt.Errorf("stop node %s: %w", n.name, err)
	}
	return nil
}

// Kill sends signal (default SIGKILL) to the node's PID 1.
func (n *Node) Kill(ctx context.Context, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	if _, err := n.cli.ContainerKill(ctx, n.ContainerName(), client.ContainerKillOptions{Signal: signal}); err != nil {
		return fmt.Errorf("kill node %s: %w", n.name, err)
	}
	return nil
}

// Pause freezes the node.
func (n *Node) Pause(ctx context.Context) error {
	if _, err := n.cli.ContainerPause(ctx, n.ContainerName(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause node %s: %w", n.name, err)
	}
	return nil
}

// Unpause thaws the node.
func (n *Node) Unpause(ctx context.Context) error {
	if _, err := n.cli.ContainerUnpause(ctx, n.ContainerName(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause node %s: %w", n.name, err)
	}
	return nil
}

func (n *Node) remove(ctx context.Context) error {
	_, err := n.cli.ContainerRemove(ctx, n.ContainerName(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remove node %s: %w", n.name, err)
	}
	return nil
}

// Journals returns every node's whole journal, by node name, for failure
// artifacts. A node whose journal cannot be read gets the error instead.
func (c *Cluster) Journals(ctx context.Context) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			j, err := n.Journal(ctx, 0)
			if err != nil {
				j = "journal unavailable: " + err.Error()
			}
			mu.Lock()
			out[n.name] = j
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
