package harness

import (
	"sync"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

// EngineGuard keeps container removals away from updaters that cannot
// bear them. Some updaters (watchtower v1.7.1; see
// profile.CapToleratesEngineChurn) inspect every container on the engine
// during a scan, and fail when one is removed between their list and their
// inspect. Sandboxes that share a guard hold it shared while they remove
// containers (closing a sandbox, pruning, an updater that recreates
// containers scanning), and exclusively while such an updater starts or
// scans. One guard per process running sandboxes side by side (the
// scenario suite); a nil guard guards nothing.
type EngineGuard struct{ mu sync.RWMutex }

// WithEngineGuard makes the sandbox use g; see EngineGuard.
func WithEngineGuard(g *EngineGuard) Option { return func(c *sandboxConfig) { c.guard = g } }

// churn holds g while the caller removes containers; call the result to
// release it.
func (g *EngineGuard) churn() func() {
	if g == nil {
		return func() {}
	}
	g.mu.RLock()
	return g.mu.RUnlock
}

// quiet holds g while an updater that cannot bear churn runs; call the
// result to release it.
func (g *EngineGuard) quiet() func() {
	if g == nil {
		return func() {}
	}
	g.mu.Lock()
	return g.mu.Unlock
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
