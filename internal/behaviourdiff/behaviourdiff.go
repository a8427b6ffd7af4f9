// Package behaviourdiff compares the behaviour records (package
// behaviour) of two updaters, or two images of one, over repeated runs of
// the same scenarios, and says what differs: what both sides did the same
// way on every repeat, and differently from each other, is a difference;
// what came and went between repeats is noise, reported with its counts.
package behaviourdiff

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatrial-dev/seatrial/internal/behaviour"
)

// Verdicts of a Finding.
const (
	Differs = "differs"
	Noise   = "noise"
)

// Kinds of a Finding: what it is about.
const (
	KindResult   = "result"
	KindRequests = "registry requests"
	KindMetric   = "metric delta"
	KindEvents   = "engine events"
	KindUnits    = "app unit"
	KindImages   = "image events"
	KindTiming   = "time to converge"
)

// Result is a scenario's outcome on one side over its repeats.
type Result struct {
	Status   string `json:"status"` // pass, fail, known, skip (testsummary's words)
	Runs     int    `json:"runs"`
	Failures int    `json:"failures"`
	Reason   string `json:"reason,omitempty"`
}

// word is the result as it is compared: flaky when some runs failed.
func (r Result) word() string {
	if r.Status == "" {
		return "not run"
	}
	if r.Failures > 0 && r.Failures < r.Runs {
		return fmt.Sprintf("flaky (failed %d of %d)", r.Failures, r.Runs)
	}
	return r.Status
}

// Side is one of the two things compared.
type Side struct {
	// Label names it for a person ("reference", "reference image X");
	// Profile is the profile name its records and results carry.
	Label, Profile string
	Records        []behaviour.Record
	// Results are by scenario (behaviour.Pair's name).
	Results map[string]Result
}

// Options are the comparison's tolerances.
type Options struct {
	// TimeTolerance is the relative difference of a timing that counts
	// (0.5: one side 50% slower), TimeSlack the absolute difference below
	// which a timing never counts (a no-op scan of 0.1 s against 0.2 s).
	TimeTolerance float64
	TimeSlack     time.Duration
}

// Finding is one behaviour that is not the same on both sides.
type Finding struct {
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	What     string `json:"what"`
	Verdict  string `json:"verdict"`
	// A and B are what each side did (every repeat's value, when they
	// vary); Counts, for noise, how often each value was seen.
	A      string `json:"a"`
	B      string `json:"b"`
	Counts string `json:"counts,omitempty"`
	// Note says when the behaviour was compared over fewer runs than
	// were made: a side's failed runs are left out when others passed.
	Note string `json:"note,omitempty"`
}

// key is one compared behaviour of a scenario's world.
type key struct{ kind, what string }

// Compare compares a and b scenario by scenario, in name order. A
// scenario's behaviour is compared only where both sides have records of
// it (a skipped or deselected scenario has its result compared alone).
func Compare(a, b Side, o Options) []Finding {
	scenarios := map[string]bool{}
	for s := range a.Results {
		scenarios[s] = true
	}
	for s := range b.Results {
		scenarios[s] = true
	}
	byA, byB := group(a.Records, a.Profile), group(b.Records, b.Profile)
	for s := range byA {
		scenarios[s] = true
	}
	for s := range byB {
		scenarios[s] = true
	}
	var out []Finding
	for _, sc := range slices.Sorted(maps.Keys(scenarios)) {
		out = append(out, compareResult(sc, a.Results[sc], b.Results[sc])...)
		wa, wb := byA[sc], byB[sc]
		worlds := max(len(wa), len(wb))
		for w := range min(len(wa), len(wb)) {
			prefix := ""
			if worlds > 1 {
				prefix = fmt.Sprintf("world %d, ", w+1)
			}
			out = append(out, compareWorld(sc, prefix, wa[w], wb[w], o)...)
		}
	}
	return out
}

// group sorts a profile's records by scenario, then world; each world's
// records are its repeats, in the order they started.
func group(recs []behaviour.Record, profile string) map[string][][]behaviour.Record {
	out := map[string][][]behaviour.Record{}
	for _, r := range recs {
		if r.Profile != profile {
			continue
		}
		ws := out[r.Scenario]
		for len(ws) <= r.World {
			ws = append(ws, nil)
		}
		ws[r.World] = append(ws[r.World], r)
		out[r.Scenario] = ws
	}
	for _, ws := range out {
		for _, rs := range ws {
			slices.SortFunc(rs, func(x, y behaviour.Record) int { return x.Started.Compare(y.Started) })
		}
	}
	return out
}

func compareResult(sc string, a, b Result) []Finding {
	wa, wb := a.word(), b.word()
	if wa == wb {
		return nil
	}
	f := Finding{Scenario: sc, Kind: KindResult, What: "result", Verdict: Differs, A: withReason(wa, a), B: withReason(wb, b)}
	if strings.HasPrefix(wa, "flaky") || strings.HasPrefix(wb, "flaky") {
		f.Verdict = Noise
		f.Counts = fmt.Sprintf("failed %d/%d vs %d/%d", a.Failures, a.Runs, b.Failures, b.Runs)
	}
	return []Finding{f}
}

func withReason(word string, r Result) string {
	if r.Reason == "" || r.Status == "pass" {
		return word
	}
	return word + ": " + r.Reason
}

// flatten is a record's behaviours as words, timings left out.
func flatten(r behaviour.Record) map[key]string {
	out := map[key]string{}
	for i, s := range r.Scans {
		for req, n := range s.Requests {
			out[key{KindRequests, fmt.Sprintf("scan %d: %s", i+1, req)}] = num(n)
		}
	}
	for m, d := range r.Metrics {
		out[key{KindMetric, m}] = num(d)
	}
	for node, seq := range r.Nodes {
		out[key{KindEvents, "node " + node}] = strings.Join(seq, " → ")
	}
	for node, us := range r.Units {
		out[key{KindUnits, "node " + node}] = strings.Join(us, ", ")
	}
	if len(r.Images) > 0 {
		out[key{KindImages, "sandbox registry's images"}] = strings.Join(r.Images, " → ")
	}
	return out
}

// absent is what a behaviour missing from one repeat's record means: no
// request, no change, no event.
func absent(k key) string {
	switch k.kind {
	case KindRequests, KindMetric:
		return "0"
	}
	return "none"
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// passed leaves out a side's failed runs when some of its runs passed: a
// run that failed (an updater that exited at start) ended its world
// early, and what it did not get to do is not a behaviour. The flaky
// result is a finding of its own. It says how many runs are left, and
// whether any was left out.
func passed(recs []behaviour.Record) ([]behaviour.Record, bool) {
	ok := slices.DeleteFunc(slices.Clone(recs), func(r behaviour.Record) bool { return r.Failed })
	if len(ok) == 0 || len(ok) == len(recs) {
		return recs, false
	}
	return ok, true
}

func compareWorld(sc, prefix string, ra, rb []behaviour.Record, o Options) []Finding {
	na, nb := len(ra), len(rb)
	ra, leftA := passed(ra)
	rb, leftB := passed(rb)
	note := ""
	if leftA || leftB {
		note = fmt.Sprintf("over the passing runs: %d of %d vs %d of %d", len(ra), na, len(rb), nb)
	}
	out := compareRecords(sc, prefix, ra, rb, o)
	for i := range out {
		out[i].Note = note
	}
	return out
}

func compareRecords(sc, prefix string, ra, rb []behaviour.Record, o Options) []Finding {
	fa, fb := make([]map[key]string, len(ra)), make([]map[key]string, len(rb))
	keys := map[key]bool{}
	for i, r := range ra {
		fa[i] = flatten(r)
		for k := range fa[i] {
			keys[k] = true
		}
	}
	for i, r := range rb {
		fb[i] = flatten(r)
		for k := range fb[i] {
			keys[k] = true
		}
	}
	var out []Finding
	for _, k := range slices.SortedFunc(maps.Keys(keys), func(x, y key) int {
		return cmp.Or(cmp.Compare(kindRank(x.kind), kindRank(y.kind)), cmp.Compare(x.what, y.what))
	}) {
		va, vb := values(fa, k), values(fb, k)
		sa, sb := distinct(va), distinct(vb)
		switch {
		case len(sa) == 1 && len(sb) == 1 && sa[0] == sb[0]:
			continue
		case len(sa) == 1 && len(sb) == 1:
			out = append(out, Finding{Scenario: sc, Kind: k.kind, What: prefix + k.what, Verdict: Differs, A: sa[0], B: sb[0]})
		default:
			out = append(out, Finding{Scenario: sc, Kind: k.kind, What: prefix + k.what, Verdict: Noise,
				A: strings.Join(sa, " | "), B: strings.Join(sb, " | "), Counts: counts(va, vb)})
		}
	}
	return append(out, compareTimes(sc, prefix, ra, rb, o)...)
}

func kindRank(k string) int {
	return slices.Index([]string{KindRequests, KindEvents, KindUnits, KindImages, KindMetric}, k)
}

func values(recs []map[key]string, k key) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		v, ok := r[k]
		if !ok {
			v = absent(k)
		}
		out[i] = v
	}
	return out
}

func distinct(vs []string) []string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// counts says how often each value was seen on each side: "2: 2/2 vs 1/2".
func counts(va, vb []string) string {
	var parts []string
	for _, v := range distinct(append(slices.Clone(va), vb...)) {
		n := func(vs []string) int {
			c := 0
			for _, x := range vs {
				if x == v {
					c++
				}
			}
			return c
		}
		parts = append(parts, fmt.Sprintf("%s: %d/%d vs %d/%d", clip(v, 60), n(va), len(va), n(vb), len(vb)))
	}
	return strings.Join(parts, "; ")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// compareTimes compares each scan's time to converge: a difference when
// every repeat of one side is slower than every repeat of the other by
// more than the tolerance and the slack; noise when the medians are that
// far apart but the repeats overlap.
func compareTimes(sc, prefix string, ra, rb []behaviour.Record, o Options) []Finding {
	scans := 0
	for _, r := range slices.Concat(ra, rb) {
		scans = max(scans, len(r.Scans))
	}
	var out []Finding
	for i := range scans {
		ta, tb := times(ra, i), times(rb, i)
		if len(ta) == 0 || len(tb) == 0 {
			continue
		}
		f := Finding{Scenario: sc, Kind: KindTiming, What: fmt.Sprintf("%sscan %d", prefix, i+1), A: seconds(ta), B: seconds(tb)}
		switch {
		case beyond(slices.Max(ta), slices.Min(tb), o) || beyond(slices.Max(tb), slices.Min(ta), o):
			f.Verdict = Differs
		case beyond(median(ta), median(tb), o) || beyond(median(tb), median(ta), o):
			f.Verdict = Noise
			f.Counts = fmt.Sprintf("medians %.1fs vs %.1fs, the repeats overlap", median(ta), median(tb))
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// beyond says whether slow is slower than fast by more than the
// tolerance and the slack.
func beyond(fast, slow float64, o Options) bool {
	return slow-fast > o.TimeSlack.Seconds() && slow > fast*(1+o.TimeTolerance)
}

func times(recs []behaviour.Record, scan int) []float64 {
	var out []float64
	for _, r := range recs {
		if scan < len(r.Scans) {
			out = append(out, r.Scans[scan].ConvergeSeconds)
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func seconds(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.1fs", x)
	}
	return strings.Join(parts, ", ")
}

// Differences counts the findings that are differences, not noise.
func Differences(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Verdict == Differs {
			n++
		}
	}
	return n
}

// Write prints the findings for a person, scenario by scenario: a short
// pair of values on the line, longer ones below it.
func Write(w io.Writer, a, b Side, fs []Finding) {
	fmt.Fprintf(w, "A = %s, B = %s\n", a.Label, b.Label)
	last := ""
	for _, f := range fs {
		if f.Scenario != last {
			fmt.Fprintf(w, "\n%s\n", f.Scenario)
			last = f.Scenario
		}
		verdict := strings.ToUpper(f.Verdict)
		what := f.Kind
		if f.What != f.Kind {
			what += ", " + f.What
		}
		if len(f.A)+len(f.B) <= 40 {
			fmt.Fprintf(w, "  %-7s  %s: A %s, B %s\n", verdict, what, f.A, f.B)
		} else {
			fmt.Fprintf(w, "  %-7s  %s\n             A  %s\n             B  %s\n", verdict, what, f.A, f.B)
		}
		if f.Counts != "" {
			fmt.Fprintf(w, "             seen  %s\n", f.Counts)
		}
		if f.Note != "" {
			fmt.Fprintf(w, "             note  %s\n", f.Note)
		}
	}
	n := Differences(fs)
	fmt.Fprintf(w, "\n%d difference(s), %d noise\n", n, len(fs)-n)
}
