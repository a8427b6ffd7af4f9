package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// slowStop is how long the node's shutdown takes, in seconds: a unit
// whose stop sleeps this long. It is longer than the 10 s grace that the
// engine and updaters default to and shorter than the node's own
// (realisticStopTimeout), so an updater that stops the node with any grace
// but the node's own, down to about 12 s, SIGKILLs it mid-shutdown. A
// grace period is only seen by outlasting it; this is what the scenario
// costs.
const slowStop = 12

// slowStopUnit is the unit that makes the shutdown take slowStop seconds.
const slowStopUnit = "seatrial-slowstop.service"

// sigNames names the signal numbers the engine reports in kill events.
var sigNames = map[string]string{"9": "SIGKILL", "15": "SIGTERM", "37": "SIGRTMIN+3", "2": "SIGINT", "3": "SIGQUIT"}

func mapNames(sigs []string) []string {
	out := make([]string, len(sigs))
	for i, s := range sigs {
		out[i] = sigName(s)
	}
	return out
}

func sigName(n string) string {
	if s, ok := sigNames[n]; ok {
		return s + " (" + n + ")"
	}
	return "signal " + n
}

// TestGracefulStop: a systemd node whose stop signal is set only on the
// container (Config.StopSignal SIGRTMIN+3, systemd's "halt"; watchtower's
// stop-signal label is left out) and whose own grace period
// (Config.StopTimeout, 30 s) is longer than its shutdown (12 s) is
// updated. The old container must get SIGRTMIN+3 first and never SIGKILL
// (the engine's kill events, signal attribute), and its journal, on a
// named volume the new container mounts too, must show the shutdown to
// its end: the slow unit stopped, "Shutting down.", "Journal stopped".
// An updater that SIGKILLs, sends SIGTERM (systemd re-executes itself on
// it) or cuts the grace period short fails. Needs API 1.41.
func TestGracefulStop(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapGracefulStop}, func(t testing.TB, p harness.Profile) {
		spec := realisticNode("controller", "")
		spec.OwnStopSignalOnly = true
		w := newWorld(t, p, worldSpec{nodes: []harness.NodeSpec{spec}})
		ctx := within(t, 4*time.Minute)
		node := w.cluster.Node("controller")
		oldID, err := node.ContainerID(ctx)
		require.NoError(t, err)
		// The journal lives in /var/log/journal/<machine id>, and each
		// container gets a machine id of its own.
		res, err := node.Exec(ctx, "cat", "/etc/machine-id")
		require.NoError(t, err)
		machineID := strings.TrimSpace(res.Stdout)
		require.NotEmpty(t, machineID)
		unit := fmt.Sprintf("[Unit]\nDescription=a service whose stop takes %d s\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\nExecStop=/bin/sleep %d\nTimeoutStopSec=%d\n", slowStop, slowStop, slowStop+30)
		res, err = node.Exec(ctx, "sh", "-c", `printf %s "$1" > /run/systemd/system/`+slowStopUnit+" && systemctl daemon-reload && systemctl start "+slowStopUnit, "sh", unit)
		require.NoError(t, err)
		require.Zero(t, res.ExitCode, "install %s: %s", slowStopUnit, res.Stderr)

		w.publishNode(ctx, "v2")
		w.requireScanOK(w.scan(ctx))
		ev, err := w.waitFor(ctx, monitor.Recreated("controller", oldID), monitor.IncludePast())
		require.NoError(t, err)

		// The engine's word: the signals the old container got, in order.
		var signals, problems []string
		for _, e := range w.watcher.Timeline() {
			if e.Kind == monitor.EventContainerKill && e.ContainerID == oldID {
				signals = append(signals, e.Detail)
			}
		}
		switch {
		case len(signals) == 0:
			problems = append(problems, "the engine reports no signal sent to the old container")
		case signals[0] != "37":
			problems = append(problems, fmt.Sprintf("the old container was first sent %s, not its own stop signal SIGRTMIN+3 (37)", sigName(signals[0])))
		case slices.Contains(signals[1:], "9"):
			problems = append(problems, fmt.Sprintf("the old container was sent SIGKILL after SIGRTMIN+3: its grace period was cut short (its own is %d s, its shutdown takes %d s)", realisticStopTimeout, slowStop))
		}

		// systemd's word: the old node's journal, read in the new one.
		w.waitHealthy(ctx, "controller", ev.ContainerID)
		res, err = node.Exec(ctx, "journalctl", "--no-pager", "-o", "short-iso", "-D", "/var/log/journal/"+machineID)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
		for _, want := range []string{"Stopped " + slowStopUnit, "Shutting down.", "Journal stopped"} {
			if !strings.Contains(res.Stdout, want) {
				problems = append(problems, fmt.Sprintf("the old node's journal does not show a clean shutdown: no %q (journalctl exit %d%s); its last lines:\n%s",
					want, res.ExitCode, strings.TrimSpace(" "+res.Stderr), strings.Join(lines[max(0, len(lines)-6):], "\n")))
				break
			}
		}
		if len(problems) > 0 {
			t.Fatalf("the old container %.12s was not stopped gracefully: %s (signals, as the engine reports them: %s)\n%s",
				oldID, problems[0], strings.Join(mapNames(signals), ", "), strings.Join(problems[1:], "\n"))
		}
	})
}
