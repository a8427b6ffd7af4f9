package scenarios

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/seatrial-dev/seatrial/harness"
)

// recorder is the testing.TB a scenario's body runs against, so that its
// outcome can be judged against the profile's known failures before the
// real test hears of it (see judge). Failures and skips are recorded;
// FailNow and SkipNow end the body's goroutine (runtime.Goexit, as the
// testing package does). Everything else (logs, cleanups, temp dirs, the
// name) is the real test's. Once judged, failures go to the real test:
// a cleanup that fails after the body is not hidden.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	judged  bool
	failed  bool
	skipped bool
	msgs    []string
}

func (r *recorder) record(msg string) (passThrough bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.judged {
		return true
	}
	r.failed = true
	if msg != "" {
		r.msgs = append(r.msgs, msg)
	}
	return false
}

func (r *recorder) Fail() {
	if r.record("") {
		r.TB.Fail()
	}
}

func (r *recorder) Error(args ...any) {
	if r.record(strings.TrimSuffix(fmt.Sprintln(args...), "\n")) {
		r.TB.Error(args...)
	}
}

func (r *recorder) Errorf(format string, args ...any) {
	if r.record(fmt.Sprintf(format, args...)) {
		r.TB.Errorf(format, args...)
	}
}

// FailNow and SkipNow record, then end the body's goroutine (see end).
func (r *recorder) FailNow() { r.end(r.record(""), r.TB.FailNow) }
func (r *recorder) SkipNow() { r.end(r.recordSkip(), r.TB.SkipNow) }

// end ends the body's goroutine; once judged (passThrough), the real
// test's FailNow or SkipNow (real) runs first.
func (r *recorder) end(passThrough bool, real func()) {
	if passThrough {
		real()
	}
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any)                 { r.Error(args...); r.FailNow() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); r.FailNow() }
func (r *recorder) Skip(args ...any)                  { r.Log(args...); r.SkipNow() }
func (r *recorder) Skipf(format string, args ...any)  { r.Logf(format, args...); r.SkipNow() }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.judged {
		return r.failed || r.TB.Failed()
	}
	return r.failed
}

func (r *recorder) recordSkip() (passThrough bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = true
	return r.judged
}

// Skipped is the body's skip, and once judged the real test's too: a
// failure judged KNOWN skips it (so a cleanup such as the sandbox's
// --keep-on-failure does not take it for a failure to keep).
func (r *recorder) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped || (r.judged && r.TB.Skipped())
}

// runJudged runs a scenario's body for profile p against a recorder, in a
// goroutine of its own, then judges its outcome on the real t:
//   - a failure that one of p's known failures matches is KNOWN: t is
//     skipped with "KNOWN: <reason> (<link>)" after the failure is
//     logged, so the run does not fail and the summary shows KNOWN;
//   - any other failure fails t with the body's messages;
//   - a pass where p lists a known failure for this scenario fails t: the
//     known failure did not happen and the profile must lose it.
func runJudged(t *testing.T, p harness.Profile, body func(t testing.TB, p harness.Profile)) {
	t.Helper()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(rec, p)
	}()
	<-done
	rec.mu.Lock()
	rec.judged = true
	failed, skipped, msgs := rec.failed, rec.skipped, rec.msgs
	rec.mu.Unlock()
	msg := strings.Join(msgs, "\n")
	switch {
	case failed:
		if k, ok := p.KnownFailure(t.Name(), msg); ok {
			t.Logf("the failure, known for profile %s:\n%s", p.Name, msg)
			t.Skipf("KNOWN: %s (%s)", k.Reason, k.Link)
		}
		for _, m := range msgs {
			t.Error(m)
		}
		t.FailNow()
	case skipped:
		t.SkipNow() // the body logged why
	}
	for _, k := range p.KnownFailures {
		// The scenario's own known failure, or its parent's for a subtest
		// (as KnownFailure.Matches takes it).
		if name := t.Name(); name == k.Scenario || strings.HasPrefix(name, k.Scenario+"/") {
			// In testify's form, as the scenarios' own failures are, so
			// the run's summary takes it as the reason.
			assert.Fail(t, fmt.Sprintf("known failure %s/%s did not happen: remove it from the profile (%s)", k.Scenario, p.Name, k.Link))
		}
	}
}
