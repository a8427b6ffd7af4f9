package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// BenchmarkNodeFloor measures the floor every other figure of the suite is
// a multiple of: one systemd node, alone in its sandbox, from its
// container's creation to "Reached target Multi-User System" (s/boot).
// Machines differ two or three times in speed; a ratio to this floor,
// taken in the same run, does not.
func BenchmarkNodeFloor(b *testing.B) {
	testenv.NeedsEngine(b)
	var total time.Duration
	for b.Loop() {
		total += nodeFloor(b)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/boot")
}

// nodeFloor boots one node in a sandbox of its own and returns its boot
// time (harness.Node.BootTime); the sandbox is gone when it returns.
func nodeFloor(tb testing.TB) time.Duration {
	tb.Helper()
	it := &iteration{TB: tb}
	defer it.cleanup()
	ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Minute)
	defer cancel()
	sb, err := harness.NewSandbox(ctx, s.sandboxOptions(it)...)
	require.NoError(tb, err)
	c, err := sb.StartCluster(ctx, harness.ClusterSpec{Nodes: []harness.NodeSpec{{Name: "floor"}}})
	require.NoError(tb, err)
	d, err := c.Node("floor").BootTime(ctx)
	require.NoError(tb, err)
	return d
}
