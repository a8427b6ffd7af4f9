package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// An updater's repository runs the suite with no seatrial checkout of its
// own: from a scratch module that requires seatrial (through a replace to
// this checkout, as the module is not published yet), go run of the CLI
// finds the module's sources where the go command has them, builds the
// images from there and runs the scenarios there; its JUnit file
// validates. Exactly the commands a user types.
func TestRunOutsideCheckout(t *testing.T) {
	testenv.NeedsEngine(t)
	xmllint := testenv.NeedsCommand(t, "xmllint", "libxml2-utils")
	if testing.Short() {
		t.Skip("builds seatrial and runs a scenario: not with -short")
	}
	scratch := t.TempDir()
	goCmd := func(timeout time.Duration, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = scratch
		// No go.work of the checkout's applies out here.
		cmd.Env = append(childEnv(), "GOWORK=off", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	goCmd(time.Minute, "mod", "init", "example.com/my-updater")
	// The CLI as a tool of the module (go 1.24's tool directive; go tool
	// seatrial runs it too), and tidy adds what it needs to go.sum.
	goCmd(time.Minute, "mod", "edit", "-require=github.com/seatrial-dev/seatrial@v0.0.0", "-replace=github.com/seatrial-dev/seatrial="+root, "-tool=github.com/seatrial-dev/seatrial/cmd/seatrial")
	goCmd(5*time.Minute, "mod", "tidy")
	out := goCmd(15*time.Minute, "run", "github.com/seatrial-dev/seatrial/cmd/seatrial", "run", "--focus", "FullScan", "--profile", "reference", "--junit", "out.xml")
	t.Log(out)
	require.Regexp(t, `PASS\s+TestFullScan/reference`, out)
	require.Contains(t, out, "1 passed, 0 failed")
	xml := filepath.Join(scratch, "out.xml")
	_, err := os.Stat(xml)
	require.NoError(t, err)
	schema, err := filepath.Abs(filepath.Join("testdata", "junit.xsd"))
	require.NoError(t, err)
	lint, err := exec.CommandContext(t.Context(), xmllint, "--noout", "--schema", schema, xml).CombinedOutput()
	require.NoError(t, err, "%s", lint)
}
