package metricclient

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// Change is one series's value in two scrapes.
type Change struct {
	Series Series  // the series as in the later scrape (or the earlier one if it is gone)
	Before float64 // 0 when the series is new
	After  float64 // 0 when the series is gone
	New    bool    // only in the later scrape
	Gone   bool    // only in the earlier scrape
	// Reset: a counter (or a histogram's or summary's _bucket, _sum,
	// _count) went down, so it was reset in between, say by a restart of
	// the updater.
	Reset bool
}

// Delta is After - Before; for a reset counter it is After, what it counted
// since the reset, as Prometheus' increase() takes it.
func (c Change) Delta() float64 {
	if c.Reset {
		return c.After
	}
	return c.After - c.Before
}

// monotonic reports whether e only goes up until it is reset.
func (e *entry) monotonic() bool {
	switch e.fam.typ {
	case "counter":
		return true
	case "histogram", "gaugehistogram":
		return e.fam.typ == "histogram" && e.kind != kindPlain
	case "summary":
		return e.kind != kindPlain // _sum and _count, not the quantiles
	}
	return false
}

// MetricDiff holds the per-series differences between two scrapes.
type MetricDiff struct {
	byName map[string][]Change
	names  []string // sorted names in either scrape
	// between says which two scrapes, for failures.
	between string
}

func mergeNames(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Diff compares two scrapes series by series (same name, same labels). A
// series only in after counts from 0, as a counter created during the
// interval would. Both must parse.
func Diff(before, after MetricData) (*MetricDiff, error) {
	bi, err := before.index()
	if err != nil {
		return nil, fmt.Errorf("diff: earlier scrape: %w", err)
	}
	ai, err := after.index()
	if err != nil {
		return nil, fmt.Errorf("diff: later scrape: %w", err)
	}
	// A series twice in one scrape has no one value to compare: say so,
	// as Find does, rather than keep whichever came last.
	if err := duplicates(bi); err != nil {
		return nil, fmt.Errorf("diff: earlier scrape: %w", err)
	}
	if err := duplicates(ai); err != nil {
		return nil, fmt.Errorf("diff: later scrape: %w", err)
	}
	d := &MetricDiff{byName: map[string][]Change{}, names: mergeNames(bi.names, ai.names),
		between: fmt.Sprintf("between %s and %s", before.Origin(), after.Origin())}
	for name, as := range ai.byName {
		old := map[string]*entry{}
		for _, e := range bi.byName[name] {
			old[formatPairs(e.labels())] = e
		}
		for _, e := range as {
			k := formatPairs(e.labels())
			c := Change{Series: e.series(), After: e.value}
			if o, ok := old[k]; ok {
				c.Before = o.value
				c.Reset = e.monotonic() && o.fam.typ == e.fam.typ && c.After < c.Before
				delete(old, k)
			} else {
				c.New = true
			}
			d.byName[name] = append(d.byName[name], c)
		}
		for _, e := range old {
			d.byName[name] = append(d.byName[name], Change{Series: e.series(), Before: e.value, Gone: true})
		}
	}
	for name, bs := range bi.byName {
		if _, ok := ai.byName[name]; ok {
			continue
		}
		for _, e := range bs {
			d.byName[name] = append(d.byName[name], Change{Series: e.series(), Before: e.value, Gone: true})
		}
	}
	return d, nil
}

// duplicates fails, wrapping ErrAmbiguous, when a series (name and label
// set) occurs more than once in idx, and names the first few.
func duplicates(idx *index) error {
	var dups []string
	n := 0
	for _, name := range idx.names {
		seen := make(map[string]int, len(idx.byName[name]))
		for _, e := range idx.byName[name] {
			k := formatPairs(e.labels())
			seen[k]++
			if seen[k] == 2 {
				n++
				if len(dups) < 10 {
					dups = append(dups, e.String())
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d series occur more than once: %s", ErrAmbiguous, n, strings.Join(dups, ", "))
}

// Changed returns every series whose value differs (new and gone series
// included), sorted by series.
func (d *MetricDiff) Changed() []Change {
	var out []Change
	for _, cs := range d.byName {
		for _, c := range cs {
			if c.New || c.Gone || !sameValue(c.Before, c.After) {
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Series.String() < out[j].Series.String() })
	return out
}

func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// Deltas returns After-Before for every series of the given name whose labels
// include wantLabels, keyed by the series's label set ({a="x",...}).
func (d *MetricDiff) Deltas(name string, wantLabels map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, c := range d.byName[name] {
		if labelsMatch(c.Series.Labels, wantLabels) {
			out[formatLabels(c.Series.Labels)] = c.Delta()
		}
	}
	return out
}

// Delta returns After-Before of the one series with the given name whose
// labels include wantLabels.
func (d *MetricDiff) Delta(name string, wantLabels map[string]string) (float64, error) {
	got := d.Deltas(name, wantLabels)
	switch len(got) {
	case 1:
		for _, v := range got {
			return v, nil
		}
	case 0:
		if _, ok := d.byName[name]; !ok {
			return 0, fmt.Errorf("diff of %s%s: %w: no series by that name in either scrape%s",
				name, displayLabels(wantLabels), ErrNoMatch, nearestNames(d.names, name))
		}
		return 0, fmt.Errorf("diff of %s%s: %w in either scrape; series of that name:%s",
			name, displayLabels(wantLabels), ErrNoMatch, d.list(name))
	}
	return 0, fmt.Errorf("diff of %s%s: %w:%s", name, displayLabels(wantLabels), ErrAmbiguous, d.list(name))
}

// list writes the changes of one name for an error message.
func (d *MetricDiff) list(name string) string {
	var b strings.Builder
	for i, c := range d.byName[name] {
		if i == 20 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(d.byName[name])-i)
			break
		}
		fmt.Fprintf(&b, "\n\t%s %s -> %s", displayLabels(c.Series.Labels), formatFloat(c.Before), formatFloat(c.After))
	}
	return b.String()
}

// ExpectDelta checks that the one series want designates changed by exactly
// delta between the two scrapes, as in "scans_total went up by exactly 1 in
// sandbox S". On a mismatch the error holds a go-cmp diff (-want +got) of
// the deltas of every series of that metric in the sandbox, so that a
// change in the wrong series shows too.
func (d *MetricDiff) ExpectDelta(want WantMetric, delta float64) error {
	if want.Metric == "" {
		return errors.New("ExpectDelta: WantMetric.Metric is empty")
	}
	if want.Sandbox == "" {
		return errors.New("ExpectDelta: WantMetric.Sandbox is empty")
	}
	got, err := d.Delta(want.Metric, want.labels())
	if err != nil {
		return fmt.Errorf("%s, %s: %w", want.Describe(), d.between, err)
	}
	if sameValue(got, delta) {
		return nil
	}
	sandbox := map[string]string{LabelSandbox: want.Sandbox}
	all := d.Deltas(want.Metric, sandbox)
	wantAll := map[string]float64{}
	for k, v := range all {
		wantAll[k] = v
	}
	wantAll[formatLabels(d.matchingLabels(want))] = delta
	return fmt.Errorf("%s changed by %s %s, want %s%s; deltas (-want +got):\n%s",
		want.Describe(), formatFloat(got), d.between, formatFloat(delta), want.hint(got, delta), cmp.Diff(wantAll, all))
}

func (d *MetricDiff) matchingLabels(want WantMetric) map[string]string {
	wl := want.labels()
	for _, c := range d.byName[want.Metric] {
		if labelsMatch(c.Series.Labels, wl) {
			return c.Series.Labels
		}
	}
	return wl
}
