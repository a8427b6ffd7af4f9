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
