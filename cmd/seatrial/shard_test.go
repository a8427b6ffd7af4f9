package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
	"github.com/seatrial-dev/seatrial/internal/selection"
)

// The shards of a selection are disjoint, cover it, are the same on
// every call, and differ in load by no more than the largest item.
func TestPlanShards(t *testing.T) {
	d := durations{"FullScan/reference": 5.6, "FullScan/watchtower-1.7.1": 10.7, "HealthGatedRollback/reference": 19.3,
		"NoOpScan/reference": 4.2, "NoOpScan/watchtower-1.7.1": 6.5, "NodeLoss/reference": 6.6, "NodeLoss/watchtower-1.7.1": 7,
		"RegistryDownDuringScan/reference": 7, "RegistryDownDuringScan/watchtower-1.7.1": 19.3,
		"WaitsFailFast/TriggerAnswers500": 3, "WaitsFailFast/NodeRemoved": 4}
	tests := []string{"TestWaitsFailFast", "TestFullScan", "TestHealthGatedRollback", "TestNoOpScan", "TestNodeLoss", "TestRegistryDownDuringScan", "TestScopeIsolation", "TestMonitorOnly"}
	profiles := []string{"watchtower-1.7.1", "reference"}
	sel, err := selection.Parse("", "NodeLoss/reference", "")
	require.NoError(t, err)
	items := shardItems(tests, profiles, sel, d)
	cost := map[string]float64{}
	var largest float64
	for _, it := range items {
		cost[it.test] = it.cost
		largest = max(largest, it.cost)
	}
	assert.Equal(t, 7.0, cost["TestNodeLoss"], "a skipped pair costs nothing")
	assert.Equal(t, 2*d.median(), cost["TestScopeIsolation"], "a pair without a recorded duration costs the median")
	assert.Equal(t, 7.0, cost["TestWaitsFailFast"], "a test whose subtests are not profiles costs its recorded subtests")

	reversed := slices.Clone(items)
	slices.Reverse(reversed)
	for n := 1; n <= 8; n++ {
		plan := planShards(items, n)
		require.Len(t, plan, n)
		assert.Equal(t, plan, planShards(reversed, n), "the plan does not depend on the order of the items")
		var all []string
		lo, hi := -1.0, 0.0
		for _, s := range plan {
			all = append(all, s...)
			var load float64
			for _, test := range s {
				load += cost[test]
			}
			hi = max(hi, load)
			if lo < 0 || load < lo {
				lo = load
			}
		}
		slices.Sort(all)
		assert.Equal(t, slices.Sorted(slices.Values(tests)), all, "%d shards: disjoint and covering", n)
		assert.LessOrEqual(t, hi-lo, largest, "%d shards: balanced within the largest item", n)
	}
}

func TestParseShard(t *testing.T) {
	s, err := parseShard("2/3")
	require.NoError(t, err)
	assert.Equal(t, shard{2, 3}, s)
	for _, bad := range []string{"3/2", "0/2", "1", "a/b", "1/0", "-1/2"} {
		_, err := parseShard(bad)
		assert.ErrorContains(t, err, "give i/n with 1 <= i <= n", bad)
	}
}

func TestRecordDurations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "durations.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"Old/reference": 3}`), 0o644))
	require.NoError(t, recordDurations(path, []testsummary.Result{
		{Test: "TestFullScan", Sub: "reference", Status: testsummary.Pass, Elapsed: 5600 * time.Millisecond},
		{Test: "TestFullScan", Sub: "watchtower-1.7.1", Status: testsummary.Skip},
	}))
	d, err := readDurations(path)
	require.NoError(t, err)
	assert.Equal(t, durations{"Old/reference": 3, "FullScan/reference": 5.6}, d)
}
