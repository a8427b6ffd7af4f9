package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// TestRuleBreakersAreCaught runs scenarios against the reference updater
// broken on purpose (its test-only --fault flag), one way at a time, each
// a class of real updater bugs (issue 18). Each scenario must fail, first
// with the words that name the cause, within caughtBound of the evidence,
// and leave nothing on the engine, by label or not: containers named for
// its sandboxes, their networks and their volumes.
func TestRuleBreakersAreCaught(t *testing.T) {
	ref := selfTest(t, "a self-test of the scenarios against broken updaters")
	labelRulesOff := func(t testing.TB, p harness.Profile) { labelRulesInMode(t, p, false) }
	cases := []ruleBreaker{
		{name: "KeepsOnlyItsOwnLabels", fault: "keep-own-labels", body: fullScan, finding: droppedLabel(labels.Sandbox)},
		{name: "StripsEveryLabel", fault: "strip-labels", body: fullScan, finding: droppedLabel(labels.Sandbox)},
		{name: "DropsTheScopeLabel", fault: "drop-scope-label", body: updateTwice, finding: droppedLabel("com.centurylinklabs.watchtower.scope")},
		{name: "IgnoresEnableFalseWithoutLabelEnable", fault: "enable-false-needs-label-enable", body: labelRulesOff, finding: finding{
			says: "node enable-false (com.centurylinklabs.watchtower.enable=false) with --label-enable off was replaced; the rule: enable=false excludes a container whether --label-enable is on or off",
			evidence: func(ev monitor.Event) bool {
				// The first sign of the stop: the engine's kill (the stop
				// signal) comes before its stop event.
				return (ev.Kind == monitor.EventContainerKill || ev.Kind == monitor.EventContainerStop) && ev.Node == "enable-false"
			},
		}},
		{name: "CountsOutOfScopeAsScanned", fault: "count-out-of-scope", body: fullScan, finding: finding{
			says:     "(the profile's metrics.scanned: containers scanned in this sandbox's last scan) in sandbox",
			evidence: isKind(monitor.EventScanAnswered),
		}},
		{name: "TriggerAnswersEarly", fault: "trigger-early", body: fullScan, finding: answeredEarly},
		{name: "TriggerAnswersEarlyLabelRules", fault: "trigger-early", body: labelRulesOff, finding: answeredEarly},
		{name: "TriggerAnswersEarlyRollback", fault: "trigger-early", body: healthGatedRollback, finding: answeredEarly},
		{
			// A client pinned below the engine's minimum that starts without
			// asking the engine anything: it serves, and cannot work.
			name: "ServesWhereItCannotWork", fault: "api-version-1.41", args: []string{"--api-version", "1.41"},
			body: func(t testing.TB, p harness.Profile) { engineAPIRange(t, p, docker29) },
			finding: finding{
				says:     "the updater came up against Docker 29 (minimum API 1.44), but its scan failed",
				evidence: isKind(monitor.EventScanAnswered),
			},
		},
		{name: "ThrottledScanLooksClean", fault: "registry-error-as-fresh", body: rateLimited, finding: finding{
			says: "a scan while the registry was throttled looked clean", evidence: isKind(monitor.EventScanAnswered),
		}},
		{name: "RetryStampede", fault: "retry-stampede", body: rateLimited, finding: finding{
			says: "retry stampede", evidence: isKind(monitor.EventScanAnswered),
		}},
		{name: "FlakyRegistryScanLooksClean", fault: "registry-error-as-fresh", body: registryFlaky, finding: finding{
			says: "a scan while the registry was failing with 503 looked clean", evidence: isKind(monitor.EventScanAnswered),
		}},
		{
			// With wrong credentials from the start (no update first: the
			// evidence is the first scan's answer).
			name: "RefusedLoginLooksClean", fault: "auth-failure-as-fresh",
			body: func(t testing.TB, p harness.Profile) {
				w := privateWorld(t, p, harness.RegistryAuthBasic, harness.CredentialsWrong)
				var v3 *harness.Published
				refusedLogin(t, within(t, 3*time.Minute), w, "htpasswd basic auth", harness.CredentialsWrong, &v3)
			},
			finding: finding{says: "a scan with wrong registry credentials looked clean", evidence: isKind(monitor.EventScanAnswered)},
		},
		{name: "DeploysCorruptManifest", fault: "skip-digest-verify", body: corruptManifest, finding: finding{
			says: "to deploy a manifest that does not match its digest",
			evidence: func(ev monitor.Event) bool {
				return ev.Kind == monitor.EventContainerKill || ev.Kind == monitor.EventContainerStop
			},
		}},
	}
	for _, c := range cases {
		// One at a time: each starts systemd nodes on the shared engine.
		t.Run(c.name, func(t *testing.T) {
			p := ref
			args := c.args
			if args == nil {
				args = []string{"--fault", c.fault}
			}
			p.Args = append(slices.Clone(ref.Args), args...)
			var seen *caught
			t.Run("scenario", func(t *testing.T) {
				seen = runCaught(t, p, c.body)
				require.True(t, seen.failed(), "the scenario passed on an updater with fault %s", c.fault)
				first := seen.first()
				t.Logf("first failure (fault %s): %s", c.fault, firstLine(first))
				require.Contains(t, first, c.says, "the first failure does not name the cause")
				var from monitor.Event
				for _, w := range seen.worlds {
					for _, ev := range w.watcher.Timeline() {
						if c.evidence(ev) && (from.Time.IsZero() || ev.Time.Before(from.Time)) {
							from = ev
						}
					}
				}
				require.False(t, from.Time.IsZero(), "the watcher saw no evidence of fault %s", c.fault)
				took := seen.at.Sub(from.Time)
				t.Logf("from the evidence (%s) to the failure: %v", from, took.Round(time.Millisecond))
				require.Less(t, took, caughtBound, "the failure came %v after the evidence %s", took, from)
			})
			// The scenario's cleanups have run: nothing of its sandboxes
			// may be left, also what lost their labels.
			require.NotNil(t, seen)
			for _, sb := range seen.sandboxes() {
				left := leftovers(t, sb, seen.volumes[sb])
				require.Empty(t, left, "fault %s: left on the engine after sandbox %s was removed", c.fault, sb)
				t.Logf("fault %s: sandbox %s left nothing (containers by name and label, networks, %d volumes checked)", c.fault, sb, len(seen.volumes[sb]))
			}
		})
	}
}

// ruleBreaker is a case of TestRuleBreakersAreCaught: the scenario body
// run against the reference updater with the --fault that breaks a rule,
// and the finding the scenario must report.
type ruleBreaker struct {
	name, fault string
	// args break the updater instead of --fault (fault then only names
	// the break in messages).
	args []string
	body func(t testing.TB, p harness.Profile)
	finding
}

// finding is what a scenario must say first when a rule is broken, and
// the event that shows the rule broken (the evidence caughtBound is
// measured from).
type finding struct {
	says     string
	evidence func(ev monitor.Event) bool
}

// droppedLabel is the finding of a replacement that lost label key.
func droppedLabel(key string) finding {
	return finding{says: "the updater dropped label " + key + " from node", evidence: isKind(monitor.EventLabelLost)}
}

// answeredEarly is the finding of a scan trigger that answered before its
// scan was done.
var answeredEarly = finding{says: "the scan trigger answered before its scan was done", evidence: isKind(monitor.EventScanEarly)}

func isKind(k monitor.EventKind) func(monitor.Event) bool {
	return func(ev monitor.Event) bool { return ev.Kind == k }
}

// firstLine is the first line of a failure that says something: in
// testify's form, the line after "Error:" (with its "Messages:"), else
// the first line.
func firstLine(s string) string {
	var errLine, msgs string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Error:"); ok && errLine == "" {
			errLine = strings.TrimSpace(v)
			if errLine == "Received unexpected error:" || errLine == "" {
				errLine = "" // the error itself is on the next line
				continue
			}
		} else if v, ok := strings.CutPrefix(l, "Messages:"); ok {
			msgs = strings.TrimSpace(v)
		} else if errLine == "" && strings.Contains(s, "Received unexpected error:") && l != "" &&
			!strings.HasPrefix(l, "Error Trace:") && !strings.HasPrefix(l, "/") && !strings.HasPrefix(l, "Error:") {
			errLine = l
		}
	}
	if errLine == "" {
		l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
		return l
	}
	if msgs != "" {
		return msgs + ": " + errLine
	}
	return errLine
}

// caught is the testing.TB a broken updater's scenario runs against: it
// records the failures and when the first came, and the worlds the
// scenario made (see newWorld's noteWorld), with the volumes their nodes
// mount, read while they exist.
type caught struct {
	*recorder
	mu      sync.Mutex
	at      time.Time
	worlds  []*world
	volumes map[string][]string // by sandbox id
}

func (c *caught) note() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		c.at = time.Now()
	}
}

func (c *caught) Errorf(format string, args ...any) { c.note(); c.recorder.Errorf(format, args...) }
func (c *caught) Error(args ...any)                 { c.note(); c.recorder.Error(args...) }
func (c *caught) Fatalf(format string, args ...any) { c.Errorf(format, args...); c.FailNow() }
func (c *caught) Fatal(args ...any)                 { c.Error(args...); c.FailNow() }

func (c *caught) noteWorld(w *world) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.worlds = append(c.worlds, w)
}

func (c *caught) failed() bool {
	c.recorder.mu.Lock()
	defer c.recorder.mu.Unlock()
	return c.recorder.failed
}

func (c *caught) first() string {
	c.recorder.mu.Lock()
	defer c.recorder.mu.Unlock()
	if len(c.recorder.msgs) == 0 {
		return ""
	}
	return c.recorder.msgs[0]
}

func (c *caught) sandboxes() []string {
	var out []string
	for _, w := range c.worlds {
		out = append(out, w.sb.ID())
	}
	return out
}

// runCaught runs body for p against a caught, then records the volumes
// the sandboxes' containers mount (to check after the cleanups) and hands
// later failures (the cleanups') to t.
func runCaught(t *testing.T, p harness.Profile, body func(testing.TB, harness.Profile)) *caught {
	c := &caught{recorder: &recorder{TB: t}, volumes: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(c, p)
	}()
	<-done
	ctx := within(t, time.Minute)
	for _, id := range c.sandboxes() {
		c.volumes[id] = sandboxVolumes(t, ctx, id)
	}
	c.recorder.mu.Lock()
	c.recorder.judged = true // a cleanup's failure is the real test's
	c.recorder.mu.Unlock()
	return c
}

// ofSandbox lists every container of sandbox id, by its label or by its
// name (an updater may have dropped the label), with its name.
func ofSandbox(t testing.TB, ctx context.Context, id string) map[string]container.Summary {
	all, err := s.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	require.NoError(t, err)
	out := map[string]container.Summary{}
	for _, c := range all.Items {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if c.Labels[labels.Sandbox] == id || strings.HasPrefix(name, id+"-") {
			out[name] = c
		}
	}
	return out
}

// sandboxVolumes lists the volumes the sandbox's containers mount.
func sandboxVolumes(t testing.TB, ctx context.Context, id string) []string {
	var out []string
	for _, c := range ofSandbox(t, ctx, id) {
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume && m.Name != "" {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

// leftovers is what of sandbox id is still on the engine: containers by
// label or name, networks by label or name, the volumes its containers
// mounted.
func leftovers(t testing.TB, id string, volumes []string) []string {
	ctx := within(t, time.Minute)
	var left []string
	for name, c := range ofSandbox(t, ctx, id) {
		left = append(left, fmt.Sprintf("container %s (%.12s, %d labels)", name, c.ID, len(c.Labels)))
	}
	nets, err := s.cli.NetworkList(ctx, client.NetworkListOptions{})
	require.NoError(t, err)
	for _, n := range nets.Items {
		if n.Labels[labels.Sandbox] == id || n.Name == id || strings.HasPrefix(n.Name, id+"-") {
			left = append(left, "network "+n.Name)
		}
	}
	for _, v := range volumes {
		if _, err := s.cli.VolumeInspect(ctx, v, client.VolumeInspectOptions{}); err == nil {
			left = append(left, "volume "+v)
		}
	}
	return left
}
