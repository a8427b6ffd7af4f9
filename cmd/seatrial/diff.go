package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor/timelinehtml"
	"github.com/seatrial-dev/seatrial/internal/behaviour"
	"github.com/seatrial-dev/seatrial/internal/behaviourdiff"
	"github.com/seatrial-dev/seatrial/internal/selection"
)

// defaultDiffRepeats is how many times `seatrial diff` runs each side.
// One run cannot tell a difference from noise; two can (a behaviour
// that changed between a side's repeats is noise), and a difference must
// then hold on both repeats of both sides, which a timing race rarely
// does twice in a row. Each repeat costs one more suite run of the
// selection (both sides run side by side), so more is left to --repeat.
const defaultDiffRepeats = 2

// defaultTimeSlack is the smallest difference of a time to converge that
// counts: a scan's scheduling jitter on a loaded 2-core machine is tenths
// of a second, and a no-op scan of either updater takes 0.05 to 0.25 s.
const defaultTimeSlack = 500 * time.Millisecond

// defaultTimeTolerance is how much slower a side must be, in more than
// half of the pairs of runs, for a time to converge to differ. Watchtower
// 1.7.1's full scan takes 1.55 to 1.75 times the reference's on a quiet
// machine here (3.1 to 3.3 s against 1.8 to 2.0 s, four runs a side): at
// 50% that sits on the threshold, and came and went between runs. At 25%
// it differed in both of two runs of two repeats, while the reference's
// own four runs stayed within 0.15 s of each other. On a loaded machine
// the spread widens (the reference from 1.7 to 4.3 s) and the pairs rule
// reads it as noise or nothing, never as a difference.
const defaultTimeTolerance = "25%"

type diffFlags struct {
	imageA, imageB    string
	focus, skip, caps string
	repeat            int
	tolerance         string
	slack             time.Duration
	json, out         string
	timeout           time.Duration
	verbose           bool
	pkg               string
}

func newDiffCmd() *cobra.Command {
	f := diffFlags{pkg: "./scenarios"}
	cmd := &cobra.Command{
		Use:   "diff A [B]",
		Short: "run scenarios on two updaters (or two images of one) and say what they do differently",
		Long: `Runs the chosen scenarios on A and B side by side, each ` + strconv.Itoa(defaultDiffRepeats) + ` times
(--repeat), and reports every behaviour that differs: each scenario's
result; the updater's own registry requests per scan (manifest HEAD and
GET, blob GET), and the pulls it had the engine make; the updater's
metric deltas; each node's engine events in order, without ids, names or
times ("kill(SIGRTMIN+3) → die → rename → create → start → destroy"),
and which of its containers had the app unit fail; the sandbox's image
events; and each scan's time to converge (from the trigger to the later
of its answer and the nodes' last change).

A and B are two profiles (seatrial diff reference watchtower-1.7.1), or
one profile and two images (seatrial diff reference --image-a X
--image-b Y: a release and a pull request's build), then named
PROFILE-a and PROFILE-b in the scenarios' names. --focus, --skip and
--capability choose Scenario/profile pairs as seatrial run's do.

A behaviour in which no repeat of A did what any repeat of B did is a
difference. One in which some repeats of the two agreed and others did
not is noise, shown with how often each value was seen ("2/2 vs 1/2")
and never a failure. A time to converge is compared over all of a
scenario's worlds and repeats, every run of A against every run of B:
it differs when one side was slower by more than --time-tolerance and
--time-slack in more than half of those pairs, so that one slow run on
a loaded machine does not make a difference; medians that far apart
with no more than half of the pairs are noise. A side's failed runs are
left out of the behaviours when another of its runs passed (the flaky
result is noise). Two repeats is the default: the fewest that tell a
difference from noise, at twice one run's cost; raise it when a noisy
behaviour matters.

--json writes the findings for machines; --out DIR gets, per scenario,
the timelines of A's and B's first runs one above the other (HTML, no
network needed), and the behaviour records compared (records/). Exits 1 if anything differed (noise aside), 0 if
nothing did, 2 on bad input.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), args, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.imageA, "image-a", "", "with one profile: A's updater image (an engine reference)")
	fl.StringVar(&f.imageB, "image-b", "", "with one profile: B's updater image (an engine reference)")
	fl.StringVar(&f.focus, "focus", "", "compare only the scenario/profile pairs whose name (Scenario/profile) matches this regular expression")
	fl.StringVar(&f.skip, "skip", "", "leave out the scenario/profile pairs whose name matches this regular expression")
	fl.StringVar(&f.caps, "capability", "", "compare only the scenarios that need one of these capabilities, comma separated")
	fl.IntVar(&f.repeat, "repeat", defaultDiffRepeats, "runs of each side: a behaviour that varies between them is noise, not a difference")
	fl.StringVar(&f.tolerance, "time-tolerance", defaultTimeTolerance, "how much slower one side's time to converge must be, in more than half of the pairs of runs, to differ")
	fl.DurationVar(&f.slack, "time-slack", defaultTimeSlack, "a time to converge differing by less than this never counts, whatever the tolerance")
	fl.StringVar(&f.json, "json", "", "also write the findings as JSON to this file")
	fl.StringVar(&f.out, "out", "", "write the timeline pictures and the behaviour records (records/) here (default: a new temp dir, named at the end)")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Minute, "go test -timeout")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "also print every line the scenarios log")
	return cmd
}

// parseTolerance reads "50%" (or "50") as 0.5.
func parseTolerance(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v < 0 {
		return 0, badInput("--time-tolerance %q: give a percentage of at least 0, e.g. 50%%", s)
	}
	return v / 100, nil
}

// diffSide is one side's profile as the scenarios get it.
type diffSide struct {
	label, profile string
	// arg is the profile's entry in SEATRIAL_PROFILES: a name, or the
	// path of a profile file written for an image.
	arg string
}

// diffSides checks the command line and returns the two sides; dir holds
// the profile files written for --image-a and --image-b.
func diffSides(args []string, f diffFlags, dir string) (a, b diffSide, err error) {
	images := f.imageA != "" || f.imageB != ""
	switch {
	case len(args) == 2 && images:
		return a, b, badInput("give two profiles, or one profile with --image-a and --image-b, not both")
	case len(args) == 1 && (f.imageA == "" || f.imageB == ""):
		return a, b, badInput("with one profile, give both --image-a and --image-b (or name a second profile)")
	case len(args) == 2 && args[0] == args[1]:
		return a, b, badInput("profile %s given twice: name two profiles, or one with two images", args[0])
	case images && f.imageA == f.imageB:
		return a, b, badInput("the same image twice (%s): --image-a and --image-b must differ", f.imageA)
	}
	var ps []harness.Profile
	for _, n := range args {
		p, err := harness.ProfileByName(n)
		if err != nil {
			return a, b, badInput("%v", err)
		}
		ps = append(ps, p)
	}
	if !images {
		if ps[0].Name == ps[1].Name {
			return a, b, badInput("profiles %s and %s are both named %s: the runs could not be told apart", args[0], args[1], ps[0].Name)
		}
		arg := func(n string) string {
			if abs, err := filepath.Abs(n); err == nil && strings.HasSuffix(n, ".json") {
				return abs // go test runs in the package's directory
			}
			return n
		}
		return diffSide{ps[0].Name, ps[0].Name, arg(args[0])}, diffSide{ps[1].Name, ps[1].Name, arg(args[1])}, nil
	}
	side := func(suffix, image string) (diffSide, error) {
		p := ps[0]
		p.Name += "-" + suffix
		p.Fixture, p.Image = "", image
		bs, err := json.Marshal(p)
		if err != nil {
			return diffSide{}, err
		}
		path := filepath.Join(dir, p.Name+".json")
		if err := os.WriteFile(path, bs, 0o644); err != nil {
			return diffSide{}, err
		}
		return diffSide{label: fmt.Sprintf("%s (profile %s, image %s)", p.Name, ps[0].Name, image), profile: p.Name, arg: path}, nil
	}
	if a, err = side("a", f.imageA); err != nil {
		return a, b, err
	}
	b, err = side("b", f.imageB)
	return a, b, err
}

func runDiff(ctx context.Context, args []string, f diffFlags, stdout, stderr io.Writer) error {
	tol, err := parseTolerance(f.tolerance)
	if err != nil {
		return err
	}
	if f.repeat < 1 {
		return badInput("--repeat %d: give a number of runs of at least 1", f.repeat)
	}
	if f.slack < 0 {
		return badInput("--time-slack %s: give a duration of at least 0", f.slack)
	}
	sel, err := selection.Parse(f.focus, f.skip, f.caps)
	if err != nil {
		return badInput("%v", err)
	}
	work, err := os.MkdirTemp("", "seatrial-diff-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	a, b, err := diffSides(args, f, work)
	if err != nil {
		return err
	}
	if f.imageA != "" {
		if err := requireImages(ctx, f.imageA, f.imageB); err != nil {
			return err
		}
	}
	root, goBin, err := suiteSources(ctx)
	if err != nil {
		return err
	}
	known, err := scenarioNames(ctx, goBin, root, f.pkg)
	if err != nil {
		return err
	}
	profiles := []string{a.profile, b.profile}
	tests := named(sel, known, profiles)
	if len(tests) == 0 {
		short := make([]string, len(known))
		for i, k := range known {
			short[i] = strings.TrimPrefix(k, "Test")
		}
		return badInput("no Scenario/profile pair matches --focus %q --skip %q: the scenarios are %s, the profiles %s", f.focus, f.skip, strings.Join(short, ", "), strings.Join(profiles, ", "))
	}

	out := f.out
	if out == "" {
		if out, err = os.MkdirTemp("", "seatrial-diff-"); err != nil {
			return err
		}
	}
	// The records stay beside the pictures, for a look at what was
	// compared.
	records := filepath.Join(out, "records")
	if err := os.RemoveAll(records); err != nil {
		return err
	}
	if err := os.MkdirAll(records, 0o755); err != nil {
		return err
	}
	env := append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true", "SEATRIAL_PROFILES="+a.arg+","+b.arg, behaviour.DirEnv+"="+records)
	// A profile from SEATRIAL_UPDATER_* would be a third side.
	env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, "SEATRIAL_UPDATER_IMAGE=") })
	env = append(env, sel.Env()...)
	if os.Getenv("SEATRIAL_ARTIFACTS") == "" {
		env = append(env, "SEATRIAL_ARTIFACTS="+filepath.Join(work, "artifacts"))
	}
	goArgs := []string{"test", "-json", "-count=" + strconv.Itoa(f.repeat), "-timeout", f.timeout.String(),
		"-run", "^(" + strings.Join(tests, "|") + ")$", f.pkg}
	fmt.Fprintf(stdout, "comparing A = %s and B = %s, %d run(s) each, side by side: go %s\n", a.label, b.label, f.repeat, strings.Join(goArgs, " "))
	pruneLeftovers(stderr, "an earlier run")
	start := time.Now()
	// go test's exit status says that a scenario failed, which the
	// summary already holds: a failure is a result to compare, not an
	// error of the comparison.
	sum, _, err := goTestJSON(ctx, goBin, root, goArgs, env, f.verbose, stdout, stderr)
	if err != nil {
		return err
	}
	recs, err := behaviour.Read(records)
	if err != nil {
		return err
	}
	sideA := behaviourdiff.Side{Label: a.label, Profile: a.profile, Records: recs, Results: map[string]behaviourdiff.Result{}}
	sideB := behaviourdiff.Side{Label: b.label, Profile: b.profile, Records: recs, Results: map[string]behaviourdiff.Result{}}
	for _, r := range sum.Results() {
		res := behaviourdiff.Result{Status: r.Status, Runs: r.Runs, Failures: r.Failures, Reason: r.Reason}
		switch {
		case r.Sub == a.profile || strings.HasSuffix(r.Sub, "/"+a.profile):
			sideA.Results[behaviour.Pair(r.Name(), a.profile)] = res
		case r.Sub == b.profile || strings.HasSuffix(r.Sub, "/"+b.profile):
			sideB.Results[behaviour.Pair(r.Name(), b.profile)] = res
		}
	}
	if len(sideA.Results)+len(sideB.Results) == 0 {
		for _, l := range sum.PackageFailure() {
			fmt.Fprintln(stderr, l)
		}
		return errors.New("go test reported no scenario: nothing to compare")
	}
	findings := behaviourdiff.Compare(sideA, sideB, behaviourdiff.Options{TimeTolerance: tol, TimeSlack: f.slack})
	fmt.Fprintln(stdout)
	behaviourdiff.Write(stdout, sideA, sideB, findings)
	n, err := writeTimelines(out, records, recs, a, b)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "timelines of A's and B's first runs, one above the other: %s (%d files; the records in records/)\n", out, n)
	}
	fmt.Fprintf(stdout, "wall time %s\n", time.Since(start).Round(time.Second))
	if f.json != "" {
		if err := writeDiffJSON(f.json, sideA, sideB, f, tol, findings); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		pruneLeftovers(stderr, "the interrupted run")
		return errors.New("interrupted")
	}
	if behaviourdiff.Differences(findings) > 0 {
		return exitError(exitFailure)
	}
	return nil
}

// requireImages says, as bad input, which image the engine lacks: the
// scenarios would skip its side, and there would be nothing to compare.
func requireImages(ctx context.Context, refs ...string) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	for _, ref := range refs {
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			return badInput("image %s is not on the engine: build or pull it first", ref)
		}
	}
	return nil
}

// writeTimelines writes, per scenario and world, the timelines of A's and
// B's first runs one above the other, and returns how many files.
func writeTimelines(out, dir string, recs []behaviour.Record, a, b diffSide) (int, error) {
	first := map[string]behaviour.Record{}
	for _, r := range recs {
		k := fmt.Sprintf("%s\x00%d\x00%s", r.Scenario, r.World, r.Profile)
		if f, ok := first[k]; !ok || r.Started.Before(f.Started) {
			first[k] = r
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for k, ra := range first {
		if ra.Profile != a.profile {
			continue
		}
		rb, ok := first[strings.TrimSuffix(k, a.profile)+b.profile]
		if !ok {
			continue
		}
		var page strings.Builder
		title := fmt.Sprintf("%s (world %d): A above, B below", ra.Scenario, ra.World+1)
		fmt.Fprintf(&page, "<!doctype html>\n<html><head><meta charset=\"utf-8\"/><title>%s</title>\n<style>body{font:14px sans-serif;margin:8px} iframe{width:100%%;height:48vh;border:1px solid #ccc}</style></head><body>\n<h2>%s</h2>\n", html.EscapeString(title), html.EscapeString(title))
		for _, side := range []struct {
			name string
			r    behaviour.Record
			s    diffSide
		}{{"A", ra, a}, {"B", rb, b}} {
			evs, err := behaviour.ReadTimeline(dir, side.r)
			if err != nil {
				return n, err
			}
			pic := timelinehtml.Render(evs, timelinehtml.Options{Title: side.name + ": " + side.r.Test + " (" + side.s.label + ")", AppUnit: harness.AppUnit})
			// Each picture is a whole page of its own; srcdoc keeps the
			// file self-contained.
			fmt.Fprintf(&page, "<h3>%s: %s</h3>\n<iframe srcdoc=\"%s\"></iframe>\n", side.name, html.EscapeString(side.s.label), html.EscapeString(string(pic)))
		}
		page.WriteString("</body></html>\n")
		name := strings.NewReplacer("/", "_").Replace(ra.Scenario) + fmt.Sprintf("-world%d.html", ra.World+1)
		if err := os.WriteFile(filepath.Join(out, name), []byte(page.String()), 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// diffReport is the --json file; fields are only ever added.
type diffReport struct {
	A             diffReportSide          `json:"a"`
	B             diffReportSide          `json:"b"`
	Repeats       int                     `json:"repeats"`
	TimeTolerance float64                 `json:"time_tolerance"`
	TimeSlack     float64                 `json:"time_slack_seconds"`
	Differences   int                     `json:"differences"`
	Noise         int                     `json:"noise"`
	Findings      []behaviourdiff.Finding `json:"findings"`
}

type diffReportSide struct {
	Label   string                          `json:"label"`
	Profile string                          `json:"profile"`
	Results map[string]behaviourdiff.Result `json:"results"`
}

func writeDiffJSON(path string, a, b behaviourdiff.Side, f diffFlags, tol float64, fs []behaviourdiff.Finding) error {
	n := behaviourdiff.Differences(fs)
	rep := diffReport{
		A:       diffReportSide{a.Label, a.Profile, a.Results},
		B:       diffReportSide{b.Label, b.Profile, b.Results},
		Repeats: f.repeat, TimeTolerance: tol, TimeSlack: f.slack.Seconds(),
		Differences: n, Noise: len(fs) - n, Findings: fs,
	}
	if rep.Findings == nil {
		rep.Findings = []behaviourdiff.Finding{}
	}
	bs, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(bs, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}
