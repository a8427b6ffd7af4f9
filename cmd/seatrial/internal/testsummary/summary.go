// Package testsummary reads the output of `go test -json` (through
// gotestsum's testjson, which keeps every test's outcome and output) and
// writes a summary a person can read: one row per test that ran (a
// scenario and its profile), whether it passed, failed or was skipped and
// why, how long it took, totals, and where failures left their artifacts.
package testsummary

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gotest.tools/gotestsum/testjson"

	"github.com/seatrial-dev/seatrial/internal/selection"
)

// Status of a test.
const (
	Pass    = "pass"
	Fail    = "fail"
	Skip    = "skip"
	Running = "running" // started and never finished: the run was killed or timed out
	// Known is a known failure (a profile's known_failures): go test
	// reports it as a skip whose message starts with KnownPrefix.
	Known = "known"
	// Flaky is a test run more than once (go test -count) that failed in
	// some runs and passed in others: a failure.
	Flaky = "flaky"
)

// DeselectedPrefix starts the skip message of a scenario none of whose
// profiles the run selected (seatrial run --focus, --skip, --capability):
// it is not a row, only counted.
const DeselectedPrefix = selection.DeselectedPrefix

// KnownPrefix starts the skip message of a known failure (see the
// scenarios' runJudged).
const KnownPrefix = "KNOWN:"

// Result is one test's outcome: a row of the summary.
type Result struct {
	// Test is the top-level test ("TestFullScan"); Sub is the rest of the
	// name below it ("reference"), empty for a test without subtests.
	Test, Sub string
	Status    string
	Elapsed   time.Duration
	// Reason is why it was skipped, or the test's own words for its first
	// failure.
	Reason string
	// Output is what the test wrote itself (not its subtests), line by
	// line, as go test printed it.
	Output []string
	// Artifacts is the directory a failed test said it wrote its
	// artifacts to, if it said one (of its first failed run).
	Artifacts string
	// Runs is how many times the test ran (go test -count), Failures in
	// how many of them it failed or never finished.
	Runs, Failures int
}

// Name is the full test name ("TestFullScan/reference").
func (r Result) Name() string {
	if r.Sub == "" {
		return r.Test
	}
	return r.Test + "/" + r.Sub
}

// Handler is told what happens while Scan reads; every field may be nil.
type Handler struct {
	// Event sees every event as it is read.
	Event func(testjson.TestEvent)
	// Row sees each row of the summary as soon as its test ends; a test
	// that never ended is only in the summary.
	Row func(Result)
	// Stderr sees each line go test wrote to its standard error.
	Stderr func(string)
}

// Summary is what a run of `go test -json` did.
type Summary struct {
	exec *testjson.Execution
}

// Scan reads `go test -json` from stdout, and go test's own standard error
// from stderr (nil if there is none), to their end.
func Scan(stdout, stderr io.Reader, h Handler) (*Summary, error) {
	exec, err := testjson.ScanTestOutput(testjson.ScanConfig{
		Stdout:  stdout,
		Stderr:  stderr,
		Handler: handler{h},
		// go's own messages ("go: downloading ...") are not events.
		IgnoreNonJSONOutputLines: true,
	})
	return &Summary{exec: exec}, err
}

// handler adapts a Handler to testjson's.
type handler struct{ h Handler }

func (h handler) Event(e testjson.TestEvent, exec *testjson.Execution) error {
	if h.h.Event != nil {
		h.h.Event(e)
	}
	if h.h.Row == nil || e.Test == "" || !e.Action.IsTerminal() {
		return nil
	}
	pkg := exec.Package(e.Package)
	// A test ends after its subtests, so whether it is a row is known now.
	all := cases(pkg)
	for i := len(all) - 1; i >= 0; i-- {
		if tc := all[i]; tc.Test.Name() == e.Test {
			if tc.status != Running && isRow(tc, all) {
				if r := result(pkg, tc); !r.deselected() {
					h.h.Row(r)
				}
			}
			break
		}
	}
	return nil
}

func (h handler) Err(line string) error {
	if h.h.Stderr != nil {
		h.h.Stderr(line)
	}
	return nil
}

// testCase is a finished test and its status (testjson says a test's
// status by the list of its Package that holds it).
type testCase struct {
	testjson.TestCase
	status string
}

// cases returns the package's finished tests in the order they started.
// testjson counts a test that never ended as failed, with a negative
// elapsed time: here it is Running.
func cases(pkg *testjson.Package) []testCase {
	var all []testCase
	for _, l := range []struct {
		tcs    []testjson.TestCase
		status string
	}{{pkg.Passed, Pass}, {pkg.Failed, Fail}, {pkg.Skipped, Skip}} {
		for _, tc := range l.tcs {
			s := l.status
			if s == Fail && tc.Elapsed < 0 {
				s = Running
			}
			all = append(all, testCase{tc, s})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// isRow says whether tc is a row of the summary: a test without subtests,
// or a parent that failed although none of its subtests did (its own
// setup failed).
func isRow(tc testCase, all []testCase) bool {
	prefix := tc.Test.Name() + "/"
	var children, childFailed bool
	for _, o := range all {
		if strings.HasPrefix(o.Test.Name(), prefix) {
			children = true
			childFailed = childFailed || o.status == Fail || o.status == Running
		}
	}
	return !children || tc.status == Fail && !childFailed
}

func result(pkg *testjson.Package, tc testCase) Result {
	top, sub := tc.Test.Split()
	out := ownOutput(pkg, tc.ID)
	r := Result{Test: top, Sub: sub, Status: tc.status, Output: out, Artifacts: artifactsOf(out)}
	if tc.Elapsed > 0 {
		r.Elapsed = tc.Elapsed.Round(100 * time.Millisecond)
	}
	switch r.Status {
	case Skip:
		r.Reason = skipReason(out)
		if why, ok := knownReason(out); ok {
			r.Status, r.Reason = Known, why
		}
	case Fail:
		r.Reason = failReason(out)
	}
	return r
}

// ownOutput is what the test with this id wrote itself (not its
// subtests), line by line; id 0 is the package's own output.
func ownOutput(pkg *testjson.Package, id int) []string {
	var b strings.Builder
	_ = pkg.WriteOutputTo(&b, id) // a strings.Builder does not fail
	if b.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
}

// runs returns the rows of every run, package by package, in the order
// they started: a test that ran n times (go test -count=n) is n rows.
func (s *Summary) runs() []Result {
	var out []Result
	for _, name := range s.exec.Packages() {
		pkg := s.exec.Package(name)
		all := cases(pkg)
		for _, tc := range all {
			if isRow(tc, all) {
				out = append(out, result(pkg, tc))
			}
		}
	}
	return out
}

// Results returns the rows in the order they first started, one per test
// however often it ran, without the deselected (see DeselectedPrefix). A
// test that failed in some runs and passed in others is Flaky, its reason
// "failed k of n: " and its first failure's; its time is the mean of its
// runs.
func (s *Summary) Results() []Result {
	return aggregate(s.runs())
}

func aggregate(runs []Result) []Result {
	var out []Result
	at := map[string]int{}
	var total []time.Duration
	for _, r := range runs {
		if r.deselected() {
			continue
		}
		failed := r.Status == Fail || r.Status == Running
		i, seen := at[r.Name()]
		if !seen {
			i = len(out)
			at[r.Name()] = i
			out = append(out, r)
			total = append(total, 0)
			out[i].Runs, out[i].Failures = 0, 0
		}
		a := &out[i]
		a.Runs++
		total[i] += r.Elapsed
		a.Elapsed = (total[i] / time.Duration(a.Runs)).Round(100 * time.Millisecond)
		if failed {
			if a.Failures == 0 {
				// The first failure says why.
				a.Reason, a.Output, a.Artifacts = r.Reason, r.Output, r.Artifacts
			}
			a.Failures++
		}
		switch {
		case a.Failures == 0:
			a.Status = r.Status
			if r.Status == Pass || !seen {
				a.Reason, a.Output = r.Reason, r.Output
			}
		case a.Failures == a.Runs:
			a.Status = r.Status // Fail or Running
		default:
			a.Status = Flaky
		}
	}
	for i := range out {
		if out[i].Status == Flaky {
			out[i].Reason = fmt.Sprintf("failed %d of %d: %s", out[i].Failures, out[i].Runs, out[i].Reason)
		}
	}
	return out
}

func (r Result) deselected() bool {
	return r.Status == Skip && strings.HasPrefix(r.Reason, DeselectedPrefix)
}

// Deselected returns how many scenarios ran with none of their profiles
// selected.
func (s *Summary) Deselected() int {
	n := map[string]bool{}
	for _, r := range s.runs() {
		if r.deselected() {
			n[r.Name()] = true
		}
	}
	return len(n)
}

// Counts returns how many rows passed, failed (or never finished, or
// were flaky), were known failures and were skipped.
func (s *Summary) Counts() (passed, failed, known, skipped int) {
	for _, r := range s.Results() {
		switch r.Status {
		case Pass:
			passed++
		case Skip:
			skipped++
		case Known:
			known++
		default:
			failed++
		}
	}
	return
}

// packageFailed reports whether a package failed by itself: a build
// error, a failed TestMain, a timeout.
func (s *Summary) packageFailed() bool {
	for _, name := range s.exec.Packages() {
		if s.exec.Package(name).Result() == testjson.ActionFail {
			return true
		}
	}
	return false
}

// Failed reports whether anything failed: a test, or a package itself.
func (s *Summary) Failed() bool {
	_, failed, _, _ := s.Counts()
	return failed > 0 || s.packageFailed()
}

// artifactsLine is what a failed scenario logs to say where its artifacts
// went (scenarios/world_test.go).
var artifactsLine = regexp.MustCompile(`artifacts of this failure: (\S+)`)

// artifactsOf is the artifacts directory a test's output names, if any.
func artifactsOf(out []string) string {
	for _, l := range out {
		if m := artifactsLine.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

// Artifacts returns the directories failed tests said they wrote
// artifacts to, in the order the tests started.
func (s *Summary) Artifacts() []string {
	var out []string
	for _, name := range s.exec.Packages() {
		pkg := s.exec.Package(name)
		for _, tc := range cases(pkg) {
			if a := artifactsOf(ownOutput(pkg, tc.ID)); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// elapsed is the time the packages' tests took, as go test reports it.
func (s *Summary) elapsed() time.Duration {
	var d time.Duration
	for _, name := range s.exec.Packages() {
		d = max(d, s.exec.Package(name).Elapsed())
	}
	return d.Round(100 * time.Millisecond)
}

// Write writes the summary table, the totals and where artifacts went.
// When a package failed with no failed test (a build error, a failed
// TestMain), it writes what go test and the package said, which says why.
func (s *Summary) Write(w io.Writer) {
	rows := s.Results()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Test < rows[j].Test })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPROFILE\tRESULT\tTIME\tWHY")
	for _, r := range rows {
		t := ""
		if r.Status != Skip {
			t = r.Elapsed.String()
		}
		why := r.Reason
		if r.Status == Running {
			why = "never finished (the run was interrupted or timed out)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.TrimPrefix(r.Test, "Test"), orDash(r.Sub), strings.ToUpper(r.Status), t, why)
	}
	tw.Flush()
	passed, failed, known, skipped := s.Counts()
	fmt.Fprintf(w, "\n%d passed, %d failed, %d known, %d skipped (%d in all) in %s\n", passed, failed, known, skipped, len(rows), s.elapsed())
	if n := s.Deselected(); n > 0 {
		fmt.Fprintf(w, "%d scenarios not selected\n", n)
	}
	if s.packageFailed() && failed == 0 {
		fmt.Fprintln(w, "\nthe test binary itself failed:")
		for _, l := range tail(s.packageOutput(), 30) {
			fmt.Fprintln(w, "  "+l)
		}
	}
	if a := s.Artifacts(); len(a) > 0 {
		fmt.Fprintln(w, "\nartifacts of the failures:")
		for _, d := range a {
			fmt.Fprintln(w, "  "+d)
		}
	}
}

// PackageFailure is what go test and the packages said when a package
// failed by itself with no failed test (a build error, a failed
// TestMain); nil when none did.
func (s *Summary) PackageFailure() []string {
	if _, failed, _, _ := s.Counts(); !s.packageFailed() || failed > 0 {
		return nil
	}
	return tail(s.packageOutput(), 30)
}

// Elapsed is the time the packages' tests took, as go test reports it.
func (s *Summary) Elapsed() time.Duration { return s.elapsed() }

// packageOutput is what go test said on its standard error and in build
// output, then what the packages wrote outside any test.
func (s *Summary) packageOutput() []string {
	out := slices.Clone(s.exec.Errors())
	for _, name := range s.exec.Packages() {
		out = append(out, ownOutput(s.exec.Package(name), 0)...)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tail(ls []string, n int) []string {
	var out []string
	for _, l := range ls {
		if l = strings.TrimRight(l, "\n"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
