package harness

import "github.com/seatrial-dev/seatrial/harness/profile"

// The updater profile lives in package profile, which the sandbox
// descriptor imports; these names keep the harness's callers (the CLI, the
// scenarios) as they were. The capabilities (profile.CapScope, ...) are
// named in package profile only.
type (
	// Profile is profile.Profile.
	Profile = profile.Profile
	// Capability is profile.Capability.
	Capability = profile.Capability
	// Metrics is profile.Metrics.
	Metrics = profile.Metrics
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
