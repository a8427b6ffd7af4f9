package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"gotest.tools/gotestsum/testjson"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/internal/selection"
)

// defaultUntilFail is how many runs --until-fail makes without --repeat.
const defaultUntilFail = 10

// runFlags are the settings of `seatrial run`.
type runFlags struct {
	profiles, artifacts string
	junit, json         string
	focus, skip, caps   string
	repeat              int
	untilFail           bool
	shard, durations    string
	recordDurations     string
	// pkg is the test package to run, relative to the module root:
	// ./scenarios, or in seatrial's own tests a package of theirs.
	pkg                  string
	timeout              time.Duration
	verbose, pullUpdater bool
	keepOnFailure        bool
}

func newRunCmd() *cobra.Command {
	f := runFlags{pkg: "./scenarios"}
	cmd := command("run", &cobra.Command{
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.untilFail && !cmd.Flags().Changed("repeat") {
				f.repeat = defaultUntilFail
			}
			return runRun(cmd.Context(), args, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
	fl := cmd.Flags()
	fl.StringVar(&f.profiles, "profile", "", "updater profiles, comma separated (names, profile files ending in .json, or all: every shipped profile); default watchtower-1.7.1,reference")
	fl.StringVar(&f.artifacts, "artifacts", "", "where failed scenarios write their artifacts (default $SEATRIAL_ARTIFACTS, else a new temp dir)")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Minute, "go test -timeout")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "also print every line the scenarios log")
	fl.StringVar(&f.focus, "focus", "", "run only the scenario/profile pairs whose name (Scenario/profile, e.g. FullScan/reference) matches this regular expression")
	fl.StringVar(&f.skip, "skip", "", "leave out the scenario/profile pairs whose name matches this regular expression")
	fl.StringVar(&f.caps, "capability", "", "run only the scenarios that need one of these capabilities, comma separated (e.g. health-gated-rollback)")
	fl.IntVar(&f.repeat, "repeat", 1, "run each scenario/profile pair this many times (go test -count); a pair that failed some of the runs is FLAKY, a failure")
	fl.BoolVar(&f.untilFail, "until-fail", false, fmt.Sprintf("with --repeat: stop repeating at the first failure (go test -failfast); without --repeat, up to %d runs", defaultUntilFail))
	fl.StringVar(&f.shard, "shard", "", "run only part i of n of the selected scenarios (i/n, e.g. 1/2), split the same way on every machine and balanced by recorded durations")
	fl.StringVar(&f.durations, "durations", "", "the recorded durations that balance --shard (default "+defaultDurations+" in seatrial's sources)")
	fl.StringVar(&f.recordDurations, "record-durations", "", "after the run, record each scenario/profile pair's time in this durations file (keeping the pairs that did not run)")
	fl.StringVar(&f.junit, "junit", "", "also write the results as JUnit XML to this file (a test case per scenario and profile)")
	fl.StringVar(&f.json, "json", "", "also write the summary as JSON to this file (its shape: see the README)")
	fl.BoolVar(&f.keepOnFailure, "keep-on-failure", false, "leave a failed scenario's sandbox up, exempt from prune, and print the commands to watch and remove it (seatrial down ID)")
	fl.BoolVar(&f.pullUpdater, "pull-updater", false, "pull a profile's updater image when the engine lacks it (the one image seatrial may pull); without it, that profile's scenarios are skipped")
	return cmd
}

// suiteSources finds where the scenarios run, the module's sources (this
// checkout, or the seatrial module the current one requires, or the
// version this binary was built from: see images.LocateModule), and the go
// command that runs them.
func suiteSources(ctx context.Context) (root, goBin string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	if root, err = images.LocateModule(ctx, wd); err != nil {
		return "", "", badInput("%v", err)
	}
	if goBin, err = exec.LookPath("go"); err != nil {
		return "", "", errors.New("the go command is not on PATH: the scenarios run with go test")
	}
	return root, goBin, nil
}

func runRun(ctx context.Context, pos []string, f runFlags, stdout, stderr io.Writer) error {
	root, goBin, err := suiteSources(ctx)
	if err != nil {
		return err
	}
	if f.repeat < 1 {
		return badInput("--repeat %d: give a number of runs of at least 1", f.repeat)
	}
	var sh shard
	if f.shard != "" {
		if sh, err = parseShard(f.shard); err != nil {
			return err
		}
	}
	sel, err := selection.Parse(f.focus, f.skip, f.caps)
	if err != nil {
		return badInput("%v", err)
	}
	env := append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true")
	env = append(env, sel.Env()...)
	// The names of the profiles under test, as the scenarios name their
	// subtests, to narrow -run to the scenarios a selection can match.
	profileNames := []string{harness.DefaultProfile, "reference"}
	if f.profiles != "" {
		var names []string
		profileNames = nil
		for _, p := range expandAll(strings.Split(f.profiles, ",")) {
			prof, err := harness.ProfileByName(p)
			if err != nil {
				return badInput("%v", err)
			}
			profileNames = append(profileNames, prof.Name)
			// go test runs the suite in its package's directory, so a
			// profile file's path is made absolute here, where the user
			// gave it.
			if strings.HasSuffix(p, ".json") {
				abs, err := filepath.Abs(p)
				if err != nil {
					return badInput("profile file %s: %v", p, err)
				}
				p = abs
			}
			names = append(names, p)
		}
		env = append(env, "SEATRIAL_PROFILES="+strings.Join(names, ","))
	}
	if p, ok, err := harness.ProfileFromEnv(os.Getenv); err != nil {
		return badInput("%v", err)
	} else if ok {
		profileNames = append(profileNames, p.Name)
	}
	var tests []string
	if len(pos) > 0 || sel.Focus != nil || sel.Skip != nil || sh.n > 0 {
		known, err := scenarioNames(ctx, goBin, root, f.pkg)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			if known, err = resolveScenarios(pos, known); err != nil {
				return err
			}
		}
		if tests = named(sel, known, profileNames); len(tests) == 0 {
			short := make([]string, len(known))
			for i, k := range known {
				short[i] = strings.TrimPrefix(k, "Test")
			}
			return badInput("no Scenario/profile pair matches --focus %q --skip %q: the scenarios are %s, the profiles %s", f.focus, f.skip, strings.Join(short, ", "), strings.Join(profileNames, ", "))
		}
	}
	if sh.n > 0 {
		path := f.durations
		if path == "" {
			path = filepath.Join(root, defaultDurations)
		}
		d, err := readDurations(path)
		if err != nil {
			return err
		}
		if tests = planShards(shardItems(tests, profileNames, sel, d), sh.n)[sh.i-1]; len(tests) == 0 {
			fmt.Fprintf(stdout, "shard %s has no scenario: there are fewer selected scenarios than shards\n", f.shard)
			empty, err := testsummary.Scan(strings.NewReader(""), nil, testsummary.Handler{})
			if err != nil {
				return err
			}
			return writeReports(empty, f, time.Now())
		}
	}
	dir := f.artifacts
	if dir == "" {
		dir = os.Getenv("SEATRIAL_ARTIFACTS")
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "seatrial-artifacts-"); err != nil {
			return err
		}
		defer removeIfEmpty(dir)
	}
	env = append(env, "SEATRIAL_ARTIFACTS="+dir)
	if f.pullUpdater {
		env = append(env, harness.PullUpdaterEnv+"=1")
	}
	// The run's id labels the sandboxes it asks to keep, so the summary
	// names this run's and no other's.
	var keepRun string
	if f.keepOnFailure {
		keepRun = "run-" + harness.NewID()
		env = append(env, harness.KeepOnFailureEnv+"="+keepRun)
	}

	goArgs := []string{"test", "-json", "-count=" + strconv.Itoa(f.repeat), "-timeout", f.timeout.String()}
	if f.untilFail {
		// go test starts no new test after the first failure, in this
		// run or a later one of -count.
		goArgs = append(goArgs, "-failfast")
	}
	if len(tests) > 0 {
		goArgs = append(goArgs, "-run", "^("+strings.Join(tests, "|")+")$")
	}
	goArgs = append(goArgs, f.pkg)
	names := "every scenario"
	if len(tests) > 0 {
		names = strings.Join(tests, ", ")
	}
	if sh.n > 0 {
		names = "shard " + f.shard + ": " + names
	}
	fmt.Fprintf(stdout, "running %s: go %s\n", names, strings.Join(goArgs, " "))
	// What earlier runs left goes first, and is named: the suite's own
	// prune happens inside go test, where its output is only seen on
	// failure or with -v.
	pruneLeftovers(stderr, "an earlier run")
	start := time.Now()
	sum, werr, err := goTestJSON(ctx, goBin, root, goArgs, env, f.verbose, stdout, stderr)
	if sum == nil {
		return err
	}
	fmt.Fprintln(stdout)
	sum.Write(stdout)
	fmt.Fprintf(stdout, "wall time %s\n", time.Since(start).Round(time.Second))
	if keepRun != "" {
		// An interrupted run failed nothing: what it kept goes.
		reportKept(stdout, stderr, keepRun, ctx.Err() != nil)
	}
	if err := writeReports(sum, f, start); err != nil {
		return err
	}
	if f.recordDurations != "" {
		if err := recordDurations(f.recordDurations, sum.Results()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		// The test binary died without its cleanups; its sandboxes'
		// owner is gone, so prune removes exactly those.
		pruneLeftovers(stderr, "the interrupted run")
		return errors.New("interrupted")
	}
	if err != nil {
		return err
	}
	if sum.Failed() {
		// The summary says what failed.
		return exitError(exitFailure)
	}
	if werr != nil {
		return fmt.Errorf("go test: %w", werr)
	}
	return nil
}

// goTestJSON runs go test -json (in root; on Ctrl-C asked to stop as a
// terminal would) and reads its events into a summary, a line per finished
// scenario on stdout, every line the scenarios log too if verbose. exit is
// go test's, which says that a scenario failed; err says that it did not
// start (sum is nil) or that its output could not be read (sum holds what
// was).
func goTestJSON(ctx context.Context, goBin, root string, goArgs, env []string, verbose bool, stdout, stderr io.Writer) (sum *testsummary.Summary, exit, err error) {
	cmd := exec.CommandContext(ctx, goBin, goArgs...)
	cmd.Dir = root
	cmd.Env = env
	// SIGINT, and time to act on it: killing go test outright orphans the
	// test binary.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = time.Minute
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start go test: %w", err)
	}
	sum, err = testsummary.Scan(out, errOut, testsummary.Handler{
		Event: func(e testjson.TestEvent) {
			if verbose && e.Action == testjson.ActionOutput {
				fmt.Fprint(stdout, e.Output)
			}
		},
		Row: func(r testsummary.Result) {
			fmt.Fprintf(stdout, "%-4s %s (%s)\n", strings.ToUpper(r.Status), r.Name(), r.Elapsed)
		},
		// go test's own messages (a build error) go where they would.
		Stderr: func(line string) { fmt.Fprintln(stderr, line) },
	})
	exit = cmd.Wait()
	if err != nil {
		return sum, exit, fmt.Errorf("read go test's output: %w", err)
	}
	return sum, exit, nil
}

// named returns the tests that have a pair with one of the profiles
// that sel's focus and skip select (which pairs need which capability
// only the scenarios know).
func named(sel selection.Selection, tests, profiles []string) []string {
	var out []string
	for _, t := range tests {
		if slices.ContainsFunc(profiles, func(p string) bool { return sel.Named(t, p) }) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// writeReports writes the --junit and --json files of a run.
func writeReports(sum *testsummary.Summary, f runFlags, start time.Time) error {
	write := func(path string, w func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		if err := w(out); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		return out.Close()
	}
	// A shard's suite says which shard it is, so the merged file tells
	// the shards apart.
	suite := strings.TrimPrefix(f.pkg, "./")
	if f.shard != "" {
		suite += " shard " + f.shard
	}
	if err := write(f.junit, func(w io.Writer) error { return sum.WriteJUnit(w, suite, start) }); err != nil {
		return err
	}
	return write(f.json, sum.WriteJSON)
}

// scenarioNames lists the tests of the package pkg (relative to the
// module root) as `go test -list` does: it compiles the package once and
// asks the test binary (-test.list), so every test the package declares is
// found, however it is written.
func scenarioNames(ctx context.Context, goBin, root, pkg string) ([]string, error) {
	dir, err := os.MkdirTemp("", "seatrial-list-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "scenarios.test")
	build := exec.CommandContext(ctx, goBin, "test", "-c", "-o", bin, pkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("compile %s to list its tests: %w\n%s", pkg, err, strings.TrimSpace(string(out)))
	}
	list := exec.CommandContext(ctx, bin, "-test.list", "^Test")
	// As go test runs it: in the package's directory.
	list.Dir = filepath.Join(root, pkg)
	var stderr strings.Builder
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("list the scenarios: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no scenario tests in %s", list.Dir)
	}
	sort.Strings(names)
	return names, nil
}

// resolveScenarios maps the names a person typed to test names: exact
// (TestFullScan), without the prefix (FullScan), kebab case (full-scan),
// any case; or an unambiguous part of one (registry-down, rollback).
func resolveScenarios(asked, known []string) ([]string, error) {
	norm := func(s string) string {
		s = strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
		return strings.TrimPrefix(s, "test")
	}
	var out []string
	for _, a := range asked {
		var exact, partial []string
		for _, k := range known {
			switch {
			case norm(k) == norm(a):
				exact = append(exact, k)
			case norm(a) != "" && strings.Contains(norm(k), norm(a)):
				partial = append(partial, k)
			}
		}
		switch {
		case len(exact) == 1:
			out = append(out, exact[0])
		case len(exact) == 0 && len(partial) == 1:
			out = append(out, partial[0])
		default:
			short := make([]string, len(known))
			for i, k := range known {
				short[i] = kebab(strings.TrimPrefix(k, "Test"))
			}
			what := "unknown"
			if len(partial) > 1 {
				what = "ambiguous"
			}
			return nil, badInput("%s scenario %q: the scenarios are %s", what, a, strings.Join(short, ", "))
		}
	}
	return out, nil
}

// kebab turns FullScan into full-scan (and NoOpScan into no-op-scan).
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

func removeIfEmpty(dir string) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
		os.Remove(dir)
	}
}

// reportKept lists the sandboxes run kept (--keep-on-failure) with the
// commands to look at and remove them, or removes them if remove.
func reportKept(stdout, stderr io.Writer, run string, remove bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := connect(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "seatrial run: list the kept sandboxes: %v\n", err)
		return
	}
	defer cli.Close()
	sbs, err := harness.ListSandboxes(ctx, cli)
	if err != nil {
		fmt.Fprintf(stderr, "seatrial run: list the kept sandboxes: %v\n", err)
		return
	}
	var kept []string
	for _, s := range sbs {
		if s.KeepOnFailure == run {
			kept = append(kept, s.ID)
		}
	}
	if remove {
		for _, id := range kept {
			r, err := harness.RemoveSandbox(ctx, cli, id)
			fmt.Fprintf(stderr, "seatrial run: removed what the interrupted run kept: %s\n", r)
			if err != nil {
				fmt.Fprintf(stderr, "seatrial run: remove %s: %v\n", id, err)
			}
		}
		return
	}
	if len(kept) == 0 {
		fmt.Fprintln(stdout, "no sandbox kept: no scenario failed (--keep-on-failure)")
		return
	}
	fmt.Fprintf(stdout, "kept %d failed scenario sandbox(es) (--keep-on-failure; prune leaves them):\n", len(kept))
	fmt.Fprintln(stdout, "  seatrial ls")
	for _, id := range kept {
		fmt.Fprintf(stdout, "  seatrial watch %s\n  seatrial down %s\n", id, id)
	}
}

// pruneLeftovers removes the sandboxes of dead owners and says which.
func pruneLeftovers(stderr io.Writer, whose string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := connect(ctx)
	if err != nil {
		return
	}
	defer cli.Close()
	removed, err := harness.Prune(ctx, cli)
	for _, r := range removed {
		fmt.Fprintf(stderr, "seatrial run: removed what %s left: %s\n", whose, r)
	}
	if err != nil {
		fmt.Fprintf(stderr, "seatrial run: prune: %v\n", err)
	}
}

// allProfiles names every shipped profile in `seatrial run --profile`.
// A shipped profile whose updater image is absent has its scenarios
// skipped with the reason, so "all" runs wherever the fixtures build.
const allProfiles = "all"

// expandAll replaces "all" among profile names by every shipped profile,
// in name order; a name given twice is kept once.
func expandAll(names []string) []string {
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != allProfiles {
			add(n)
			continue
		}
		for _, shipped := range slices.Sorted(maps.Keys(harness.Profiles())) {
			add(shipped)
		}
	}
	return out
}
