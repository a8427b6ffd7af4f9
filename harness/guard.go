package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

// EngineGuard keeps container removals away from updaters that cannot
// bear them. Some updaters (watchtower v1.7.1; see
// profile.CapToleratesEngineChurn) inspect every container on the engine
// during a scan, and fail when one is removed between their list and their
// inspect. Sandboxes that share a guard hold it shared while they remove
// containers (closing a sandbox, pruning, an updater that recreates
// containers scanning), and exclusively while such an updater starts or
// scans.
//
// The zero value guards the sandboxes of one process. NewHostEngineGuard's
// also takes a lock file that every process on this host shares, so that
// suites run side by side on one engine (two shards of seatrial run, two
// go test processes) keep their removals away from each other's updaters
// too (without it, in a run of two shards on this machine, watchtower
// 1.7.1 exited at start with "No such container" in two scenarios). A nil
// guard guards nothing.
type EngineGuard struct {
	mu sync.RWMutex
	// lockFile is the host-wide lock; "" for this process only.
	lockFile string
}

// NewHostEngineGuard returns a guard that also holds dir/engine-guard.lock
// (flock: shared for removals, exclusive for a churn-intolerant updater),
// making dir if need be. Every process that shares the engine and the dir
// shares the guard.
func NewHostEngineGuard(dir string) (*EngineGuard, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("engine guard: %w", err)
	}
	g := &EngineGuard{lockFile: filepath.Join(dir, "engine-guard.lock")}
	f, err := g.open()
	if err != nil {
		return nil, err
	}
	f.Close()
	return g, nil
}

func (g *EngineGuard) open() (*os.File, error) {
	f, err := os.OpenFile(g.lockFile, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("engine guard: %w", err)
	}
	return f, nil
}

// flock takes the host-wide lock (how: syscall.LOCK_SH or LOCK_EX) and
// returns its release. Each holder opens the file itself: a flock belongs
// to the open file, so shared holders in one process need one each. The
// file was opened once by NewHostEngineGuard; should it fail later, the
// guard still holds within this process.
func (g *EngineGuard) flock(how int) func() {
	if g.lockFile == "" {
		return func() {}
	}
	f, err := g.open()
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() } // closing the last descriptor releases it
}

// WithEngineGuard makes the sandbox use g; see EngineGuard.
func WithEngineGuard(g *EngineGuard) Option { return func(c *sandboxConfig) { c.guard = g } }

// churn holds g while the caller removes containers; call the result to
// release it.
func (g *EngineGuard) churn() func() { return g.hold(false) }

// quiet holds g while an updater that cannot bear churn runs; call the
// result to release it.
func (g *EngineGuard) quiet() func() { return g.hold(true) }

// hold takes g's lock and its lock file, shared (churn) or exclusive
// (quiet), and returns what releases both.
func (g *EngineGuard) hold(exclusive bool) func() {
	if g == nil {
		return func() {}
	}
	lock, unlock, how := g.mu.RLock, g.mu.RUnlock, syscall.LOCK_SH
	if exclusive {
		lock, unlock, how = g.mu.Lock, g.mu.Unlock, syscall.LOCK_EX
	}
	lock()
	release := g.flock(how)
	return func() {
		release()
		unlock()
	}
}

// forUpdater returns the hold an updater of profile p needs while it
// starts or scans: quiet if it cannot bear churn, churn otherwise (its
// scan may remove containers).
func (g *EngineGuard) forUpdater(p Profile) func() {
	if p.Has(profile.CapToleratesEngineChurn) {
		return g.churn()
	}
	return g.quiet()
}
