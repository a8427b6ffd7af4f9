// Package enginetest holds what the engine tests of several packages set
// up the same way: one engine client and one ensured image set per test
// binary, and the options of a sandbox that belongs to a test.
package enginetest

import (
	"context"
	"sync"
	"testing"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// Env is the engine client and the image set that a test binary's engine
// tests share (ensuring is cheap once cached, but not free). The zero
// value is ready; the first test that asks makes them.
type Env struct {
	once sync.Once
	cli  *client.Client
	set  *images.Set
	err  error
}

// Get skips tb as testenv.NeedsEngine does, then returns the shared
// client and image set; failing to make them fails tb (and every later
// test that asks).
func (e *Env) Get(tb testing.TB) (*client.Client, *images.Set) {
	tb.Helper()
	testenv.NeedsEngine(tb)
	e.once.Do(func() {
		// Not tb.Context(): what is made here outlives the first test.
		ctx := context.Background()
		if e.cli, e.err = engine.Connect(ctx); e.err != nil {
			return
		}
		e.set, e.err = images.Ensure(ctx, e.cli)
	})
	if e.err != nil {
		tb.Fatal(e.err)
	}
	return e.cli, e.set
}

// SandboxOptions are the options of a sandbox on the shared client and
// image set that belongs to tb: removed when tb ends, its output in tb's
// log.
func (e *Env) SandboxOptions(tb testing.TB) []harness.Option {
	tb.Helper()
	cli, set := e.Get(tb)
	return []harness.Option{harness.WithTest(tb), harness.WithClient(cli), harness.WithImages(set)}
}
