package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
	"github.com/seatrial-dev/seatrial/internal/selection"
)

// defaultDurations is where the recorded durations that balance shards
// are committed, relative to the module root.
const defaultDurations = "scenarios/testdata/durations.json"

// shard is one of n parts of a run: --shard i/n, i from 1.
type shard struct{ i, n int }

func parseShard(s string) (shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return shard{}, badInput("--shard %q: give i/n with 1 <= i <= n, e.g. 1/2 and 2/2 for two machines", s)
	}
	return shard{i, n}, nil
}

// durations are recorded elapsed times in seconds, by pair name
// ("FullScan/reference"), as --record-durations writes them.
type durations map[string]float64

// readDurations reads a durations file; one that does not exist is empty.
func readDurations(path string) (durations, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return durations{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the recorded durations: %w", err)
	}
	d := durations{}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("read the recorded durations %s: %w", path, err)
	}
	return d, nil
}

// recordDurations adds the run's rows that ran (not skipped) to the
// durations file at path, keeping what it held for other pairs.
func recordDurations(path string, rows []testsummary.Result) error {
	d, err := readDurations(path)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Sub != "" && r.Status != testsummary.Skip && r.Status != testsummary.Running {
			d[selection.PairName(r.Test, r.Sub)] = r.Elapsed.Seconds()
		}
	}
	b, err := json.MarshalIndent(d, "", "  ") // keys sorted: a stable file
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record durations: %w", err)
	}
	return nil
}

// median of the recorded durations, the cost of a pair without one; 1 s
// when nothing is recorded (then every pair costs the same).
func (d durations) median() float64 {
	if len(d) == 0 {
		return 1
	}
	v := make([]float64, 0, len(d))
	for _, s := range d {
		v = append(v, s)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// shardItem is what is placed on a shard: a scenario (a test) with its
// selected profiles, costing the sum of their recorded durations. A
// scenario is not split across shards by profile: a test that does not go
// through forEachProfile (a self-test of the suite) cannot be narrowed to
// a profile, and would run in every shard that held one of its pairs.
type shardItem struct {
	test string
	cost float64
}

// shardItems are the tests with the pairs of profiles that sel names,
// each costing its pairs' recorded durations (the median for a pair
// without one). A test whose subtests are not profiles (a self-test with
// cases) costs what its recorded subtests took, if any were recorded.
func shardItems(tests, profiles []string, sel selection.Selection, d durations) []shardItem {
	med := d.median()
	var items []shardItem
	for _, t := range tests {
		it := shardItem{test: t}
		var named, recorded int
		for _, p := range profiles {
			if !sel.Named(t, p) {
				continue
			}
			named++
			if c, ok := d[selection.PairName(t, p)]; ok {
				it.cost += c
				recorded++
			}
		}
		if recorded == 0 {
			if c, ok := d.subtests(t); ok {
				it.cost = c
				items = append(items, it)
				continue
			}
		}
		it.cost += float64(named-recorded) * med
		items = append(items, it)
	}
	return items
}

// subtests is the sum of the recorded durations of test's subtests.
func (d durations) subtests(test string) (float64, bool) {
	prefix := selection.PairName(test, "")
	var sum float64
	var any bool
	for name, c := range d {
		if strings.HasPrefix(name, prefix) {
			sum += c
			any = true
		}
	}
	return sum, any
}

// planShards places items on n shards, greedy longest first onto the
// least loaded shard (ties: by name, then the lowest shard), so every
// machine computes the same plan. It returns each shard's tests, sorted.
func planShards(items []shardItem, n int) [][]string {
	items = slices.Clone(items)
	sort.Slice(items, func(i, j int) bool {
		if items[i].cost != items[j].cost {
			return items[i].cost > items[j].cost
		}
		return items[i].test < items[j].test
	})
	load := make([]float64, n)
	out := make([][]string, n)
	for _, it := range items {
		least := 0
		for k := 1; k < n; k++ {
			if load[k] < load[least] {
				least = k
			}
		}
		load[least] += it.cost
		out[least] = append(out[least], it.test)
	}
	for _, s := range out {
		sort.Strings(s)
	}
	return out
}
