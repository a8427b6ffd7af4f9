package monitor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

func TestUnitFailureInNode(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	id, name := runContainer(t, cli, nodeSpec{sandbox: sb, node: "worker-0", image: nodeImage(t, cli)})
	// The node runs before the Watcher starts: Start attaches to it.
	w := startWatcher(t, cli, sb, []NodeTarget{{ShortName: "worker-0", Container: name}})
	waitFor(t, w, 60*time.Second, Attached("worker-0", id), IncludePast())

	// Armed before the action: the unit fails while execIn still runs.
	failed := w.Expect(UnitState("worker-0", "", "seatrial-probe-fail.service", "failed"))
	execIn(t, cli, id, "systemd-run", "--unit=seatrial-probe-fail", "false")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ev, err := failed.Wait(ctx)
	if err != nil {
		t.Fatalf("waiting for unit.failed: %v", err)
	}
	if ev.Kind != EventUnitFailed || ev.ContainerID != id || ev.Sandbox != sb {
		t.Errorf("unit.failed event %+v: want node worker-0, container %s, sandbox %s", ev, id, sb)
	}
	if d := time.Since(ev.Time); d < 0 || d > time.Minute {
		t.Errorf("event time %v is not the message's time (now %v)", ev.Time, time.Now())
	}
}

func TestKilledNodeDies(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	w := startWatcher(t, cli, sb, nil)
	id, _ := runContainer(t, cli, nodeSpec{sandbox: sb, node: "worker-1", image: nodeImage(t, cli)})
	// Attached by the Watcher itself, from the node's container.start.
	waitFor(t, w, 60*time.Second, Attached("worker-1", id), IncludePast())
	// The node image's health check passes once systemd is running; the
	// engine-side filter must let health_status events through.
	waitFor(t, w, 60*time.Second, HealthIs("worker-1", id, "healthy"), IncludePast())

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}
	ev := waitFor(t, w, 30*time.Second, Died("worker-1"), IncludePast())
	if ev.ContainerID != id || ev.ExitCode != 137 || ev.Role != labels.RoleNode {
		t.Errorf("die event %+v: want node worker-1, exit code 137", ev)
	}
}

// TestBusSeenInTheLog: with a TTY, a node's bus is seen in its console log;
// without one, the log never says, and the process list finds the bus
// (every other test here runs its nodes without a TTY).
func TestBusSeenInTheLog(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	img := nodeImage(t, cli)

	id, _ := runContainer(t, cli, nodeSpec{sandbox: newSandboxID(t), node: "controller", image: img, tty: true})
	m := NewSystemdMonitor(cli, NodeTarget{ShortName: "controller", Container: id})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := m.busInLog(ctx, id); err != nil {
		t.Errorf("a node with a TTY: its log did not say dbus.service started: %v", err)
	}

	id, _ = runContainer(t, cli, nodeSpec{sandbox: newSandboxID(t), node: "controller", image: img})
	m = NewSystemdMonitor(cli, NodeTarget{ShortName: "controller", Container: id})
	if err := m.waitForBus(ctx, id); err != nil {
		t.Fatalf("a node without a TTY: the bus was not found in its process list: %v", err)
	}
	// Its bus is up now, and its log still cannot say so.
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if err := m.busInLog(short, id); err == nil {
		t.Errorf("a node without a TTY: its log said dbus.service started, which it cannot")
	}
}

func TestRecreatedNodeReattaches(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	img := nodeImage(t, cli)
	w := startWatcher(t, cli, sb, nil)
	first, _ := runContainer(t, cli, nodeSpec{sandbox: sb, node: "controller", image: img})
	waitFor(t, w, 60*time.Second, Attached("controller", first), IncludePast())

	// What an updater does: remove the container, create one with the same
	// name and labels.
	removeContainer(t, cli, first)
	waitFor(t, w, 30*time.Second, Destroyed("controller"), IncludePast())
	second, _ := runContainer(t, cli, nodeSpec{sandbox: sb, node: "controller", image: img})
	if second == first {
		t.Fatal("recreated container has the old id")
	}
	waitFor(t, w, 60*time.Second, Attached("controller", second), IncludePast())
	// The node image's app unit is reported for the new container, whether
	// it became active before the monitor attached (snapshot) or after.
	app := waitFor(t, w, 60*time.Second, UnitState("controller", second, "seatrial-app.service", "active"), IncludePast())
	t.Logf("app unit: %s", app)
	execIn(t, cli, second, "systemd-run", "--unit=seatrial-after-recreate", "true")
	ev := waitFor(t, w, 30*time.Second, UnitState("controller", "", "seatrial-after-recreate.service", "inactive"), IncludePast())
	if ev.ContainerID != second {
		t.Errorf("unit event %+v: want container %s", ev, second)
	}
}

// cuttableClient is the real client with an Events that a test can cut:
// cut cancels the context of every open stream (the client closes the
// connection) and can hold new connections until release.
type cuttableClient struct {
	*client.Client

	mu      sync.Mutex
	cancels []context.CancelFunc
	gate    chan struct{}
	conns   int
}

func (c *cuttableClient) Events(ctx context.Context, o client.EventsListOptions) client.EventsResult {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.cancels = append(c.cancels, cancel)
	c.conns++
	c.mu.Unlock()
	return c.Client.Events(cctx, o)
}

func (c *cuttableClient) cut(hold bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cancel := range c.cancels {
		cancel()
	}
	c.cancels = nil
	if hold && c.gate == nil {
		c.gate = make(chan struct{})
	}
}

func (c *cuttableClient) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

func (c *cuttableClient) connections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns
}

type eventKey struct {
	kind EventKind
	id   string
	nano int64
}

func TestStreamCutLosesNothing(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	start := time.Now()

	// The reference: an uncut stream with the same filter, straight from
	// the client.
	refCtx, refCancel := context.WithCancel(t.Context())
	defer refCancel()
	f := make(client.Filters).Add("type", "container").Add("label", labels.Sandbox+"="+sb)
	ref := cli.Events(refCtx, client.EventsListOptions{Since: formatSince(start), Filters: f})
	var refMu sync.Mutex
	var want []eventKey
	go func() {
		for {
			select {
			case m := <-ref.Messages:
				if ev, ok := ParseDockerEvent(m); ok {
					refMu.Lock()
					want = append(want, eventKey{ev.Kind, ev.ContainerID, ev.Time.UnixNano()})
					refMu.Unlock()
				}
			case <-ref.Err:
				return
			}
		}
	}()

	cc := &cuttableClient{Client: cli}
	w := startWatcher(t, cc, sb, nil, WithBuffer(4096))
	sub := w.Subscribe()
	id, _ := runContainer(t, cli, nodeSpec{sandbox: sb, node: "sleeper", image: nodeImage(t, cli), sleeper: true})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// Each signal makes one container.kill event; sleep as PID 1 has no
	// handler for it, so the kernel ignores it and the container runs on.
	// (Pause and unpause in a tight loop are no good here: this engine
	// sometimes refuses a pause right after an unpause, "already paused".)
	poke := func(n int) {
		t.Helper()
		for range 2 * n {
			if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGUSR1"}); err != nil {
				t.Fatal(err)
			}
		}
	}

	poke(5)
	// A cut with the engine busy while the monitor is away: these events
	// arrive only through the replay.
	cc.cut(true)
	poke(5)
	cc.release()
	poke(5)
	// Cuts in the middle of a burst, at random moments.
	var cutter sync.WaitGroup
	stopCutting := make(chan struct{})
	cutter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopCutting:
				return
			case <-time.After(time.Duration(7+i%23) * time.Millisecond):
				cc.cut(false)
			}
		}
	})
	poke(25)
	close(stopCutting)
	cutter.Wait()
	if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}

	var got []eventKey
	seen := map[eventKey]int{}
	for done := false; !done; {
		select {
		case ev := <-sub:
			if ev.Kind == EventMonitorError {
				continue
			}
			k := eventKey{ev.Kind, ev.ContainerID, ev.Time.UnixNano()}
			got = append(got, k)
			seen[k]++
			done = ev.Kind == EventContainerDie && ev.ContainerID == id
		case <-ctx.Done():
			t.Fatalf("no die event after the cuts; got %d events", len(got))
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("event %v delivered %d times", k, n)
		}
	}
	// The reference stream has the die too, or very soon.
	deadline := time.Now().Add(10 * time.Second)
	for {
		refMu.Lock()
		n := len(want)
		last := eventKey{}
		if n > 0 {
			last = want[n-1]
		}
		refMu.Unlock()
		if last.kind == EventContainerDie || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	refMu.Lock()
	wantSorted := slices.Clone(want)
	refMu.Unlock()
	cmpKey := func(a, b eventKey) int { return cmp.Compare(a.nano, b.nano) }
	slices.SortStableFunc(wantSorted, cmpKey)
	gotSorted := slices.Clone(got)
	slices.SortStableFunc(gotSorted, cmpKey)
	if !slices.Equal(wantSorted, gotSorted) {
		t.Errorf("after %d connections the Watcher delivered %d events, the uncut stream %d", cc.connections(), len(got), len(want))
		for _, k := range missing(wantSorted, gotSorted) {
			t.Errorf("missed: %v", k)
		}
		for _, k := range missing(gotSorted, wantSorted) {
			t.Errorf("extra: %v", k)
		}
	}
	if c := cc.connections(); c < 3 {
		t.Errorf("only %d connections: the stream was not cut", c)
	}
	t.Logf("%d events over %d connections, none lost or doubled", len(got), cc.connections())
}

// missing returns the keys of a that b lacks.
func missing(a, b []eventKey) []eventKey {
	in := map[eventKey]bool{}
	for _, k := range b {
		in[k] = true
	}
	var out []eventKey
	for _, k := range a {
		if !in[k] {
			out = append(out, k)
		}
	}
	return out
}

func TestSandboxesSideBySide(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	img := nodeImage(t, cli)
	type side struct {
		sb string
		w  *Watcher
		id string
	}
	var sides [2]*side
	for i := range sides {
		sb := newSandboxID(t)
		sides[i] = &side{sb: sb, w: startWatcher(t, cli, sb, nil)}
	}
	for i, s := range sides {
		s.id, _ = runContainer(t, cli, nodeSpec{sandbox: s.sb, node: fmt.Sprintf("s%d", i), image: img, sleeper: true})
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, s := range sides {
		// SIGUSR1 is ignored by sleep as PID 1: a kill event only. (Not
		// pause/unpause: this engine's containerd event handler can log a
		// second pause after an unpause.)
		if _, err := cli.ContainerKill(ctx, s.id, client.ContainerKillOptions{Signal: "SIGUSR1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.ContainerKill(ctx, s.id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			t.Fatal(err)
		}
	}
	// Both dies have happened (each Watcher saw its own), so each timeline
	// would hold the other's events by now if it ever got them.
	for _, s := range sides {
		// The sleepers are no nodes (role app): matched by id.
		waitFor(t, s.w, 30*time.Second, Matching("container "+shortID(s.id)+" to die", func(ev Event) bool {
			return ev.Kind == EventContainerDie && ev.ContainerID == s.id
		}), IncludePast())
	}
	for i, s := range sides {
		other := sides[1-i]
		var kinds []EventKind
		for _, ev := range s.w.Timeline() {
			if ev.Sandbox != s.sb || ev.ContainerID == other.id {
				t.Errorf("sandbox %s saw an event of %s: %s", s.sb, other.sb, ev)
			}
			if ev.ContainerID == s.id {
				kinds = append(kinds, ev.Kind)
			}
		}
		want := []EventKind{EventContainerCreate, EventContainerStart, EventContainerKill, EventContainerKill, EventContainerDie}
		if !slices.Equal(kinds, want) {
			t.Errorf("sandbox %s: own events %v, want %v", s.sb, kinds, want)
		}
	}
}

var _ = events.ActionDie

func TestImageEventsByPrefix(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	img := nodeImage(t, cli)
	// The sandbox's registry prefix would be "localhost:P/"; the tag
	// needs no registry, so a made-up one that names the sandbox serves.
	prefix := "localhost:1/" + sb + "/"
	other := "localhost:1/" + newSandboxID(t) + "/"
	w := startWatcher(t, cli, sb, nil, WithImages(prefix))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, ref := range []string{other + "node:v1", prefix + "node:v1"} {
		if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: img, Target: ref}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Not t.Context(): it is cancelled before Cleanup functions run.
			if _, err := cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}); err != nil {
				t.Errorf("untag %s: %v", ref, err)
			}
		})
	}
	ev := waitFor(t, w, 30*time.Second, Matching("an image to be tagged", func(ev Event) bool {
		return ev.Kind == EventImageTag
	}), IncludePast())
	if ev.Image != prefix+"node:v1" || ev.Sandbox != sb {
		t.Errorf("image event %s (image %q): want the sandbox's own tag", ev, ev.Image)
	}
	for _, ev := range w.Timeline() {
		if strings.HasPrefix(ev.Image, other) {
			t.Errorf("saw another sandbox's image event: %s", ev)
		}
	}
}

func TestStoppedMonitorLeavesNoProcess(t *testing.T) {
	t.Parallel()
	cli := connect(t)
	sb := newSandboxID(t)
	id, name := runContainer(t, cli, nodeSpec{sandbox: sb, node: "worker-2", image: nodeImage(t, cli)})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := NewWatcher(cli, sb, WithLogger(testLogger(t)))
	if err := w.Start(ctx, []NodeTarget{{ShortName: "worker-2", Container: name}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, 60*time.Second, Attached("worker-2", id), IncludePast())
	if n := busctlProcesses(t, cli, id); n == 0 {
		t.Fatal("no busctl in the node while the monitor runs")
	}
	cancel()
	w.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for busctlProcesses(t, cli, id) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("busctl still runs in the node after the Watcher stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func busctlProcesses(t testing.TB, cli *client.Client, id string) int {
	t.Helper()
	top, err := cli.ContainerTop(t.Context(), id, client.ContainerTopOptions{Arguments: []string{"-o", "pid,comm"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range top.Processes {
		if slices.Contains(p, "busctl") {
			n++
		}
	}
	return n
}

// laggingClient is the real client with a live event stream held back
// until release, as a loaded engine's stream lags what the engine did;
// bounded queries (with an until) answer at once. The lag cannot be made
// on demand on a real engine, so it is made here.
type laggingClient struct {
	*client.Client
	gate chan struct{}
}

func (c *laggingClient) Events(ctx context.Context, o client.EventsListOptions) client.EventsResult {
	res := c.Client.Events(ctx, o)
	if o.Until != "" {
		return res
	}
	msgs, errs := make(chan events.Message), make(chan error, 1)
	go func() {
		select {
		case <-c.gate:
		case <-ctx.Done():
		}
		for {
			select {
			case m := <-res.Messages:
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			case err := <-res.Err:
				errs <- err
				return
			}
		}
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

// A Watcher whose live stream lags has, once CatchUp returns, every event
// the engine recorded before the call, each once: the live stream's late
// copies are dropped.
func TestCatchUpBeatsALaggingStream(t *testing.T) {
	t.Parallel()
	real := connect(t)
	lag := &laggingClient{Client: real, gate: make(chan struct{})}
	sb := newSandboxID(t)
	w := startWatcher(t, lag, sb, nil)
	id, _ := runContainer(t, real, nodeSpec{sandbox: sb, node: "app", image: nodeImage(t, real), sleeper: true})
	removeContainer(t, real, id)

	destroyed := func() (n int) {
		for _, ev := range w.Timeline() {
			if ev.Kind == EventContainerDestroy && ev.ContainerID == id {
				n++
			}
		}
		return n
	}
	if n := destroyed(); n != 0 {
		t.Fatalf("the held live stream delivered %d destroy events", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := destroyed(); n != 1 {
		t.Fatalf("after CatchUp, %d destroy events of %s; want 1", n, id)
	}
	close(lag.gate)
	// The live stream now delivers the same events; a later event of the
	// sandbox shows it has got past them.
	later, _ := runContainer(t, real, nodeSpec{sandbox: sb, node: "later", image: nodeImage(t, real), sleeper: true})
	waitFor(t, w, 30*time.Second, Matching("the later container started", func(ev Event) bool {
		return ev.Kind == EventContainerStart && ev.ContainerID == later
	}), IncludePast())
	if n := destroyed(); n != 1 {
		t.Errorf("after the live stream caught up, %d destroy events of %s; want 1", n, id)
	}
}
