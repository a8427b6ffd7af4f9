package scenarios

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// TestWaitsFailFast: a world's wait for an update (the node recreated)
// ends at once, in words, when something contradicts it. Each case makes
// the real reference updater misbehave (its test-only --fault flag) or
// acts on the real engine; the wait has no deadline short enough to end
// it otherwise (4 minutes).
func TestWaitsFailFast(t *testing.T) {
	p := selfTest(t, "a self-test of the suite's waits")
	cases := []struct {
		name  string
		spec  worldSpec
		fault string
		// act starts the scan (or does what the case is about) while the
		// wait is armed; it runs in its own goroutine.
		act func(ctx context.Context, w *world)
		// kind is the contradicting event the wait must end on, from is
		// the event the bound is measured from (default: that one).
		kind monitor.EventKind
		from func(ev monitor.Event) bool
		// says are what the error must say.
		says []string
	}{{
		name: "TriggerAnswers500", fault: "trigger-500",
		act:  func(ctx context.Context, w *world) { _, _ = w.trigger(ctx) },
		kind: monitor.EventScanFailed,
		says: []string{"the scan trigger answered 500 Internal Server Error:", "injected fault", "while waiting for node controller to be recreated"},
	}, {
		name: "TriggerGetsNoAnswer", fault: "trigger-hangup",
		act:  func(ctx context.Context, w *world) { _, _ = w.trigger(ctx) },
		kind: monitor.EventScanFailed,
		says: []string{"the scan trigger got no answer:", "EOF", "while waiting for node controller to be recreated"},
	}, {
		name: "UpdaterExitsMidScan", fault: "exit-mid-scan",
		// The trigger's own answer (EOF) is not reported: this case is
		// about the updater's container exiting.
		act:  func(ctx context.Context, w *world) { _, _ = w.updater.Scan(ctx) },
		kind: monitor.EventContainerDie,
		says: []string{"the updater (container", "exited with code 3 at", "updater log:", "fault exit-mid-scan", "while waiting for node controller to be recreated"},
	}, {
		name: "UpdaterKilled",
		act: func(ctx context.Context, w *world) {
			_, err := s.cli.ContainerKill(ctx, w.updater.ContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"})
			assert.NoError(t, err)
		},
		kind: monitor.EventContainerDie,
		says: []string{"the updater (container", "exited with code 137 at", "while waiting for node controller to be recreated"},
	}, {
		name: "NodeRemovedNotReplacedByTheScan", fault: "remove-then-fail-create",
		act:  func(ctx context.Context, w *world) { _, _ = w.trigger(ctx) },
		kind: monitor.EventNodeLost,
		from: func(ev monitor.Event) bool {
			return ev.Kind == monitor.EventContainerDestroy && ev.Node == "controller"
		},
		says: []string{"node controller (container", "was removed at", "no container replaced it before the scan's trigger answered",
			"updater log:", "recreate failed after the old container was removed", "while waiting for node controller to be recreated"},
	}, {
		name: "NodeRemovedNotReplacedWithinGrace",
		spec: worldSpec{nodeLossGrace: time.Second},
		act: func(ctx context.Context, w *world) {
			_, err := s.cli.ContainerRemove(ctx, w.cluster.Node("controller").ContainerName(), client.ContainerRemoveOptions{Force: true})
			assert.NoError(t, err)
		},
		kind: monitor.EventNodeLost,
		from: func(ev monitor.Event) bool {
			return ev.Kind == monitor.EventContainerDestroy && ev.Node == "controller"
		},
		says: []string{"node controller (container", "was removed at", "no container replaced it within 1s", "while waiting for node controller to be recreated"},
	}, {
		name: "ScanFinishesWithFailures", fault: "fail-create",
		act:  func(ctx context.Context, w *world) { _, _ = w.trigger(ctx) },
		kind: monitor.EventScanFailed,
		says: []string{"the scan finished with 1 failed containers", `"failed":1`, "updater log:", "injected fault", "while waiting for node controller to be recreated"},
	}}
	for _, c := range cases {
		// One at a time: each starts a sandbox with a systemd node, and
		// the other scenarios already load the shared engine.
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			spec.nodes = []harness.NodeSpec{{Name: "controller"}}
			if c.fault != "" {
				spec.updater.ExtraArgs = []string{"--fault", c.fault}
			}
			w := newWorld(t, p, spec)
			ctx := within(t, 4*time.Minute)
			old := w.nodes(ctx)["controller"]
			w.publishNode(ctx, "v2")

			pending := w.expect(monitor.Recreated("controller", old.ContainerID))
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.act(ctx, w)
			}()
			defer func() { <-done }()
			_, err := pending.wait(ctx)
			returned := time.Now()
			require.Error(t, err, "the wait ended with the node recreated, despite the fault")
			t.Logf("the wait's error:\n%v", err)

			var ce *monitor.ContradictionError
			require.True(t, errors.As(err, &ce), "the wait did not end on a contradiction: %v", err)
			require.Equal(t, c.kind, ce.Event.Kind, "contradicted by %s", ce.Event)
			from := ce.Event
			if c.from != nil {
				var we *monitor.WaitError
				require.True(t, errors.As(err, &we))
				found := false
				for _, ev := range we.Seen {
					if c.from(ev) {
						from, found = ev, true
					}
				}
				require.True(t, found, "the wait's error lists no event the bound is measured from")
			}
			took := returned.Sub(from.Time)
			t.Logf("from %s to the wait's return: %v", from, took)
			require.Less(t, took, failFastBound, "the wait ended %v after %s", took, from)
			for _, want := range c.says {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}
