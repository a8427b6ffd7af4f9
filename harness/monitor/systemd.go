package monitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// unitPathPrefix is the object path under which systemd publishes its
// units, one object per unit, the name escaped (see UnescapeBusLabel).
const unitPathPrefix = "/org/freedesktop/systemd1/unit/"

// unitInterface is the D-Bus interface whose properties hold a unit's
// generic state (ActiveState, SubState); the type-specific interfaces
// (org.freedesktop.systemd1.Service, .Socket, ...) change alongside it and
// are ignored.
const unitInterface = "org.freedesktop.systemd1.Unit"

// BusctlMonitorCommand is the command the SystemdMonitor runs in a node:
// every PropertiesChanged signal of every systemd unit object, one JSON
// object per line. The match is installed before busctl prints
// "Monitoring bus message stream." on stderr.
var BusctlMonitorCommand = []string{
	"busctl", "monitor", "--json=short",
	"--match", "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'",
}

// stdinGuard runs the command given as its arguments and kills it when
// its standard input closes, which is when the monitor closes the exec's
// connection: without it, a busctl whose reader is gone would live on in
// the node (the engine keeps draining its output). It exits with the
// command's status when the command ends by itself. Background jobs of a
// non-interactive shell get /dev/null as stdin, hence fd 3.
const stdinGuard = `exec 3<&0; "$@" <&- & c=$!; ( read -r _ <&3; kill $c 2>/dev/null ) & g=$!; wait $c; s=$?; kill $g 2>/dev/null; exit $s`

// busctlReady is what busctl prints on stderr once its match is live.
const busctlReady = "Monitoring bus message stream."

// busctlMessage is the part of a `busctl monitor --json=short` line the
// monitor reads.
type busctlMessage struct {
	Type      string `json:"type"`
	Path      string `json:"path"`
	Interface string `json:"interface"`
	Member    string `json:"member"`
	// Realtime is the message's CLOCK_REALTIME timestamp in microseconds.
	Realtime int64 `json:"timestamp-realtime"`
	Payload  struct {
		// Data is the signal's arguments: the interface name, a map of
		// changed properties (each {"type":..,"data":..}) and the names of
		// invalidated properties.
		Data []json.RawMessage `json:"data"`
	} `json:"payload"`
}

type busVariant struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// ParseBusctlLine reads one line of `busctl monitor --json=short` output.
// It reports false (and no error) for well-formed messages that are not a
// change of a unit's ActiveState; it returns an error for lines that are
// not a bus message in JSON. The Event has Kind, Unit, State, Detail (the
// SubState, when the message carries it) and Time set; the caller fills in
// the node. It is a pure function.
func ParseBusctlLine(line []byte) (Event, bool, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Event{}, false, nil
	}
	var m busctlMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return Event{}, false, fmt.Errorf("busctl line: %w", err)
	}
	if m.Type != "signal" || m.Member != "PropertiesChanged" ||
		m.Interface != "org.freedesktop.DBus.Properties" ||
		!strings.HasPrefix(m.Path, unitPathPrefix) || len(m.Payload.Data) < 2 {
		return Event{}, false, nil
	}
	var iface string
	if err := json.Unmarshal(m.Payload.Data[0], &iface); err != nil {
		return Event{}, false, fmt.Errorf("busctl line: PropertiesChanged interface argument: %w", err)
	}
	if iface != unitInterface {
		return Event{}, false, nil
	}
	var props map[string]busVariant
	if err := json.Unmarshal(m.Payload.Data[1], &props); err != nil {
		return Event{}, false, fmt.Errorf("busctl line: PropertiesChanged properties argument: %w", err)
	}
	state, ok, err := stringProp(props, "ActiveState")
	if err != nil || !ok {
		return Event{}, false, err
	}
	sub, _, err := stringProp(props, "SubState")
	if err != nil {
		return Event{}, false, err
	}
	unit := UnescapeBusLabel(strings.TrimPrefix(m.Path, unitPathPrefix))
	if unit == "" || strings.Contains(unit, "/") {
		return Event{}, false, fmt.Errorf("busctl line: path %q names no unit", m.Path)
	}
	ev := Event{
		Kind:   EventKind("unit." + state),
		Unit:   unit,
		State:  state,
		Detail: sub,
	}
	if m.Realtime > 0 {
		ev.Time = time.UnixMicro(m.Realtime)
	}
	return ev, true, nil
}

// stringProp reads a string-typed property from a PropertiesChanged map.
func stringProp(props map[string]busVariant, name string) (string, bool, error) {
	v, ok := props[name]
	if !ok {
		return "", false, nil
	}
	if v.Type != "s" {
		return "", false, fmt.Errorf("busctl line: property %s has type %q, want s", name, v.Type)
	}
	var s string
	if err := json.Unmarshal(v.Data, &s); err != nil {
		return "", false, fmt.Errorf("busctl line: property %s: %w", name, err)
	}
	if s == "" {
		return "", false, fmt.Errorf("busctl line: property %s is empty", name)
	}
	return s, true, nil
}

// UnescapeBusLabel undoes systemd's escaping of a unit name into an object
// path element (bus_label_unescape in systemd's bus-label.c): "_XX" with
// two hex digits is the byte 0xXX, any other "_" is literal, and "_" alone
// is the empty string.
func UnescapeBusLabel(s string) string {
	if s == "_" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// EscapeBusLabel is systemd's bus_label_escape: letters and digits stay
// (except a leading digit), every other byte becomes "_XX", and the empty
// string is "_". UnescapeBusLabel inverts it.
func EscapeBusLabel(s string) string {
	if s == "" {
		return "_"
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		digit := c >= '0' && c <= '9'
		if alpha || (digit && i > 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NodeClient is the part of the Docker client a SystemdMonitor uses.
// *client.Client implements it.
type NodeClient interface {
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerTop(ctx context.Context, id string, options client.ContainerTopOptions) (client.ContainerTopResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ExecCreate(ctx context.Context, id string, options client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecAttach(ctx context.Context, execID string, options client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecInspect(ctx context.Context, execID string, options client.ExecInspectOptions) (client.ExecInspectResult, error)
}

// SystemdOption configures a SystemdMonitor.
type SystemdOption func(*SystemdMonitor)

// WithSystemdLogger sets where the monitor logs its attempts.
func WithSystemdLogger(l *slog.Logger) SystemdOption {
	return func(m *SystemdMonitor) { m.log = l }
}

// WithAllStates makes the monitor report every ActiveState systemd
// announces. By default it reports only changes: systemd repeats
// PropertiesChanged with the same ActiveState while other properties move
// (a service announces "active" three times on its way to "failed").
func WithAllStates() SystemdOption {
	return func(m *SystemdMonitor) { m.allStates = true }
}

// WithSnapshot sets which units' states are reported when the monitor
// attaches (systemctl list-units patterns; default "*.service"). A unit
// that reached its state before the monitor attached, as a node's app
// unit may on a fast boot, is then still reported, and a wait for it
// needs no race with the boot. Units that are inactive are not reported
// (that is every unit's state before it first starts). No patterns: no
// snapshot.
func WithSnapshot(patterns ...string) SystemdOption {
	return func(m *SystemdMonitor) { m.snapshot = patterns }
}

// SystemdMonitor follows the unit state changes inside one node container
// by running busctl monitor in it (a Docker exec through the Go client).
type SystemdMonitor struct {
	cli       NodeClient
	target    NodeTarget
	log       *slog.Logger
	allStates bool
	snapshot  []string
}

// NewSystemdMonitor returns a monitor for one node container.
func NewSystemdMonitor(cli NodeClient, node NodeTarget, opts ...SystemdOption) *SystemdMonitor {
	m := &SystemdMonitor{cli: cli, target: node, log: slog.New(slog.DiscardHandler), snapshot: []string{"*.service"}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// errNodeGone ends a monitor whose container stopped or was replaced.
var errNodeGone = errors.New("node container is not running")

// Run follows the node's units until ctx ends or the container stops
// running (its id is resolved once, at the start: a recreated node is a
// new container and needs a new monitor, which the Watcher starts). It
// emits monitor.attached once busctl's match is live, then a unit event
// per ActiveState change. It returns nil when the container stopped or was
// replaced, ctx.Err() when ctx ended, and an error when the container
// cannot be found at all.
//
// It waits for the node's D-Bus daemon to run before its first exec,
// watching the process list from the host (which needs no exec): an exec
// into a node whose systemd has not yet set up its cgroups lands in the
// root cgroup and breaks systemd's own setup (kind issue 2409). busctl is
// retried while the bus is not yet up.
func (m *SystemdMonitor) Run(ctx context.Context, emit func(Event)) error {
	ins, err := m.cli.ContainerInspect(ctx, m.target.Container, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("unit monitor for node %s: inspect %s: %w", m.target.ShortName, m.target.Container, err)
	}
	c := ins.Container
	base := Event{
		Node:        m.target.ShortName,
		Container:   strings.TrimPrefix(c.Name, "/"),
		ContainerID: c.ID,
	}
	if c.Config != nil {
		base.Sandbox = c.Config.Labels[labels.Sandbox]
		base.Role = c.Config.Labels[labels.Role]
		base.Image = c.Config.Image
		if base.Node == "" {
			base.Node = c.Config.Labels[labels.Node]
		}
	}
	// busctl is run again while the container runs, 100ms to 2s apart
	// (back to 100ms after a run that attached); only the container's end
	// or ctx ends the retries.
	retry := exponential(100*time.Millisecond, 2*time.Second)
	booting := true
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		// The console log tells when the bus first came up, not whether
		// it is still up: an attachment that ended is followed by looks
		// at the process list (a node shutting down loses its bus first).
		var err error
		if booting {
			err = m.waitForBus(ctx, c.ID)
		} else {
			err = m.pollBus(ctx, c.ID, 25*time.Millisecond, 500*time.Millisecond)
		}
		booting = false
		if err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		attached, err := m.follow(ctx, c.ID, base, emit)
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		if attached {
			retry.Reset()
		}
		running, ierr := m.stillRunning(ctx, c.ID)
		if ierr != nil {
			return struct{}{}, backoff.Permanent(ierr)
		}
		if !running {
			return struct{}{}, nil
		}
		m.log.Debug("busctl monitor ended; retrying", "node", base.Node, "container", base.Container, "err", err)
		err = fmt.Errorf("busctl monitor in node %s ended: %w", base.Node, err)
		if attached {
			// busctl ended although the container runs: a journal-worthy
			// surprise, not a boot race, so it is reported.
			ev := base
			ev.Kind, ev.Time, ev.Err = EventMonitorError, time.Now(), err
			emit(ev)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(retry), backoff.WithMaxElapsedTime(0))
	if errors.Is(err, errNodeGone) {
		return nil
	}
	return err
}

// stillRunning reports whether the container still runs a moment after
// its busctl ended. A node being stopped (an updater replacing it) loses
// its bus a few hundred milliseconds before the engine sees it exit; that
// is the end of the node, not a monitor failure, so it is given up to two
// seconds to be seen stopping.
func (m *SystemdMonitor) stillRunning(ctx context.Context, id string) (bool, error) {
	running, err := backoff.Retry(ctx, func() (bool, error) {
		running, err := m.running(ctx, id)
		switch {
		case err != nil:
			return false, backoff.Permanent(err)
		case running:
			return true, errStillRunning
		}
		return false, nil
	}, backoff.WithBackOff(exponential(50*time.Millisecond, 400*time.Millisecond)), backoff.WithMaxElapsedTime(2*time.Second))
	if errors.Is(err, errStillRunning) {
		return true, nil // it ran for the whole two seconds
	}
	if err != nil {
		return false, err
	}
	return running, nil
}

// errStillRunning asks stillRunning's retry to look again.
var errStillRunning = errors.New("container still running")

// running reports whether the container still runs.
func (m *SystemdMonitor) running(ctx context.Context, id string) (bool, error) {
	ins, err := m.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("unit monitor for node %s: inspect: %w", m.target.ShortName, err)
	}
	st := ins.Container.State
	return st != nil && st.Running && !st.Restarting, nil
}

// waitForBus waits until the node's D-Bus daemon runs; it returns
// errNodeGone if the container stops first. Only ctx bounds it: a node
// whose bus never comes up is unhealthy, which its health check reports;
// the monitor keeps looking.
//
// Two witnesses, the first to answer wins. The node's console log (a node
// has a TTY, so systemd writes its progress there) says when dbus.service
// started: one stream read by the engine, where polling the process list
// costs a host-wide ps per look (about 20 ms of CPU; a suite made
// thousands). The process list is still looked at, from a second on and
// seldom, for a container whose log cannot say (one recreated without a
// TTY, a log driver that cannot be read back).
func (m *SystemdMonitor) waitForBus(ctx context.Context, id string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	found := make(chan error, 2)
	go func() { found <- m.busInLog(ctx, id) }()
	go func() {
		select {
		case <-ctx.Done():
			found <- ctx.Err()
		case <-time.After(time.Second):
			found <- m.pollBus(ctx, id, time.Second, 2*time.Second)
		}
	}()
	return <-found
}

// busStarted is systemd's console line for a started D-Bus daemon
// ("[  OK  ] Started dbus.service - D-Bus System Message Bus.", with
// colour codes around the unit's name).
var busStarted = regexp.MustCompile(`Started .*dbus\.service`)

// busInLog follows the container's log until systemd says dbus.service
// started (nil). A log that ends without saying so answers errNodeGone if
// the container stopped, else nothing: it waits for ctx, and the process
// list answers.
func (m *SystemdMonitor) busInLog(ctx context.Context, id string) error {
	rc, err := m.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err == nil {
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if busStarted.Match(sc.Bytes()) {
				rc.Close()
				return nil
			}
		}
		rc.Close()
		if ctx.Err() == nil {
			if running, ierr := m.running(ctx, id); ierr == nil && !running {
				return errNodeGone
			}
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// pollBus polls the container's process list until a D-Bus daemon runs,
// first to most apart; it returns errNodeGone if the container stops
// first.
func (m *SystemdMonitor) pollBus(ctx context.Context, id string, first, most time.Duration) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		top, err := m.cli.ContainerTop(ctx, id, client.ContainerTopOptions{})
		if err == nil {
			if hasBusDaemon(top) {
				return struct{}{}, nil
			}
			return struct{}{}, errNoBus
		}
		// Top fails for a container that is not running (or gone).
		running, ierr := m.running(ctx, id)
		if ierr != nil {
			return struct{}{}, backoff.Permanent(ierr)
		}
		if !running {
			return struct{}{}, backoff.Permanent(errNodeGone)
		}
		return struct{}{}, fmt.Errorf("list the processes of node %s: %w", m.target.ShortName, err)
	}, backoff.WithBackOff(exponential(first, most)), backoff.WithMaxElapsedTime(0))
	return err
}

// errNoBus asks waitForBus's retry to look again.
var errNoBus = errors.New("no D-Bus daemon runs yet")

func hasBusDaemon(top client.ContainerTopResult) bool {
	for _, p := range top.Processes {
		for _, f := range p {
			if strings.Contains(f, "dbus-daemon") || strings.Contains(f, "dbus-broker") {
				return true
			}
		}
	}
	return false
}

// follow runs busctl monitor once and reads it to its end. attached
// reports whether busctl's match went live.
func (m *SystemdMonitor) follow(ctx context.Context, id string, base Event, emit func(Event)) (bool, error) {
	// The states reported during this attachment. A new attachment starts
	// afresh, so its first report of each unit is its state then.
	last := &unitStates{m: map[string]string{}}
	ex, err := m.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd:          append([]string{"/bin/sh", "-c", stdinGuard, "sh"}, BusctlMonitorCommand...),
		AttachStdin:  true, // never written: its closing ends busctl
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return false, fmt.Errorf("exec create: %w", err)
	}
	att, err := m.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return false, fmt.Errorf("exec attach: %w", err)
	}
	// Closing the connection ends the exec's stream when ctx ends, and
	// closes busctl's stdin, which ends busctl (stdinGuard).
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	defer att.Close()

	// Without a TTY the engine multiplexes stdout and stderr on the one
	// connection (API 1.41 still labels it raw-stream), so demultiplex.
	outR, outW := io.Pipe()
	var snapshots sync.WaitGroup
	defer snapshots.Wait()
	readyW := &lineWatch{want: busctlReady, onMatch: func() {
		ev := base
		ev.Kind, ev.Time = EventMonitorAttached, time.Now()
		emit(ev)
		if len(m.snapshot) > 0 {
			snapshots.Go(func() { m.reportSnapshot(ctx, id, base, last, emit) })
		}
	}}
	go func() {
		_, err := stdcopy.StdCopy(outW, readyW, att.Reader)
		outW.CloseWithError(err)
	}()
	// stdout and the attach notice come from one goroutine each; unit
	// events must not be reported before monitor.attached, and busctl
	// prints its notice before the first message, but through another
	// stream: wait for it.
	r := bufio.NewReaderSize(outR, 64*1024)
	for {
		line, rerr := r.ReadBytes('\n')
		if len(line) > 0 {
			readyW.wait()
			ev, ok, perr := ParseBusctlLine(line)
			switch {
			case perr != nil:
				m.log.Warn("unparsable busctl line", "node", base.Node, "err", perr)
			case ok:
				if !last.set(ev.Unit, ev.State) && !m.allStates {
					continue
				}
				out := base
				out.Kind, out.Unit, out.State, out.Detail, out.Time = ev.Kind, ev.Unit, ev.State, ev.Detail, ev.Time
				if out.Time.IsZero() {
					out.Time = time.Now()
				}
				emit(out)
			}
		}
		if rerr != nil {
			outR.CloseWithError(rerr)
			attached := readyW.seen()
			ins, ierr := m.cli.ExecInspect(context.WithoutCancel(ctx), ex.ID, client.ExecInspectOptions{})
			if ierr == nil && !ins.Running {
				return attached, fmt.Errorf("busctl exited with code %d (stderr: %q): %w", ins.ExitCode, readyW.text(), rerr)
			}
			return attached, rerr
		}
	}
}

// unitStates is the last state reported per unit, shared by the busctl
// reader and the snapshot.
type unitStates struct {
	mu sync.Mutex
	m  map[string]string
}

// set records state and reports whether it is a change.
func (u *unitStates) set(unit, state string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[unit] == state {
		return false
	}
	u.m[unit] = state
	return true
}

// setIfUnknown records state only for a unit with no state yet: a change
// busctl reported is newer than any snapshot.
func (u *unitStates) setIfUnknown(unit, state string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.m[unit]; ok {
		return false
	}
	u.m[unit] = state
	return true
}

// SnapshotCommand returns the command that lists the units matching
// patterns, one per line: UNIT LOAD ACTIVE SUB DESCRIPTION.
func SnapshotCommand(patterns ...string) []string {
	return append([]string{"systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "--full"}, patterns...)
}

// ListedUnit is one line of a unit list (SnapshotCommand).
type ListedUnit struct {
	Unit, Load, Active, Sub string
}

// ParseUnitList reads the output of SnapshotCommand. Lines that do not
// have the four leading columns are skipped.
func ParseUnitList(out string) []ListedUnit {
	var units []ListedUnit
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// systemctl marks units that are not found or failed with a "●"
		// in front, --plain or not.
		if len(f) > 0 && f[0] == "●" {
			f = f[1:]
		}
		if len(f) < 4 || strings.Contains(f[0], "/") {
			continue
		}
		units = append(units, ListedUnit{Unit: f[0], Load: f[1], Active: f[2], Sub: f[3]})
	}
	return units
}

// reportSnapshot lists the units and reports those busctl has not yet
// reported, unless they are inactive.
func (m *SystemdMonitor) reportSnapshot(ctx context.Context, id string, base Event, last *unitStates, emit func(Event)) {
	out, err := m.execOutput(ctx, id, SnapshotCommand(m.snapshot...))
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("unit snapshot failed", "node", base.Node, "err", err)
		}
		return
	}
	now := time.Now()
	for _, u := range ParseUnitList(out) {
		if u.Active == "inactive" || u.Load == "not-found" {
			continue
		}
		if !last.setIfUnknown(u.Unit, u.Active) {
			continue
		}
		ev := base
		ev.Kind, ev.Unit, ev.State, ev.Detail, ev.Time, ev.Snapshot = EventKind("unit."+u.Active), u.Unit, u.Active, u.Sub, now, true
		emit(ev)
	}
}

// execOutput runs a short command in the container and returns its
// stdout; a non-zero exit is an error.
func (m *SystemdMonitor) execOutput(ctx context.Context, id string, cmd []string) (string, error) {
	res, err := engine.Exec(ctx, m.cli, id, cmd...)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("exec %v: exit code %d: %s", cmd, res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	return res.Stdout, nil
}

// lineWatch collects stderr and calls onMatch once when it has seen want.
type lineWatch struct {
	want    string
	onMatch func()

	mu      sync.Mutex
	buf     bytes.Buffer
	matched bool
	gaveUp  bool
	done    chan struct{}
	once    sync.Once
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() < 4096 {
		w.buf.Write(p)
	}
	if !w.matched && strings.Contains(w.buf.String(), w.want) {
		w.matched = true
		w.onMatch()
		w.signal()
	}
	return len(p), nil
}

func (w *lineWatch) ch() chan struct{} {
	w.once.Do(func() { w.done = make(chan struct{}) })
	return w.done
}

func (w *lineWatch) signal() { close(w.ch()) }

// wait blocks until the notice was seen, or for a while if it never comes
// (a busctl that prints no notice still has its output reported). In
// practice it never blocks: busctl prints the notice before any message,
// and StdCopy hands frames on in order.
func (w *lineWatch) wait() {
	w.mu.Lock()
	gaveUp := w.gaveUp
	w.mu.Unlock()
	if gaveUp {
		return
	}
	select {
	case <-w.ch():
	case <-time.After(2 * time.Second):
		w.mu.Lock()
		w.gaveUp = true
		w.mu.Unlock()
	}
}

func (w *lineWatch) seen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.matched
}

func (w *lineWatch) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(w.buf.String())
}
