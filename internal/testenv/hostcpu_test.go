package testenv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseCPULine(t *testing.T) {
	// user 100, nice 20, system 30, idle 5000, iowait 7, irq 3, softirq 2,
	// steal 1, guest 40 (inside user), guest_nice 0.
	got, err := parseCPULine("cpu  100 20 30 5000 7 3 2 1 40 0")
	require.NoError(t, err)
	require.Equal(t, 1560*time.Millisecond, got) // 156 ticks of 10 ms

	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 x 3 4 5 6 7 8"} {
		_, err := parseCPULine(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestHostBusyCPU(t *testing.T) {
	a, err := HostBusyCPU()
	if err != nil {
		t.Skipf("no /proc/stat here: %v", err)
	}
	// Burn a little CPU so the counter must move.
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = n * n
	}
	b, err := HostBusyCPU()
	require.NoError(t, err)
	require.Greater(t, b, a, "the machine's busy time did not grow while this test spun for 50 ms")
}
