// Package testenv says, the same way in every package, what a test needs
// of its environment.
//
// A test that needs a Docker engine calls NeedsEngine first (or Engine,
// which also connects). `go test -short` runs the unit tests only and
// skips those with the reason, so it passes on a machine with no engine;
// without -short they run, and a missing engine fails them with the engine
// client's own words, so a CI run can never pass by skipping what it was
// meant to run.
package testenv

import (
	"os/exec"

	"testing"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/engine"
)

// NeedsEngine skips tb under -short, saying that it needs a Docker engine.
func NeedsEngine(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a Docker engine; -short runs the unit tests only")
	}
}

// Engine is NeedsEngine, then a client of the engine, closed when tb ends;
// no engine fails tb.
func Engine(tb testing.TB) *client.Client {
	tb.Helper()
	NeedsEngine(tb)
	cli, err := engine.Connect(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// NeedsCommand returns the path of the command name, which the Debian
// package pkg installs. Under -short a missing command skips tb with the
// reason; without -short it fails tb, saying what to install, so a CI run
// cannot pass by skipping what it was meant to check.
func NeedsCommand(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if testing.Short() {
		tb.Skipf("needs %s (Debian package %s), which is not on PATH", name, pkg)
	}
	tb.Fatalf("needs %s, which is not on PATH: install it (apt-get install %s)", name, pkg)
	return ""
}
