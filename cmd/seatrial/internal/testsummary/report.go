package testsummary

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// The JUnit XML here is the Ant/Jenkins format CI systems read
// (cmd/seatrial/testdata/junit.xsd is its schema, checked in a test):
// testsuites > testsuite > testcase, one test case per scenario and
// profile, its classname the scenario and its name the profile, so a CI
// UI groups a scenario's profiles together.

// junitTotals are the attributes testsuites and testsuite share.
type junitTotals struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
}

type junitSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	junitTotals
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	junitTotals
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
	SystemErr string      `xml:"system-err,omitempty"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// Scenario is the row's scenario as a person names it: its test without
// the Test prefix (FullScan).
func (r Result) Scenario() string { return strings.TrimPrefix(r.Test, "Test") }

// junitCaseOf is a row as a JUnit test case. A known failure is skipped,
// its message the profile's reason; a test that never finished is an
// error; a flaky one a failure whose message says how often it failed.
func junitCaseOf(r Result) junitCase {
	c := junitCase{Classname: r.Scenario(), Name: orDash(r.Sub), Time: seconds(r.Elapsed)}
	body := strings.Join(r.Output, "\n")
	switch r.Status {
	case Fail, Flaky:
		c.Failure = &junitProblem{Message: r.Reason, Type: strings.ToUpper(r.Status), Body: body}
	case Running:
		c.Error = &junitProblem{Message: "never finished (the run was interrupted or timed out)", Type: "RUNNING", Body: body}
	case Skip, Known:
		c.Skipped = &junitProblem{Message: r.Reason, Type: strings.ToUpper(r.Status)}
	}
	if r.Artifacts != "" {
		c.SystemOut = "artifacts of this failure: " + r.Artifacts + "\n"
	}
	return c
}

// WriteJUnit writes the rows as JUnit XML, in one test suite named suite
// that started at start. A package that failed with no failed test (a
// build error) is a test case in error, so the failure is not lost.
func (s *Summary) WriteJUnit(w io.Writer, suite string, start time.Time) error {
	ts := junitSuite{junitTotals: junitTotals{Name: suite, Time: seconds(s.elapsed())}, Timestamp: start.UTC().Format("2006-01-02T15:04:05")}
	for _, r := range s.Results() {
		ts.Cases = append(ts.Cases, junitCaseOf(r))
	}
	if pf := s.PackageFailure(); pf != nil {
		ts.Cases = append(ts.Cases, junitCase{Classname: suite, Name: "go test", Time: "0.000",
			Error: &junitProblem{Message: "the test binary itself failed", Type: "PACKAGE", Body: strings.Join(pf, "\n")}})
	}
	return writeJUnit(w, []junitSuite{ts})
}

func writeJUnit(w io.Writer, suites []junitSuite) error {
	all := junitSuites{junitTotals: junitTotals{Name: "seatrial"}, Suites: suites}
	var total float64
	for i := range all.Suites {
		ts := &all.Suites[i]
		ts.Tests, ts.Failures, ts.Errors, ts.Skipped = len(ts.Cases), 0, 0, 0
		for _, c := range ts.Cases {
			switch {
			case c.Failure != nil:
				ts.Failures++
			case c.Error != nil:
				ts.Errors++
			case c.Skipped != nil:
				ts.Skipped++
			}
		}
		all.Tests += ts.Tests
		all.Failures += ts.Failures
		all.Errors += ts.Errors
		all.Skipped += ts.Skipped
		var sec float64
		fmt.Sscan(ts.Time, &sec)
		total += sec
	}
	all.Time = fmt.Sprintf("%.3f", total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// MergeJUnit merges JUnit files written by WriteJUnit (the shards of a
// run) into one: their test suites side by side, the totals summed.
func MergeJUnit(w io.Writer, ins ...io.Reader) error {
	var suites []junitSuite
	for i, in := range ins {
		var one junitSuites
		if err := xml.NewDecoder(in).Decode(&one); err != nil {
			return fmt.Errorf("read JUnit file %d: %w", i+1, err)
		}
		suites = append(suites, one.Suites...)
	}
	return writeJUnit(w, suites)
}

// JSONReport is the shape `seatrial run --json` writes; fields are only
// ever added.
type JSONReport struct {
	// Rows: one per scenario and profile, in the order they started.
	Rows []JSONRow `json:"rows"`
	// Counts of the rows by status, as the summary's totals line.
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Known   int `json:"known"`
	Skipped int `json:"skipped"`
	// Deselected counts scenarios none of whose profiles were selected.
	Deselected int `json:"deselected"`
	// PackageFailure is what go test said when the test binary failed
	// with no failed test (a build error), else absent.
	PackageFailure []string `json:"package_failure,omitempty"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
}

// JSONRow is one row of JSONReport.
type JSONRow struct {
	Scenario string `json:"scenario"` // FullScan
	Profile  string `json:"profile"`  // reference
	// Status: pass, fail, flaky, known, skip, running (never finished).
	Status         string  `json:"status"`
	ElapsedSeconds float64 `json:"elapsed_seconds"` // mean over its runs
	Reason         string  `json:"reason,omitempty"`
	Artifacts      string  `json:"artifacts,omitempty"`
	Runs           int     `json:"runs"`
	Failures       int     `json:"failures"`
}

// WriteJSON writes the summary as a JSONReport.
func (s *Summary) WriteJSON(w io.Writer) error {
	rep := JSONReport{Rows: []JSONRow{}, Deselected: s.Deselected(), PackageFailure: s.PackageFailure(), ElapsedSeconds: s.elapsed().Seconds()}
	rep.Passed, rep.Failed, rep.Known, rep.Skipped = s.Counts()
	for _, r := range s.Results() {
		rep.Rows = append(rep.Rows, JSONRow{Scenario: r.Scenario(), Profile: r.Sub, Status: r.Status, ElapsedSeconds: r.Elapsed.Seconds(),
			Reason: r.Reason, Artifacts: r.Artifacts, Runs: r.Runs, Failures: r.Failures})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
