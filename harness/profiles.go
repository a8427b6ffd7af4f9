package harness

import "github.com/seatrial-dev/seatrial/harness/profile"

// The updater profile lives in package profile, which the sandbox
// descriptor imports; these names keep the harness's callers (the CLI, the
// scenarios) as they were.
type (
	// Profile is profile.Profile.
	Profile = profile.Profile
	// Capability is profile.Capability.
	Capability = profile.Capability
	// Metrics is profile.Metrics.
	Metrics = profile.Metrics
)

// Capabilities, as in package profile.
const (
	CapScope                = profile.CapScope
	CapMonitorOnly          = profile.CapMonitorOnly
	CapLabelFilter          = profile.CapLabelFilter
	CapHealthGatedRollback  = profile.CapHealthGatedRollback
	CapSkipBusyScan         = profile.CapSkipBusyScan
	CapToleratesEngineChurn = profile.CapToleratesEngineChurn
	CapConfigPreserved      = profile.CapConfigPreserved
	CapGracefulStop         = profile.CapGracefulStop
	CapRestartsDependents   = profile.CapRestartsDependents
	CapCleanup              = profile.CapCleanup
	CapLifecycleHooks       = profile.CapLifecycleHooks
	// CapSurvivesRefusedRecreate is profile.CapSurvivesRefusedRecreate.
	CapSurvivesRefusedRecreate = profile.CapSurvivesRefusedRecreate
	// CapSurvivesFlakyEngine is profile.CapSurvivesFlakyEngine.
	CapSurvivesFlakyEngine = profile.CapSurvivesFlakyEngine
	// CapHandlesEngineAPIRange is profile.CapHandlesEngineAPIRange.
	CapHandlesEngineAPIRange = profile.CapHandlesEngineAPIRange
)

// DefaultProfile is profile.Default.
const DefaultProfile = profile.Default

// Profiles is profile.Profiles: the shipped profiles by name.
func Profiles() map[string]Profile { return profile.Profiles() }

// ProfileByName is profile.ByName.
func ProfileByName(name string) (Profile, error) { return profile.ByName(name) }

// ProfileFromEnv is profile.FromEnv.
func ProfileFromEnv(getenv func(string) string) (Profile, bool, error) {
	return profile.FromEnv(getenv)
}
