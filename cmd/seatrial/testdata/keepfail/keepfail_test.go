// Package keepfail is a test package for seatrial run --keep-on-failure's
// own test (cmd/seatrial/run_test.go): one test fails in a real sandbox,
// one passes in another. It is not a scenario, and it lives under
// testdata so `go test ./...` does not run it.
package keepfail

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/seatrial-dev/seatrial/harness"
)

func sandbox(t *testing.T) *harness.Sandbox {
	t.Helper()
	sb, err := harness.NewSandbox(t.Context(), harness.WithTest(t))
	if err != nil {
		t.Fatalf("make a sandbox: %v", err)
	}
	return sb
}

// TestFails fails deliberately: its sandbox is kept with --keep-on-failure.
func TestFails(t *testing.T) {
	t.Run("reference", func(t *testing.T) {
		sb := sandbox(t)
		// In testify's form, as the scenarios fail: the summary's reason.
		assert.Fail(t, fmt.Sprintf("the node still runs the old digest in sandbox %s (a deliberate failure)", sb.ID()))
	})
}

// TestPasses passes: its sandbox goes, --keep-on-failure or not.
func TestPasses(t *testing.T) {
	t.Run("reference", func(t *testing.T) { sandbox(t) })
}
