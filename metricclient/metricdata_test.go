package metricclient

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixture(t testing.TB, name string) MetricData {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fixtures", "testdata", "metrics", name))
	require.NoError(t, err)
	return NewMetricData(string(b))
}

// requireIntegers checks that each named series (with no labels asked
// for) is the whole number wanted, with no timestamp: neither recorded
// exposition has one.
func requireIntegers(t *testing.T, m MetricData, want map[string]int64) {
	t.Helper()
	for name, w := range want {
		got, ts, err := m.GetPrometheusInteger(name, nil)
		require.NoError(t, err, name)
		assert.Equal(t, w, got, name)
		assert.True(t, ts.IsZero(), "%s: no timestamp in the exposition", name)
	}
}

// v171Counts are the series watchtower v1.7.1 counts its scans in.
type v171Counts struct{ scanned, updated, failed, scans, skipped int64 }

func (c v171Counts) byName() map[string]int64 {
	return map[string]int64{
		"watchtower_containers_scanned": c.scanned,
		"watchtower_containers_updated": c.updated,
		"watchtower_containers_failed":  c.failed,
		"watchtower_scans_total":        c.scans,
		"watchtower_scans_skipped":      c.skipped,
	}
}

func TestWatchtowerV171(t *testing.T) {
	m := fixture(t, "watchtower-v1.7.1.prom")
	requireIntegers(t, m, v171Counts{scanned: 3, updated: 2, failed: 0, scans: 4, skipped: 1}.byName())
	requireIntegers(t, m, map[string]int64{"go_gc_duration_seconds_count": 24})
	got, _, err := m.GetPrometheusInteger("promhttp_metric_handler_requests_total", map[string]string{"code": "200"})
	require.NoError(t, err)
	assert.Equal(t, int64(3), got)

	// Not a whole number.
	_, _, err = m.GetPrometheusInteger("process_cpu_seconds_total", nil)
	assert.ErrorIs(t, err, ErrNotInteger)
	f, _, err := m.GetPrometheusFloat("process_cpu_seconds_total", nil)
	require.NoError(t, err)
	assert.Equal(t, 0.71, f)

	// Summary quantiles are series with a quantile label.
	f, _, err = m.GetPrometheusFloat("go_gc_duration_seconds", map[string]string{"quantile": "0.5"})
	require.NoError(t, err)
	assert.Equal(t, 6.1233e-05, f)

	// An upstream name the fork added is missing, and the error says what is near.
	_, _, err = m.GetPrometheusInteger("watchtower_rollbacks_total", nil)
	require.ErrorIs(t, err, ErrNoMatch)
	assert.Contains(t, err.Error(), "nearest names: watchtower_scans_total")
}

// TestWatchtowerV171Recorded reads what a real watchtower v1.7.1 served on
// /v1/metrics in a seatrial sandbox after two scans of two nodes: the first
// updated both, the second found nothing new (so the per-scan gauges say
// 0 updated).
func TestWatchtowerV171Recorded(t *testing.T) {
	m := fixture(t, "watchtower-v1.7.1-recorded.prom")
	requireIntegers(t, m, v171Counts{scanned: 2, updated: 0, failed: 0, scans: 2, skipped: 0}.byName())
	names, err := m.Names()
	require.NoError(t, err)
	assert.NotContains(t, names, "watchtower_rollbacks_total", "upstream watchtower has no rollbacks")
}

func TestOpenserbiaSeed000(t *testing.T) {
	m := fixture(t, "openserbia-v1.12.2.prom")
	v, _, err := m.GetPrometheusInteger("watchtower_rollbacks_total", nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)

	v, _, err = m.GetPrometheusInteger("watchtower_registry_requests_total",
		map[string]string{"operation": "digest", "outcome": "success"})
	require.NoError(t, err)
	assert.Equal(t, int64(11), v)

	// Duplicate match: two series have operation=digest,outcome!=success...
	_, _, err = m.GetPrometheusInteger("watchtower_api_requests_total", map[string]string{"endpoint": "/v1/update"})
	require.ErrorIs(t, err, ErrAmbiguous)
	assert.Contains(t, err.Error(), `status="429"`)
	assert.Contains(t, err.Error(), `status="401"`)

	// Missing label value: the error lists the existing label sets.
	_, _, err = m.GetPrometheusInteger("watchtower_api_requests_total", map[string]string{"endpoint": "/v1/audit"})
	require.ErrorIs(t, err, ErrNoMatch)
	assert.Contains(t, err.Error(), `{endpoint="/v1/metrics",status="200"}`)

	h, err := m.GetPrometheusHistogram("watchtower_poll_duration_seconds", nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), h.Count)
	assert.InDelta(t, 9.8312, h.Sum, 1e-9)
	require.Len(t, h.Buckets, 9)
	assert.Equal(t, Bucket{UpperBound: 0.5, Count: 1}, h.Buckets[1])
	assert.True(t, math.IsInf(h.Buckets[8].UpperBound, 1))

	// The histogram's parts are series too.
	v, _, err = m.GetPrometheusInteger("watchtower_poll_duration_seconds_bucket", map[string]string{"le": "5"})
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
	v, _, err = m.GetPrometheusInteger("watchtower_poll_duration_seconds_count", nil)
	require.NoError(t, err)
	assert.Equal(t, int64(4), v)

	_, err = m.GetPrometheusHistogram("watchtower_poll_duration", nil)
	require.ErrorIs(t, err, ErrNoMatch)
	assert.Contains(t, err.Error(), "watchtower_poll_duration_seconds_count")
}

func TestRegistry(t *testing.T) {
	m := fixture(t, "registry-v3.1.2.prom")
	names, err := m.Names()
	require.NoError(t, err)
	assert.Contains(t, names, "registry_http_requests_total")
	_, err = m.GetPrometheusHistogram("registry_http_request_duration_seconds", map[string]string{"handler": "base", "method": "get"})
	require.NoError(t, err)
	v, _, err := m.GetPrometheusInteger("registry_http_requests_total", map[string]string{"handler": "base", "code": "200", "method": "get"})
	require.NoError(t, err)
	assert.Positive(t, v)
}

func TestSeatrialServerOutput(t *testing.T) {
	m := fixture(t, "seatrial-server.prom")
	md, err := m.GetSandboxMetadataMetric(WantMetric{Sandbox: "st-0123456789"})
	require.NoError(t, err)
	assert.Equal(t, "refupdater", md["updater"])

	v, _, err := m.GetPrometheusContainerInteger(WantMetric{Metric: "watchtower_scans_total", Sandbox: "st-0123456789"})
	require.NoError(t, err)
	assert.Equal(t, int64(4), v)

	// The other sandbox's series are not this one's.
	v, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "watchtower_scans_total", Sandbox: "st-abcdefabcd"})
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)

	_, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "seatrial_container_running", Sandbox: "st-0123456789",
		Cluster: "c1", Node: "worker-0"})
	require.NoError(t, err)
}

func TestEmptyBody(t *testing.T) {
	for _, body := range []string{"", "\n", "# just a comment\n"} {
		m := NewMetricData(body)
		require.NoError(t, m.Err())
		_, _, err := m.GetPrometheusInteger("x", nil)
		require.ErrorIs(t, err, ErrNoMatch)
		assert.Contains(t, err.Error(), "no series at all")
	}
	var zero MetricData
	_, _, err := zero.GetPrometheusInteger("x", nil)
	require.ErrorIs(t, err, ErrNoMatch)
}

func TestNaNInfAndLimits(t *testing.T) {
	m := NewMetricData(`# TYPE g gauge
g{k="nan"} NaN
g{k="inf"} +Inf
g{k="-inf"} -Inf
g{k="big"} 1e19
g{k="max"} 9007199254740992
g{k="neg"} -3
g{k="frac"} 2.5
`)
	for _, k := range []string{"nan", "inf", "-inf", "big", "frac"} {
		_, _, err := m.GetPrometheusInteger("g", map[string]string{"k": k})
		assert.ErrorIs(t, err, ErrNotInteger, k)
	}
	v, _, err := m.GetPrometheusInteger("g", map[string]string{"k": "neg"})
	require.NoError(t, err)
	assert.Equal(t, int64(-3), v)
	v, _, err = m.GetPrometheusInteger("g", map[string]string{"k": "max"})
	require.NoError(t, err)
	assert.Equal(t, int64(1<<53), v)
	f, _, err := m.GetPrometheusFloat("g", map[string]string{"k": "nan"})
	require.NoError(t, err)
	assert.True(t, math.IsNaN(f))
	f, _, err = m.GetPrometheusFloat("g", map[string]string{"k": "-inf"})
	require.NoError(t, err)
	assert.True(t, math.IsInf(f, -1))
}

func TestTimestampAndOddComments(t *testing.T) {
	m := NewMetricData(`# a comment before anything
# TYPE c counter
#   indented-looking comment between TYPE and sample
c{sandbox="st-1"} 7 1700000000123

# HELP c goes late, which the text format allows
# TYPE u untyped
u 1
`)
	v, ts, err := m.GetPrometheusContainerInteger(WantMetric{Metric: "c", Sandbox: "st-1"})
	require.NoError(t, err)
	assert.Equal(t, int64(7), v)
	assert.Equal(t, time.UnixMilli(1700000000123), ts)
}

func TestOpenMetricsWithExemplars(t *testing.T) {
	m := NewMetricData(`# TYPE req counter
# HELP req requests
req_total{code="200"} 3 # {trace_id="abc"} 1.0
req_total{code="500"} 1
# EOF
`)
	require.NoError(t, m.Err())
	v, _, err := m.GetPrometheusInteger("req_total", map[string]string{"code": "200"})
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)

	// The same in the classic text format is a parse error that says where.
	bad := NewMetricData("req_total{code=\"200\"} 3 # {trace_id=\"abc\"} 1.0\n")
	_, _, err = bad.GetPrometheusInteger("req_total", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
}

func TestDuplicateSeries(t *testing.T) {
	// The parser keeps exact duplicates; a look-up must not pick one.
	m := NewMetricData("x{a=\"1\"} 1\nx{a=\"1\"} 2\n")
	_, _, err := m.GetPrometheusInteger("x", map[string]string{"a": "1"})
	require.ErrorIs(t, err, ErrAmbiguous)
}

func TestMissingAndEmptyLabels(t *testing.T) {
	m := NewMetricData("x{a=\"1\",b=\"\"} 1\nx{a=\"2\",b=\"y\"} 2\n")
	// A wanted "" means absent; an empty label in the exposition is absent.
	v, _, err := m.GetPrometheusInteger("x", map[string]string{"b": ""})
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	_, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "x"})
	require.Error(t, err, "a want without a sandbox is refused")
	_, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "x", Sandbox: "st-1"})
	require.ErrorIs(t, err, ErrNoMatch)
	assert.Contains(t, err.Error(), `{a="2",b="y"}`)
}

func TestSandboxMetadataNotOne(t *testing.T) {
	m := NewMetricData(SandboxMetadataMetric + "{sandbox=\"st-1\"} 2\n")
	_, err := m.GetSandboxMetadataMetric(WantMetric{Sandbox: "st-1"})
	require.Error(t, err)
}

func TestDiff(t *testing.T) {
	before := NewMetricData(`c{sandbox="a",op="x"} 1
c{sandbox="a",op="y"} 5
c{sandbox="b",op="x"} 1
g{sandbox="a"} 3
`)
	after := NewMetricData(`c{sandbox="a",op="x"} 2
c{sandbox="a",op="y"} 5
c{sandbox="a",op="z"} 1
c{sandbox="b",op="x"} 4
`)
	d, err := Diff(before, after)
	require.NoError(t, err)
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "c", Sandbox: "a", ExtraLabels: map[string]string{"op": "x"}}, 1))
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "c", Sandbox: "a", ExtraLabels: map[string]string{"op": "z"}}, 1))
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "c", Sandbox: "b"}, 3))

	err = d.ExpectDelta(WantMetric{Metric: "c", Sandbox: "a", ExtraLabels: map[string]string{"op": "y"}}, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-want +got")
	assert.Contains(t, err.Error(), "`{op=\"y\",sandbox=\"a\"}`: 0")

	_, err = d.Delta("c", map[string]string{"sandbox": "a"})
	require.ErrorIs(t, err, ErrAmbiguous)

	changed := d.Changed()
	var names []string
	for _, c := range changed {
		names = append(names, c.Series.String())
	}
	assert.Equal(t, []string{
		`c{op="x",sandbox="a"}`, `c{op="x",sandbox="b"}`, `c{op="z",sandbox="a"}`, `g{sandbox="a"}`,
	}, names)
	assert.True(t, changed[3].Gone)
	assert.True(t, changed[2].New)

	_, err = Diff(NewMetricData("x{"), after)
	require.Error(t, err)
}

func TestErrorsWrap(t *testing.T) {
	m := NewMetricData("x 1\n")
	_, _, err := m.GetPrometheusInteger("y", nil)
	assert.True(t, errors.Is(err, ErrNoMatch))
	assert.False(t, strings.Contains(err.Error(), "no series at all"))
}
