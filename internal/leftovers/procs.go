package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/ticker"
)

// procKey is a process as sandbox owner labels name it: its pid and its
// start time in clock ticks after boot (field 22 of /proc/PID/stat), so a
// reused pid is not mistaken for it.
type procKey struct {
	pid   int
	start uint64
}

type procInfo struct {
	start uint64
	ours  bool
}

// descendants records every process started under this one while the
// checked command runs. The engine is shared: an object whose owner was a
// descendant is this command's; one whose owner was any other process
// (another person's test run, a `seatrial up` in another shell) is not,
// even if that owner is dead by now.
//
// Owners are gone once the command exits, so they cannot be looked up
// afterwards: /proc is polled while the command runs. A process that
// creates a sandbox lives for seconds at least (it creates a network and
// starts a registry), far longer than the poll interval. This process is a
// child subreaper, so an orphan whose parent exited between two polls is
// re-parented here and still counted as a descendant.
type descendants struct {
	self procKey

	mu    sync.Mutex
	live  map[int]procInfo // processes present at the last poll
	every map[procKey]bool // every descendant seen
	stop  func()           // stops the polling; returns once it has
}

// trackDescendants makes this process a child subreaper, records the
// processes that exist now as not its descendants, and polls /proc every
// interval until Stop.
func trackDescendants(interval time.Duration) (*descendants, error) {
	start, err := readStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	// Orphans of descendants are re-parented to this process instead of
	// init, so they stay recognisable as descendants.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become a child subreaper: %w", err)
	}
	d := &descendants{
		self:  procKey{os.Getpid(), start},
		live:  map[int]procInfo{},
		every: map[procKey]bool{},
	}
	d.poll()
	d.stop = ticker.Every(interval, d.poll)
	return d, nil
}

// Stop polls one last time and stops.
func (d *descendants) Stop() {
	d.stop()
	d.poll()
}

// Owns reports whether o was this process or one of its descendants.
func (d *descendants) Owns(o labels.Owner) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := procKey{o.PID, o.Start}
	return k == d.self || d.every[k]
}

// poll reads the processes that appeared since the last poll and records
// which of them descend from this one.
func (d *descendants) poll() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	present := map[int]bool{}
	type fresh struct {
		pid, ppid int
		start     uint64
	}
	var news []fresh
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		present[pid] = true
		if _, ok := d.live[pid]; ok {
			continue
		}
		ppid, start, err := readStat(pid)
		if err != nil {
			continue // gone already
		}
		news = append(news, fresh{pid, ppid, start})
	}
	for pid := range d.live {
		if !present[pid] {
			delete(d.live, pid)
		}
	}
	// A new process's parent may be new too: classify parents first, to a
	// fixed point. Whatever is left has a parent that exited before it was
	// seen, and was re-parented to init or to us (see trackDescendants).
	for progress := true; progress && len(news) > 0; {
		progress = false
		rest := news[:0]
		for _, n := range news {
			ours, known := false, true
			switch parent, ok := d.live[n.ppid]; {
			case n.ppid == d.self.pid:
				ours = true
			case ok:
				ours = parent.ours
			default:
				known = false
			}
			if !known {
				rest = append(rest, n)
				continue
			}
			d.add(n.pid, n.start, ours)
			progress = true
		}
		news = rest
	}
	for _, n := range news {
		d.add(n.pid, n.start, false)
	}
}

func (d *descendants) add(pid int, start uint64, ours bool) {
	d.live[pid] = procInfo{start: start, ours: ours}
	if ours {
		d.every[procKey{pid, start}] = true
	}
}

func readStart(pid int) (uint64, error) {
	_, start, err := readStat(pid)
	return start, err
}

// readStat reads a process's parent pid (field 4 of /proc/PID/stat) and
// start time (field 22).
func readStat(pid int) (ppid int, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself, so split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): field 4 is f[1], field 22 is f[19].
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields after the name", pid, len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat ppid: %w", pid, err)
	}
	if start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat start: %w", pid, err)
	}
	return ppid, start, nil
}
