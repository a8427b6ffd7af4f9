// Package behaviourdiff compares the behaviour records (package
// behaviour) of two updaters, or two images of one, over repeated runs of
// the same scenarios, and says what differs: what every repeat of one
// side did differently from every repeat of the other is a difference;
// a behaviour in which some repeats of the two sides agreed and others
// did not came and went, and is noise, reported with its counts.
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
	KindPulls    = "engine pulls"
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
	// vary); Counts, when a side varied, how often each value was seen
	// (for a time, the medians and how many pairs of runs were apart).
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
// it (a skipped or deselected scenario has its result compared alone):
// world by world, and its times to converge over all its worlds at once
// (which of a scenario's worlds happened to be slow is not a behaviour).
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
		var ta, tb []behaviour.Record
		runs := [4]int{}
		for w := range min(len(wa), len(wb)) {
			prefix := ""
			if worlds > 1 {
				prefix = fmt.Sprintf("world %d, ", w+1)
			}
			ra, rb := passed(wa[w]), passed(wb[w])
			out = append(out, withNote(compareRecords(sc, prefix, ra, rb), note(len(ra), len(wa[w]), len(rb), len(wb[w])))...)
			ta, tb = append(ta, ra...), append(tb, rb...)
			runs = [4]int{runs[0] + len(ra), runs[1] + len(wa[w]), runs[2] + len(rb), runs[3] + len(wb[w])}
		}
		every := ""
		if worlds > 1 {
			every = " of every world"
		}
		out = append(out, withNote(compareTimes(sc, every, ta, tb, o), note(runs[0], runs[1], runs[2], runs[3]))...)
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

// flatten is a record's behaviours as words, timings left out. Of the
// engine's registry requests only its pulls count: the rest depends on
// what the engine already held (see behaviour.Scan).
func flatten(r behaviour.Record) map[key]string {
	out := map[key]string{}
	for i, s := range r.Scans {
		for req, n := range s.Requests {
			out[key{KindRequests, fmt.Sprintf("scan %d: %s", i+1, req)}] = num(n)
		}
		if n := s.Pulls(); n != 0 {
			out[key{KindPulls, fmt.Sprintf("scan %d", i+1)}] = num(n)
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
	case KindRequests, KindPulls, KindMetric:
		return "0"
	}
	return "none"
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// passed leaves out a side's failed runs when some of its runs passed: a
// run that failed (an updater that exited at start) ended its world
// early, and what it did not get to do is not a behaviour. The flaky
// result is a finding of its own.
func passed(recs []behaviour.Record) []behaviour.Record {
	ok := slices.DeleteFunc(slices.Clone(recs), func(r behaviour.Record) bool { return r.Failed })
	if len(ok) == 0 {
		return recs
	}
	return ok
}

// note says, when runs were left out, over how many the findings are.
func note(keptA, ranA, keptB, ranB int) string {
	if keptA == ranA && keptB == ranB {
		return ""
	}
	return fmt.Sprintf("over the passing runs: %d of %d vs %d of %d", keptA, ranA, keptB, ranB)
}

func withNote(fs []Finding, note string) []Finding {
	for i := range fs {
		fs[i].Note = note
	}
	return fs
}

// compareRecords compares a world's behaviours other than time. A
// behaviour differs when no repeat of A did what any repeat of B did:
// the difference held on every pair of runs, even where a side varied
// (a stop escalated to SIGKILL on one repeat of a loaded machine; the
// counts say so). When some repeat of A agreed with some repeat of B,
// the difference came and went: noise.
func compareRecords(sc, prefix string, ra, rb []behaviour.Record) []Finding {
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
		if len(sa) == 1 && len(sb) == 1 && sa[0] == sb[0] {
			continue
		}
		f := Finding{Scenario: sc, Kind: k.kind, What: prefix + k.what, Verdict: Differs, A: strings.Join(sa, " | "), B: strings.Join(sb, " | ")}
		if slices.ContainsFunc(sa, func(v string) bool { return slices.Contains(sb, v) }) {
			f.Verdict = Noise
		}
		if len(sa) > 1 || len(sb) > 1 {
			f.Counts = counts(va, vb)
		}
		out = append(out, f)
	}
	return out
}

func kindRank(k string) int {
	return slices.Index([]string{KindRequests, KindPulls, KindEvents, KindUnits, KindImages, KindMetric}, k)
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

// compareTimes compares the time to converge of each scan (the first
// scan of every world, the second, ...) over all of a scenario's worlds
// and repeats: every run of A is paired with every run of B. A time
// differs when one side was slower beyond the tolerance and the slack in
// more than half of the pairs: then its median is too, and one slow run
// (a loaded engine) cannot make it. When the medians are that far apart
// but no more than half of the pairs, it is noise.
func compareTimes(sc, every string, ra, rb []behaviour.Record, o Options) []Finding {
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
		slowA, slowB := 0, 0
		for _, a := range ta {
			for _, b := range tb {
				if beyond(b, a, o) {
					slowA++
				}
				if beyond(a, b, o) {
					slowB++
				}
			}
		}
		pairs := len(ta) * len(tb)
		f := Finding{Scenario: sc, Kind: KindTiming, What: fmt.Sprintf("scan %d%s", i+1, every), A: seconds(ta), B: seconds(tb)}
		slower, n := "A", slowA
		if slowB > slowA {
			slower, n = "B", slowB
		}
		switch {
		case 2*n > pairs:
			f.Verdict = Differs
		case beyond(median(ta), median(tb), o) || beyond(median(tb), median(ta), o):
			f.Verdict = Noise
		default:
			continue
		}
		f.Counts = fmt.Sprintf("medians %.1fs vs %.1fs; %s slower in %d of %d pairs of runs", median(ta), median(tb), slower, n, pairs)
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
