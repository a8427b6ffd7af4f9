package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

func TestResolveScenarios(t *testing.T) {
	known := []string{"TestFullScan", "TestHealthGatedRollback", "TestNoOpScan", "TestNodeLoss", "TestRegistryDownDuringScan"}
	got, err := resolveScenarios([]string{"full-scan", "FullScan", "TestFullScan", "noop-scan", "no-op-scan", "rollback", "registry-down", "nodeloss"}, known)
	require.NoError(t, err)
	assert.Equal(t, []string{"TestFullScan", "TestFullScan", "TestFullScan", "TestNoOpScan", "TestNoOpScan", "TestHealthGatedRollback", "TestRegistryDownDuringScan", "TestNodeLoss"}, got)

	_, err = resolveScenarios([]string{"scan"}, known)
	assert.ErrorContains(t, err, `ambiguous scenario "scan"`)
	_, err = resolveScenarios([]string{"nope"}, known)
	assert.ErrorContains(t, err, "full-scan, health-gated-rollback, no-op-scan, node-loss, registry-down-during-scan")
	var ue usageError
	assert.ErrorAs(t, err, &ue, "an unknown scenario is bad input (exit 2)")
}

// "all" names every shipped profile, forks included (their scenarios skip
// where the image is absent); names around it are kept, once each.
func TestExpandAll(t *testing.T) {
	got := expandAll([]string{" reference", "all", "./mine.json"})
	assert.Equal(t, []string{"reference", "nicholas-fedor-1.21.0", "openserbia-1.12.2", "openserbia-1.18.3", "watchtower-1.7.1", "./mine.json"}, got)
	assert.Equal(t, []string{"reference"}, expandAll([]string{"reference"}))
}

// Scenarios are listed by the test binary, not read from the sources: a
// test whose parameter is not called t, or whose declaration is split
// over lines, is found; helpers and benchmarks are not scenarios.
func TestScenarioNames(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	write("go.mod", "module example.com/suite\n\ngo 1.24\n")
	write("scenarios/a_test.go", `package scenarios

import "testing"

func TestPlain(t *testing.T) {}

func TestOtherName(tt *testing.T) {}

func TestSplit(
	t *testing.T,
) {
}

func helper(t *testing.T) {}

func BenchmarkPlain(b *testing.B) {}
`)
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	got, err := scenarioNames(t.Context(), goBin, root, "./scenarios")
	require.NoError(t, err)
	assert.Equal(t, []string{"TestOtherName", "TestPlain", "TestSplit"}, got)
}

// runFlaky runs the deliberately flaky package testdata/flaky through
// the real run code (go test -json, the summary, the reports) and returns
// what it printed, its error and its JSON report.
func runFlaky(t *testing.T, f runFlags) (string, error, testsummary.JSONReport) {
	t.Helper()
	dir := t.TempDir()
	f.pkg, f.timeout, f.artifacts = "./cmd/seatrial/testdata/flaky", 5*time.Minute, dir
	f.junit, f.json = filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.json")
	var stdout, stderr strings.Builder
	err := runRun(t.Context(), nil, f, &stdout, &stderr)
	var rep testsummary.JSONReport
	js, rerr := os.ReadFile(f.json)
	require.NoError(t, rerr, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	require.NoError(t, json.Unmarshal(js, &rep))
	junit, rerr := os.ReadFile(f.junit)
	require.NoError(t, rerr)
	assert.Contains(t, string(junit), `type="FLAKY"`, "a flaky pair is a failure in the JUnit file")
	xmllint := testenv.NeedsCommand(t, "xmllint", "libxml2-utils")
	out, lerr := exec.CommandContext(t.Context(), xmllint, "--noout", "--schema", "testdata/junit.xsd", f.junit).CombinedOutput()
	assert.NoError(t, lerr, "%s", out)
	return stdout.String(), err, rep
}

func rowOf(rep testsummary.JSONReport, scenario string) testsummary.JSONRow {
	for _, r := range rep.Rows {
		if r.Scenario == scenario {
			return r
		}
	}
	return testsummary.JSONRow{}
}

// A pair that fails some of its runs is FLAKY with its counts, and fails
// the run: never silently passed.
func TestRunRepeatFlaky(t *testing.T) {
	out, err, rep := runFlaky(t, runFlags{repeat: 5})
	t.Log(out)
	assert.Equal(t, exitError(exitFailure), err, out)
	assert.Regexp(t, `Flaky\s+reference\s+FLAKY\s+\S+\s+failed 2 of 5: run 2: the node still runs the old digest`, out)
	assert.Contains(t, out, "1 passed, 1 failed")
	f := rowOf(rep, "Flaky")
	assert.Equal(t, testsummary.JSONRow{Scenario: "Flaky", Profile: "reference", Status: testsummary.Flaky, Runs: 5, Failures: 2,
		Reason: "failed 2 of 5: run 2: the node still runs the old digest (a deliberate flake)"}, f)
	steady := rowOf(rep, "Steady")
	assert.Equal(t, [3]any{testsummary.Pass, 5, 0}, [3]any{steady.Status, steady.Runs, steady.Failures})
}

// --until-fail stops repeating at the first failure.
func TestRunUntilFail(t *testing.T) {
	out, err, rep := runFlaky(t, runFlags{repeat: 5, untilFail: true})
	assert.Equal(t, exitError(exitFailure), err, out)
	f := rowOf(rep, "Flaky")
	assert.Equal(t, [3]any{testsummary.Flaky, 2, 1}, [3]any{f.Status, f.Runs, f.Failures}, "the second run failed, and none started after it")
	assert.Contains(t, out, "failed 1 of 2")
}
