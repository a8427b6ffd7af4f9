package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's counters (USER_HZ). The kernel fixes
// it at 100 for every architecture's user ABI, whatever CONFIG_HZ is.
const userHZ = 100

// HostBusyCPU returns the CPU time every core of this machine has spent
// busy since boot (/proc/stat: user, nice, system, irq, softirq and
// steal; not idle or iowait). Two readings bracket what a benchmark costs
// the whole machine, not only this process: a sandbox's cost is mostly
// the engine's, the runtime's, the kernel's and its containers' (the
// process-only ReportCPU sees none of it). It is only a sandbox's cost
// when the engine is local and nothing else runs.
func HostBusyCPU() (time.Duration, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("host CPU time: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("host CPU time: /proc/stat is empty")
	}
	return parseCPULine(sc.Text())
}

// parseCPULine reads /proc/stat's first line: "cpu  user nice system idle
// iowait irq softirq steal guest guest_nice" (guest time is already
// counted in user).
func parseCPULine(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("host CPU time: /proc/stat starts %q, want \"cpu\" and eight counters", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("host CPU time: /proc/stat counter %d: %w", i, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
