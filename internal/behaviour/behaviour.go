// Package behaviour is the machine-readable record of what an updater did
// in one scenario's world: the registry requests of each scan, the
// updater's metric deltas, each node's engine events and app unit
// failures with ids, names and times left out, and how long each scan took to
// converge. A scenario's world writes one per world when DirEnv names a
// directory; `seatrial diff` reads them from two runs and compares them
// (package behaviourdiff).
package behaviour

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// DirEnv names the directory the scenarios write their records to; unset,
// they write none and pay nothing for it.
const DirEnv = "SEATRIAL_BEHAVIOUR_DIR"

// Record is one world's behaviour.
type Record struct {
	// Test is the test's full name (TestNoOpScan/reference); Scenario is
	// it without the Test prefix and the profile (NoOpScan, or
	// RecreateRefused/create for a variant); Profile the profile's name.
	Test     string `json:"test"`
	Scenario string `json:"scenario"`
	Profile  string `json:"profile"`
	// World is the world's place in its test's run (0 is the first): a
	// scenario may make several (NoOpScan: TLS, then plain HTTP).
	World   int       `json:"world"`
	Started time.Time `json:"started"`
	// Failed: the test had failed when the world ended.
	Failed bool `json:"failed"`
	// Scans are the scans the world triggered, in order.
	Scans []Scan `json:"scans"`
	// Nodes maps a node to its engine events in order, normalised: the
	// kind, a kill's signal by name, a die's exit code when not 0
	// ("create", "kill(SIGRTMIN+3)", "die(137)").
	Nodes map[string][]string `json:"nodes"`
	// Units maps a node to the containers, by their place in the order
	// of the node's containers ("container 2"), whose app unit failed.
	// Only failures: whether a unit's earlier states were seen depends on
	// when the Watcher attached to the container, a failure does not.
	Units map[string][]string `json:"units"`
	// Images are the engine's image events of the sandbox's registry in
	// order, by kind only (pull, tag, untag, delete, push).
	Images []string `json:"images"`
	// Metrics are the deltas of the updater's series between the world's
	// first scrape and its end, by series without the sandbox's labels;
	// series that measure time are left out (see Comparable).
	Metrics map[string]float64 `json:"metrics"`
	// Timeline is the file, beside the record, holding the world's
	// events (for the timeline picture).
	Timeline string `json:"timeline,omitempty"`
}

// Scan is one triggered scan.
type Scan struct {
	// Requests counts the updater's own registry requests between the
	// trigger and its answer, by handler and method ("manifest HEAD",
	// "blob GET"): every client's but the engine's.
	Requests map[string]float64 `json:"requests"`
	// Engine counts the engine's requests in the same window (a
	// User-Agent starting "docker/"): the pulls the updater asked it
	// for. Each pull begins with a GET /v2/ ("base GET", see Pulls); its
	// manifest and blob requests depend on what the engine already holds
	// (other sandboxes pull the same layers and manifests), so they are
	// the engine's behaviour more than the updater's.
	Engine map[string]float64 `json:"engine_requests,omitempty"`
	// Sent and Answered are when the trigger was sent and its answer came
	// back, taken around the trigger's call alone: the scan events of the
	// timeline are published around more (the suite's reads of the
	// registry's counters, its wait for a loaded engine's events), which
	// can take seconds. Zero when not recorded: then the events' times
	// count.
	Sent     time.Time `json:"sent,omitzero"`
	Answered time.Time `json:"answered,omitzero"`
	// AnswerSeconds is from the trigger to its answer; ConvergeSeconds
	// from the trigger to the later of the answer and the last change of
	// a node (create, start, rename, destroy, the app unit active) before
	// the next scan.
	AnswerSeconds   float64 `json:"answer_seconds"`
	ConvergeSeconds float64 `json:"converge_seconds"`
}

// Pulls is how many pulls the engine made in the scan: each begins with
// a GET /v2/ (Docker 20.10 pings the registry per pull, whether it then
// needs a manifest or a blob or neither).
func (s Scan) Pulls() float64 { return s.Engine["base GET"] }

// Pair names the test a scenario and profile: the test's name without its
// prefix and its last element, which forEachProfile makes the profile.
func Pair(test, profile string) (scenario string) {
	s := strings.TrimPrefix(test, "Test")
	return strings.TrimSuffix(s, "/"+profile)
}

// Comparable says whether an updater series' delta says what the updater
// did, rather than how long it took or when: time, durations and the
// runtime's own series change on every run.
func Comparable(name string) bool {
	for _, p := range []string{"go_", "process_", "promhttp_"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"_bucket", "_sum", "timestamp", "duration", "_seconds", "_bytes"} {
		if strings.Contains(name, s) && !strings.HasSuffix(name, "_count") {
			return false
		}
	}
	return true
}

// FromTimeline fills the record's scans' times, nodes, units and images
// from a world's timeline. appUnit is the unit whose states count.
func (r *Record) FromTimeline(events []monitor.Event, appUnit string) {
	r.Nodes = map[string][]string{}
	r.Units = map[string][]string{}
	// Containers of a node, in order of their first event.
	ord := map[string]map[string]int{}
	failed := map[string]map[int]bool{}
	container := func(node, id string) int {
		if ord[node] == nil {
			ord[node] = map[string]int{}
		}
		i, ok := ord[node][id]
		if !ok {
			i = len(ord[node])
			ord[node][id] = i
		}
		return i
	}
	var starts, answers []time.Time
	for _, ev := range events {
		switch {
		case ev.Kind == monitor.EventScanStarted:
			starts = append(starts, ev.Time)
		case ev.Kind == monitor.EventScanAnswered:
			answers = append(answers, ev.Time)
		case strings.HasPrefix(string(ev.Kind), "image.") && ev.Node == "":
			r.Images = append(r.Images, strings.TrimPrefix(string(ev.Kind), "image."))
		case ev.Node == "" || ev.ContainerID == "":
		case strings.HasPrefix(string(ev.Kind), "container."):
			container(ev.Node, ev.ContainerID)
			if w := word(ev); w != "" {
				r.Nodes[ev.Node] = append(r.Nodes[ev.Node], w)
			}
		case ev.Kind == monitor.EventUnitFailed && ev.Unit == appUnit:
			i := container(ev.Node, ev.ContainerID)
			if failed[ev.Node] == nil {
				failed[ev.Node] = map[int]bool{}
			}
			if !failed[ev.Node][i] {
				failed[ev.Node][i] = true
				r.Units[ev.Node] = append(r.Units[ev.Node], fmt.Sprintf("container %d failed", i+1))
			}
		}
	}
	if recorded(r.Scans) {
		slices.SortStableFunc(r.Scans, func(x, y Scan) int { return x.Sent.Compare(y.Sent) })
		starts, answers = nil, nil
		for _, s := range r.Scans {
			starts, answers = append(starts, s.Sent), append(answers, s.Answered)
		}
	}
	// The scans' times. A scan's window ends where the next begins.
	for i, start := range starts {
		if i >= len(r.Scans) {
			r.Scans = append(r.Scans, Scan{})
		}
		end := time.Time{}
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		last := start
		if i < len(answers) {
			last = answers[i]
			r.Scans[i].AnswerSeconds = answers[i].Sub(start).Seconds()
		}
		for _, ev := range events {
			if ev.Time.Before(start) || !end.IsZero() && !ev.Time.Before(end) || ev.Node == "" || !converging(ev, appUnit) {
				continue
			}
			if ev.Time.After(last) {
				last = ev.Time
			}
		}
		r.Scans[i].ConvergeSeconds = last.Sub(start).Seconds()
	}
}

// recorded says whether every scan has its trigger's own times.
func recorded(scans []Scan) bool {
	return len(scans) > 0 && !slices.ContainsFunc(scans, func(s Scan) bool { return s.Sent.IsZero() || s.Answered.IsZero() })
}

// converging says whether ev is a node's change that an update makes:
// what the time to converge waits for.
func converging(ev monitor.Event, appUnit string) bool {
	switch ev.Kind {
	case monitor.EventContainerCreate, monitor.EventContainerStart, monitor.EventContainerRename, monitor.EventContainerDestroy:
		return true
	case monitor.EventUnitActive:
		return ev.Unit == appUnit && !ev.Snapshot
	}
	return false
}

// word is a container event as the record writes it, or "" for the
// events whose timing alone decides whether they occur (health checks,
// exec sessions).
func word(ev monitor.Event) string {
	k := strings.TrimPrefix(string(ev.Kind), "container.")
	switch ev.Kind {
	case monitor.EventContainerHealthStatus:
		return ""
	case monitor.EventContainerKill:
		return "kill(" + SignalName(ev.Detail) + ")"
	case monitor.EventContainerDie:
		if ev.ExitCode != 0 {
			return fmt.Sprintf("die(%d)", ev.ExitCode)
		}
		return "die"
	}
	if strings.HasPrefix(k, "exec_") {
		return ""
	}
	return k
}

// SignalName names a signal the engine gives by number ("37" is
// SIGRTMIN+3 on Linux); a name stays as it is.
func SignalName(s string) string {
	n, err := strconv.Atoi(s)
	if err != nil {
		return s
	}
	// glibc's SIGRTMIN is 34 (the kernel's 32 and 33 are its threads').
	if n >= 34 && n <= 64 {
		if n == 34 {
			return "SIGRTMIN"
		}
		return fmt.Sprintf("SIGRTMIN+%d", n-34)
	}
	if name := unix.SignalName(syscall.Signal(n)); name != "" {
		return name
	}
	return s
}

// Write writes r into dir as a new file, and events beside it (for the
// timeline picture): dir is shared by every world of a run.
func Write(dir string, r Record, events []monitor.Event) error {
	base := strings.NewReplacer("/", "_", " ", "_").Replace(r.Test) + fmt.Sprintf(".w%d.", r.World)
	f, err := os.CreateTemp(dir, base+"*.json")
	if err != nil {
		return fmt.Errorf("behaviour record: %w", err)
	}
	name := f.Name()
	f.Close()
	tl := strings.TrimSuffix(name, ".json") + ".timeline"
	r.Timeline = filepath.Base(tl)
	if err := writeJSON(tl, timelineOf(events)); err != nil {
		return err
	}
	return writeJSON(name, r)
}

// timelineOf keeps what a picture needs of the events (not their labels,
// nor errors, which do not marshal).
func timelineOf(events []monitor.Event) []monitor.Event {
	out := slices.Clone(events)
	for i := range out {
		out[i].Labels = nil
		if out[i].Err != nil {
			out[i].Detail = strings.TrimSpace(out[i].Detail + " " + out[i].Err.Error())
			out[i].Err = nil
		}
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("behaviour record %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("behaviour record: %w", err)
	}
	return nil
}

// Read reads every record in dir.
func Read(dir string) ([]Record, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("behaviour record: %w", err)
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("behaviour record %s: %w", p, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadTimeline reads the events written beside r in dir.
func ReadTimeline(dir string, r Record) ([]monitor.Event, error) {
	if r.Timeline == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, r.Timeline))
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", r.Test, err)
	}
	var evs []monitor.Event
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", r.Test, err)
	}
	return evs, nil
}
