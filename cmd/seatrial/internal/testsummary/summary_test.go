package testsummary

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseFile(t *testing.T, name string) *Summary {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	s, err := Scan(f, nil, Handler{})
	require.NoError(t, err)
	return s
}

// mixed.jsonl is recorded `go test -json` of two parallel tests with a
// subtest per profile: one passes for both, the other is skipped for one
// profile and fails for the other.
func TestMixed(t *testing.T) {
	s := parseFile(t, "mixed.jsonl")
	rows := s.Results()
	got := map[string]Result{}
	for _, r := range rows {
		got[r.Name()] = r
	}
	require.Len(t, rows, 4, "one row per test and profile, none for the parents")
	assert.Equal(t, Pass, got["TestFullScan/reference"].Status)
	assert.Equal(t, Pass, got["TestFullScan/watchtower-1.7.1"].Status)
	skip := got["TestHealthGatedRollback/watchtower-1.7.1"]
	assert.Equal(t, Skip, skip.Status)
	assert.Equal(t, "updater profile watchtower-1.7.1 lacks health-gated-rollback", skip.Reason)
	f := got["TestHealthGatedRollback/reference"]
	assert.Equal(t, Fail, f.Status)
	assert.Equal(t, "TestHealthGatedRollback", f.Test)
	assert.Equal(t, "reference", f.Sub)
	assert.Contains(t, f.Reason, "Not equal")
	p, fl, kn, sk := s.Counts()
	assert.Equal(t, [4]int{2, 1, 0, 1}, [4]int{p, fl, kn, sk})
	assert.True(t, s.Failed())
	assert.Equal(t, []string{"/tmp/artifacts/TestHealthGatedRollback_reference"}, s.Artifacts())

	var b strings.Builder
	s.Write(&b)
	out := b.String()
	for _, want := range []string{
		"FullScan", "HealthGatedRollback", "SKIP", "FAIL", "PASS",
		"lacks health-gated-rollback",
		"2 passed, 1 failed, 0 known, 1 skipped (4 in all)",
		"artifacts of the failures:\n  /tmp/artifacts/TestHealthGatedRollback_reference",
	} {
		assert.Contains(t, out, want)
	}
}

// Add reports a row as soon as it finishes, for live progress.
func TestAddReportsFinishedRows(t *testing.T) {
	f, err := os.Open("testdata/mixed.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var finished []string
	_, err = Scan(f, nil, Handler{Row: func(r Result) {
		finished = append(finished, r.Name()+" "+r.Status)
	}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"TestFullScan/watchtower-1.7.1 pass", "TestFullScan/reference pass",
		"TestHealthGatedRollback/watchtower-1.7.1 skip", "TestHealthGatedRollback/reference fail",
	}, finished)
}

// A build failure has no test at all: the package failed, and the
// summary says why with the compiler's output.
func TestBuildFailure(t *testing.T) {
	s := parseFile(t, "build-failure.jsonl")
	assert.Empty(t, s.Results())
	assert.True(t, s.Failed())
	var b strings.Builder
	s.Write(&b)
	assert.Contains(t, b.String(), "the test binary itself failed")
	assert.Contains(t, b.String(), "undefined: undefined")
}

// A run cut short leaves tests that never finished; they count as failed.
func TestInterrupted(t *testing.T) {
	const stream = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestNodeLoss"}
{"Action":"run","Package":"p","Test":"TestNodeLoss/reference"}
{"Action":"output","Package":"p","Test":"TestNodeLoss/reference","Output":"=== RUN   TestNodeLoss/reference\n"}
`
	var finished []string
	s, err := Scan(strings.NewReader(stream), nil, Handler{Row: func(r Result) {
		finished = append(finished, r.Name()+" "+r.Status)
	}})
	require.NoError(t, err)
	assert.Empty(t, finished, "no progress line for a test that never ended")
	rows := s.Results()
	require.Len(t, rows, 1)
	assert.Equal(t, Running, rows[0].Status)
	assert.True(t, s.Failed())
	var b strings.Builder
	s.Write(&b)
	assert.Contains(t, b.String(), "never finished")
}

func TestReasons(t *testing.T) {
	assert.Equal(t, "no engine", skipReason([]string{"=== RUN   TestX", "    x_test.go:12: no engine", "--- SKIP: TestX (0.00s)"}))
	assert.Equal(t, "boom happened", failReason([]string{"=== RUN   TestX", "    x_test.go:3: boom happened", "--- FAIL: TestX (0.00s)"}))
	assert.Equal(t, "Received unexpected error: dial tcp: refused", failReason([]string{
		"    world_test.go:9: ", "        \tError Trace:\tworld_test.go:9", "        \tError:      \tReceived unexpected error:", "        \t            \tdial tcp: refused",
	}))
	assert.Equal(t, "the old version runs again", failReason([]string{
		"    rollback_test.go:43: ", "        \tError Trace:\trollback_test.go:43", "        \tError:      \tNot equal: ",
		"        \t            \texpected: \"a\"", "        \t            \tactual  : \"b\"",
		"        \tTest:       \tTestX", "        \tMessages:   \tthe old version runs again",
	}))
}

// A parent whose subtests passed but which failed itself (its shared setup
// failed after them) is a row of its own, with its own message.
func TestParentFailedItself(t *testing.T) {
	const stream = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestNodeLoss"}
{"Action":"run","Package":"p","Test":"TestNodeLoss/reference"}
{"Action":"output","Package":"p","Test":"TestNodeLoss/reference","Output":"    x_test.go:9: fine\n"}
{"Action":"pass","Package":"p","Test":"TestNodeLoss/reference","Elapsed":1.5}
{"Action":"output","Package":"p","Test":"TestNodeLoss","Output":"    x_test.go:20: remove the shared network: in use\n"}
{"Action":"output","Package":"p","Test":"TestNodeLoss","Output":"--- FAIL: TestNodeLoss (1.60s)\n"}
{"Action":"fail","Package":"p","Test":"TestNodeLoss","Elapsed":1.6}
{"Action":"fail","Package":"p","Elapsed":1.7}
`
	var finished []string
	s, err := Scan(strings.NewReader(stream), nil, Handler{Row: func(r Result) {
		finished = append(finished, r.Name()+" "+r.Status)
	}})
	require.NoError(t, err)
	assert.Equal(t, []string{"TestNodeLoss/reference pass", "TestNodeLoss fail"}, finished)
	rows := s.Results()
	require.Len(t, rows, 2)
	r := rows[0]
	assert.Equal(t, Result{Test: "TestNodeLoss", Status: Fail, Elapsed: 1600 * time.Millisecond, Reason: "remove the shared network: in use", Runs: 1, Failures: 1},
		Result{Test: r.Test, Sub: r.Sub, Status: r.Status, Elapsed: r.Elapsed, Reason: r.Reason, Runs: r.Runs, Failures: r.Failures}, "rows are in the order the tests started")
	assert.Contains(t, r.Output, "    x_test.go:20: remove the shared network: in use", "a row keeps its test's own output")
	assert.True(t, s.Failed())
}

// known.jsonl is recorded `go test -json ./scenarios -run
// 'TestHealthGatedRollback|TestNoOpScan'` on the real engine, with
// SEATRIAL_PROFILES naming two profile files of the reference updater
// (scenarios/testdata/known-*.json): one whose health gate flag is
// replaced, so rollback cannot happen and the rollback scenario fails as
// its known failure says; one that lists a known failure for the no-op
// scan, which passes, so the known failure is flagged.
func TestKnown(t *testing.T) {
	s := parseFile(t, "known.jsonl")
	got := map[string]Result{}
	for _, r := range s.Results() {
		got[r.Name()] = r
	}
	k := got["TestHealthGatedRollback/reference-no-rollback"]
	assert.Equal(t, Known, k.Status, "a known failure that happened is KNOWN, never PASS")
	assert.True(t, strings.HasPrefix(k.Reason, "KNOWN: this profile's health gate flag is --debug"), k.Reason)
	assert.Contains(t, k.Reason, "(https://github.com/seatrial-dev/seatrial/issues/11)")
	flagged := got["TestNoOpScan/reference-known-noop"]
	assert.Equal(t, Fail, flagged.Status, "a known failure that did not happen fails")
	assert.Equal(t, "known failure TestNoOpScan/reference-known-noop did not happen: remove it from the profile (https://github.com/seatrial-dev/seatrial/issues/11)", flagged.Reason)
	assert.Equal(t, Pass, got["TestNoOpScan/reference-no-rollback"].Status)
	assert.Equal(t, Pass, got["TestHealthGatedRollback/reference-known-noop"].Status)
	p, fl, kn, sk := s.Counts()
	assert.Equal(t, [4]int{2, 1, 1, 0}, [4]int{p, fl, kn, sk})
	assert.True(t, s.Failed(), "the flagged known failure fails the run")

	var b strings.Builder
	s.Write(&b)
	out := b.String()
	assert.Regexp(t, `HealthGatedRollback\s+reference-no-rollback\s+KNOWN\s+\S+\s+KNOWN: this profile's health gate flag`, out)
	assert.Contains(t, out, "2 passed, 1 failed, 1 known, 0 skipped (4 in all)")
	t.Log("\n" + out)
}

// A scenario none of whose profiles was selected is counted, not a row.
func TestDeselected(t *testing.T) {
	const stream = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestFullScan"}
{"Action":"output","Package":"p","Test":"TestFullScan","Output":"    selection_test.go:29: DESELECTED: none of its profiles is selected\n"}
{"Action":"skip","Package":"p","Test":"TestFullScan","Elapsed":0}
{"Action":"run","Package":"p","Test":"TestNoOpScan"}
{"Action":"run","Package":"p","Test":"TestNoOpScan/reference"}
{"Action":"pass","Package":"p","Test":"TestNoOpScan/reference","Elapsed":1.5}
{"Action":"pass","Package":"p","Test":"TestNoOpScan","Elapsed":1.6}
{"Action":"pass","Package":"p","Elapsed":1.7}
`
	var live []string
	s, err := Scan(strings.NewReader(stream), nil, Handler{Row: func(r Result) { live = append(live, r.Name()) }})
	require.NoError(t, err)
	assert.Equal(t, []string{"TestNoOpScan/reference"}, live, "nor is it printed as it ends")
	rows := s.Results()
	require.Len(t, rows, 1)
	assert.Equal(t, "TestNoOpScan/reference", rows[0].Name())
	assert.Equal(t, 1, s.Deselected())
	var b strings.Builder
	s.Write(&b)
	assert.Contains(t, b.String(), "1 passed, 0 failed, 0 known, 0 skipped (1 in all)")
	assert.Contains(t, b.String(), "1 scenarios not selected")
}
