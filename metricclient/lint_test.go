package metricclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const totalSuffix = `counter metrics should have "_total" suffix`

func TestLintRecordedWatchtower(t *testing.T) {
	// watchtower v1.7.1's exposition, as recorded: its one deviation is a
	// counter without _total.
	ps, err := Lint(fixture(t, "watchtower-v1.7.1.prom").String())
	require.NoError(t, err)
	skipped := LintProblem{Metric: "watchtower_scans_skipped", Text: totalSuffix}
	assert.Equal(t, []LintProblem{skipped}, ps)

	unknown, gone, err := LintAgainst(fixture(t, "watchtower-v1.7.1.prom").String(), []LintProblem{skipped})
	require.NoError(t, err)
	assert.Empty(t, unknown)
	assert.Empty(t, gone)
}

func TestLintAgainst(t *testing.T) {
	const text = `# HELP scansDone Scans.
# TYPE scansDone counter
scansDone 1
# TYPE x_seconds gauge
x_seconds 2
# HELP y_total A gauge that looks like a counter.
# TYPE y_total gauge
y_total 3
`
	known := []LintProblem{
		{Metric: "scansDone", Text: totalSuffix},
		{Metric: "x_seconds", Text: "no help text"},
		{Metric: "z_total", Text: "no help text"}, // no longer there
	}
	unknown, gone, err := LintAgainst(text, known)
	require.NoError(t, err)
	assert.Equal(t, []LintProblem{
		{Metric: "scansDone", Text: `metric names should be written in 'snake_case' not 'camelCase'`},
		{Metric: "y_total", Text: `non-counter metrics should not have "_total" suffix`},
	}, unknown)
	assert.Equal(t, []LintProblem{{Metric: "z_total", Text: "no help text"}}, gone)
	assert.Equal(t, "z_total: no help text", gone[0].String())

	_, _, err = LintAgainst("x{ 1\n", nil)
	require.ErrorContains(t, err, "promlint: ")
}
