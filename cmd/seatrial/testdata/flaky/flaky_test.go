// Package flaky is a deliberately flaky test package for seatrial run's
// own tests (cmd/seatrial/run_test.go): it is not a scenario, and it lives
// under testdata so `go test ./...` does not run it.
package flaky

import "testing"

// runs counts TestFlaky's runs in this process (go test -count=N runs a
// test N times in one process): the one mutable package variable is what
// makes the failure deterministic, every other run.
var runs int

// TestFlaky fails on every other run: the 2nd, the 4th...
func TestFlaky(t *testing.T) {
	t.Run("reference", func(t *testing.T) {
		runs++
		if runs%2 == 0 {
			t.Errorf("run %d: the node still runs the old digest (a deliberate flake)", runs)
		}
	})
}

// TestSteady always passes.
func TestSteady(t *testing.T) {
	t.Run("reference", func(t *testing.T) {})
}
