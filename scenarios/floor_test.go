package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// BenchmarkNodeFloor measures the floor every other figure of the suite is
// a multiple of: one systemd node, alone in its sandbox, from its
// container's creation to "Reached target Multi-User System" (s/boot).
// Machines differ two or three times in speed; a ratio to this floor,
// taken in the same run, does not.
//
// It also reports what the smallest sandbox costs the whole machine, from
// its creation to its removal (host-cpu-s/op, see hostCPU): every
// scenario runs in a sandbox of its own, so the suite can take no less
// than its sandboxes times that, shared among the cores.
func BenchmarkNodeFloor(b *testing.B) {
	testenv.NeedsEngine(b)
	cpu := hostCPU(b)
	cpu.start(b)
	var total time.Duration
	for b.Loop() {
		total += nodeFloor(b)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/boot")
	cpu.report(b, "host-cpu-s/op")
}

// hostCPUMeter adds up the machine's busy CPU time (testenv.HostBusyCPU)
// over the spans a benchmark brackets with start and stop.
type hostCPUMeter struct {
	ok      bool // the engine is local and /proc/stat readable
	running bool
	from    time.Duration
	total   time.Duration
}

// hostCPU returns a stopped meter. It measures only where the engine's
// host is this machine: a remote engine's containers spend their CPU
// elsewhere.
func hostCPU(b *testing.B) *hostCPUMeter {
	b.Helper()
	if engine.ReachOf(s.cli.DaemonHost()).Remote() {
		b.Logf("host CPU not reported: the engine (%s) is on another machine", s.cli.DaemonHost())
		return &hostCPUMeter{}
	}
	if _, err := testenv.HostBusyCPU(); err != nil {
		b.Logf("host CPU not reported: %v", err)
		return &hostCPUMeter{}
	}
	return &hostCPUMeter{ok: true}
}

func (m *hostCPUMeter) start(b *testing.B) {
	b.Helper()
	if m.ok && !m.running {
		m.from, m.running = m.read(b), true
	}
}

func (m *hostCPUMeter) stop(b *testing.B) {
	b.Helper()
	if m.running {
		m.total += m.read(b) - m.from
		m.running = false
	}
}

func (m *hostCPUMeter) read(b *testing.B) time.Duration {
	b.Helper()
	d, err := testenv.HostBusyCPU()
	require.NoError(b, err)
	return d
}

// report stops the meter and reports its total per iteration as unit.
func (m *hostCPUMeter) report(b *testing.B, unit string) {
	b.Helper()
	m.stop(b)
	if m.ok && b.N > 0 {
		b.ReportMetric(m.total.Seconds()/float64(b.N), unit)
	}
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
