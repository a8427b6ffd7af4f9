package scenarios

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestEngineAPIFloor: from before the updater starts, the engine proxy
// shows it an engine of another API range: Docker 29's (1.44 at the
// least), and one capped at 1.41. The updater either works there (a scan
// updates every node, as in FullScan) or refuses at start with a clear
// error: it exits non-zero, its log names the API version, and no node is
// touched. It never panics, never exits or restarts once it served, and
// never half-updates.
//
// The proxy answers a version outside the range exactly as such an engine
// does, and forwards one above the real engine's at the real engine's
// version. On an engine whose own maximum is the cap (1.41 here) the cap
// changes nothing, and the scenario must pass as FullScan does.
func TestEngineAPIFloor(t *testing.T) {
	forEachVariant(t, []profile.Capability{profile.CapScope, profile.CapHandlesEngineAPIRange}, []variant{
		docker29,
		{"max-1.41", "api max=1.41", "an engine capped at API 1.41"},
	}, engineAPIRange)
}

// docker29 is an engine whose minimum API is 1.44 (the detail is the
// engine, in words).
var docker29 = variant{"min-1.44", "api min=1.44", "Docker 29 (minimum API 1.44)"}

func engineAPIRange(t testing.TB, p harness.Profile, v variant) {
	rule, engineDesc := v.rule, v.detail
	w := newWorld(t, p, worldSpec{engineRules: []string{rule}, updaterMayRefuse: true})
	ctx := within(t, 4*time.Minute)
	before := w.nodes(ctx)
	if w.updaterErr != nil {
		requireRefusedClearly(t, ctx, w, engineDesc, before)
		return
	}

	since := time.Now()
	v2 := w.publishNode(ctx, "v2")
	res := w.scan(ctx)
	requireUpdaterAlive(t, ctx, w, rule)
	if !res.OK(p) {
		require.FailNow(t, fmt.Sprintf("the updater came up against %s, but its scan failed: it must work there, or refuse at start with a clear error", engineDesc),
			"scan answer %d: %s", res.Status, oneLine(res.Body, 300))
	}
	after := w.requireReplaced(ctx, before, since, saying(fmt.Sprintf(
		"was not recreated by the scan, though the updater came up against %s: it must work there, or refuse at start with a clear error", engineDesc)))
	for name, n := range after {
		require.Equal(t, v2.Digest, n.Digest, "node %s runs the new version (engine: %s)", name, engineDesc)
		require.True(t, n.Running, "node %s runs (engine: %s)", name, engineDesc)
	}
	md := w.scrapeAfterScans(ctx, 1)
	w.requireGauge(md, mUpdated, int64(len(before)))
	w.requireGauge(md, mFailed, 0)
}

// apiVersionNamed matches a log that names an API version problem: the
// engine's own words ("client version 1.41 is too old. Minimum supported
// API version is 1.44") or the updater's.
var apiVersionNamed = regexp.MustCompile(`(?i)(api|client)[ _-]?version.{0,80}?\d+\.\d+|\d+\.\d+.{0,80}?(api|client)[ _-]?version|version \d+\.\d+ is too (old|new)`)

// requireRefusedClearly judges an updater that did not come up: it must
// have exited non-zero, without a panic, with a log that names the API
// version, and have touched no node.
func requireRefusedClearly(t testing.TB, ctx context.Context, w *world, engineDesc string, before map[string]nodeState) {
	t.Helper()
	name := w.sb.ID() + "-updater"
	insp, err := s.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	require.NoError(t, err, "the updater's container (it did not come up: %v)", w.updaterErr)
	logs, err := engine.Logs(ctx, s.cli, insp.Container.ID)
	require.NoError(t, err)
	st := insp.Container.State
	switch {
	case st != nil && st.Running:
		require.FailNow(t, fmt.Sprintf("against %s the updater neither served its API nor exited: it hangs", engineDesc), "%v", w.updaterErr)
	case strings.Contains(logs, "panic:"):
		require.FailNow(t, fmt.Sprintf("against %s the updater panicked at start", engineDesc), "its log:\n%s", lastLines(logs, 40))
	case st != nil && st.ExitCode == 0:
		require.FailNow(t, fmt.Sprintf("against %s the updater exited 0 at start, though it cannot work: a supervisor sees success", engineDesc), "its log:\n%s", lastLines(logs, 20))
	case !apiVersionNamed.MatchString(logs):
		require.FailNow(t, fmt.Sprintf("against %s the updater exited at start (code %d) without naming the API version: the error is not clear", engineDesc, st.ExitCode), "its log:\n%s", lastLines(logs, 20))
	}
	// Untouched since it started: no node container of the sandbox was
	// stopped, killed, renamed or removed, and each runs v1.
	for _, ev := range w.watcher.Timeline() {
		switch ev.Kind {
		case monitor.EventContainerKill, monitor.EventContainerStop, monitor.EventContainerDie, monitor.EventContainerRename, monitor.EventContainerDestroy:
			if ev.Node != "" {
				require.FailNow(t, fmt.Sprintf("against %s the updater refused to start, but not before it touched node %s", engineDesc, ev.Node), "%s", ev)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(before)) {
		require.True(t, before[n].Running && before[n].Digest == w.v1.Digest, "node %s runs v1 after the updater refused to start: %+v", n, before[n])
	}
	t.Logf("refused at start against %s, exit code %d: %s", engineDesc, st.ExitCode, oneLine(lastLineMatching(logs, apiVersionNamed), 300))
}

func lastLineMatching(s string, re *regexp.Regexp) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if re.MatchString(lines[i]) {
			return lines[i]
		}
	}
	return ""
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
