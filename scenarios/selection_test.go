package scenarios

import (
	"os"
	"testing"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/internal/selection"
)

// selectedProfiles returns the profiles under test whose pair with t's
// scenario the run selected (seatrial run --focus, --skip, --capability,
// through the environment). A scenario with none is skipped with
// selection.DeselectedPrefix, which the run summary counts and does not
// show as a row.
func selectedProfiles(t *testing.T, caps []harness.Capability) []harness.Profile {
	t.Helper()
	sel, err := selection.FromEnv(os.Getenv)
	if err != nil {
		t.Fatalf("the selection in the environment: %v", err)
	}
	var out []harness.Profile
	for _, p := range s.profiles {
		if sel.Has(t.Name(), p.Name, caps) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Skip(selection.DeselectedPrefix + " none of its profiles is selected")
	}
	return out
}
