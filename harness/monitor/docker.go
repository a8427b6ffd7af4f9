package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// EventSource is the part of the Docker client the DockerMonitor reads.
// *client.Client implements it; a test wraps it to cut the connection.
type EventSource interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

// containerActions are the container actions the monitor asks the engine
// for. Filtering them out on the engine's side keeps the exec_* events of
// every health check and every unit monitor off the wire.
var containerActions = map[events.Action]EventKind{
	events.ActionCreate:       EventContainerCreate,
	events.ActionStart:        EventContainerStart,
	events.ActionKill:         EventContainerKill,
	events.ActionDie:          EventContainerDie,
	events.ActionStop:         EventContainerStop,
	events.ActionOOM:          EventContainerOOM,
	events.ActionPause:        EventContainerPause,
	events.ActionUnPause:      EventContainerUnpause,
	events.ActionRename:       EventContainerRename,
	events.ActionHealthStatus: EventContainerHealthStatus,
	events.ActionDestroy:      EventContainerDestroy,
}

// ParseDockerEvent turns one engine event into an Event. It reports false
// for events the monitor does not model (exec_*, attach, resize, network,
// volume, ...). It is a pure function: the same message gives the same
// Event.
func ParseDockerEvent(m events.Message) (Event, bool) {
	attr := m.Actor.Attributes
	ev := Event{Time: messageTime(m)}
	switch m.Type {
	case events.ContainerEventType:
		// Health status events carry their status after a colon
		// ("health_status: healthy"); no other action the monitor models
		// does.
		action, detail, _ := strings.Cut(string(m.Action), ":")
		kind, ok := containerActions[events.Action(action)]
		if !ok {
			return Event{}, false
		}
		ev.Kind = kind
		ev.Detail = strings.TrimSpace(detail)
		ev.ContainerID = m.Actor.ID
		ev.Container = strings.TrimPrefix(attr["name"], "/")
		ev.Image = attr["image"]
		// Container events carry the container's labels as attributes.
		ev.Sandbox = attr[labels.Sandbox]
		ev.Node = attr[labels.Node]
		ev.Role = attr[labels.Role]
		switch kind {
		case EventContainerCreate:
			// The attributes are the labels, the name and the image.
			ev.Labels = make(map[string]string, len(attr))
			for k, v := range attr {
				if k != "name" && k != "image" {
					ev.Labels[k] = v
				}
			}
		case EventContainerDie:
			if s, ok := attr["exitCode"]; ok {
				code, err := strconv.Atoi(s)
				if err != nil {
					ev.Detail = "exitCode=" + s
				}
				ev.ExitCode = code
			}
		case EventContainerKill:
			ev.Detail = attr["signal"]
		case EventContainerRename:
			ev.Detail = strings.TrimPrefix(attr["oldName"], "/")
		}
		return ev, true
	case events.NetworkEventType:
		if m.Action != events.ActionConnect {
			return Event{}, false
		}
		ev.Kind = EventNetworkConnect
		ev.ContainerID = attr["container"]
		ev.Detail = attr["name"]
		return ev, true
	case events.ImageEventType:
		if m.Action == "" {
			return Event{}, false
		}
		ev.Kind = EventKind("image." + string(m.Action))
		// The engine names the image by reference in "name" where it has
		// one (pull, tag, push) and by id otherwise (untag, delete).
		ev.Image = attr["name"]
		if ev.Image == "" {
			ev.Image = m.Actor.ID
		}
		ev.Detail = m.Actor.ID
		ev.Sandbox = attr[labels.Sandbox] // only if the image itself carries it
		return ev, true
	}
	return Event{}, false
}

// messageTime is the event's time with the nanoseconds the engine gives.
func messageTime(m events.Message) time.Time {
	switch {
	case m.TimeNano != 0:
		return time.Unix(0, m.TimeNano)
	case m.Time != 0:
		return time.Unix(m.Time, 0)
	}
	return time.Time{}
}

// DockerOption configures a DockerMonitor.
type DockerOption func(*DockerMonitor)

// WithImageRefPrefix makes the monitor also report image events whose
// reference starts with prefix, typically the sandbox registry's
// "localhost:P/". Image events carry the image's labels, not a container's,
// so the engine cannot filter them by sandbox; the monitor asks for all
// image events and keeps those with the prefix. Events that name the image
// only by id (untag, delete) cannot be attributed to a sandbox and are not
// reported. Without this option no image events are reported.
func WithImageRefPrefix(prefix string) DockerOption {
	return func(m *DockerMonitor) { m.imagePrefix = prefix }
}

// WithSince makes the first connection replay events from t on (the engine
// keeps its last 256 events) instead of from the moment Run is called.
func WithSince(t time.Time) DockerOption {
	return func(m *DockerMonitor) { m.since = t }
}

// WithReplayMargin sets how far before the last delivered event a
// reconnect asks the engine to replay from (default 1s). The engine stamps
// an event before it takes the lock that orders its buffer, so two events
// can be buffered slightly out of time order; replaying from a little
// earlier and dropping what was already delivered loses neither.
func WithReplayMargin(d time.Duration) DockerOption {
	return func(m *DockerMonitor) { m.margin = d }
}

// WithFollow makes the monitor also report the container events of
// containers without the sandbox's label that follow says are the
// sandbox's (by their name or id): an updater that recreates a container
// may drop its labels, and the engine cannot filter on what is not there.
// The monitor then asks for every container's events and keeps those of
// the sandbox's label and those follow keeps; a kept event without the
// label has Unlabelled set. follow is called from the monitor's
// goroutine and must be safe for that.
func WithFollow(follow func(Event) bool) DockerOption {
	return func(m *DockerMonitor) { m.followFn = follow }
}

// WithNetworkNames makes the monitor also report network.connect events
// of the networks with the given names: which containers joined the
// sandbox's networks, labelled or not.
func WithNetworkNames(names ...string) DockerOption {
	return func(m *DockerMonitor) { m.networks = append(m.networks, names...) }
}

// WithDockerLogger sets where the monitor logs reconnects.
func WithDockerLogger(l *slog.Logger) DockerOption {
	return func(m *DockerMonitor) { m.log = l }
}

// DockerMonitor reads the engine's event stream for one sandbox (every
// container labelled io.seatrial.sandbox=<id>) and emits Events. When the
// stream drops it reconnects and replays from the last event's time,
// dropping what it already delivered, so nothing is lost or doubled (within
// the engine's buffer of its last 256 events).
type DockerMonitor struct {
	src         EventSource
	sandbox     string
	imagePrefix string
	since       time.Time
	margin      time.Duration
	log         *slog.Logger
	followFn    func(Event) bool // see WithFollow; nil: the label alone
	networks    []string         // see WithNetworkNames

	connectedOnce sync.Once
	connected     chan struct{}

	// set by Run, before its streams start; read by CatchUp.
	mu      sync.Mutex
	start   time.Time
	streams []followed
}

// followed is a stream Run follows, with what it delivered.
type followed struct {
	spec streamSpec
	seen *dedupe
}

// NewDockerMonitor returns a monitor of the given sandbox's containers.
func NewDockerMonitor(src EventSource, sandboxID string, opts ...DockerOption) *DockerMonitor {
	m := &DockerMonitor{
		src:       src,
		sandbox:   sandboxID,
		margin:    time.Second,
		log:       slog.New(slog.DiscardHandler),
		connected: make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Connected is closed once every stream of the monitor has connected for
// the first time. Events from then on are reported even if they happen
// before the engine's side of the subscription is in place, because the
// first connection replays from the time Run was called.
func (m *DockerMonitor) Connected() <-chan struct{} { return m.connected }

// Run reads the event streams until ctx ends, calling emit for every
// event (from one goroutine per stream: emit must be safe for concurrent
// use). It returns nil when ctx ends; it never gives up on the engine by
// itself, but reports every failed connection as a monitor.error event.
func (m *DockerMonitor) Run(ctx context.Context, emit func(Event)) error {
	since := m.since
	if since.IsZero() {
		// The engine flushes the response headers of /events before it
		// subscribes, so an event in that gap would be missed; asking for a
		// replay from now closes the gap. (Now by this host's clock: for a
		// remote engine with a skewed clock, use WithSince.)
		since = time.Now()
	}
	var streams []streamSpec
	cf := make(client.Filters).Add("type", string(events.ContainerEventType))
	keep := func(Event) bool { return true }
	if m.followFn == nil {
		cf.Add("label", labels.Sandbox+"="+m.sandbox)
	} else {
		follow, sandbox := m.followFn, m.sandbox
		keep = func(ev Event) bool {
			if ev.Sandbox == sandbox {
				return true
			}
			if ev.Sandbox == "" && follow(ev) {
				return true
			}
			return false
		}
	}
	for a := range containerActions {
		cf.Add("event", string(a))
	}
	streams = append(streams, streamSpec{name: "container", filters: cf, keep: keep})
	if len(m.networks) > 0 {
		nf := make(client.Filters).Add("type", string(events.NetworkEventType)).Add("event", string(events.ActionConnect))
		for _, n := range m.networks {
			nf.Add("network", n)
		}
		streams = append(streams, streamSpec{name: "network", filters: nf, keep: func(Event) bool { return true }})
	}
	if m.imagePrefix != "" {
		prefix := m.imagePrefix
		streams = append(streams, streamSpec{
			name:    "image",
			filters: make(client.Filters).Add("type", string(events.ImageEventType)),
			keep: func(ev Event) bool {
				return strings.HasPrefix(ev.Image, prefix)
			},
		})
	}

	var wg sync.WaitGroup
	var pending sync.WaitGroup
	pending.Add(len(streams))
	m.mu.Lock()
	m.start = since
	for _, s := range streams {
		f := followed{spec: s, seen: newDedupe(m.margin)}
		m.streams = append(m.streams, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.follow(ctx, f, since, pending.Done, emit)
		}()
	}
	m.mu.Unlock()
	go func() {
		pending.Wait()
		m.connectedOnce.Do(func() { close(m.connected) })
	}()
	wg.Wait()
	return nil
}

type streamSpec struct {
	name    string
	filters client.Filters
	keep    func(Event) bool
}

// follow reads one filtered stream, reconnecting until ctx ends.
func (m *DockerMonitor) follow(ctx context.Context, f followed, start time.Time, connected func(), emit func(Event)) {
	var once sync.Once
	s, seen := f.spec, f.seen
	since := start
	// Exponential from 50ms to 2s, jittered so that the monitors of
	// sandboxes side by side do not reconnect to a restarted engine in
	// step; back to 50ms after a connection that the engine answered.
	retry := exponential(50*time.Millisecond, 2*time.Second)
	// Every connection ends in an error that asks for another, so only
	// ctx ends the retries: a monitor never gives up on the engine by
	// itself (no elapsed-time bound).
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		connCtx, cancel := context.WithCancel(ctx)
		res := m.src.Events(connCtx, client.EventsListOptions{
			Since:   formatSince(since),
			Filters: s.filters,
		})
		rr := m.read(ctx, res, s, seen, func() { once.Do(connected) }, emit)
		cancel()
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		// Replay from a little before the last delivered event: see
		// WithReplayMargin. Never before the start, so a reconnect does not
		// report what happened before the monitor was asked to watch.
		since = m.resumeFrom(seen, start)
		if rr.connected {
			retry.Reset()
		}
		m.log.Info("docker event stream dropped; reconnecting",
			"stream", s.name, "sandbox", m.sandbox, "since", since, "err", rr.err)
		err := fmt.Errorf("docker %s event stream: %w", s.name, rr.err)
		if !rr.connected {
			emit(Event{Kind: EventMonitorError, Sandbox: m.sandbox, Time: time.Now(),
				Detail: s.name + " event stream", Err: err})
		}
		return struct{}{}, err
	}, backoff.WithBackOff(retry), backoff.WithMaxElapsedTime(0))
}

// resumeFrom is where a stream that delivered what seen holds is read
// again: a little before the last delivered event (see WithReplayMargin),
// never before start, so a reconnect does not report what happened before
// the monitor was asked to watch.
func (m *DockerMonitor) resumeFrom(seen *dedupe, start time.Time) time.Time {
	last := seen.last()
	if last == 0 {
		return start
	}
	if from := time.Unix(0, last).Add(-m.margin); from.After(start) {
		return from
	}
	return start
}

// CatchUp delivers, before it returns, every event of the monitor's
// streams up to now that their live reads have not delivered yet. On a
// loaded engine the live stream can lag seconds behind what the engine
// did: a caller about to judge what happened (was a removed node
// replaced?) catches up first. It reads what the engine recorded with a
// bounded query (since, until now), and the live reads drop what it
// delivered. It does nothing before Run.
func (m *DockerMonitor) CatchUp(ctx context.Context, emit func(Event)) error {
	until := time.Now()
	m.mu.Lock()
	streams, start := m.streams, m.start
	m.mu.Unlock()
	var errs []error
	for _, f := range streams {
		res := m.src.Events(ctx, client.EventsListOptions{
			Since:   formatSince(m.resumeFrom(f.seen, start)),
			Until:   formatSince(until),
			Filters: f.spec.filters,
		})
		// A bounded query ends with io.EOF once the engine sent the last
		// event before until.
		if rr := m.read(ctx, res, f.spec, f.seen, func() {}, emit); rr.err != nil && !errors.Is(rr.err, io.EOF) {
			errs = append(errs, fmt.Errorf("catch up on the docker %s event stream: %w", f.spec.name, rr.err))
		}
	}
	return errors.Join(errs...)
}

type readResult struct {
	err       error
	connected bool // the engine answered before the stream failed
}

func (m *DockerMonitor) read(ctx context.Context, res client.EventsResult, s streamSpec, seen *dedupe, connected func(), emit func(Event)) readResult {
	var r readResult
	// client.Events returns once the engine answered (or failed); an error
	// that is not yet on the channel is handled below like any drop.
	select {
	case err, ok := <-res.Err:
		if !ok {
			err = fmt.Errorf("event stream closed")
		}
		r.err = err
		return r
	default:
		r.connected = true
		connected()
	}
	for {
		select {
		case <-ctx.Done():
			return r
		case err, ok := <-res.Err:
			if !ok || err == nil {
				err = fmt.Errorf("event stream closed")
			}
			r.err = err
			// The client sends its messages before the error; a message
			// still in flight is replayed by the reconnect.
			return r
		case msg := <-res.Messages:
			if !seen.add(msg) {
				continue
			}
			ev, ok := ParseDockerEvent(msg)
			if !ok || !s.keep(ev) {
				continue
			}
			if ev.Sandbox == "" {
				ev.Sandbox = m.sandbox
				ev.Unlabelled = strings.HasPrefix(string(ev.Kind), "container.")
			}
			emit(ev)
		}
	}
}

// formatSince writes t the way the engine reads a since with nanoseconds.
func formatSince(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// dedupe remembers the events delivered in the last window before the
// newest one, by time, actor and action: a replay after a reconnect starts
// within that window, so what it repeats is found here.
type dedupe struct {
	// mu: a stream's live read and CatchUp share it.
	mu     sync.Mutex
	window time.Duration
	keys   map[dedupeKey]struct{}
	newest int64
	adds   int
}

type dedupeKey struct {
	nano   int64
	id     string
	action events.Action
	typ    events.Type
}

func newDedupe(margin time.Duration) *dedupe {
	// Twice the replay margin, so an event replayed from the margin's start
	// is still remembered even if newer ones arrived meanwhile.
	return &dedupe{window: 2*margin + time.Second, keys: map[dedupeKey]struct{}{}}
}

// add reports whether msg is new, and remembers it.
func (d *dedupe) add(msg events.Message) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	nano := msg.TimeNano
	if nano == 0 {
		nano = msg.Time * int64(time.Second)
	}
	k := dedupeKey{nano: nano, id: msg.Actor.ID, action: msg.Action, typ: msg.Type}
	if _, dup := d.keys[k]; dup {
		return false
	}
	d.keys[k] = struct{}{}
	if nano > d.newest {
		d.newest = nano
	}
	d.adds++
	if d.adds%256 == 0 {
		cut := d.newest - int64(d.window)
		for k := range d.keys {
			if k.nano < cut {
				delete(d.keys, k)
			}
		}
	}
	return true
}

func (d *dedupe) last() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.newest
}

// exponential is the monitors' retry delay: from first, doubling, up to
// most, each delay jittered by ±50% (backoff's default) so that monitors
// that failed together do not retry in step.
func exponential(first, most time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     first,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         most,
	}
}
