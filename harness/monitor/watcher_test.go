package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// These tests exercise the Watcher's broadcasting alone, through Publish:
// no engine, no monitors.

func numbered(i int) Event {
	return Event{Kind: "test.event", Detail: fmt.Sprint(i)}
}

func TestSlowSubscriberDoesNotBlockOthers(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000", WithBuffer(4))
	slow := w.Subscribe()
	fast := w.Subscribe()
	for round := range 3 {
		for i := range 4 {
			w.Publish(numbered(round*4 + i)) // must never block
		}
		for i := range 4 {
			if ev := <-fast; ev.Detail != fmt.Sprint(round*4+i) {
				t.Fatalf("fast subscriber got %s, want event %d", ev, round*4+i)
			}
		}
	}
	if n := w.Dropped(fast); n != 0 {
		t.Errorf("fast subscriber dropped %d", n)
	}
	if n := w.Dropped(slow); n != 8 {
		t.Errorf("slow subscriber dropped %d, want 8", n)
	}
	if n := w.DroppedTotal(); n != 8 {
		t.Errorf("total dropped %d, want 8", n)
	}
	// The slow one gets what fitted, then, once it has room, a notice of
	// what it missed before the next event.
	for i := range 4 {
		if ev := <-slow; ev.Detail != fmt.Sprint(i) {
			t.Fatalf("slow subscriber got %s, want event %d", ev, i)
		}
	}
	w.Publish(numbered(12))
	notice := <-slow
	if notice.Kind != EventMonitorError || !errors.Is(notice.Err, ErrDropped) || !strings.Contains(notice.Detail, "missed 8") {
		t.Errorf("notice %s, want monitor.error with ErrDropped and the count", notice)
	}
	if ev := <-slow; ev.Detail != "12" {
		t.Errorf("after the notice got %s, want event 12", ev)
	}
	<-fast
}

func TestWaitForNeverMissesAnEvent(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	// The event is published while WaitFor is between its subscription
	// and its first receive, or before it even subscribed: with
	// IncludePast it is found either way, so run both orders many times.
	for i := range 200 {
		want := numbered(i)
		go w.Publish(want)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		ev, err := w.WaitFor(ctx, Matching("event "+want.Detail, func(ev Event) bool { return ev.Detail == want.Detail }), IncludePast())
		cancel()
		if err != nil || ev.Detail != want.Detail {
			t.Fatalf("round %d: %v, %v", i, ev, err)
		}
	}
}

func TestWaitForPast(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	w.Publish(Event{Kind: EventUnitActive, Unit: "a.service"})
	w.Publish(Event{Kind: EventUnitActive, Unit: "b.service"})
	active := Matching("a unit to be active", func(ev Event) bool { return ev.Kind == EventUnitActive })
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	ev, err := w.WaitFor(ctx, active, IncludePast())
	if err != nil || ev.Unit != "a.service" {
		t.Fatalf("with IncludePast: %v, %v; want the oldest match a.service", ev, err)
	}

	// Without it, only new events count.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	if ev, err := w.WaitFor(ctx2, active); err == nil {
		t.Fatalf("without IncludePast matched the past event %s", ev)
	}
}

func TestWaitErrorListsTheEventsSeen(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	// Before the wait: the timeline's events are listed too, as they are
	// what a reader needs (a wait armed after the kill says why it never
	// saw a start).
	w.Publish(Event{Kind: EventContainerKill, Node: "controller", ContainerID: "aaaaaaaaaaaa0000", Detail: "15"})
	w.Publish(Event{Kind: EventContainerDie, Node: "controller", ContainerID: "aaaaaaaaaaaa0000", ExitCode: 143})
	w.Publish(Event{Kind: EventContainerDestroy, Node: "controller", ContainerID: "aaaaaaaaaaaa0000"})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Publish(Event{Kind: EventContainerStart, Node: "worker-0"}) // during the wait
	}()
	_, err := w.WaitFor(ctx, HealthIs("controller", "", "healthy"), WithRecent(3))
	var we *WaitError
	if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a *WaitError wrapping the deadline", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"waiting for node controller to turn healthy: context deadline exceeded",
		"the last 3 events the watcher saw for sandbox st-0000000000",
		"container.die node=controller id=aaaaaaaaaaaa exit=143",
		"container.destroy node=controller",
		"container.start node=worker-0",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "container.kill") || strings.Contains(msg, "no events") {
		t.Errorf("error %q: want only the last 3 events", msg)
	}
}

func TestWaitErrorSaysNoneOnlyWhenNone(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := w.WaitFor(ctx, Died("worker-0"))
	want := "waiting for node worker-0 to die: context deadline exceeded; the watcher saw no events for sandbox st-0000000000"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestFailOnEndsTheWaitAtOnce(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	e := w.Expect(Recreated("controller", "aaaaaaaaaaaa0000"), FailOn(Destroyed("controller"), Died("worker-0")))
	w.Publish(Event{Kind: EventContainerKill, Node: "controller", ContainerID: "aaaaaaaaaaaa0000"})
	w.Publish(Event{Kind: EventContainerDestroy, Node: "controller", ContainerID: "aaaaaaaaaaaa0000"})
	// No deadline: only the contradiction can end this wait.
	_, err := e.Wait(t.Context())
	var ce *ContradictionError
	if !errors.As(err, &ce) || ce.Event.Kind != EventContainerDestroy || ce.By.String() != "node controller to be removed" {
		t.Fatalf("error %v, want a *ContradictionError for the destroy", err)
	}
	if !strings.HasPrefix(err.Error(), "node controller (container aaaaaaaaaaaa) was removed at ") ||
		!strings.Contains(err.Error(), ", while waiting for node controller to be recreated") {
		t.Errorf("error %q does not say what it waited for and what contradicted it", err)
	}

	// The wanted event first wins, with IncludePast too.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	w.Publish(Event{Kind: EventContainerStart, Node: "controller", ContainerID: "bbbbbbbbbbbb0000"})
	w.Publish(Event{Kind: EventContainerDie, Node: "worker-0"})
	ev, err := w.WaitFor(ctx, Started("controller"), IncludePast(), FailOn(Died("worker-0")))
	if err != nil || ev.ContainerID != "bbbbbbbbbbbb0000" {
		t.Errorf("%v, %v: want the start, which came before the die", ev, err)
	}
	// A contradiction first in the timeline wins.
	if _, err := w.WaitFor(ctx, Started("controller"), IncludePast(), FailOn(Destroyed("controller"))); !errors.As(err, &ce) {
		t.Errorf("error %v, want the destroy, which came before the start", err)
	}
}

func TestWaitForStopped(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Wait() // nothing was started: closes the subscriptions at once
	}()
	_, err := w.WaitFor(t.Context(), Matching("nothing", func(Event) bool { return false }))
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("error %v, want ErrStopped", err)
	}
	// A subscription after Wait is closed at once; Unsubscribe is harmless.
	ch := w.Subscribe()
	if _, ok := <-ch; ok {
		t.Error("subscription after Wait is open")
	}
	w.Unsubscribe(ch)
	w.Publish(numbered(1)) // no panic on closed channels
}

func TestTimelineIsBounded(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000", WithTimelineSize(3))
	for i := range 5 {
		w.Publish(numbered(i))
	}
	var got []string
	for _, ev := range w.Timeline() {
		got = append(got, ev.Detail)
		if ev.Sandbox != "st-0000000000" || ev.Time.IsZero() {
			t.Errorf("published event %s lacks sandbox or time", ev)
		}
	}
	if strings.Join(got, ",") != "2,3,4" {
		t.Errorf("timeline %v, want the last 3 oldest first", got)
	}
}

func TestUnsubscribeTwice(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	ch := w.Subscribe()
	w.Unsubscribe(ch)
	w.Unsubscribe(ch)
	if _, ok := <-ch; ok {
		t.Error("channel open after Unsubscribe")
	}
	w.Wait()
}

func TestExpectArmedBeforeTheAction(t *testing.T) {
	w := NewWatcher(nil, "st-0000000000")
	e := w.Expect(UnitState("worker-0", "", "x.service", "failed"))
	w.Publish(Event{Kind: EventUnitActive}) // the action's side effects
	w.Publish(Event{Kind: EventUnitFailed, Node: "worker-0", Unit: "x.service", State: "failed"})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	ev, err := e.Wait(ctx)
	if err != nil || ev.Unit != "x.service" {
		t.Fatalf("%v, %v", ev, err)
	}
	e.Cancel() // again: harmless
}

// A node whose last container is removed is lost when the grace ends
// with no replacement, or at once when SettleNodes is called; a node
// replaced in either order (create then remove, remove then create) is
// not.
func TestNodeLost(t *testing.T) {
	node := func(kind EventKind, name, id string) Event {
		return Event{Kind: kind, Node: name, Role: labels.RoleNode, ContainerID: id, Time: time.Now()}
	}
	w := NewWatcher(nil, "st-0000000000", WithNodeLossGrace(100*time.Millisecond))
	ch := w.Subscribe()
	// Replaced: created before the old one is removed, and after.
	w.Publish(node(EventContainerCreate, "controller", "c1"))
	w.Publish(node(EventContainerCreate, "controller", "c2"))
	w.Publish(node(EventContainerDestroy, "controller", "c1"))
	w.Publish(node(EventContainerCreate, "worker-0", "w1"))
	w.Publish(node(EventContainerDestroy, "worker-0", "w1"))
	w.Publish(node(EventContainerCreate, "worker-0", "w2"))
	// Lost, told by SettleNodes before the grace ends.
	w.Publish(node(EventContainerCreate, "worker-1", "x1"))
	w.Publish(node(EventContainerDestroy, "worker-1", "x1"))
	w.SettleNodes("before the scan's trigger answered")
	// Lost, told by the grace.
	w.Publish(node(EventContainerDestroy, "controller", "c2"))

	var lost []Event
	deadline := time.After(2 * time.Second)
	for len(lost) < 2 {
		select {
		case ev := <-ch:
			if ev.Kind == EventNodeLost {
				lost = append(lost, ev)
			}
		case <-deadline:
			t.Fatalf("node.lost events %v, want worker-1 then controller", lost)
		}
	}
	if lost[0].Node != "worker-1" || !strings.Contains(lost[0].Detail, "no container replaced it before the scan's trigger answered") ||
		lost[1].Node != "controller" || !strings.Contains(lost[1].Detail, "within 100ms") {
		t.Errorf("node.lost events %v, want worker-1 (settled) then controller (grace)", lost)
	}
	select {
	case ev := <-ch:
		t.Errorf("unexpected event after the losses: %v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}
