package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
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

// --keep-on-failure leaves a failed test's real sandbox up and no other:
// prune keeps it, ls says so, the summary prints the commands to watch and
// remove it, and seatrial down removes all of it.
func TestRunKeepOnFailure(t *testing.T) {
	testenv.NeedsEngine(t)
	var stdout, stderr strings.Builder
	f := runFlags{pkg: "./cmd/seatrial/testdata/keepfail", timeout: 5 * time.Minute, artifacts: t.TempDir(), repeat: 1, keepOnFailure: true}
	err := runRun(t.Context(), nil, f, &stdout, &stderr)
	out := stdout.String()
	t.Log(out, stderr.String())
	assert.Equal(t, exitError(exitFailure), err)
	m := regexp.MustCompile(`seatrial watch (st-[0-9a-f]{10})\n  seatrial down (st-[0-9a-f]{10})\n`).FindAllStringSubmatch(out, -1)
	require.Len(t, m, 1, "one sandbox kept, the failed test's")
	id := m[0][1]
	assert.Equal(t, id, m[0][2])
	assert.Contains(t, out, "kept 1 failed scenario sandbox(es) (--keep-on-failure; prune leaves them):\n  seatrial ls\n")
	assert.Contains(t, out, "in sandbox "+id+" (a deliberate failure)", "the failed test's own sandbox is the one kept")

	cli, err := engine.Connect(t.Context())
	require.NoError(t, err)
	defer cli.Close()
	t.Cleanup(func() { _, _ = harness.RemoveSandbox(context.Background(), cli, id) })
	_, err = harness.Prune(t.Context(), cli)
	require.NoError(t, err)
	sbs, err := harness.ListSandboxes(t.Context(), cli)
	require.NoError(t, err)
	var kept *harness.SandboxInfo
	for i, s := range sbs {
		if s.ID == id {
			kept = &sbs[i]
		}
	}
	require.NotNil(t, kept, "prune removed the kept sandbox")
	assert.False(t, kept.OwnerAlive, "its test binary has exited")
	require.NotNil(t, kept.Registry.Container)
	assert.True(t, kept.Registry.Container.Running(), "the kept sandbox is up")

	stateDirs := func() []string {
		m, err := filepath.Glob(filepath.Join(harness.StateRoot(), id+"-*"))
		require.NoError(t, err)
		return m
	}
	assert.Len(t, stateDirs(), 1, "the kept sandbox's state dir is kept too")
	ls := seatrial(t, nil, "ls")
	assert.Regexp(t, id+`\s+process \d+ \(gone: kept, its test failed; seatrial down removes it\)`, ls.stdout)
	down := seatrial(t, nil, "down", id)
	require.Equal(t, 0, down.code, "%s%s", down.stdout, down.stderr)
	requireGone(t, cli, id, kept.Registry.Addr, "")
	assert.Empty(t, stateDirs(), "state dirs left")
}
