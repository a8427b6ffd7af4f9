package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
