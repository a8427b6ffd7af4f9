package metricclient

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenScrape is a metrics server's exposition of two sandboxes: st-a
// (the one compared) and st-b, whose series must never count for st-a.
const goldenScrape = `# HELP watchtower_scans_total Scans completed since the updater started.
# TYPE watchtower_scans_total counter
watchtower_scans_total{sandbox="st-a",source="updater"} 2
watchtower_scans_total{sandbox="st-b",source="updater"} 7
# HELP watchtower_containers_scanned Containers inspected during the last scan.
# TYPE watchtower_containers_scanned gauge
watchtower_containers_scanned{sandbox="st-a",source="updater"} 3
watchtower_containers_scanned{sandbox="st-b",source="updater"} 1
# HELP watchtower_api_requests_total HTTP API requests by endpoint and response status code.
# TYPE watchtower_api_requests_total counter
watchtower_api_requests_total{endpoint="update",sandbox="st-a",source="updater",status="200"} 2
watchtower_api_requests_total{endpoint="metrics",sandbox="st-a",source="updater",status="200"} 5
watchtower_api_requests_total{endpoint="update",sandbox="st-b",source="updater",status="429"} 1
# HELP watchtower_poll_duration_seconds Wall-clock duration of each scan and update cycle.
# TYPE watchtower_poll_duration_seconds histogram
watchtower_poll_duration_seconds_bucket{le="1",sandbox="st-a",source="updater"} 2
watchtower_poll_duration_seconds_bucket{le="+Inf",sandbox="st-a",source="updater"} 2
watchtower_poll_duration_seconds_sum{sandbox="st-a",source="updater"} 0.5
watchtower_poll_duration_seconds_count{sandbox="st-a",source="updater"} 2
# HELP registry_http_requests_total Requests by the registry.
# TYPE registry_http_requests_total counter
registry_http_requests_total{method="HEAD",sandbox="st-a",source="registry"} 4
# HELP only_in_b A family of the other sandbox.
# TYPE only_in_b gauge
only_in_b{sandbox="st-b",source="updater"} 1
`

// goldenUpdater is st-a's updater families as the updater serves them.
const goldenUpdater = `# HELP watchtower_scans_total Scans completed since the updater started.
# TYPE watchtower_scans_total counter
watchtower_scans_total 2
# HELP watchtower_containers_scanned Containers inspected during the last scan.
# TYPE watchtower_containers_scanned gauge
watchtower_containers_scanned 3
# HELP watchtower_api_requests_total HTTP API requests by endpoint and response status code.
# TYPE watchtower_api_requests_total counter
watchtower_api_requests_total{endpoint="metrics",status="200"} 5
watchtower_api_requests_total{endpoint="update",status="200"} 2
# HELP watchtower_poll_duration_seconds Wall-clock duration of each scan and update cycle.
# TYPE watchtower_poll_duration_seconds histogram
watchtower_poll_duration_seconds_bucket{le="1.0"} 2
watchtower_poll_duration_seconds_bucket{le="+Inf"} 2
watchtower_poll_duration_seconds_sum 0.5
watchtower_poll_duration_seconds_count 2
`

func compareGolden(expected string, opts ...CompareOption) error {
	return NewMetricData(goldenScrape).From("scrape 1").CompareSandbox("st-a", strings.NewReader(expected), opts...)
}

func TestCompareSandboxMatch(t *testing.T) {
	// The updater's own families, from the one source, in any order, an
	// le spelt "1.0" for the scrape's "1".
	require.NoError(t, compareGolden(goldenUpdater, FromSource(SourceUpdater)))
	// Every source, with its label: the registry's family too.
	require.NoError(t, compareGolden(`# HELP registry_http_requests_total Requests by the registry.
# TYPE registry_http_requests_total counter
registry_http_requests_total{method="HEAD",source="registry"} 4
# HELP watchtower_containers_scanned Containers inspected during the last scan.
# TYPE watchtower_containers_scanned gauge
watchtower_containers_scanned{source="updater"} 3
`, OnlyFamilies("registry_http_requests_total", "watchtower_containers_scanned")))
	// Chosen families only; the values left out.
	require.NoError(t, compareGolden(`# HELP watchtower_scans_total Scans completed since the updater started.
# TYPE watchtower_scans_total counter
watchtower_scans_total 99
`, FromSource(SourceUpdater), OnlyFamilies("watchtower_scans_total"), IgnoreValues()))
	// Through the other sandbox: its own values.
	md := NewMetricData(goldenScrape)
	require.NoError(t, md.CompareSandbox("st-b", strings.NewReader(`# HELP watchtower_scans_total Scans completed since the updater started.
# TYPE watchtower_scans_total counter
watchtower_scans_total 7
`), FromSource(SourceUpdater), OnlyFamilies("watchtower_scans_total")))
}

// TestCompareSandboxMismatch makes each kind of difference and asserts
// the diff's text.
func TestCompareSandboxMismatch(t *testing.T) {
	updater := []CompareOption{FromSource(SourceUpdater)}
	cases := []struct {
		name     string
		expected string
		opts     []CompareOption
		diff     string
	}{{
		name: "missing family",
		expected: goldenUpdater + `# HELP watchtower_rollbacks_total Rollbacks.
# TYPE watchtower_rollbacks_total counter
watchtower_rollbacks_total 0
`,
		diff: `1 of 5 families differ (-want +got):
family watchtower_rollbacks_total: missing (counter, 1 series)
-	# HELP watchtower_rollbacks_total Rollbacks.
-	# TYPE watchtower_rollbacks_total counter
-	watchtower_rollbacks_total 0`,
	}, {
		name:     "unexpected family",
		expected: strings.Split(goldenUpdater, "# HELP watchtower_poll")[0],
		diff: `1 of 4 families differ (-want +got):
family watchtower_poll_duration_seconds: not expected (histogram, 4 series)
+	# HELP watchtower_poll_duration_seconds Wall-clock duration of each scan and update cycle.
+	# TYPE watchtower_poll_duration_seconds histogram
+	watchtower_poll_duration_seconds_bucket{le="+Inf"} 2
+	watchtower_poll_duration_seconds_bucket{le="1"} 2
+	watchtower_poll_duration_seconds_count 2
+	watchtower_poll_duration_seconds_sum 0.5`,
	}, {
		name:     "HELP changed",
		expected: strings.Replace(goldenUpdater, "Scans completed since", "Scans run since", 1),
		diff: `1 of 4 families differ (-want +got):
family watchtower_scans_total: HELP differs
-	# HELP watchtower_scans_total Scans run since the updater started.
+	# HELP watchtower_scans_total Scans completed since the updater started.`,
	}, {
		name:     "TYPE changed",
		expected: strings.Replace(goldenUpdater, "# TYPE watchtower_containers_scanned gauge", "# TYPE watchtower_containers_scanned counter", 1),
		diff: `1 of 4 families differ (-want +got):
family watchtower_containers_scanned: TYPE differs
-	# TYPE watchtower_containers_scanned counter
+	# TYPE watchtower_containers_scanned gauge`,
	}, {
		name: "missing and unexpected series",
		expected: strings.Replace(goldenUpdater, `watchtower_api_requests_total{endpoint="metrics",status="200"} 5`,
			`watchtower_api_requests_total{endpoint="update",status="429"} 5`, 1),
		diff: `1 of 4 families differ (-want +got):
family watchtower_api_requests_total: 1 series missing, 1 series not expected
+	watchtower_api_requests_total{endpoint="metrics",status="200"} 5
-	watchtower_api_requests_total{endpoint="update",status="429"} 5`,
	}, {
		name:     "value changed",
		expected: strings.Replace(goldenUpdater, "watchtower_containers_scanned 3", "watchtower_containers_scanned 2", 1),
		diff: `1 of 4 families differ (-want +got):
family watchtower_containers_scanned: 1 series with another value
-	watchtower_containers_scanned 2
+	watchtower_containers_scanned 3`,
	}, {
		name: "several families at once, sorted by name",
		expected: strings.NewReplacer("watchtower_containers_scanned 3", "watchtower_containers_scanned 2",
			"# TYPE watchtower_scans_total counter", "# TYPE watchtower_scans_total gauge").Replace(goldenUpdater),
		diff: `2 of 4 families differ (-want +got):
family watchtower_containers_scanned: 1 series with another value
-	watchtower_containers_scanned 2
+	watchtower_containers_scanned 3
family watchtower_scans_total: TYPE differs
-	# TYPE watchtower_scans_total gauge
+	# TYPE watchtower_scans_total counter`,
	}, {
		name: "a series missing even when values are ignored",
		expected: `# HELP watchtower_api_requests_total HTTP API requests by endpoint and response status code.
# TYPE watchtower_api_requests_total counter
watchtower_api_requests_total{endpoint="update",status="200"} 0
`,
		opts: []CompareOption{OnlyFamilies("watchtower_api_requests_total"), IgnoreValues()},
		diff: `1 of 1 families differ (-want +got):
family watchtower_api_requests_total: 1 series not expected
+	watchtower_api_requests_total{endpoint="metrics",status="200"}`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := compareGolden(c.expected, append(updater, c.opts...)...)
			require.ErrorIs(t, err, ErrMismatch)
			head := "sandbox st-a, source updater in scrape 1: " + ErrMismatch.Error() + ": "
			require.True(t, strings.HasPrefix(err.Error(), head), err.Error())
			assert.Equal(t, c.diff, strings.TrimPrefix(err.Error(), head))
		})
	}
}

func TestCompareSandboxWholeMessage(t *testing.T) {
	err := compareGolden(strings.Replace(goldenUpdater, "watchtower_scans_total 2", "watchtower_scans_total 1", 1), FromSource(SourceUpdater))
	require.EqualError(t, err, `sandbox st-a, source updater in scrape 1: metrics differ from the expected exposition: 1 of 4 families differ (-want +got):
family watchtower_scans_total: 1 series with another value
-	watchtower_scans_total 1
+	watchtower_scans_total 2`)
}

// TestCompareSandboxMisuse: what would compare nothing, or the wrong
// series, is an error that says so.
func TestCompareSandboxMisuse(t *testing.T) {
	err := compareGolden(goldenUpdater, FromSource(SourceUpdater), OnlyFamilies("watchtower_scans_total"))
	require.ErrorContains(t, err, "the expected exposition has families that OnlyFamilies leaves out, watchtower_api_requests_total, watchtower_containers_scanned, watchtower_poll_duration_seconds: add them there")
	err = compareGolden("", OnlyFamilies("watchtower_scan_total"))
	require.ErrorContains(t, err, "OnlyFamilies names watchtower_scan_total, which neither the expected exposition nor sandbox st-a in scrape 1 has: misspelt?; nearest names: watchtower_scans_total")
	err = compareGolden("x{sandbox=\"st-a\"} 1\n")
	require.ErrorContains(t, err, `the expected exposition: series x{sandbox="st-a"} has the label sandbox: leave it out`)
	err = compareGolden("x{source=\"updater\"} 1\n", FromSource(SourceUpdater))
	require.ErrorContains(t, err, "has the label source")
	err = compareGolden("x 1\nx 2\n")
	require.ErrorIs(t, err, ErrAmbiguous)
	require.ErrorContains(t, compareGolden("x{"), "the expected exposition: parse")
	require.EqualError(t, NewMetricData(goldenScrape).CompareSandbox("", strings.NewReader("")), "CompareSandbox: the sandbox id is empty")
	// A sandbox with no series at all differs from any expectation.
	err = NewMetricData(goldenScrape).CompareSandbox("st-c", strings.NewReader("x 1\n"))
	require.ErrorIs(t, err, ErrMismatch)
	require.ErrorContains(t, err, "family x: missing (untyped, 1 series)")
}

func TestCompareSandboxCutsLongFamilies(t *testing.T) {
	var b strings.Builder
	b.WriteString("# TYPE many gauge\n")
	for i := range 25 {
		b.WriteString(`many{i="` + string(rune('a'+i)) + `",sandbox="st-a"} 1` + "\n")
	}
	err := NewMetricData(b.String()).CompareSandbox("st-a", strings.NewReader(""))
	require.ErrorIs(t, err, ErrMismatch)
	assert.Contains(t, err.Error(), "family many: not expected (gauge, 25 series)\n+\t# HELP many\n+\t# TYPE many gauge\n")
	assert.True(t, strings.HasSuffix(err.Error(), "\n+\t... and 5 more series"), err.Error())
}
