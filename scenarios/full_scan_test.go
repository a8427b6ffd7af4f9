package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// TestFullScan: a new version of the node image is published and a scan
// triggered; every managed node is recreated on the new digest, its
// systemd comes up healthy with the app's unit active, and the updater's
// metrics say so.
func TestFullScan(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope}, fullScan)
}

// BenchmarkFullScan measures the full-scan scenario from sandbox creation
// to its last assertion, per profile, and reports it as a multiple of the
// floor (x-floor, see BenchmarkNodeFloor), and the scan alone (from the
// new version's publication to the last assertion: what is left when the
// world is up) likewise (scan-x-floor). Each iteration first boots one
// node alone, untimed, then runs the whole scenario. Run it with
// -benchtime=Nx. Removing the sandbox is not timed, but done after each
// iteration, so iterations do not pile up running nodes. What the whole
// world costs the machine, its removal included and the untimed boot
// left out, is host-cpu-s/op (see hostCPU).
func BenchmarkFullScan(b *testing.B) {
	testenv.NeedsEngine(b)
	for _, p := range s.profiles {
		b.Run(p.Name, func(b *testing.B) {
			if why, ok := s.absent[p.Name]; ok {
				b.Skip(why)
			}
			var floor, whole, scan time.Duration
			cpu := hostCPU(b)
			for b.Loop() {
				b.StopTimer()
				floor += nodeFloor(b)
				b.StartTimer()
				cpu.start(b)
				it := &iteration{TB: b}
				start := time.Now()
				scan += timedFullScan(it, p)
				whole += time.Since(start)
				b.StopTimer()
				it.cleanup()
				cpu.stop(b)
				b.StartTimer()
			}
			b.ReportMetric(whole.Seconds()/floor.Seconds(), "x-floor")
			b.ReportMetric(scan.Seconds()/floor.Seconds(), "scan-x-floor")
			cpu.report(b, "host-cpu-s/op")
		})
	}
}

// iteration is a benchmark iteration's testing.TB: its Cleanup functions
// run at the end of the iteration instead of the end of the benchmark.
type iteration struct {
	testing.TB
	cleanups []func()
}

func (it *iteration) Cleanup(f func()) { it.cleanups = append(it.cleanups, f) }

func (it *iteration) cleanup() {
	for i := len(it.cleanups) - 1; i >= 0; i-- {
		it.cleanups[i]()
	}
}

func fullScan(t testing.TB, p harness.Profile) { timedFullScan(t, p) }

// timedFullScan runs the scenario and returns how long its scan took, from
// the new version's publication to the last assertion.
func timedFullScan(t testing.TB, p harness.Profile) time.Duration {
	w := newWorld(t, p, worldSpec{})
	ctx := within(t, 4*time.Minute)
	before := w.nodes(ctx)
	for name, n := range before {
		require.Equal(t, w.v1.Digest, n.Digest, "node %s before the scan", name)
	}
	since := time.Now()
	v2 := w.publishNode(ctx, "v2")

	res := w.scan(ctx)
	w.requireScanOK(res)

	after := w.requireReplaced(ctx, before, since, saying("was not recreated by the scan"))
	for name, n := range after {
		require.Equal(t, v2.Digest, n.Digest, "node %s runs the new version", name)
		require.True(t, n.Running, "node %s runs", name)
	}
	w.requireUnitActive(ctx)

	md := w.scrapeAfterScans(ctx, 1)
	w.requireGauge(md, mScanned, 2)
	w.requireGauge(md, mUpdated, 2)
	w.requireGauge(md, mFailed, 0)
	w.requireDelta(w.first, md, mScansTotal, 1)
	return time.Since(since)
}
