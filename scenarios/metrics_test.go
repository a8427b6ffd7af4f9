package scenarios

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// metric is one of the metrics a profile names, by the profile's key for
// it ("metrics.scanned"). testdata/metrics.json says what its number means
// (see meaning), so that a failed assertion names the metric, the
// profile's name for it, the sandbox, the scrape and the sense, never a
// bare number.
type metric string

// meaning is what a metric's number means: what it counts, and what a
// value above or below the wanted one suggests.
type meaning struct {
	Sense  string `json:"sense"`
	IfMore string `json:"if_more,omitempty"`
	IfLess string `json:"if_less,omitempty"`
}

//go:embed testdata/metrics.json
var meaningsJSON []byte

// meanings reads testdata/metrics.json once.
var meanings = sync.OnceValues(func() (map[metric]meaning, error) {
	var ms map[metric]meaning
	if err := json.Unmarshal(meaningsJSON, &ms); err != nil {
		return nil, fmt.Errorf("testdata/metrics.json: %w", err)
	}
	return ms, nil
})

const (
	mScanned      metric = "metrics.scanned"
	mUpdated      metric = "metrics.updated"
	mFailed       metric = "metrics.failed"
	mSkipped      metric = "metrics.skipped"
	mScansTotal   metric = "metrics.scans_total"
	mScansSkipped metric = "metrics.scans_skipped"
	mRollbacks    metric = "metrics.rollbacks"
)

// nameIn is the metric's name in profile p ("" if p names none).
func (m metric) nameIn(p harness.Profile) string { return p.Metrics.Named()[string(m)] }

// wantOf designates this sandbox's updater series of m, with its sense.
func (w *world) wantOf(m metric) metricclient.WantMetric {
	ms, err := meanings()
	require.NoError(w.t, err)
	mean, ok := ms[m]
	if !ok {
		w.t.Fatalf("testdata/metrics.json says nothing of %s: say what its number means there", m)
	}
	name := m.nameIn(w.profile)
	if name == "" {
		// A key the profile format lacks (misspelt here) reads the same.
		w.t.Fatalf("the profile %s names no metric for %s (%s), which this assertion needs", w.profile.Name, m, mean.Sense)
	}
	want := w.want(name)
	want.Key, want.Sense, want.IfMore, want.IfLess = string(m), mean.Sense, mean.IfMore, mean.IfLess
	return want
}

// requireGauge asserts an updater gauge's value in a scrape; msgAndArgs
// add why that value is wanted.
func (w *world) requireGauge(md metricclient.MetricData, m metric, v int64, msgAndArgs ...any) {
	w.t.Helper()
	require.NoError(w.t, md.ExpectInteger(w.wantOf(m), v), msgAndArgs...)
}

// requireDelta asserts that an updater counter changed by exactly delta
// between two scrapes.
func (w *world) requireDelta(before, after metricclient.MetricData, m metric, delta float64) {
	w.t.Helper()
	d, err := metricclient.Diff(before, after)
	require.NoError(w.t, err)
	require.NoError(w.t, d.ExpectDelta(w.wantOf(m), delta))
}

// requireRegistryDelta asserts the change of the sandbox registry's
// request counter, summed over the series that match (handler, method),
// and says what those requests are (sense) when it differs.
func (w *world) requireRegistryDelta(before, after metricclient.MetricData, match map[string]string, want float64, sense string) {
	w.t.Helper()
	got := w.registryDelta(before, after, match)
	if got != want {
		require.Failf(w.t, "registry request count", "registry_http_requests_total%s (%s) in sandbox %s changed by %g between %s and %s, want %g",
			fmt.Sprint(match), sense, w.sb.ID(), got, before.Origin(), after.Origin(), want)
	}
}

// scrapeOrigin names a scrape of this world for failures.
func (w *world) scrapeOrigin() string {
	return fmt.Sprintf("scrape %d of the metrics server at %s", w.scrapes.Add(1), time.Now().UTC().Format("15:04:05.0"))
}
