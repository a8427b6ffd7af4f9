package scenarios

import (
	"fmt"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// metric is one of the metrics a profile names, with what its number
// means, so that a failed assertion names the metric, the profile's name
// for it, the sandbox, the scrape and the sense, never a bare number.
type metric struct {
	key    string // the profile's key for it: "metrics.scanned"
	sense  string // what the number counts
	ifMore string // what a value above the wanted one suggests
	ifLess string // and below it
}

var (
	mScanned = metric{
		key:    "metrics.scanned",
		sense:  "containers scanned in this sandbox's last scan",
		ifMore: "the updater also counted containers outside its scope, or excluded ones?",
		ifLess: "the updater skipped containers of its scope?",
	}
	mUpdated = metric{
		key:    "metrics.updated",
		sense:  "containers updated in this sandbox's last scan",
		ifMore: "the updater counted (or replaced) containers it should have left alone?",
		ifLess: "a container was not updated, or not counted?",
	}
	mFailed = metric{
		key:    "metrics.failed",
		sense:  "containers whose update failed in this sandbox's last scan",
		ifMore: "an update failed: see the updater's log",
		ifLess: "a failure went uncounted?",
	}
	mSkipped = metric{
		key:   "metrics.skipped",
		sense: "containers skipped in this sandbox's last scan",
	}
	mScansTotal = metric{
		key:    "metrics.scans_total",
		sense:  "scans this sandbox's updater ran",
		ifMore: "the updater scanned more often than it was triggered?",
		ifLess: "a triggered scan was not run, or not counted?",
	}
	mScansSkipped = metric{
		key:   "metrics.scans_skipped",
		sense: "scan triggers this sandbox's updater skipped because a scan was running",
	}
	mRollbacks = metric{
		key:    "metrics.rollbacks",
		sense:  "rollbacks by this sandbox's updater",
		ifLess: "the rejected version was not rolled back, or the rollback not counted?",
	}
)

// nameIn is the metric's name in profile p ("" if p names none).
func (m metric) nameIn(p harness.Profile) string { return p.Metrics.Named()[m.key] }

// wantOf designates this sandbox's updater series of m, with its sense.
func (w *world) wantOf(m metric) metricclient.WantMetric {
	name := m.nameIn(w.profile)
	if name == "" {
		// A key the profile format lacks (misspelt here) reads the same.
		w.t.Fatalf("the profile %s names no metric for %s (%s), which this assertion needs", w.profile.Name, m.key, m.sense)
	}
	want := w.want(name)
	want.Key, want.Sense, want.IfMore, want.IfLess = m.key, m.sense, m.ifMore, m.ifLess
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
