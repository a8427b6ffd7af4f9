package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// Client is the part of the Docker client a Watcher uses. *client.Client
// implements it.
type Client interface {
	EventSource
	NodeClient
}

var _ Client = (*client.Client)(nil)

// Option configures a Watcher.
type Option func(*Watcher)

// WithLogger sets where the Watcher and its monitors log (reconnects,
// retries, dropped events). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(w *Watcher) { w.log = l }
}

// WithBuffer sets the buffer of each subscriber channel (default 256).
// A subscriber whose buffer is full misses events; see Subscribe.
func WithBuffer(n int) Option {
	return func(w *Watcher) { w.buffer = max(n, 1) }
}

// WithTimelineSize sets how many of the latest events Timeline keeps
// (default 4096).
func WithTimelineSize(n int) Option {
	return func(w *Watcher) { w.timelineSize = max(n, 1) }
}

// WithStartTimeout bounds how long Start waits for the engine's event
// stream to connect (default 30s).
func WithStartTimeout(d time.Duration) Option {
	return func(w *Watcher) { w.startTimeout = d }
}

// WithImages makes the Watcher report image events whose reference starts
// with prefix (see WithImageRefPrefix).
func WithImages(prefix string) Option {
	return func(w *Watcher) { w.dockerOpts = append(w.dockerOpts, WithImageRefPrefix(prefix)) }
}

// WithNodeLossGrace makes the Watcher publish a node.lost event when a
// node's last container is removed and no container of that node is
// created within d. Updaters replace a node in either order: the
// reference updater creates the new container before it removes the old
// one, watchtower removes the old one first, so a short gap with no
// container is normal; d bounds it. SettleNodes publishes node.lost at
// once, for the moment a scan's trigger answered and no gap can close
// any more. Zero (the default) publishes node.lost only from SettleNodes.
func WithNodeLossGrace(d time.Duration) Option {
	return func(w *Watcher) { w.lossGrace = d }
}

// WithNetworks makes the Watcher follow the containers attached to the
// sandbox's networks with the given names, by their ids, also when they
// lack the sandbox's label and its names (see WithFollow).
func WithNetworks(names ...string) Option {
	return func(w *Watcher) { w.dockerOpts = append(w.dockerOpts, WithNetworkNames(names...)) }
}

// WithDockerOptions passes options to the Watcher's DockerMonitor.
func WithDockerOptions(opts ...DockerOption) Option {
	return func(w *Watcher) { w.dockerOpts = append(w.dockerOpts, opts...) }
}

// WithSystemdOptions passes options to every SystemdMonitor the Watcher
// starts.
func WithSystemdOptions(opts ...SystemdOption) Option {
	return func(w *Watcher) { w.systemdOpts = append(w.systemdOpts, opts...) }
}

// Watcher watches one sandbox: the engine's events for its containers and
// the unit state changes inside its nodes. It broadcasts every event to its
// subscribers and keeps a bounded timeline of them for failure artifacts.
//
// When a node container starts (io.seatrial.role=node) that has no unit
// monitor, because an updater recreated it under a new id or it was
// restarted, the Watcher attaches one by itself.
type Watcher struct {
	cli          Client
	sandbox      string
	log          *slog.Logger
	buffer       int
	timelineSize int
	startTimeout time.Duration
	lossGrace    time.Duration
	dockerOpts   []DockerOption
	systemdOpts  []SystemdOption

	mu       sync.Mutex
	ctx      context.Context // from Start: bounds every monitor
	started  bool
	stopped  bool // Wait has closed the subscribers
	subs     map[<-chan Event]*subscriber
	timeline ring
	dropped  int                   // total over all subscribers, ever
	units    map[string]*unitWatch // live unit monitors by container id
	// nodeIDs holds, per node, the ids of its containers created and not
	// yet removed; lost holds, per node, the removal that left it none,
	// until a container of the node is created or node.lost is published.
	nodeIDs map[string]map[string]bool
	lost    map[string]Event
	docker  *DockerMonitor // from Start
	// Containers are followed by what the Watcher knows, not only by the
	// sandbox label an updater may drop (see WithFollow): byID holds the
	// ids it saw, byName the names, each with the identity of the first
	// container seen under it (what a replacement must keep).
	byID   map[string]identity
	byName map[string]identity
	// inflight counts the scan triggers sent and not answered yet;
	// answered is the last scan.answered event (see ScanEarly).
	inflight int
	answered *Event

	wg sync.WaitGroup
}

// identity is what the Watcher knows of a container: the node and role
// seatrial gave it and the labels of the rules (kept labels) it was made
// with.
type identity struct {
	id, node, role string
	kept           map[string]string
}

type subscriber struct {
	ch      chan Event
	dropped int // events this subscriber missed
	pending int // missed and not yet told
}

type unitWatch struct {
	again bool // the container started again while the monitor was ending
}

// NewWatcher returns a Watcher for the sandbox with the given id. Nothing
// runs until Start.
func NewWatcher(cli Client, sandboxID string, opts ...Option) *Watcher {
	w := &Watcher{
		cli:          cli,
		sandbox:      sandboxID,
		log:          slog.New(slog.DiscardHandler),
		buffer:       256,
		timelineSize: 4096,
		startTimeout: 30 * time.Second,
		subs:         map[<-chan Event]*subscriber{},
		units:        map[string]*unitWatch{},
		nodeIDs:      map[string]map[string]bool{},
		lost:         map[string]Event{},
		byID:         map[string]identity{},
		byName:       map[string]identity{},
	}
	for _, o := range opts {
		o(w)
	}
	w.timeline = ring{buf: make([]Event, 0, min(w.timelineSize, 1024)), max: w.timelineSize}
	w.dockerOpts = append([]DockerOption{WithDockerLogger(w.log), WithFollow(w.follows)}, w.dockerOpts...)
	w.systemdOpts = append([]SystemdOption{WithSystemdLogger(w.log)}, w.systemdOpts...)
	return w
}

// Start begins watching: it connects to the engine's event stream first,
// so that nothing the nodes do afterwards is missed, then starts a unit
// monitor for each node. Cancel ctx to stop every monitor, then call Wait
// (also when Start returned an error: the monitors may have started).
func (w *Watcher) Start(ctx context.Context, nodes []NodeTarget) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("watcher already started")
	}
	w.started = true
	w.ctx = ctx
	w.mu.Unlock()

	dm := NewDockerMonitor(w.cli, w.sandbox, w.dockerOpts...)
	w.mu.Lock()
	w.docker = dm
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		_ = dm.Run(ctx, w.fromDocker)
	}()
	timer := time.NewTimer(w.startTimeout)
	defer timer.Stop()
	select {
	case <-dm.Connected():
	case <-ctx.Done():
		return fmt.Errorf("watcher for sandbox %s: connect to the engine's event stream: %w", w.sandbox, ctx.Err())
	case <-timer.C:
		var last string
		for _, ev := range w.Timeline() {
			if ev.Kind == EventMonitorError {
				last = ": " + ev.Err.Error()
			}
		}
		return fmt.Errorf("watcher for sandbox %s: the engine's event stream did not connect within %v%s", w.sandbox, w.startTimeout, last)
	}
	return w.AddNodes(ctx, nodes)
}

// AddNodes starts a unit monitor for each node not monitored yet. ctx
// bounds only the look-up of the containers; the monitors run until the
// context given to Start ends. A node container that is not running yet
// gets its monitor when it starts.
func (w *Watcher) AddNodes(ctx context.Context, nodes []NodeTarget) error {
	var errs []error
	for _, n := range nodes {
		ins, err := w.cli.ContainerInspect(ctx, n.Container, client.ContainerInspectOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.ShortName, err))
			continue
		}
		w.learn(ins.Container.ID, strings.TrimPrefix(ins.Container.Name, "/"), identity{
			node: n.ShortName, role: labels.RoleNode, kept: keptLabels(ins.Container.Config.Labels),
		})
		if st := ins.Container.State; st == nil || !st.Running {
			continue // its container.start event attaches the monitor
		}
		w.attach(NodeTarget{ShortName: n.ShortName, Container: ins.Container.ID})
	}
	return errors.Join(errs...)
}

// fromDocker handles an event of the engine's stream: a container
// without the sandbox's labels gets the identity the Watcher knows of its
// id or name, a node container that starts gets a unit monitor, then the
// event is broadcast, and after a create, what the new container lost of
// the labels of the one it replaced.
func (w *Watcher) fromDocker(ev Event) {
	lost, ok := w.identify(&ev)
	if ev.Kind == EventContainerStart && ev.Role == labels.RoleNode {
		w.attach(NodeTarget{ShortName: ev.Node, Container: ev.ContainerID})
	}
	w.emit(ev)
	if ok {
		w.emit(lost)
	}
}

// follows reports whether a container event without the sandbox's label
// is the sandbox's all the same: its name starts with the sandbox id and
// a dash, as every container seatrial names does (an updater keeps the
// name when it recreates), or the Watcher saw its id.
func (w *Watcher) follows(ev Event) bool {
	if strings.HasPrefix(ev.Container, w.sandbox+"-") {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.byID[ev.ContainerID]
	return ok
}

// learn records what the Watcher knows of a container; the first
// identity under a name stays (it is what seatrial made).
func (w *Watcher) learn(id, name string, who identity) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.learnLocked(id, name, who)
}

func (w *Watcher) learnLocked(id, name string, who identity) {
	who.id = id
	w.byID[id] = who
	if _, ok := w.byName[name]; !ok && name != "" {
		w.byName[name] = who
	}
}

// identify fills in the node and role of an unlabelled container's event
// from its id or name, records a create's identity, and returns the
// label.lost event of a create whose container lacks (or changed) a kept
// label of the first container of its name.
func (w *Watcher) identify(ev *Event) (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Kind == EventNetworkConnect {
		// A member of the sandbox's network is followed by its id from
		// now on, whatever its labels and name.
		if _, ok := w.byID[ev.ContainerID]; !ok && ev.ContainerID != "" {
			w.byID[ev.ContainerID] = identity{id: ev.ContainerID}
		}
		return Event{}, false
	}
	if !strings.HasPrefix(string(ev.Kind), "container.") {
		return Event{}, false
	}
	if ev.Unlabelled {
		who, ok := w.byID[ev.ContainerID]
		if !ok {
			who, ok = w.byName[ev.Container]
		}
		if ok {
			ev.Node, ev.Role = who.node, who.role
		}
	}
	if ev.Kind != EventContainerCreate {
		return Event{}, false
	}
	first, known := w.byName[ev.Container]
	w.learnLocked(ev.ContainerID, ev.Container, identity{node: ev.Node, role: ev.Role, kept: keptLabels(ev.Labels)})
	if !known || first.id == ev.ContainerID {
		return Event{}, false
	}
	detail := labelLoss(first.kept, ev.Labels, ev.Node, ev.Container)
	if detail == "" {
		return Event{}, false
	}
	return Event{
		Kind: EventLabelLost, Sandbox: w.sandbox, Node: ev.Node, Role: ev.Role,
		Container: ev.Container, ContainerID: ev.ContainerID, Time: ev.Time,
		Detail: fmt.Sprintf("%s (container %s, created at %s to replace %s)", detail,
			shortID(ev.ContainerID), ev.Time.UTC().Format("15:04:05.0"), shortID(first.id)),
	}, true
}

// keptLabels are the labels a replacement must keep: those seatrial puts
// on a container (labels.Keys) and the updater contract's
// (com.centurylinklabs.watchtower.*), which the operator sets. Others
// may change with the image (its own labels, io.seatrial.app.version
// among them).
func keptLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if slices.Contains(labels.Keys, k) || strings.HasPrefix(k, "com.centurylinklabs.watchtower.") {
			out[k] = v
		}
	}
	return out
}

// labelLoss says which kept labels a replacement dropped or changed, the
// sandbox label first (it is what the harness followed), "" if none.
func labelLoss(kept, now map[string]string, node, name string) string {
	var dropped, changed []string
	for _, k := range slices.Sorted(maps.Keys(kept)) {
		v, ok := now[k]
		switch {
		case !ok:
			dropped = append(dropped, k)
		case v != kept[k]:
			changed = append(changed, fmt.Sprintf("%s from %q to %q", k, kept[k], v))
		}
	}
	if i := slices.Index(dropped, labels.Sandbox); i > 0 {
		dropped = append([]string{labels.Sandbox}, slices.Delete(dropped, i, i+1)...)
	}
	what := "node " + node
	if node == "" {
		what = "container " + name
	}
	var parts []string
	switch len(dropped) {
	case 0:
	case 1:
		parts = append(parts, fmt.Sprintf("the updater dropped label %s from %s", dropped[0], what))
	default:
		parts = append(parts, fmt.Sprintf("the updater dropped label %s from %s (and %d more: %s)",
			dropped[0], what, len(dropped)-1, strings.Join(dropped[1:], ", ")))
	}
	if len(changed) > 0 {
		parts = append(parts, fmt.Sprintf("the updater changed label %s on %s", strings.Join(changed, ", "), what))
	}
	return strings.Join(parts, "; ")
}

// attach starts a unit monitor for the container with id target.Container
// unless one runs already.
func (w *Watcher) attach(target NodeTarget) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx == nil || w.ctx.Err() != nil || w.stopped {
		return
	}
	id := target.Container
	if u, ok := w.units[id]; ok {
		// The running monitor may be about to give up on a container that
		// stopped; make it look again.
		u.again = true
		return
	}
	u := &unitWatch{}
	w.units[id] = u
	ctx := w.ctx
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			sm := NewSystemdMonitor(w.cli, target, w.systemdOpts...)
			err := sm.Run(ctx, w.emit)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("unit monitor failed", "node", target.ShortName, "container", id, "err", err)
				w.emit(Event{Kind: EventMonitorError, Sandbox: w.sandbox, Node: target.ShortName,
					ContainerID: id, Time: time.Now(), Err: err})
			}
			w.mu.Lock()
			if u.again && ctx.Err() == nil {
				u.again = false
				w.mu.Unlock()
				continue
			}
			delete(w.units, id)
			w.mu.Unlock()
			return
		}
	}()
}

// Publish broadcasts an event of the caller's own (a scan finished, a step
// of a scenario) to every subscriber and the timeline. A zero Time becomes
// now and an empty Sandbox the Watcher's.
func (w *Watcher) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Sandbox == "" {
		ev.Sandbox = w.sandbox
	}
	w.emit(ev)
}

// emit records ev in the timeline and offers it to every subscriber,
// without ever blocking: a subscriber whose buffer is full misses it, and
// that is counted and told (see Subscribe).
func (w *Watcher) emit(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.emitLocked(ev)
	w.trackScan(ev)
	w.trackNode(ev)
}

// trackScan counts the scan triggers in flight; w.mu is held.
func (w *Watcher) trackScan(ev Event) {
	switch ev.Kind {
	case EventScanStarted:
		w.inflight++
	case EventScanAnswered:
		w.inflight = max(w.inflight-1, 0)
		w.answered = &ev
	}
}

// reportEarly publishes scan.early for a node container created when
// every scan trigger had answered; w.mu is held. The engine's time of
// the create decides, not when its event arrived: a create the event
// stream delivers late, after the answer, was made before it.
func (w *Watcher) reportEarly(create Event) {
	if w.inflight > 0 || w.answered == nil || !create.Time.After(w.answered.Time) {
		return
	}
	a := *w.answered
	w.emitLocked(Event{
		Kind: EventScanEarly, Sandbox: w.sandbox, Node: create.Node, Role: create.Role,
		Container: create.Container, ContainerID: create.ContainerID, Time: create.Time,
		Detail: fmt.Sprintf("the scan trigger answered before its scan was done: it answered at %s (%s), then node %s was replaced at %s (container %s created) with no trigger waiting for an answer",
			a.Time.UTC().Format("15:04:05.0"), oneLine(a.Detail, 160), create.Node,
			create.Time.UTC().Format("15:04:05.0"), shortID(create.ContainerID)),
	})
}

// oneLine shortens s to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func (w *Watcher) emitLocked(ev Event) {
	w.timeline.add(ev)
	for _, s := range w.subs {
		w.deliver(s, ev)
	}
}

// trackNode follows which containers each node has, to tell a node that
// was removed and not replaced (see WithNodeLossGrace); w.mu is held.
func (w *Watcher) trackNode(ev Event) {
	if ev.Role != labels.RoleNode || ev.Node == "" {
		return
	}
	ids := w.nodeIDs[ev.Node]
	switch ev.Kind {
	case EventContainerCreate:
		if ids == nil {
			ids = map[string]bool{}
			w.nodeIDs[ev.Node] = ids
		}
		ids[ev.ContainerID] = true
		delete(w.lost, ev.Node)
		w.reportEarly(ev)
	case EventContainerDestroy:
		delete(ids, ev.ContainerID)
		if len(ids) > 0 {
			return // another container of the node exists: replaced
		}
		w.lost[ev.Node] = ev
		if w.lossGrace > 0 {
			time.AfterFunc(w.lossGrace, func() { w.reportLost(ev, "within "+w.lossGrace.String()) })
		}
	}
}

// reportLost publishes node.lost for the removal destroy unless a
// container of the node was created since; w.mu is not held.
func (w *Watcher) reportLost(destroy Event, when string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reportLostLocked(destroy, when)
}

func (w *Watcher) reportLostLocked(destroy Event, when string) {
	if cur, ok := w.lost[destroy.Node]; w.stopped || !ok || cur.ContainerID != destroy.ContainerID {
		return
	}
	delete(w.lost, destroy.Node)
	w.emitLocked(Event{
		Kind: EventNodeLost, Sandbox: w.sandbox, Node: destroy.Node, Role: destroy.Role,
		Container: destroy.Container, ContainerID: destroy.ContainerID, Time: time.Now(),
		Detail: fmt.Sprintf("node %s (container %s) was removed at %s and no container replaced it %s",
			destroy.Node, shortID(destroy.ContainerID), destroy.Time.UTC().Format("15:04:05.0"), when),
	})
}

// CatchUp returns once every engine event of the sandbox up to now has
// reached the Watcher: its live stream can lag seconds behind the engine
// when the engine is loaded. Call it before judging what happened by a
// moment, as SettleNodes does.
func (w *Watcher) CatchUp(ctx context.Context) error {
	w.mu.Lock()
	dm := w.docker
	w.mu.Unlock()
	if dm == nil {
		return nil
	}
	return dm.CatchUp(ctx, w.fromDocker)
}

// SettleNodes publishes node.lost, at once, for every node whose last
// container was removed and not replaced yet. Call it when nothing should
// be half-way any more: a scan's trigger answered.
func (w *Watcher) SettleNodes(when string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range w.lost {
		w.reportLostLocked(ev, when)
	}
}

// deliver offers ev to s; w.mu is held.
func (w *Watcher) deliver(s *subscriber, ev Event) {
	if s.pending > 0 {
		notice := Event{
			Kind: EventMonitorError, Sandbox: w.sandbox, Time: time.Now(),
			Detail: fmt.Sprintf("this subscriber missed %d events (%d in all)", s.pending, s.dropped),
			Err:    ErrDropped,
		}
		select {
		case s.ch <- notice:
			s.pending = 0
		default:
		}
	}
	select {
	case s.ch <- ev:
	default:
		if s.pending == 0 {
			w.log.Warn("subscriber buffer full; dropping events", "sandbox", w.sandbox, "buffer", cap(s.ch), "event", ev.String())
		}
		s.dropped++
		s.pending++
		w.dropped++
	}
}

// Subscribe returns a channel that receives every event from now on. It
// never blocks the Watcher: when the channel's buffer is full the event is
// dropped for this subscriber only, counted (Dropped), logged, and the
// subscriber receives a monitor.error event with Err ErrDropped as soon as
// it has room. The channel is closed by Unsubscribe or Wait.
func (w *Watcher) Subscribe() <-chan Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.subscribeLocked(w.buffer)
}

func (w *Watcher) subscribeLocked(buffer int) <-chan Event {
	s := &subscriber{ch: make(chan Event, buffer)}
	if w.stopped {
		close(s.ch)
		return s.ch
	}
	w.subs[s.ch] = s
	return s.ch
}

// Unsubscribe removes a subscription and closes its channel. It is safe
// to call more than once, and after Wait.
func (w *Watcher) Unsubscribe(ch <-chan Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.subs[ch]; ok {
		delete(w.subs, ch)
		close(s.ch)
	}
}

// Dropped returns how many events the subscription missed because its
// buffer was full (0 for an unknown or closed subscription).
func (w *Watcher) Dropped(ch <-chan Event) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.subs[ch]; ok {
		return s.dropped
	}
	return 0
}

// DroppedTotal returns how many events were dropped over all
// subscriptions, past and present.
func (w *Watcher) DroppedTotal() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Timeline returns the latest events seen (at most the timeline size),
// oldest first: what a failed test writes out as an artifact.
func (w *Watcher) Timeline() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timeline.slice()
}

// Wait blocks until every monitor has ended (cancel the context given to
// Start first), then closes every subscription. Unsubscribe after Wait is
// harmless.
func (w *Watcher) Wait() {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for ch, s := range w.subs {
		delete(w.subs, ch)
		close(s.ch)
	}
}

// WaitOption configures WaitFor and Expect.
type WaitOption func(*waitConfig)

type waitConfig struct {
	past   bool
	recent int
	failOn []Predicate
}

// IncludePast makes the wait also consider events already in the timeline
// (the oldest match wins), for a caller that may have come late.
func IncludePast() WaitOption { return func(c *waitConfig) { c.past = true } }

// WithRecent sets how many of the latest events a failed wait's error
// lists (default 20, at least 1).
func WithRecent(n int) WaitOption { return func(c *waitConfig) { c.recent = max(n, 1) } }

// FailOn makes the wait end at once when an event matches one of ps
// before an event matches what it waits for: an event that contradicts
// the wait (the node was removed, the updater exited) ends it with a
// *WaitError whose Err is a *ContradictionError, instead of at its
// deadline. With IncludePast, the timeline's events are taken in order:
// whichever of the wanted event and a contradiction came first decides.
func FailOn(ps ...Predicate) WaitOption {
	return func(c *waitConfig) { c.failOn = append(c.failOn, ps...) }
}

// ContradictionError is the cause of a wait that an event contradicted
// (see FailOn).
type ContradictionError struct {
	By    Predicate // the FailOn predicate that matched
	Event Event     // the event it matched
	// Context is added by the caller after the fact: what explains the
	// event (the updater's last log lines). Empty for none.
	Context string
}

func (e *ContradictionError) Error() string {
	msg := Happened(e.Event)
	if e.Context != "" {
		msg += " (" + e.Context + ")"
	}
	return msg
}

// WaitError is returned by a wait that ended without its event: its
// context ended, the Watcher stopped, or an event contradicted it.
type WaitError struct {
	For     string    // what the wait waited for: its predicate's String
	Err     error     // why it stopped: the context's error, ErrStopped, or a *ContradictionError
	Began   time.Time // when the wait was armed
	Sandbox string    // the Watcher's sandbox
	// Seen holds the last events the Watcher saw for its sandbox (its
	// timeline's tail, from before the wait began too), oldest first.
	Seen []Event
	// Missed counts the events the wait's own subscription missed for a
	// full buffer (the wanted one may be among them).
	Missed int
}

func (e *WaitError) Error() string {
	var b strings.Builder
	var c *ContradictionError
	if errors.As(e.Err, &c) {
		// What happened first: that is the news; what was awaited second.
		fmt.Fprintf(&b, "%v, while waiting for %s", e.Err, e.For)
	} else {
		fmt.Fprintf(&b, "waiting for %s: %v", e.For, e.Err)
	}
	if len(e.Seen) == 0 {
		fmt.Fprintf(&b, "; the watcher saw no events for sandbox %s", e.Sandbox)
	} else {
		fmt.Fprintf(&b, "; the last %d events the watcher saw for sandbox %s (this wait began at %s):",
			len(e.Seen), e.Sandbox, e.Began.UTC().Format("15:04:05.000000"))
		for _, ev := range e.Seen {
			b.WriteString("\n\t")
			b.WriteString(ev.String())
		}
	}
	if e.Missed > 0 {
		fmt.Fprintf(&b, "\n\t(this wait missed %d events for a full buffer)", e.Missed)
	}
	return b.String()
}

func (e *WaitError) Unwrap() error { return e.Err }

// ErrStopped is the cause of a wait that ended because the Watcher
// stopped.
var ErrStopped = errors.New("watcher stopped")

// WaitFor returns the first event from now on that p matches. The
// subscription is in place before WaitFor looks, so an event that arrives
// at any moment after the call is seen; with IncludePast, events already
// in the timeline count too. When ctx ends first, or the Watcher stops, or
// a FailOn predicate matches first, it returns a *WaitError that says what
// it waited for and lists the last events the Watcher saw.
//
// To wait for the effect of an action, arm the wait before acting
// (Expect), or use IncludePast: an event that happens between the action
// and the call to WaitFor is otherwise not "from now on".
func (w *Watcher) WaitFor(ctx context.Context, p Predicate, opts ...WaitOption) (Event, error) {
	return w.Expect(p, opts...).Wait(ctx)
}

// Expectation is a wait armed before the action it waits for.
type Expectation struct {
	w      *Watcher
	want   Predicate
	cfg    waitConfig
	began  time.Time
	ch     <-chan Event
	found  *Event // the outcome decided by the timeline (IncludePast)
	failed *ContradictionError
}

// Expect arms a wait for the first event, from now on (or, with
// IncludePast, already in the timeline), that p matches. Call Wait for the
// result, or Cancel to give up; Wait cancels too.
func (w *Watcher) Expect(p Predicate, opts ...WaitOption) *Expectation {
	cfg := waitConfig{recent: 20}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Expectation{w: w, want: p, cfg: cfg, began: time.Now()}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Subscribing and reading the timeline under one lock hold splits the
	// events exactly: each is either in the snapshot or in the channel.
	e.ch = w.subscribeLocked(max(w.buffer, 1024))
	if cfg.past {
		for _, ev := range w.timeline.slice() {
			if e.decide(ev) {
				break
			}
		}
	}
	return e
}

// decide records ev as the wait's outcome if it is the wanted event or
// contradicts the wait, and reports whether it did.
func (e *Expectation) decide(ev Event) bool {
	if e.want.Match(ev) {
		e.found = &ev
		return true
	}
	for _, p := range e.cfg.failOn {
		if p.Match(ev) {
			e.failed = &ContradictionError{By: p, Event: ev}
			return true
		}
	}
	return false
}

// Wait returns the armed wait's first match, or a *WaitError when ctx
// ends, the Watcher stops or an event contradicts the wait first.
func (e *Expectation) Wait(ctx context.Context) (Event, error) {
	defer e.Cancel()
	for e.found == nil && e.failed == nil {
		select {
		case ev, ok := <-e.ch:
			if !ok {
				return Event{}, e.error(ErrStopped)
			}
			e.decide(ev)
		case <-ctx.Done():
			return Event{}, e.error(ctx.Err())
		}
	}
	if e.failed != nil {
		return Event{}, e.error(e.failed)
	}
	return *e.found, nil
}

// error builds the failed wait's error, from the Watcher's timeline.
func (e *Expectation) error(cause error) *WaitError {
	var seen []Event
	for _, ev := range e.w.Timeline() {
		if ev.Sandbox == e.w.sandbox || ev.Sandbox == "" {
			seen = append(seen, ev)
		}
	}
	if len(seen) > e.cfg.recent {
		seen = seen[len(seen)-e.cfg.recent:]
	}
	return &WaitError{
		For: e.want.String(), Err: cause, Began: e.began, Sandbox: e.w.sandbox,
		Seen: seen, Missed: e.w.Dropped(e.ch),
	}
}

// Cancel releases the armed wait's subscription. It is safe to call more
// than once.
func (e *Expectation) Cancel() { e.w.Unsubscribe(e.ch) }

// ring is a bounded list of the latest events.
type ring struct {
	buf  []Event
	max  int
	next int // index of the oldest once full
}

func (r *ring) add(ev Event) {
	if len(r.buf) < r.max {
		r.buf = append(r.buf, ev)
		return
	}
	r.buf[r.next] = ev
	r.next = (r.next + 1) % r.max
}

func (r *ring) slice() []Event {
	out := make([]Event, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
