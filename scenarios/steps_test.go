package scenarios

import (
	"context"
	"testing"
	"time"
)

// within is the context a scenario's steps run in: t's, ended after d
// (the scenario's deadline) or when t's cleanups start, whichever comes
// first.
func within(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
