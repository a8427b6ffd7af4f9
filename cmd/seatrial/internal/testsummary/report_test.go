package testsummary

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// xsd is the JUnit schema the reports are checked against.
const xsd = "../../testdata/junit.xsd"

// validate checks a JUnit file against the schema with xmllint.
func validate(t *testing.T, junit []byte) {
	t.Helper()
	xmllint := testenv.NeedsCommand(t, "xmllint", "libxml2-utils")
	path := t.TempDir() + "/junit.xml"
	require.NoError(t, os.WriteFile(path, junit, 0o644))
	out, err := exec.CommandContext(t.Context(), xmllint, "--noout", "--schema", xsd, path).CombinedOutput()
	require.NoError(t, err, "the JUnit XML does not validate:\n%s\n%s", out, junit)
}

func junitOf(t *testing.T, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, parseFile(t, name).WriteJUnit(&b, "scenarios", time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)))
	return b.Bytes()
}

func casesOf(t *testing.T, junit []byte) map[string]junitCase {
	t.Helper()
	var s junitSuites
	require.NoError(t, xml.Unmarshal(junit, &s))
	got := map[string]junitCase{}
	for _, ts := range s.Suites {
		for _, c := range ts.Cases {
			got[c.Classname+"/"+c.Name] = c
		}
	}
	return got
}

func TestJUnit(t *testing.T) {
	mixed := junitOf(t, "mixed.jsonl")
	c := casesOf(t, mixed)
	require.Len(t, c, 4, "one test case per scenario and profile")
	f := c["HealthGatedRollback/reference"]
	require.NotNil(t, f.Failure)
	assert.Contains(t, f.Failure.Message, "Not equal", "the failure message is the scenario's own")
	assert.Contains(t, f.Failure.Body, "Error Trace:", "the failure body is the test's output")
	assert.Equal(t, "artifacts of this failure: /tmp/artifacts/TestHealthGatedRollback_reference\n", f.SystemOut)
	s := c["HealthGatedRollback/watchtower-1.7.1"]
	require.NotNil(t, s.Skipped)
	assert.Equal(t, "updater profile watchtower-1.7.1 lacks health-gated-rollback", s.Skipped.Message)
	assert.Nil(t, c["FullScan/reference"].Failure)
	assert.Nil(t, c["FullScan/reference"].Skipped)
	assert.Contains(t, string(mixed), `<testsuites name="seatrial" tests="4" failures="1" errors="0" skipped="1"`)
	validate(t, mixed)

	known := junitOf(t, "known.jsonl")
	k := casesOf(t, known)["HealthGatedRollback/reference-no-rollback"]
	require.NotNil(t, k.Skipped, "a known failure is skipped, never passed")
	assert.Equal(t, "KNOWN", k.Skipped.Type)
	assert.True(t, strings.HasPrefix(k.Skipped.Message, "KNOWN: this profile's health gate flag is --debug"), k.Skipped.Message)
	validate(t, known)

	build := junitOf(t, "build-failure.jsonl")
	assert.Contains(t, string(build), `<error message="the test binary itself failed"`, "a build failure is not lost")
	validate(t, build)

	var merged bytes.Buffer
	require.NoError(t, MergeJUnit(&merged, bytes.NewReader(mixed), bytes.NewReader(known)))
	m := casesOf(t, merged.Bytes())
	assert.Len(t, m, len(c)+len(casesOf(t, known)))
	assert.Contains(t, merged.String(), `<testsuites name="seatrial" tests="`)
	validate(t, merged.Bytes())
}

// The schema is not a formality: a file that breaks it fails.
func TestJUnitSchemaRejects(t *testing.T) {
	xmllint := testenv.NeedsCommand(t, "xmllint", "libxml2-utils")
	bad := strings.Replace(string(junitOf(t, "mixed.jsonl")), `classname="FullScan"`, "", 1)
	path := t.TempDir() + "/bad.xml"
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
	out, err := exec.CommandContext(t.Context(), xmllint, "--noout", "--schema", xsd, path).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "classname")
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, parseFile(t, "mixed.jsonl").WriteJSON(&b))
	var rep JSONReport
	require.NoError(t, json.Unmarshal(b.Bytes(), &rep))
	assert.Equal(t, [4]int{2, 1, 0, 1}, [4]int{rep.Passed, rep.Failed, rep.Known, rep.Skipped})
	require.Len(t, rep.Rows, 4)
	var fail JSONRow
	for _, r := range rep.Rows {
		if r.Status == Fail {
			fail = r
		}
	}
	assert.Equal(t, "HealthGatedRollback", fail.Scenario)
	assert.Equal(t, "reference", fail.Profile)
	assert.Equal(t, "/tmp/artifacts/TestHealthGatedRollback_reference", fail.Artifacts)
	assert.Equal(t, 1, fail.Runs)
	assert.Equal(t, 1, fail.Failures)
	assert.Contains(t, b.String(), `"scenario": "FullScan"`)
}
