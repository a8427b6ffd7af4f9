package scenarios

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/monitor/timelinehtml"
	"github.com/seatrial-dev/seatrial/internal/testenv"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// nodeLossGrace is how long a node may have no container before the
// world's waits fail with "removed and not replaced" while a scan's
// trigger has not answered yet: updaters that remove the old container
// before they create the new one leave such a gap, and a loaded engine
// can take seconds to create a container. When the trigger answers, the
// gap is judged at once (see world.trigger).
const nodeLossGrace = 10 * time.Second

// stopAllFirst is how long an updater may take to stop one stale node. An
// updater may stop every stale node before it creates any replacement
// (watchtower does: stopStaleContainers, then restartStaleContainers),
// each stop taking up to its stop timeout (watchtower's default 10 s), so
// the first node removed can wait that long per node for its
// replacement; worldNodeLossGrace adds it per node.
const stopAllFirst = 10 * time.Second

// worldNodeLossGrace is the node-loss grace of a world of n nodes, unless
// its spec sets one.
func worldNodeLossGrace(n int) time.Duration {
	return nodeLossGrace + time.Duration(n)*stopAllFirst
}

// forEachProfile runs fn once per profile under test that the run
// selected, as a parallel subtest named after the profile. A profile that lacks one of caps is
// skipped with the reason. fn's outcome is judged against the profile's
// known failures (see runJudged).
func forEachProfile(t *testing.T, caps []harness.Capability, fn func(t testing.TB, p harness.Profile)) {
	t.Helper()
	testenv.NeedsEngine(t)
	profiles := selectedProfiles(t, caps)
	t.Parallel()
	for _, p := range profiles {
		t.Run(p.Name, func(t *testing.T) {
			if why, ok := s.absent[p.Name]; ok {
				t.Skip(why)
			}
			if why := p.Missing(caps...); why != "" {
				t.Skip(why)
			}
			t.Parallel()
			runJudged(t, p, fn)
		})
	}
}

// variant is one setting of a scenario run in several (a subtest each):
// an engine proxy rule and what the scenario says of it.
type variant struct{ name, rule, detail string }

// forEachVariant runs fn per variant, as a subtest named after it, on
// every profile under test, as forEachProfile does.
func forEachVariant(t *testing.T, caps []harness.Capability, vs []variant, fn func(t testing.TB, p harness.Profile, v variant)) {
	t.Helper()
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			forEachProfile(t, caps, func(t testing.TB, p harness.Profile) { fn(t, p, v) })
		})
	}
}

// sandboxOptions are the options of every sandbox the suite makes.
func (st *suite) sandboxOptions(t testing.TB) []harness.Option {
	return []harness.Option{harness.WithTest(t), harness.WithClient(st.cli), harness.WithImages(st.images)}
}

// worldSpec is what a scenario needs started.
type worldSpec struct {
	nodes   []harness.NodeSpec // default: controller and worker-0
	updater harness.UpdaterOptions
	// noUpdater leaves the updater out (a bystander sandbox).
	noUpdater bool
	// scanFailuresExpected: the scenario makes a scan fail on purpose
	// (a rollback, a registry down), so a scan with failures does not
	// contradict its waits.
	scanFailuresExpected bool
	// nodeLossGrace: see the constant; zero means nodeLossGrace.
	nodeLossGrace time.Duration
	// sandbox adds options to the sandbox (harness.WithEngineProxy).
	sandbox []harness.Option
	// engineRules are set in the sandbox's engine proxy before the
	// updater starts; the sandbox gets one (harness.WithEngineProxy).
	engineRules []string
	// updaterMayRefuse: an updater that does not come up is the
	// scenario's to judge (world.updaterErr), not a failure of the world.
	updaterMayRefuse bool
}

// world is one scenario's sandbox: a cluster of systemd nodes, an updater
// scoped to it, and a Watcher started before the first node.
type world struct {
	t       testing.TB
	profile harness.Profile
	sb      *harness.Sandbox
	cluster *harness.Cluster
	updater *harness.Updater
	// updaterErr is why the updater did not come up (updaterMayRefuse).
	updaterErr error
	watcher    *monitor.Watcher
	spec       worldSpec
	v1         harness.Published
	// first is the first scrape; the last one is taken for artifacts.
	first metricclient.MetricData
	// scrapes counts the scrapes, to name them (see scrapeOrigin).
	scrapes atomic.Int32
	// scans counts the scans w.scan triggered (for scrapeAfterScans).
	scans int64
	// rec is kept for the world's behaviour record, nil when the run
	// asked for none (see recordBehaviour).
	rec *recording
	// untouched maps a node the scenario's rules keep out of the update
	// to the words of the failure if the updater stops it anyway (see
	// keepUntouched).
	untouched map[string]string
}

// keepUntouched says that no rule lets the updater stop node: from now
// on every wait of the world fails as soon as it does, with why, instead
// of when the scan's answer is judged (a scan of many nodes can take long
// after the evidence). Call it before the scan, from the test's goroutine.
func (w *world) keepUntouched(node, why string) {
	if w.untouched == nil {
		w.untouched = map[string]string{}
	}
	w.untouched[node] = why
}

// touchAgain lifts keepUntouched: from now on the updater may stop every
// node again (the fault that forbade it is lifted).
func (w *world) touchAgain() { w.untouched = nil }

// touched matches an untouched node's container being stopped or
// removed.
func (w *world) touched() monitor.Predicate {
	untouched := maps.Clone(w.untouched)
	return monitor.Matching("a node no rule lets the updater touch to be stopped", func(ev monitor.Event) bool {
		switch ev.Kind {
		case monitor.EventContainerKill, monitor.EventContainerStop, monitor.EventContainerDestroy:
			_, ok := untouched[ev.Node]
			return ok
		}
		return false
	})
}

func newWorld(t testing.TB, p harness.Profile, spec worldSpec) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	s.holdSlot(t)
	opts := append(append(s.sandboxOptions(t), harness.WithUpdaterProfile(p)), spec.sandbox...)
	if len(spec.engineRules) > 0 {
		opts = append(opts, harness.WithEngineProxy())
	}
	sb, err := harness.NewSandbox(ctx, opts...)
	require.NoError(t, err)
	w := &world{t: t, profile: p, sb: sb, spec: spec}
	for _, r := range spec.engineRules {
		require.NoError(t, sb.InjectEngineFault(ctx, r))
	}
	if n, ok := t.(interface{ noteWorld(*world) }); ok {
		n.noteWorld(w) // a test of the scenarios themselves (see caught)
	}

	// The Watcher starts before the first node, so it sees every event of
	// the cluster's life. Its context lives as long as the test and its
	// Cleanups (not t.Context(), cancelled before them): it stops after the
	// artifacts are written.
	wctx, wcancel := context.WithCancel(context.Background())
	nodes := spec.nodes
	if nodes == nil {
		nodes = []harness.NodeSpec{{Name: "controller"}, {Name: "worker-0"}}
	}
	grace := cmp.Or(spec.nodeLossGrace, worldNodeLossGrace(len(nodes)))
	w.watcher = monitor.NewWatcher(s.cli, sb.ID(), monitor.WithImages(sb.RegistryAddr()+"/"), monitor.WithNetworks(sb.Network()), monitor.WithNodeLossGrace(grace))
	require.NoError(t, w.watcher.Start(wctx, nil))
	// The updater's engine calls are a lane of the timeline (and of the
	// artifacts' timeline.txt).
	lane := sb.LaneEngineCalls(wctx, w.watcher)
	t.Cleanup(func() {
		wcancel()
		if err := lane(); err != nil {
			t.Logf("the updater's engine calls are on the timeline only until: %v", err)
		}
		w.watcher.Wait()
	})
	// Registered after the sandbox's own cleanup, so it runs before it:
	// artifacts are collected while everything still exists.
	t.Cleanup(w.writeArtifactsIfFailed)
	if s.behaviourDir != "" {
		w.recordBehaviour()
	}

	w.v1, err = sb.Publish(ctx, "node", "stable", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	// The updater starts while the nodes boot: neither waits on the other
	// (an updater scans when it is triggered, and a scan finds whatever
	// runs), and a node's boot is most of a world's start.
	var g errgroup.Group
	g.Go(func() error {
		c, err := sb.StartCluster(ctx, harness.ClusterSpec{Nodes: nodes})
		if err != nil {
			return err
		}
		w.cluster = c
		var targets []monitor.NodeTarget
		for _, n := range c.Nodes() {
			targets = append(targets, monitor.NodeTarget{ShortName: n.Name(), Container: n.ContainerName()})
		}
		return w.watcher.AddNodes(wctx, targets)
	})
	if !spec.noUpdater {
		g.Go(func() error {
			u, err := sb.StartUpdater(ctx, p, spec.updater)
			if err != nil && spec.updaterMayRefuse {
				w.updaterErr = err
				return nil
			}
			w.updater = u
			return err
		})
	}
	require.NoError(t, g.Wait())
	w.first = w.scrape(ctx)
	return w
}

// scrape reads the metrics server's exposition of this sandbox's updater
// and registry series (what scenarios assert on; the engine's
// per-container figures are left out, as the first stats call on a new
// container costs about a second; other sandboxes' targets are not read,
// as each scrape would read every world running beside this one). It
// waits until this sandbox's updater series are there (a scrape that
// raced the updater's start has none).
func (w *world) scrape(ctx context.Context) metricclient.MetricData {
	w.t.Helper()
	md, err := retry(ctx, 50*time.Millisecond, time.Second, func() (metricclient.MetricData, error) {
		md, err := s.metrics.GetMetrics(ctx, map[string]string{"source": "updater,registry", "sandbox": w.sb.ID()})
		if err != nil || w.updater == nil {
			return md, err
		}
		_, _, err = md.GetPrometheusInteger(w.profile.Metrics.ScansTotal, w.updaterLabels())
		return md, err
	})
	require.NoError(w.t, err, "scrape the metrics server for sandbox %s", w.sb.ID())
	return md.From(w.scrapeOrigin())
}

// scrapeAfterScans scrapes until the updater's scans counter went up by
// at least n since the first scrape. Some updaters (watchtower) record a
// scan's metrics from a queue after answering the trigger, so the first
// scrape after a scan may not show it yet; this waits for it, with a
// deadline, instead of sleeping.
func (w *world) scrapeAfterScans(ctx context.Context, n int64) metricclient.MetricData {
	w.t.Helper()
	metric := w.profile.Metrics.ScansTotal
	first, _, err := w.first.GetPrometheusContainerInteger(w.want(metric))
	require.NoError(w.t, err)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got int64
	md, err := retry(ctx, 20*time.Millisecond, 500*time.Millisecond, func() (metricclient.MetricData, error) {
		md := w.scrape(ctx)
		var err error
		got, _, err = md.GetPrometheusContainerInteger(w.want(metric))
		if err == nil && got-first < n {
			err = fmt.Errorf("%s is %d", metric, got)
		}
		return md, err
	})
	require.NoError(w.t, err, "scans not counted: %s went from %d in %s to %d, want +%d", w.wantOf(mScansTotal).Describe(), first, w.first.Origin(), got, n)
	return md
}

// retry calls op until it succeeds or ctx ends, from first to at most
// most apart (exponential, jittered). When ctx ends, the error names op's
// last failure too: the deadline alone would not say what was wrong.
func retry[T any](ctx context.Context, first, most time.Duration, op func() (T, error)) (T, error) {
	var last error
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := op()
		last = err
		return v, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval:     first,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         most,
	}), backoff.WithMaxElapsedTime(0))
	if err != nil && last != nil && !errors.Is(err, last) {
		err = fmt.Errorf("%w; the last attempt: %w", err, last)
	}
	return v, err
}

func (w *world) updaterLabels() map[string]string {
	return map[string]string{metricclient.LabelSandbox: w.sb.ID(), "source": "updater"}
}

// want designates one of this sandbox's updater series.
func (w *world) want(metric string) metricclient.WantMetric {
	return metricclient.WantMetric{Metric: metric, Sandbox: w.sb.ID(), ExtraLabels: map[string]string{"source": "updater"}}
}

// registryDelta sums the change of the registry's request counter over
// the series that match the given labels (handler, method).
func (w *world) registryDelta(before, after metricclient.MetricData, match map[string]string) float64 {
	w.t.Helper()
	d, err := metricclient.Diff(before, after)
	require.NoError(w.t, err)
	l := map[string]string{metricclient.LabelSandbox: w.sb.ID(), "source": "registry"}
	for k, v := range match {
		l[k] = v
	}
	var sum float64
	for _, v := range d.Deltas("registry_http_requests_total", l) {
		sum += v
	}
	return sum
}

// scan triggers a scan and requires an answer (see trigger). While the
// trigger waits for its answer, what contradicts any wait (a replacement
// that lost a label, a node lost, the updater gone) fails the scenario
// at once: a scan of many nodes can take long after the evidence.
func (w *world) scan(ctx context.Context) harness.ScanResult {
	w.t.Helper()
	type answer struct {
		res harness.ScanResult
		err error
	}
	// Armed before the trigger, so nothing it causes is missed.
	w.scans++
	answered := w.expect(monitor.Matching("the scan's trigger to answer", func(ev monitor.Event) bool {
		return ev.Kind == monitor.EventScanAnswered
	}))
	done := make(chan answer, 1)
	go func() {
		res, err := w.trigger(ctx)
		done <- answer{res, err}
	}()
	// A scenario that fails here leaves the trigger running: its context
	// ends with the test, and the test's cleanups wait for it.
	w.t.Cleanup(func() { <-done })
	_, err := answered.wait(ctx)
	w.requireWaited(err, "the scan's trigger did not answer")
	a := <-done
	done <- a // for the cleanup
	require.NoError(w.t, a.err)
	return a.res
}

// updateNodes publishes version v2 of the node image, healthy, and
// triggers a scan that must run: the nodes before and after it, and what
// was published.
func (w *world) updateNodes(ctx context.Context) (before, after map[string]nodeState, v2 harness.Published) {
	w.t.Helper()
	before = w.nodes(ctx)
	v2, err := w.sb.Publish(ctx, "node", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
	require.NoError(w.t, err)
	w.requireScanOK(w.scan(ctx))
	return before, w.nodes(ctx), v2
}

// requireScanOK asserts a trigger's answer says the scan ran, as the
// profile's trigger.ok_statuses define it.
func (w *world) requireScanOK(res harness.ScanResult) {
	w.t.Helper()
	require.True(w.t, res.OK(w.profile), "scan answer %d, not one of the profile's trigger.ok_statuses %v: %s", res.Status, w.profile.Trigger.OKStatuses, strings.TrimSpace(res.Body))
}

// trigger triggers a scan and tells the Watcher what came of it, so the
// world's waits fail at once on it (see waitFor): every node removed and
// not replaced by now is lost (the scan is over, no gap will close), then
// scan.answered, then scan.failed if the trigger failed, answered a
// status outside the profile's trigger.ok_statuses, or answered that the
// scan had failures. Safe to
// call from any goroutine: it only reports, the caller judges.
func (w *world) trigger(ctx context.Context) (harness.ScanResult, error) {
	// The Watcher counts the triggers waiting for an answer: a node
	// replaced when none is tells a trigger that answered early.
	w.watcher.Publish(monitor.Event{Kind: monitor.EventScanStarted})
	var before metricclient.MetricData
	if w.rec != nil {
		before = w.registryCounts(ctx)
	}
	sent := time.Now()
	res, err := w.updater.Scan(ctx)
	if w.rec != nil {
		w.rec.addScan(sent, time.Now(), before, w.registryCounts(ctx))
	}
	// The engine's event stream can lag the answer: a node the scan
	// removed must have reached the Watcher before it is judged.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if cerr := w.watcher.CatchUp(cctx); cerr != nil {
		w.t.Logf("the Watcher could not catch up with the engine's events before judging the scan: %v", cerr)
	}
	cancel()
	w.watcher.SettleNodes("before the scan's trigger answered")
	answer := fmt.Sprintf("status %d %s", res.Status, strings.TrimSpace(res.Body))
	if err != nil {
		answer = err.Error()
	}
	w.watcher.Publish(monitor.Event{Kind: monitor.EventScanAnswered, Detail: answer})
	var failed string
	switch n, ok := failedInAnswer(res.Body); {
	case err != nil:
		failed = fmt.Sprintf("the scan trigger got no answer: %v", err)
	case !res.OK(w.profile):
		failed = fmt.Sprintf("the scan trigger answered %d %s: %s", res.Status, http.StatusText(res.Status), oneLine(res.Body, 200))
	case ok && n > 0:
		failed = fmt.Sprintf("the scan finished with %d failed containers (its trigger answered %s)", n, oneLine(res.Body, 200))
	}
	if failed != "" {
		w.watcher.Publish(monitor.Event{Kind: monitor.EventScanFailed, Detail: failed})
	}
	return res, err
}

// failedInAnswer reads the count of failed containers from a trigger's
// JSON answer, where watchtower-class updaters put it: "failed" at the
// top (openserbia, the reference updater) or under "summary"
// (nicholas-fedor). ok is false when the answer says nothing of it.
func failedInAnswer(body string) (n int, ok bool) {
	var a struct {
		Failed  *int `json:"failed"`
		Summary struct {
			Failed *int `json:"failed"`
		} `json:"summary"`
	}
	if json.Unmarshal([]byte(body), &a) != nil {
		return 0, false
	}
	switch {
	case a.Failed != nil:
		return *a.Failed, true
	case a.Summary.Failed != nil:
		return *a.Summary.Failed, true
	}
	return 0, false
}

// oneLine shortens s to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// expectation is a wait of the world's: armed before the action, failing
// at once on what contradicts it (see world.expect).
type expectation struct {
	w *world
	e *monitor.Expectation
}

// expect arms a wait on the Watcher that also fails at once on what
// contradicts any scenario's wait (monitor.Contradictions): the updater
// exited, a node was removed and not replaced, a scan's trigger answered
// an error or its scan had failures (unless the scenario expects those).
// A contradiction's error says what happened, in words, with the
// updater's last relevant log lines.
func (w *world) expect(p monitor.Predicate, opts ...monitor.WaitOption) expectation {
	opts = append(opts, monitor.FailOn(monitor.Contradictions(w.spec.scanFailuresExpected)...))
	if len(w.untouched) > 0 {
		opts = append(opts, monitor.FailOn(w.touched()))
	}
	return expectation{w: w, e: w.watcher.Expect(p, opts...)}
}

func (x expectation) wait(ctx context.Context) (monitor.Event, error) {
	ev, err := x.e.Wait(ctx)
	var c *monitor.ContradictionError
	if errors.As(err, &c) && x.w.updater != nil {
		c.Context = x.w.updaterLogTail(ctx)
	}
	if c != nil {
		if why, ok := x.w.untouched[c.Event.Node]; ok && c.Event.Node != "" {
			return ev, fmt.Errorf("%s (the updater stopped it: %w)", why, err)
		}
	}
	return ev, err
}

// waitFor is expect, then wait.
func (w *world) waitFor(ctx context.Context, p monitor.Predicate, opts ...monitor.WaitOption) (monitor.Event, error) {
	return w.expect(p, opts...).wait(ctx)
}

// updaterLogTail is the updater log's last lines that say something went
// wrong (errors, warnings, failures), else its last lines: what a person
// reads first to know why.
func (w *world) updaterLogTail(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	logs, err := w.updater.Logs(ctx)
	if err != nil {
		return "its log could not be read: " + err.Error()
	}
	// The engine carries a container's output to its log asynchronously:
	// what the updater wrote just before it answered a trigger can reach
	// the log after the answer (seen on a loaded machine: the tail missed
	// the line that said why). Read again until two reads 200 ms apart
	// agree, at most twice more.
	for range 2 {
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		again, err := w.updater.Logs(ctx)
		if err != nil || again == logs {
			break
		}
		logs = again
	}
	var all, bad []string
	for _, l := range strings.Split(logs, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		all = append(all, l)
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "warn") || strings.Contains(low, "fail") || strings.Contains(low, "fatal") {
			bad = append(bad, l)
		}
	}
	pick := bad
	if len(pick) == 0 {
		pick = all
	}
	if len(pick) == 0 {
		return "the updater logged nothing"
	}
	pick = pick[max(0, len(pick)-3):]
	for i, l := range pick {
		pick[i] = oneLine(logLine(l), 300)
	}
	return "updater log: " + w.updater.Redact(strings.Join(pick, " | "))
}

// logLine shortens a JSON log line (slog's, the reference updater's) to
// its level, message and error; other lines (logfmt, text) stay as they
// are.
func logLine(l string) string {
	var rec struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(l), &rec) != nil || rec.Msg == "" {
		return l
	}
	out := rec.Level + " " + rec.Msg
	if rec.Error != "" {
		out += ": " + rec.Error
	}
	return out
}

// nodeState is what the world says about one node.
type nodeState struct {
	ContainerID string
	ImageID     string
	Digest      string // the repo digest in the sandbox registry
	Running     bool
}

func (w *world) nodes(ctx context.Context) map[string]nodeState {
	w.t.Helper()
	out := map[string]nodeState{}
	for _, n := range w.inspectNodes(ctx) {
		st := nodeState{ContainerID: n.insp.ID, ImageID: n.insp.Image, Running: n.insp.State != nil && n.insp.State.Running}
		for _, d := range n.img.RepoDigests {
			if strings.HasPrefix(d, w.sb.RegistryAddr()+"/node@") {
				st.Digest = strings.TrimPrefix(d, w.sb.RegistryAddr()+"/node@")
			}
		}
		out[n.name] = st
	}
	return out
}

// nodeGone says, in words, why node has no container: its removal as the
// Watcher saw it (the node.lost judgement if there was one), and the
// updater's last relevant log lines, rather than the engine's "No such
// container".
func (w *world) nodeGone(ctx context.Context, node string) string {
	what := fmt.Sprintf("node %s has no container, and the Watcher saw no removal of it", node)
	for _, ev := range w.watcher.Timeline() {
		switch {
		case ev.Node != node:
		case ev.Kind == monitor.EventNodeLost:
			what = ev.Detail
		case ev.Kind == monitor.EventContainerDestroy:
			what = fmt.Sprintf("node %s (container %s) was removed at %s and no container replaced it",
				node, ev.ContainerID[:min(12, len(ev.ContainerID))], ev.Time.UTC().Format("15:04:05.0"))
		case ev.Kind == monitor.EventContainerCreate:
			what = fmt.Sprintf("node %s has no container, though the Watcher last saw %s created", node, ev.ContainerID[:min(12, len(ev.ContainerID))])
		}
	}
	if w.updater == nil {
		return what
	}
	return what + " (" + w.updaterLogTail(ctx) + ")"
}

// waitHealthy waits until the node's container with the given id is up as
// its health check means it: the app's unit active (seen on the Watcher),
// then systemd "running" (asked once, with --wait). Not the health
// verdict itself: the images check every 5 s to spare the CPU (see
// harness/images), so waiting for one would add up to that to each wait.
func (w *world) waitHealthy(ctx context.Context, node, containerID string) {
	w.t.Helper()
	_, err := w.waitFor(ctx, monitor.UnitState(node, containerID, harness.AppUnit, "active"), monitor.IncludePast())
	require.NoError(w.t, err)
	res, err := engine.Exec(ctx, s.cli, containerID, "systemctl", "is-system-running", "--wait")
	require.NoError(w.t, err, "ask systemd on node %s for its state", node)
	require.Equal(w.t, "running", strings.TrimSpace(res.Stdout), "systemd's state on node %s (container %.12s)", node, containerID)
}

// requireUnitActive asserts the app's unit is active on every node.
func (w *world) requireUnitActive(ctx context.Context) {
	w.t.Helper()
	for _, n := range w.cluster.Nodes() {
		st, err := n.UnitActive(ctx, harness.AppUnit)
		require.NoError(w.t, err)
		require.Equal(w.t, "active", st, "%s on node %s", harness.AppUnit, n.Name())
	}
}

// writeArtifactsIfFailed writes what explains a failure: the updater's
// log, the Watcher's timeline, the metric diff between the first and the
// last scrape, and the nodes' journals. The updater's token is redacted.
func (w *world) writeArtifactsIfFailed() {
	if !w.t.Failed() {
		return
	}
	// Not t.TempDir: the testing package removes that when the test ends,
	// and artifacts are for reading after the run.
	base := s.artifacts
	if base == "" {
		base = filepath.Join(os.TempDir(), "seatrial-artifacts")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		w.t.Logf("artifacts: %v", err)
		return
	}
	root, err := os.MkdirTemp(base, strings.ReplaceAll(w.t.Name(), "/", "_")+"-")
	if err != nil {
		w.t.Logf("artifacts: %v", err)
		return
	}
	// Runs as a Cleanup, when t.Context() is already cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(w.updater.Redact(content)), 0o644); err != nil {
			w.t.Logf("artifacts: %v", err)
		}
	}
	if w.updater != nil {
		logs, err := w.updater.Logs(ctx)
		if err != nil {
			logs += "\n(reading the log failed: " + err.Error() + ")"
		}
		write("updater.log", logs)
	}
	var tl strings.Builder
	for _, e := range w.watcher.Timeline() {
		tl.WriteString(e.String() + "\n")
	}
	write("timeline.txt", tl.String())
	// The same events drawn: a lane per node, the updater, its engine
	// calls and the registry; open it in a browser, no network needed.
	write("timeline.html", string(timelinehtml.Render(w.watcher.Timeline(), timelinehtml.Options{Title: w.t.Name() + " (sandbox " + w.sb.ID() + ")", AppUnit: harness.AppUnit})))
	if md, err := s.metrics.GetMetrics(ctx, map[string]string{"sandbox": w.sb.ID()}); err == nil && w.first.String() != "" {
		write("metrics-last.txt", md.String())
		if d, err := metricclient.Diff(w.first, md); err == nil {
			var b strings.Builder
			changes := d.Changed()
			// What scenarios assert on first: the profile's named
			// metrics, then the updater's other series, the registry's,
			// the engine's; Go runtime and process series last, they
			// change at every scrape and say nothing of the update.
			named := map[string]bool{}
			for _, n := range w.profile.Metrics.Named() {
				named[n] = true
			}
			rank := func(s metricclient.Series) int {
				switch {
				case named[s.Name]:
					return 0
				case strings.HasPrefix(s.Name, "go_"), strings.HasPrefix(s.Name, "process_"), strings.HasPrefix(s.Name, "promhttp_"):
					return 4
				}
				return map[string]int{metricclient.SourceUpdater: 1, metricclient.SourceRegistry: 2, metricclient.SourceEngine: 3}[s.Labels[metricclient.LabelSource]]
			}
			sort.SliceStable(changes, func(i, j int) bool {
				ri, rj := rank(changes[i].Series), rank(changes[j].Series)
				if ri != rj {
					return ri < rj
				}
				return changes[i].Series.String() < changes[j].Series.String()
			})
			for _, c := range changes {
				// Buckets repeat what _count says, at every bound; leave
				// them to metrics-last.txt.
				if c.Series.Labels[metricclient.LabelSandbox] != w.sb.ID() || strings.HasSuffix(c.Series.Name, "_bucket") {
					continue
				}
				fmt.Fprintf(&b, "%s %g -> %g (%+g)\n", c.Series, c.Before, c.After, c.Delta())
			}
			write("metrics-diff.txt", b.String())
		}
	}
	if w.cluster != nil {
		for node, j := range w.cluster.Journals(ctx) {
			write("journal-"+node+".txt", j)
		}
	}
	w.t.Logf("artifacts of this failure: %s", root)
}
