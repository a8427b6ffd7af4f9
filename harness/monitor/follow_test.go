package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// These tests feed the Watcher engine events as its DockerMonitor would
// (fromDocker), without an engine: what it follows without the sandbox's
// label, and what it reports when a replacement lost one, or when a node
// is replaced after every scan trigger answered.

const followSandbox = "st-00000000aa"

func nodeCreate(id string, l map[string]string) Event {
	ev := Event{Kind: EventContainerCreate, Container: followSandbox + "-c1-controller", ContainerID: id,
		Time: time.Now(), Labels: l, Sandbox: l[labels.Sandbox], Node: l[labels.Node], Role: l[labels.Role]}
	if ev.Sandbox == "" {
		ev.Sandbox, ev.Unlabelled = followSandbox, true
	}
	return ev
}

func seatrialLabels() map[string]string {
	return map[string]string{
		labels.Sandbox: followSandbox, labels.Node: "controller", labels.Role: labels.RoleNode, labels.Cluster: "c1",
		"com.centurylinklabs.watchtower.scope": followSandbox, "org.opencontainers.image.title": "node", "io.seatrial.app.version": "v1",
	}
}

func kinds(evs []Event) []EventKind {
	out := make([]EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func TestFollowsAnUnlabelledReplacementByName(t *testing.T) {
	w := NewWatcher(nil, followSandbox)
	if !w.follows(Event{Container: followSandbox + "-c1-controller"}) {
		t.Fatal("a container named for the sandbox is not followed")
	}
	if w.follows(Event{Container: "st-00000000bb-c1-controller", ContainerID: "x"}) {
		t.Fatal("another sandbox's container is followed")
	}
	w.fromDocker(nodeCreate("aaaaaaaaaaaa1", seatrialLabels()))
	w.fromDocker(nodeCreate("bbbbbbbbbbbb2", nil))
	tl := w.Timeline()
	if got := kinds(tl); len(got) != 3 || got[2] != EventLabelLost {
		t.Fatalf("events %v, want create, create, label.lost", got)
	}
	if tl[1].Node != "controller" || tl[1].Role != labels.RoleNode {
		t.Errorf("unlabelled replacement got node %q role %q, want controller, node", tl[1].Node, tl[1].Role)
	}
	want := "the updater dropped label io.seatrial.sandbox from node controller (and 4 more: "
	if d := Happened(tl[2]); !strings.HasPrefix(d, want) {
		t.Errorf("label.lost says %q, want it to start %q", d, want)
	}
	if strings.Contains(tl[2].Detail, "org.opencontainers") || strings.Contains(tl[2].Detail, "app.version") {
		t.Errorf("an image's own label is reported: %q", tl[2].Detail)
	}
	// Its later events are followed by id, whatever their name.
	if !w.follows(Event{Container: "renamed", ContainerID: "bbbbbbbbbbbb2"}) {
		t.Error("a replacement's id is not followed")
	}
}

func TestReportsAScopeLabelDroppedAlone(t *testing.T) {
	w := NewWatcher(nil, followSandbox)
	w.fromDocker(nodeCreate("aaaaaaaaaaaa1", seatrialLabels()))
	l := seatrialLabels()
	delete(l, "com.centurylinklabs.watchtower.scope")
	delete(l, "org.opencontainers.image.title") // an image's label may go with the image
	l["io.seatrial.app.version"] = "v2"         // or change with it
	w.fromDocker(nodeCreate("bbbbbbbbbbbb2", l))
	tl := w.Timeline()
	if len(tl) != 3 {
		t.Fatalf("events %v, want a label.lost after the second create", kinds(tl))
	}
	if want := "the updater dropped label com.centurylinklabs.watchtower.scope from node controller ("; !strings.HasPrefix(tl[2].Detail, want) {
		t.Errorf("got %q, want it to start %q", tl[2].Detail, want)
	}
	if !LabelLost().Match(tl[2]) {
		t.Error("LabelLost does not match it")
	}
}

func TestReplacementAfterEveryTriggerAnsweredIsEarly(t *testing.T) {
	w := NewWatcher(nil, followSandbox)
	w.fromDocker(nodeCreate("aaaaaaaaaaaa1", seatrialLabels()))
	w.Publish(Event{Kind: EventScanStarted})
	w.fromDocker(nodeCreate("bbbbbbbbbbbb2", seatrialLabels())) // while the trigger waits: fine
	w.Publish(Event{Kind: EventScanAnswered, Detail: `status 200 {"scanned":0,"updated":0}`})
	if got := kinds(w.Timeline()); len(got) != 4 {
		t.Fatalf("events %v, want no scan.early while a trigger waited", got)
	}
	late := nodeCreate("eeeeeeeeeeee5", seatrialLabels())
	late.Time = time.Now().Add(-time.Hour) // made before the answer, delivered after it
	w.fromDocker(late)
	if got := kinds(w.Timeline()); got[len(got)-1] == EventScanEarly {
		t.Fatalf("events %v: a create made before the answer is not early", got)
	}
	w.fromDocker(nodeCreate("cccccccccccc3", seatrialLabels()))
	tl := w.Timeline()
	last := tl[len(tl)-1]
	if last.Kind != EventScanEarly || !ScanEarly().Match(last) {
		t.Fatalf("events %v, want scan.early last", kinds(tl))
	}
	for _, want := range []string{"the scan trigger answered before its scan was done", `"scanned":0`, "then node controller was replaced"} {
		if !strings.Contains(Happened(last), want) {
			t.Errorf("scan.early says %q, want %q in it", Happened(last), want)
		}
	}
}

func TestFollowsAMemberOfTheSandboxNetwork(t *testing.T) {
	w := NewWatcher(nil, followSandbox)
	stranger := Event{Kind: EventContainerStart, Container: "renamed", ContainerID: "dddddddddddd4"}
	if w.follows(stranger) {
		t.Fatal("a stranger is followed")
	}
	w.fromDocker(Event{Kind: EventNetworkConnect, ContainerID: "dddddddddddd4", Detail: followSandbox})
	if !w.follows(stranger) {
		t.Error("a container attached to the sandbox's network is not followed")
	}
}
