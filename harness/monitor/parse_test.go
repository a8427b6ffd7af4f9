package monitor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"
)

// testdata is the repository's directory of recorded streams.
const testdata = "../../fixtures/testdata"

// readLines returns the non-empty lines of a recorded stream.
func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readMessages(t testing.TB, name string) []events.Message {
	t.Helper()
	var out []events.Message
	for i, l := range readLines(t, name) {
		var m events.Message
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		out = append(out, m)
	}
	return out
}

// brief keeps of an event what the recordings' tests compare: not what
// the recordings make noisy (time, ids, image, sandbox).
func brief(ev Event) Event {
	return Event{Kind: ev.Kind, Node: ev.Node, Role: ev.Role, Container: ev.Container,
		Unit: ev.Unit, State: ev.State, Detail: ev.Detail, ExitCode: ev.ExitCode}
}

func TestParseDockerEventRecorded(t *testing.T) {
	// Recorded with curl on the engine's /v1.41/events, filtered by the
	// sandbox label: a node container (health check: systemctl
	// is-system-running) that boots, gets a failing unit (turns
	// unhealthy), is paused, unpaused and killed; then an app container
	// whose health check fails and which exits 3; then both removed.
	msgs := readMessages(t, "events/node-lifecycle.jsonl")
	var got []Event
	for _, m := range msgs {
		ev, ok := ParseDockerEvent(m)
		if !ok {
			if !strings.HasPrefix(string(m.Action), "exec_") {
				t.Errorf("action %q not modelled", m.Action)
			}
			continue
		}
		if ev.Sandbox != "st-5ec0ded001" {
			t.Errorf("%s: sandbox %q", ev, ev.Sandbox)
		}
		if ev.ContainerID == "" || len(ev.ContainerID) != 64 {
			t.Errorf("%s: container id %q", ev, ev.ContainerID)
		}
		if ev.Time.UnixNano() != m.TimeNano {
			t.Errorf("%s: time %v, want nanosecond %d", ev, ev.Time, m.TimeNano)
		}
		got = append(got, brief(ev))
	}
	const node, app = "st-5ec0ded001-worker-0", "st-5ec0ded001-app"
	want := []Event{
		{Kind: EventContainerCreate, Node: "worker-0", Role: "node", Container: node},
		{Kind: EventContainerStart, Node: "worker-0", Role: "node", Container: node},
		{Kind: EventContainerHealthStatus, Node: "worker-0", Role: "node", Container: node, Detail: "healthy"},
		{Kind: EventContainerHealthStatus, Node: "worker-0", Role: "node", Container: node, Detail: "unhealthy"},
		{Kind: EventContainerPause, Node: "worker-0", Role: "node", Container: node},
		{Kind: EventContainerUnpause, Node: "worker-0", Role: "node", Container: node},
		{Kind: EventContainerKill, Node: "worker-0", Role: "node", Container: node, Detail: "9"},
		{Kind: EventContainerDie, Node: "worker-0", Role: "node", Container: node, ExitCode: 137},
		{Kind: EventContainerCreate, Role: "app", Container: app},
		{Kind: EventContainerStart, Role: "app", Container: app},
		{Kind: EventContainerHealthStatus, Role: "app", Container: app, Detail: "unhealthy"},
		{Kind: EventContainerDie, Role: "app", Container: app, ExitCode: 3},
		{Kind: EventContainerDestroy, Role: "app", Container: app},
		{Kind: EventContainerDestroy, Node: "worker-0", Role: "node", Container: node},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parsed events (-want +got):\n%s", d)
	}
}

func TestParseDockerEventImages(t *testing.T) {
	msgs := readMessages(t, "events/image-tag-untag.jsonl")
	var kinds, refs []string
	for _, m := range msgs {
		ev, ok := ParseDockerEvent(m)
		if !ok {
			t.Fatalf("image event %+v not parsed", m)
		}
		kinds = append(kinds, string(ev.Kind))
		refs = append(refs, ev.Image)
	}
	const id = "sha256:7cc9d8cb9c225899c9a843bb2d4dc459f41140e1835aa7f121b4bce531106e45"
	if d := cmp.Diff([]string{"image.tag", "image.tag", "image.untag", "image.untag"}, kinds); d != "" {
		t.Errorf("kinds (-want +got):\n%s", d)
	}
	// untag names the image by id only: no sandbox prefix can match it.
	if d := cmp.Diff([]string{"localhost:45999/node:v1", "localhost:45999/node:v2", id, id}, refs); d != "" {
		t.Errorf("refs (-want +got):\n%s", d)
	}
}

func TestParseDockerEventEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  events.Message
		ok   bool
		want Event
	}{
		{"network disconnect", events.Message{Type: events.NetworkEventType, Action: "disconnect"}, false, Event{}},
		{"network connect", events.Message{Type: events.NetworkEventType, Action: "connect",
			Actor: events.Actor{ID: "n1", Attributes: map[string]string{"container": "c1", "name": "st-x", "type": "bridge"}}}, true,
			Event{Kind: EventNetworkConnect, ContainerID: "c1", Detail: "st-x"}},
		{"exec", events.Message{Type: events.ContainerEventType, Action: "exec_start: busctl monitor"}, false, Event{}},
		{"health without colon", events.Message{Type: events.ContainerEventType, Action: "health_status"}, true,
			Event{Kind: EventContainerHealthStatus}},
		{"die with odd exit code", events.Message{Type: events.ContainerEventType, Action: "die",
			Actor: events.Actor{Attributes: map[string]string{"exitCode": "x"}}}, true,
			Event{Kind: EventContainerDie, Detail: "exitCode=x"}},
		{"seconds only", events.Message{Type: events.ContainerEventType, Action: "start", Time: 7}, true,
			Event{Kind: EventContainerStart, Time: time.Unix(7, 0)}},
		{"image without action", events.Message{Type: events.ImageEventType}, false, Event{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseDockerEvent(tc.msg)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseBusctlRecorded(t *testing.T) {
	// Recorded inside a node with busctl monitor --json=short and the
	// monitor's match, while: systemctl restart systemd-journald;
	// systemd-run --unit=seatrial-fail false; systemd-run
	// --unit=seatrial-ok sleep 1; a unit x-false.service with
	// ExecStart=/bin/false started; systemctl reload dbus.
	lines := readLines(t, "busctl/unit-restart-fail-reload.jsonl")
	var got []Event
	var prev time.Time
	for i, l := range lines {
		ev, ok, err := ParseBusctlLine(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if !ok {
			continue
		}
		if ev.Time.Before(prev) || ev.Time.Year() < 2020 {
			t.Errorf("line %d: time %v (previous %v)", i+1, ev.Time, prev)
		}
		prev = ev.Time
		got = append(got, brief(ev))
	}
	// Every change of a unit's ActiveState, in order (repeats of the same
	// state dropped, as the SystemdMonitor does by default).
	var changes []Event
	last := map[string]string{}
	for _, u := range got {
		if last[u.Unit] != u.State {
			changes = append(changes, u)
			last[u.Unit] = u.State
		}
	}
	want := []Event{
		{Kind: EventUnitActive, Unit: "systemd-journald.service", State: "active", Detail: "running"},
		{Kind: EventUnitInactive, Unit: "systemd-journald-audit.socket", State: "inactive", Detail: "dead"},
		{Kind: EventUnitDeactivating, Unit: "systemd-journald.service", State: "deactivating", Detail: "stop-sigterm"},
		{Kind: EventUnitInactive, Unit: "systemd-journald.service", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActivating, Unit: "systemd-journald.service", State: "activating", Detail: "start"},
		{Kind: EventUnitActive, Unit: "systemd-journald.service", State: "active", Detail: "running"},
		{Kind: EventUnitActive, Unit: "systemd-journald-dev-log.socket", State: "active", Detail: "running"},
		{Kind: EventUnitActive, Unit: "systemd-journald.socket", State: "active", Detail: "running"},
		{Kind: EventUnitInactive, Unit: "shutdown.target", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActive, Unit: "basic.target", State: "active", Detail: "active"},
		{Kind: EventUnitActive, Unit: "sysinit.target", State: "active", Detail: "active"},
		{Kind: EventUnitActive, Unit: "system.slice", State: "active", Detail: "active"},
		{Kind: EventUnitInactive, Unit: "seatrial-fail.service", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActive, Unit: "seatrial-fail.service", State: "active", Detail: "running"},
		{Kind: EventUnitFailed, Unit: "seatrial-fail.service", State: "failed", Detail: "failed"},
		{Kind: EventUnitInactive, Unit: "seatrial-ok.service", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActive, Unit: "seatrial-ok.service", State: "active", Detail: "running"},
		{Kind: EventUnitInactive, Unit: "seatrial-ok.service", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActive, Unit: "systemd-logind.service", State: "active", Detail: "running"},
		{Kind: EventUnitInactive, Unit: "x-false.service", State: "inactive", Detail: "dead"},
		{Kind: EventUnitActive, Unit: "x-false.service", State: "active", Detail: "running"},
		{Kind: EventUnitFailed, Unit: "x-false.service", State: "failed", Detail: "failed"},
		{Kind: EventUnitActive, Unit: "dbus.service", State: "active", Detail: "running"},
		{Kind: EventUnitReloading, Unit: "dbus.service", State: "reloading", Detail: "reload"},
		{Kind: EventUnitActive, Unit: "dbus.service", State: "active", Detail: "running"},
		{Kind: EventUnitActive, Unit: "dbus.socket", State: "active", Detail: "running"},
	}
	if d := cmp.Diff(want, changes); d != "" {
		t.Errorf("unit state changes (-want +got):\n%s", d)
	}
	if len(got) <= len(changes) {
		t.Errorf("recording has no repeated states (%d messages, %d changes): the dedupe is untested", len(got), len(changes))
	}
}

func TestParseBusctlLineCases(t *testing.T) {
	unit := func(path, iface, props string) string {
		return `{"type":"signal","timestamp-realtime":1795431515738915,"path":"` + path +
			`","interface":"org.freedesktop.DBus.Properties","member":"PropertiesChanged","payload":{"type":"sa{sv}as","data":["` +
			iface + `",` + props + `,[]]}}`
	}
	for _, tc := range []struct {
		name    string
		line    string
		ok, err bool
		want    Event
	}{
		{"empty", "", false, false, Event{}},
		{"not json", "Monitoring bus message stream.", false, true, Event{}},
		{"service interface", unit("/org/freedesktop/systemd1/unit/a_2eservice", "org.freedesktop.systemd1.Service", `{"MainPID":{"type":"u","data":1}}`), false, false, Event{}},
		{"no ActiveState", unit("/org/freedesktop/systemd1/unit/a_2eservice", "org.freedesktop.systemd1.Unit", `{"SubState":{"type":"s","data":"dead"}}`), false, false, Event{}},
		{"failed", unit("/org/freedesktop/systemd1/unit/seatrial_2dapp_2eservice", "org.freedesktop.systemd1.Unit", `{"ActiveState":{"type":"s","data":"failed"},"SubState":{"type":"s","data":"failed"}}`), true, false,
			Event{Kind: EventUnitFailed, Unit: "seatrial-app.service", State: "failed", Detail: "failed", Time: time.UnixMicro(1795431515738915)}},
		{"template instance", unit("/org/freedesktop/systemd1/unit/getty_40tty1_2eservice", "org.freedesktop.systemd1.Unit", `{"ActiveState":{"type":"s","data":"active"}}`), true, false,
			Event{Kind: EventUnitActive, Unit: "getty@tty1.service", State: "active", Time: time.UnixMicro(1795431515738915)}},
		{"wrong type", unit("/org/freedesktop/systemd1/unit/a_2eservice", "org.freedesktop.systemd1.Unit", `{"ActiveState":{"type":"u","data":1}}`), false, true, Event{}},
		{"manager object", unit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Unit", `{"ActiveState":{"type":"s","data":"active"}}`), false, false, Event{}},
		{"method call", `{"type":"method_call","path":"/org/freedesktop/systemd1/unit/a_2eservice"}`, false, false, Event{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseBusctlLine([]byte(tc.line))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestBusLabel(t *testing.T) {
	for _, tc := range []struct{ unit, path string }{
		{"systemd-journald.service", "systemd_2djournald_2eservice"},
		{"getty@tty1.service", "getty_40tty1_2eservice"},
		{"-.mount", "_2d_2emount"},
		{"", "_"},
		{"1a", "_31a"},
	} {
		if got := EscapeBusLabel(tc.unit); got != tc.path {
			t.Errorf("EscapeBusLabel(%q) = %q, want %q", tc.unit, got, tc.path)
		}
		if got := UnescapeBusLabel(tc.path); got != tc.unit {
			t.Errorf("UnescapeBusLabel(%q) = %q, want %q", tc.path, got, tc.unit)
		}
	}
	// Invalid escapes are taken literally, as systemd does.
	for in, want := range map[string]string{"a_zz": "a_zz", "a_2": "a_2", "a_": "a_", "_2e_": "._", "__2e": "_."} {
		if got := UnescapeBusLabel(in); got != want {
			t.Errorf("UnescapeBusLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseDockerEvent(f *testing.F) {
	for _, name := range []string{"events/node-lifecycle.jsonl", "events/image-tag-untag.jsonl"} {
		for _, l := range readLines(f, name) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"Type":"container","Action":"health_status:","Actor":{"Attributes":{"exitCode":"-1"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m events.Message
		if json.Unmarshal(data, &m) != nil {
			return
		}
		ev, ok := ParseDockerEvent(m)
		again, ok2 := ParseDockerEvent(m)
		if ok != ok2 || !cmp.Equal(ev, again) {
			t.Fatalf("not deterministic: %v %v", ev, again)
		}
		if !ok {
			if !cmp.Equal(ev, Event{}) {
				t.Fatalf("rejected message gave a non-zero event %v", ev)
			}
			return
		}
		if !strings.HasPrefix(string(ev.Kind), string(m.Type)+".") {
			t.Fatalf("kind %q for type %q", ev.Kind, m.Type)
		}
		if m.Type == events.ContainerEventType {
			if ev.ContainerID != m.Actor.ID {
				t.Fatalf("container id %q, want %q", ev.ContainerID, m.Actor.ID)
			}
			if ev.Kind == EventContainerHealthStatus && ev.Detail != strings.TrimSpace(ev.Detail) {
				t.Fatalf("untrimmed health detail %q", ev.Detail)
			}
		}
		if m.TimeNano != 0 && ev.Time.UnixNano() != m.TimeNano {
			t.Fatalf("time %v, want %d", ev.Time, m.TimeNano)
		}
		_ = ev.String()
	})
}

func FuzzParseBusctlLine(f *testing.F) {
	for _, l := range readLines(f, "busctl/unit-restart-fail-reload.jsonl") {
		f.Add(l)
	}
	f.Add([]byte(`{"type":"signal","path":"/org/freedesktop/systemd1/unit/_","interface":"org.freedesktop.DBus.Properties","member":"PropertiesChanged","payload":{"data":["org.freedesktop.systemd1.Unit",{"ActiveState":{"type":"s","data":"x"}},[]]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, ok, err := ParseBusctlLine(line)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if !ok {
			if !cmp.Equal(ev, Event{}) {
				t.Fatalf("rejected line gave a non-zero event %v", ev)
			}
			return
		}
		if ev.Unit == "" || strings.Contains(ev.Unit, "/") {
			t.Fatalf("unit %q", ev.Unit)
		}
		if ev.State == "" || ev.Kind != EventKind("unit."+ev.State) {
			t.Fatalf("kind %q state %q", ev.Kind, ev.State)
		}
		// The escaping is what the path held: escaping the unit again gives
		// a path element that unescapes to the same unit.
		if got := UnescapeBusLabel(EscapeBusLabel(ev.Unit)); got != ev.Unit {
			t.Fatalf("round trip of %q gave %q", ev.Unit, got)
		}
	})
}

func FuzzBusLabelRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", "systemd-journald.service", "getty@tty1.service", "_", "1", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := UnescapeBusLabel(EscapeBusLabel(s)); got != s {
			t.Fatalf("UnescapeBusLabel(EscapeBusLabel(%q)) = %q", s, got)
		}
	})
}

func TestParseUnitList(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata, "busctl/systemctl-list-units-services.txt"))
	if err != nil {
		t.Fatal(err)
	}
	units := ParseUnitList(string(b))
	byName := map[string]ListedUnit{}
	for _, u := range units {
		byName[u.Unit] = u
	}
	for _, want := range []ListedUnit{
		{"seatrial-app.service", "loaded", "active", "running"},
		{"seatrial-fail.service", "loaded", "failed", "failed"},
		{"auditd.service", "not-found", "inactive", "dead"},
		{"getty@tty1.service", "masked", "inactive", "dead"},
		{"systemd-journal-flush.service", "loaded", "active", "exited"},
	} {
		if got := byName[want.Unit]; got != want {
			t.Errorf("%s: %+v, want %+v", want.Unit, got, want)
		}
	}
	if len(units) < 50 {
		t.Errorf("%d units parsed", len(units))
	}
	// The marker systemctl puts before failed or missing units, and
	// junk, are handled.
	got := ParseUnitList("● x.service loaded failed failed X\n\nno\n")
	if d := cmp.Diff([]ListedUnit{{"x.service", "loaded", "failed", "failed"}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
