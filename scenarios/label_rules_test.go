package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// MonitorOnlyLabel is the label watchtower and its forks read to only
// check a container, never update it.
const MonitorOnlyLabel = "com.centurylinklabs.watchtower.monitor-only"

// labelRule is one node of the label table: its labels, and whether the
// updater updates it with --label-enable off and on (watchtower's
// documented rules).
type labelRule struct {
	node       string
	labels     map[string]string
	off, on    bool   // updated with --label-enable off, on
	rule       string // the documented rule, in words
	monitoring bool   // checked but not updated (counts as scanned)
}

var labelRules = []labelRule{
	{node: "plain", off: true, on: false,
		rule: "without the enable label a container is managed, and excluded under --label-enable"},
	{node: "enable-true", labels: map[string]string{EnableLabel: "true"}, off: true, on: true,
		rule: "enable=true is managed in either mode"},
	{node: "enable-false", labels: map[string]string{EnableLabel: "false"},
		rule: "enable=false excludes a container whether --label-enable is on or off"},
	{node: "monitor-only", labels: map[string]string{EnableLabel: "true", MonitorOnlyLabel: "true"}, monitoring: true,
		rule: "monitor-only=true is checked, never updated, in either mode"},
}

// TestLabelRules: each documented label rule, with --label-enable off and
// on (a table of modes × labels, one sandbox per mode): a new version is
// published and one scan triggered; exactly the nodes the rule manages
// are updated, the others keep their container.
func TestLabelRules(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, func(t testing.TB, p harness.Profile) {
		modes := []bool{false}
		if p.Missing(profile.CapLabelFilter) == "" {
			modes = append(modes, true)
		} else {
			t.Logf("profile %s has no --label-enable: only the rules with it off are checked", p.Name)
		}
		var wg sync.WaitGroup
		for _, on := range modes {
			wg.Go(func() { labelRulesInMode(t, p, on) })
		}
		wg.Wait()
	})
}

func labelRulesInMode(t testing.TB, p harness.Profile, labelEnable bool) {
	mode := fmt.Sprintf("--label-enable %s", map[bool]string{false: "off", true: "on"}[labelEnable])
	var nodes []harness.NodeSpec
	for _, r := range labelRules {
		nodes = append(nodes, harness.NodeSpec{Name: r.node, Labels: r.labels})
	}
	w := newWorld(t, p, worldSpec{nodes: nodes, updater: harness.UpdaterOptions{LabelEnable: labelEnable}})
	ctx := within(t, 4*time.Minute)
	before := w.nodes(ctx)
	v2 := w.publishNode(ctx, "v2")
	for _, r := range labelRules {
		if want := map[bool]bool{false: r.off, true: r.on}[labelEnable]; !want {
			w.keepUntouched(r.node, fmt.Sprintf("node %s (%s) with %s was replaced; the rule: %s", r.node, labelList(r.labels), mode, r.rule))
		}
	}
	since := time.Now()
	res := w.scan(ctx)
	w.requireScanOK(res)

	// First what must not have happened (judged at the answer), then
	// what must have (awaited: see requireReplaced).
	after := w.nodes(ctx)
	wanted := map[string]nodeState{}
	why := map[string]string{}
	updated, scanned := 0, 0
	for _, r := range labelRules {
		want := r.off
		if labelEnable {
			want = r.on
		}
		what := fmt.Sprintf("node %s (%s) with %s", r.node, labelList(r.labels), mode)
		if !want {
			require.Equal(t, before[r.node].ContainerID, after[r.node].ContainerID, "%s was replaced; the rule: %s", what, r.rule)
			if r.monitoring {
				scanned++ // managed (enable=true) in either mode: checked
			}
			continue
		}
		wanted[r.node] = before[r.node]
		why[r.node] = fmt.Sprintf("(%s) with %s was not updated; the rule: %s", labelList(r.labels), mode, r.rule)
		updated++
		scanned++
	}
	for node, n := range w.requireReplaced(ctx, wanted, since, func(node string) string { return why[node] }) {
		if _, ok := wanted[node]; ok {
			require.Equal(t, v2.Digest, n.Digest, "node %s %s", node, why[node])
		}
	}
	md := w.scrapeAfterScans(ctx, 1)
	wantUpdated := updated
	if p.Metrics.MonitorOnlyCountsUpdated {
		wantUpdated++ // the monitor-only node has a newer image: counted as updated
	}
	w.requireGauge(md, mUpdated, int64(wantUpdated), "with %s (the profile's metrics.monitor_only_counts_updated is %v)", mode, p.Metrics.MonitorOnlyCountsUpdated)
	w.requireGauge(md, mScanned, int64(scanned), "with %s: the managed nodes and the monitor-only one", mode)
	w.requireGauge(md, mFailed, 0, "with %s", mode)
}

// labelList writes labels as k=v, sorted; "no labels" if none.
func labelList(l map[string]string) string {
	if len(l) == 0 {
		return "no updater labels"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ", ")
}
