package testenv

import (
	"syscall"
	"testing"
	"time"
)

// ReportCPU reports, as cpu-ns/op, the CPU time (user and system, every
// thread of the test process) that b's loop used per iteration. Call it
// after the set-up and defer the function it returns, so that it runs
// after the loop.
//
// Why: on a machine shared by many jobs, ns/op is wall time and measures
// the queue for a core as much as the code. CPU time is what the code
// costs whatever the load. It counts the whole process, so a benchmark's
// own peers (fake HTTP targets, the GC) are in it, which is what a run
// would pay as well.
func ReportCPU(b *testing.B) func() {
	b.Helper()
	start, err := processCPU()
	if err != nil {
		b.Fatalf("read the process's CPU time: %v", err)
	}
	return func() {
		end, err := processCPU()
		if err != nil {
			b.Fatalf("read the process's CPU time: %v", err)
		}
		if b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
