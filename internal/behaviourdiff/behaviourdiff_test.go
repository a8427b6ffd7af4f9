package behaviourdiff

import (
	"strings"
	"testing"
	"time"

	"github.com/seatrial-dev/seatrial/internal/behaviour"
)

// rec is a NoOpScan world of profile p whose one scan made heads
// manifest HEADs and gets manifest GETs, took secs to converge, and
// stopped the controller with sig.
func rec(p string, heads, gets, secs float64, sig string) behaviour.Record {
	req := map[string]float64{"manifest HEAD": heads}
	if gets > 0 {
		req["manifest GET"] = gets
	}
	return behaviour.Record{
		Test: "TestNoOpScan/" + p, Scenario: "NoOpScan", Profile: p, Started: time.Now(),
		Scans: []behaviour.Scan{{Requests: req, ConvergeSeconds: secs}},
		Nodes: map[string][]string{"controller": {"kill(" + sig + ")", "die"}},
	}
}

func side(p string, res string, recs ...behaviour.Record) Side {
	return Side{Label: p, Profile: p, Records: recs, Results: map[string]Result{"NoOpScan": {Status: res, Runs: len(recs)}}}
}

var opts = Options{TimeTolerance: 0.5, TimeSlack: time.Second}

func TestSameIsNothing(t *testing.T) {
	a := side("a", "pass", rec("a", 2, 0, 1, "SIGTERM"), rec("a", 2, 0, 1.2, "SIGTERM"))
	b := side("b", "pass", rec("b", 2, 0, 1.1, "SIGTERM"), rec("b", 2, 0, 1.3, "SIGTERM"))
	if fs := Compare(a, b, opts); len(fs) != 0 {
		t.Errorf("findings %+v, want none", fs)
	}
}

// What both sides do the same way on every repeat, and differently from
// each other, differs; what comes and goes is noise with its counts.
func TestDifferenceAndNoise(t *testing.T) {
	a := side("a", "pass", rec("a", 2, 0, 1, "SIGRTMIN+3"), rec("a", 2, 0, 1, "SIGRTMIN+3"))
	b := side("b", "fail", rec("b", 0, 2, 1, "SIGRTMIN+3"), rec("b", 0, 2, 1, "SIGTERM"))
	fs := Compare(a, b, opts)
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Kind+"/"+f.What] = f
	}
	for k, want := range map[string]string{
		"result/result": Differs,
		"registry requests/scan 1: manifest HEAD": Differs,
		"registry requests/scan 1: manifest GET":  Differs,
		"engine events/node controller":           Noise,
	} {
		if got[k].Verdict != want {
			t.Errorf("%s: verdict %q, want %q (all: %+v)", k, got[k].Verdict, want, fs)
		}
	}
	if f := got["registry requests/scan 1: manifest GET"]; f.A != "0" || f.B != "2" {
		t.Errorf("GETs A %s B %s, want 0 and 2", f.A, f.B)
	}
	if c := got["engine events/node controller"].Counts; !strings.Contains(c, "kill(SIGTERM) → die: 0/2 vs 1/2") {
		t.Errorf("noise counts %q", c)
	}
	if len(fs) != 4 || Differences(fs) != 3 {
		t.Errorf("%d findings, %d differences: %+v", len(fs), Differences(fs), fs)
	}
}

// A time differs when every repeat of one side is slower than every
// repeat of the other beyond the tolerance and the slack; medians that
// far apart with overlapping repeats are noise; within the slack,
// nothing.
func TestTimes(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		want string
	}{
		{[]float64{10, 11}, []float64{20, 22}, Differs},
		{[]float64{10, 30}, []float64{20, 22}, ""},
		{[]float64{10, 25}, []float64{30, 24}, Noise},
		{[]float64{0.1, 0.1}, []float64{0.9, 0.9}, ""},
	} {
		var ra, rb []behaviour.Record
		for _, s := range c.a {
			ra = append(ra, rec("a", 1, 0, s, "SIGTERM"))
		}
		for _, s := range c.b {
			rb = append(rb, rec("b", 1, 0, s, "SIGTERM"))
		}
		fs := Compare(side("a", "pass", ra...), side("b", "pass", rb...), opts)
		got := ""
		for _, f := range fs {
			if f.Kind == KindTiming {
				got = f.Verdict
			}
		}
		if got != c.want {
			t.Errorf("%v vs %v: %q, want %q (%+v)", c.a, c.b, got, c.want, fs)
		}
	}
}

func TestFlakyResultIsNoise(t *testing.T) {
	a := Side{Profile: "a", Results: map[string]Result{"X": {Status: "fail", Runs: 2, Failures: 1}}}
	b := Side{Profile: "b", Results: map[string]Result{"X": {Status: "pass", Runs: 2}}}
	fs := Compare(a, b, opts)
	if len(fs) != 1 || fs[0].Verdict != Noise || fs[0].Counts != "failed 1/2 vs 0/2" {
		t.Errorf("%+v", fs)
	}
}

// A side's failed run (an updater that exited at start) is left out of
// the behaviours when another run passed, and the findings say so.
func TestFailedRunLeftOut(t *testing.T) {
	a := side("a", "pass", rec("a", 2, 0, 1, "SIGTERM"), rec("a", 2, 0, 1, "SIGTERM"))
	early := rec("b", 0, 0, 0, "SIGTERM")
	early.Failed, early.Scans, early.Nodes = true, nil, nil
	b := side("b", "fail", early, rec("b", 4, 0, 1, "SIGTERM"))
	b.Results["NoOpScan"] = Result{Status: "fail", Runs: 2, Failures: 1}
	fs := Compare(a, b, opts)
	var heads *Finding
	for i, f := range fs {
		if f.What == "scan 1: manifest HEAD" {
			heads = &fs[i]
		}
	}
	if heads == nil || heads.Verdict != Differs || heads.B != "4" || heads.Note != "over the passing runs: 2 of 2 vs 1 of 2" {
		t.Fatalf("manifest HEADs: %+v (all: %+v)", heads, fs)
	}
	if len(fs) != 2 || fs[0].Kind != KindResult || fs[0].Verdict != Noise {
		t.Errorf("want the flaky result as noise and the HEADs: %+v", fs)
	}
}

// The engine's requests count only as its pulls: whether a pull needed a
// manifest or blob request depends on what the engine held already
// (another sandbox's pull of the same layers), not on the updater.
func TestEnginePulls(t *testing.T) {
	withEngine := func(r behaviour.Record, engine map[string]float64) behaviour.Record {
		r.Scans[0].Engine = engine
		return r
	}
	cold := map[string]float64{"base GET": 2, "manifest HEAD": 2, "manifest GET": 1, "blob GET": 2}
	warm := map[string]float64{"base GET": 2, "manifest HEAD": 2}
	a := side("a", "pass", withEngine(rec("a", 2, 0, 1, "SIGTERM"), cold), withEngine(rec("a", 2, 0, 1, "SIGTERM"), warm))
	b := side("b", "pass", withEngine(rec("b", 2, 0, 1, "SIGTERM"), warm), withEngine(rec("b", 2, 0, 1, "SIGTERM"), cold))
	if fs := Compare(a, b, opts); len(fs) != 0 {
		t.Errorf("the engine's manifest and blob requests made findings: %+v", fs)
	}
	b = side("b", "pass", rec("b", 2, 0, 1, "SIGTERM"), withEngine(rec("b", 2, 0, 1, "SIGTERM"), map[string]float64{"base GET": 1}))
	fs := Compare(a, b, opts)
	if len(fs) != 1 || fs[0].Kind != KindPulls || fs[0].What != "scan 1" || fs[0].Verdict != Differs || fs[0].A != "2" || fs[0].B != "0 | 1" {
		t.Errorf("want the pulls, 2 against none or 1, a difference: %+v", fs)
	}
}

// A stop escalated to SIGKILL on one repeat (a loaded machine) is noise
// where the sides otherwise stop alike; where every repeat of A stops
// differently from every repeat of B, that stays a difference, and the
// counts show the escalation.
func TestEscalationOnOneRepeat(t *testing.T) {
	stop := func(r behaviour.Record, seq ...string) behaviour.Record {
		r.Nodes = map[string][]string{"controller": seq}
		return r
	}
	plain := []string{"kill(SIGTERM)", "die", "destroy", "create", "start"}
	escalated := []string{"kill(SIGTERM)", "kill(SIGKILL)", "die(137)", "destroy", "create", "start"}
	renamed := []string{"kill(SIGTERM)", "die", "stop", "rename", "create", "start", "destroy"}
	a := side("a", "pass", stop(rec("a", 2, 0, 1, ""), plain...), stop(rec("a", 2, 0, 1, ""), escalated...))
	b := side("b", "pass", stop(rec("b", 2, 0, 1, ""), plain...), stop(rec("b", 2, 0, 1, ""), plain...))
	fs := Compare(a, b, opts)
	if len(fs) != 1 || fs[0].Verdict != Noise || !strings.Contains(fs[0].Counts, "kill(SIGKILL)") {
		t.Errorf("an escalation on one repeat of A: want noise with its counts, got %+v", fs)
	}
	b = side("b", "pass", stop(rec("b", 2, 0, 1, ""), renamed...), stop(rec("b", 2, 0, 1, ""), renamed...))
	fs = Compare(a, b, opts)
	if len(fs) != 1 || fs[0].Verdict != Differs || !strings.Contains(fs[0].Counts, "kill(SIGKILL) → die(137) → destroy →…: 1/2 vs 0/2") {
		t.Errorf("A's stops never B's: want a difference whose counts show the escalation, got %+v", fs)
	}
}

// Times are compared over all of a scenario's worlds and repeats, so
// which world happened to be slow does not matter; a difference needs
// more than half of the pairs of runs apart, so one slow run does not
// make one. (The times are NoOpScan's and FullScan's on this machine,
// compared with seatrial diff's default slack.)
func TestTimesOverWorlds(t *testing.T) {
	o := Options{TimeTolerance: 0.5, TimeSlack: 500 * time.Millisecond}
	world := func(p string, w int, secs float64) behaviour.Record {
		r := rec(p, 2, 0, secs, "SIGTERM")
		r.World = w
		return r
	}
	for _, c := range []struct {
		name   string
		a, b   [][]float64 // by world, then repeat
		want   string
		counts string
	}{
		{"watchtower's no-op scan, slow on 12 of 16 pairs", [][]float64{{0.05, 0.08}, {0.18, 2.28}}, [][]float64{{0.96, 3.07}, {1.56, 1.77}}, Differs,
			"medians 0.1s vs 1.7s; B slower in 12 of 16 pairs of runs"},
		{"watchtower's no-op scan, as fast as the reference's twice", [][]float64{{0.07, 0.09}, {0.03, 0.11}}, [][]float64{{0.14, 4.12}, {0.12, 1.51}}, Noise,
			"medians 0.1s vs 0.8s; B slower in 8 of 16 pairs of runs"},
		{"one slow run of FullScan", [][]float64{{5.12, 13.15}}, [][]float64{{4.74, 5.0}}, Noise,
			"medians 9.1s vs 4.9s; A slower in 2 of 4 pairs of runs"},
		{"FullScan alike", [][]float64{{3.37, 3.43}}, [][]float64{{4.83, 3.9}}, "", ""},
	} {
		var ra, rb []behaviour.Record
		for w, secs := range c.a {
			for _, s := range secs {
				ra = append(ra, world("a", w, s))
			}
		}
		for w, secs := range c.b {
			for _, s := range secs {
				rb = append(rb, world("b", w, s))
			}
		}
		var got *Finding
		fs := Compare(side("a", "pass", ra...), side("b", "pass", rb...), o)
		for i, f := range fs {
			if f.Kind == KindTiming {
				got = &fs[i]
			}
		}
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%s: %+v, want nothing", c.name, *got)
		case c.want == "":
		case got == nil:
			t.Errorf("%s: no finding, want %s (all: %+v)", c.name, c.want, fs)
		case got.Verdict != c.want || got.Counts != c.counts:
			t.Errorf("%s: %s %q, want %s %q", c.name, got.Verdict, got.Counts, c.want, c.counts)
		}
		if got != nil && len(c.a) > 1 && got.What != "scan 1 of every world" {
			t.Errorf("%s: what %q", c.name, got.What)
		}
	}
}
