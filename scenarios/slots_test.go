package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hostSlots bounds how many worlds live at once on this host, across
// processes (two shards of seatrial run side by side, two go test runs):
// a world holds one of n lock files in the state root (flock) while it
// lives.
//
// Why: every systemd node holds inotify instances (systemd, journald,
// logind, D-Bus: 14 at the peak of a two-node FullScan), counted against
// fs.inotify.max_user_instances (128 by default) for the whole host, not
// per process or container. At 8 worlds at once nodes failed to boot with
// "Failed to allocate manager object: Too many open files". A world is
// allowed inotifyPerWorld of them: a few nodes and their replacements.
type hostSlots struct {
	dir string
	n   int
}

// inotifyPerWorld is the inotify instances a world may hold.
const inotifyPerWorld = 32

// newHostSlots sizes the slots from the host's inotify limit.
func newHostSlots(dir string) (hostSlots, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return hostSlots{}, fmt.Errorf("world slots: %w", err)
	}
	n := 128 / inotifyPerWorld // the kernel's default limit
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances"); err == nil {
		var limit int
		if _, err := fmt.Sscan(string(b), &limit); err == nil {
			n = max(1, limit/inotifyPerWorld)
		}
	}
	return hostSlots{dir: dir, n: n}, nil
}

// acquire waits for a free slot and returns what frees it.
func (h hostSlots) acquire(ctx context.Context) (release func(), err error) {
	for {
		for i := range h.n {
			f, err := os.OpenFile(filepath.Join(h.dir, fmt.Sprintf("world-slot-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o666)
			if err != nil {
				return nil, fmt.Errorf("world slots: %w", err)
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				return func() { f.Close() }, nil // closing it releases the lock
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for one of %d world slots (fs.inotify.max_user_instances / %d) on this host: %w", h.n, inotifyPerWorld, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// holdSlot makes t hold a world slot until its cleanups, unless it holds
// one already: a test's worlds (NoOpScan makes two, one after the other)
// share its slot, so a test never waits for a second slot while it holds
// one, which would deadlock tests that all hold one and wait.
func (st *suite) holdSlot(t testing.TB) {
	t.Helper()
	if _, held := st.holding.LoadOrStore(t, true); held {
		return
	}
	// Waiting for a slot is not a world's setup: the test's context, not
	// the world's deadline.
	release, err := st.slots.acquire(t.Context())
	if err != nil {
		st.holding.Delete(t)
	}
	require.NoError(t, err)
	// Registered before the world's sandbox: it runs after its removal.
	t.Cleanup(func() {
		release()
		st.holding.Delete(t)
	})
}
