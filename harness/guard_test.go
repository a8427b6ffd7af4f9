package harness

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Two host guards on one dir stand for two processes (a flock belongs to
// the open file, so two guards in one process conflict as two processes
// do): removals share, a churn-intolerant updater's hold excludes them.
func TestHostEngineGuardSpansProcesses(t *testing.T) {
	dir := t.TempDir()
	a, err := NewHostEngineGuard(dir)
	require.NoError(t, err)
	b, err := NewHostEngineGuard(dir)
	require.NoError(t, err)

	// Removals in both "processes" at once.
	ra, rb := a.churn(), b.churn()
	ra()
	rb()

	// An updater that cannot bear churn holds a; b's removal waits for it.
	quiet := a.quiet()
	got := make(chan func())
	go func() { got <- b.churn() }()
	select {
	case r := <-got:
		r()
		quiet()
		require.FailNow(t, "a removal in another process went ahead while a churn-intolerant updater held the guard")
	case <-time.After(300 * time.Millisecond):
	}
	quiet()
	select {
	case r := <-got:
		r()
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the removal still waits after the updater let go")
	}
}

func TestHostEngineGuardSaysWhyItCannot(t *testing.T) {
	_, err := NewHostEngineGuard("/proc/no-such-dir")
	require.ErrorContains(t, err, "engine guard")
}
