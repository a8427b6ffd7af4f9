package behaviour

import (
	"reflect"
	"testing"
	"time"

	"github.com/seatrial-dev/seatrial/harness/monitor"
)

const app = "seatrial-app.service"

// A node replaced the way the reference updater does it: its events
// become the words the issue writes, without ids, names or times; the
// scan's time to converge runs to the last change of a node, the
// replacement's app unit active, after the answer.
func TestFromTimeline(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(ms int, k monitor.EventKind, node, id string) monitor.Event {
		return monitor.Event{Kind: k, Node: node, ContainerID: id, Time: at(ms)}
	}
	unit := func(ms int, id, state string, snapshot bool) monitor.Event {
		return monitor.Event{Kind: monitor.EventKind("unit." + state), Node: "controller", ContainerID: id, Unit: app, State: state, Time: at(ms), Snapshot: snapshot}
	}
	kill := ev(1100, monitor.EventContainerKill, "controller", "old")
	kill.Detail = "37"
	die := ev(1200, monitor.EventContainerDie, "controller", "old")
	health := ev(1250, monitor.EventContainerHealthStatus, "controller", "old")
	health.Detail = "healthy"
	events := []monitor.Event{
		ev(0, monitor.EventContainerCreate, "controller", "old"),
		ev(10, monitor.EventContainerStart, "controller", "old"),
		unit(20, "old", "active", true),
		{Kind: monitor.EventImagePull, Time: at(900)},
		{Kind: monitor.EventScanStarted, Time: at(1000)},
		kill, die, health,
		ev(1300, monitor.EventContainerRename, "controller", "old"),
		ev(1400, monitor.EventContainerCreate, "controller", "new"),
		ev(1500, monitor.EventContainerStart, "controller", "new"),
		ev(1600, monitor.EventContainerDestroy, "controller", "old"),
		{Kind: monitor.EventScanAnswered, Time: at(1700)},
		unit(1800, "new", "activating", false),
		unit(2500, "new", "active", false),
		unit(2600, "old", "failed", false),
		unit(2700, "new", "failed", false),
		unit(2800, "new", "failed", false),
	}
	// Another unit's state is not the app's.
	events[len(events)-3].Unit = "other.service"
	var r Record
	r.Scans = []Scan{{Requests: map[string]float64{"manifest HEAD": 1}}}
	r.FromTimeline(events, app)
	want := []string{"create", "start", "kill(SIGRTMIN+3)", "die", "rename", "create", "start", "destroy"}
	if !reflect.DeepEqual(r.Nodes["controller"], want) {
		t.Errorf("controller's events %q, want %q", r.Nodes["controller"], want)
	}
	if got := r.Units["controller"]; !reflect.DeepEqual(got, []string{"container 2 failed"}) {
		t.Errorf("units %q, want the second container's app unit failed", got)
	}
	if !reflect.DeepEqual(r.Images, []string{"pull"}) {
		t.Errorf("images %q", r.Images)
	}
	if len(r.Scans) != 1 || r.Scans[0].AnswerSeconds != 0.7 || r.Scans[0].ConvergeSeconds != 1.5 || r.Scans[0].Requests["manifest HEAD"] != 1 {
		t.Errorf("scans %+v: want answered after 0.7 s, converged after 1.5 s, the requests kept", r.Scans)
	}
}

func TestSignalName(t *testing.T) {
	for in, want := range map[string]string{"37": "SIGRTMIN+3", "15": "SIGTERM", "9": "SIGKILL", "34": "SIGRTMIN", "SIGHUP": "SIGHUP"} {
		if got := SignalName(in); got != want {
			t.Errorf("SignalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPairAndComparable(t *testing.T) {
	if got := Pair("TestRecreateRefused/create/reference", "reference"); got != "RecreateRefused/create" {
		t.Errorf("Pair = %q", got)
	}
	for name, want := range map[string]bool{
		"watchtower_containers_updated":          true,
		"watchtower_scan_duration_seconds_count": true,
		"watchtower_scan_duration_seconds_sum":   false,
		"watchtower_last_scan_timestamp":         false,
		"go_goroutines":                          false,
	} {
		if Comparable(name) != want {
			t.Errorf("Comparable(%s) = %v", name, !want)
		}
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	r := Record{Test: "TestNoOpScan/reference", Scenario: "NoOpScan", Profile: "reference", World: 1}
	evs := []monitor.Event{{Kind: monitor.EventScanStarted, Time: time.Unix(1, 0).UTC(), Labels: map[string]string{"a": "b"}}}
	if err := Write(dir, r, evs); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil || len(got) != 1 || got[0].World != 1 || got[0].Timeline == "" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	tl, err := ReadTimeline(dir, got[0])
	if err != nil || len(tl) != 1 || tl[0].Kind != monitor.EventScanStarted || tl[0].Labels != nil {
		t.Fatalf("ReadTimeline = %+v, %v", tl, err)
	}
}

// A scan's recorded trigger times count, not its events': the answer's
// event is published after the suite's own work (reading the registry's
// counters, waiting for a loaded engine's events), seconds late.
func TestRecordedScanTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	events := []monitor.Event{
		{Kind: monitor.EventScanStarted, Time: at(0)},
		{Kind: monitor.EventScanAnswered, Time: at(5000)},
		{Kind: monitor.EventScanStarted, Time: at(6000)},
		{Kind: monitor.EventContainerCreate, Node: "controller", ContainerID: "new", Time: at(6500)},
		{Kind: monitor.EventScanAnswered, Time: at(9000)},
	}
	// Recorded in the order the answers came.
	r := Record{Scans: []Scan{{Sent: at(6010), Answered: at(6300)}, {Sent: at(20), Answered: at(120)}}}
	r.FromTimeline(events, app)
	got := [][2]float64{{r.Scans[0].AnswerSeconds, r.Scans[0].ConvergeSeconds}, {r.Scans[1].AnswerSeconds, r.Scans[1].ConvergeSeconds}}
	if want := [][2]float64{{0.1, 0.1}, {0.29, 0.49}}; !reflect.DeepEqual(got, want) {
		t.Errorf("answer and converge seconds %v, want %v", got, want)
	}
}
