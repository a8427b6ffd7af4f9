package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/metricclient"
	"github.com/seatrial-dev/seatrial/metricclient/server"
)

// TestMetricsShowsTargetHealth: `seatrial metrics` shows, for the sandbox
// asked about, whether each of its targets answered (the up-style series)
// and the reason of a target's last error (issue 12's gap: "shown by
// seatrial metrics"), and nothing of another sandbox.
func TestMetricsShowsTargetHealth(t *testing.T) {
	const sb, other = "st-0000000001", "st-0000000002"
	text := "# TYPE " + server.MetricTargetUp + " gauge\n" +
		server.MetricTargetUp + `{sandbox="` + sb + `",source="updater"} 0` + "\n" +
		server.MetricTargetUp + `{sandbox="` + sb + `",source="registry"} 1` + "\n" +
		server.MetricTargetUp + `{sandbox="` + other + `",source="updater"} 1` + "\n" +
		"# TYPE " + server.MetricTargetLastError + " gauge\n" +
		server.MetricTargetLastError + `{reason="connection refused",sandbox="` + sb + `",source="updater"} 1` + "\n"
	series, err := sandboxSeries(metricclient.NewMetricData(text), sb, false)
	require.NoError(t, err)
	var out strings.Builder
	printSeries(&out, series)
	table := out.String()
	assert.Regexp(t, `(?m)^updater\s+-\s+`+server.MetricTargetUp+`\s+-\s+0$`, table)
	assert.Regexp(t, `(?m)^registry\s+-\s+`+server.MetricTargetUp+`\s+-\s+1$`, table)
	assert.Regexp(t, `(?m)^updater\s+-\s+`+server.MetricTargetLastError+`\s+reason=connection refused\s+1$`, table)
	assert.Len(t, series, 3, "only sandbox %s's series:\n%s", sb, table)
}
