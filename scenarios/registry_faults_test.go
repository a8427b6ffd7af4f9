package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// maxRequestsPerNode bounds the manifest requests a scan may make per
// container while the registry refuses them: the updater's digest check,
// the engine's pull (a HEAD, then a GET) and one retry. An updater that
// retries at once makes more: the stampede that turns a rate limit into a
// ban. Under a 429 with Retry-After the bound holds within each
// Retry-After (the fault proxy's burst): an updater that retries a few
// times, each after the wait it was asked for, is not stampeding
// (nicholas-fedor 1.21.0 makes 5 tries 2 s apart). Without a Retry-After
// (a 503) the bound holds for the whole scan.
const maxRequestsPerNode = 4

// TestRateLimited: the registry answers every manifest request 429 with
// Retry-After (the fault proxy). The throttled scan must not look clean
// (its containers count as failed or skipped, or the trigger answers an
// error), must replace nothing, and must not stampede (the requests made
// while throttled are counted); once the limit lifts, the next scan
// updates every node.
func TestRateLimited(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapSurvivesRateLimit}, rateLimited)
}

func rateLimited(t testing.TB, p harness.Profile) {
	w, ctx := faultWorld(t, p)
	refusedThenUpdated(t, ctx, w, "v2", "429 retry-after=2s path=/manifests/ name=throttle", "throttled", "the registry stopped throttling")
}

// TestRegistryFlaky: the first layer download of an update is reset half
// way: the scan updates (the engine retries the download) or counts the
// failure, and loses or half-replaces no node; a clean scan then updates
// what is left. Then the registry answers every manifest request 503: the
// same expectations as TestRateLimited.
func TestRegistryFlaky(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapSurvivesFlakyRegistry}, registryFlaky)
}

func registryFlaky(t testing.TB, p harness.Profile) {
	w, ctx := faultWorld(t, p)

	// A version of this sandbox's own: its layers are new to the engine,
	// which would otherwise take them from another sandbox's identical v2
	// and fetch no blob at all.
	rule := "reset after=50% path=/blobs/ method=GET first=1 name=reset"
	before, v2 := publishUnder(t, ctx, w, "v2-"+w.sb.ID(), rule, nil)
	res := w.scan(ctx)
	requireNodeContainers(t, ctx, w, len(before))
	rules, err := w.sb.FaultRules(ctx)
	require.NoError(t, err)
	now := w.nodes(ctx)
	t.Logf("scan with a layer download reset (%s): answer %d %s; blob GETs the rule saw: %s; nodes: %s",
		rule, res.Status, oneLine(res.Body, 200), seenOf(rules), nodeDigests(now))
	require.Len(t, rules, 1, "the rules in force")
	require.Positive(t, rules[0].Seen, "no layer was fetched through the fault proxy: the reset was not exercised (nodes: %s)", nodeDigests(now))
	// Each node is as it was, or updated to v2: nothing in between.
	stale := map[string]nodeState{}
	for name, n := range now {
		switch {
		case n == before[name]:
			stale[name] = n
		case n.Digest == v2.Digest && n.Running:
			w.waitHealthy(ctx, name, n.ContainerID)
		default:
			require.FailNow(t, fmt.Sprintf("node %s is half-replaced after a layer download was reset", name),
				"was %+v, now %+v; v2 is %s", before[name], n, v2.Digest)
		}
	}
	require.NoError(t, w.sb.ClearFaults(ctx))
	if len(stale) > 0 {
		requireUpdatedAfterFaults(t, ctx, w, stale, v2, "a layer download was reset")
	}

	refusedThenUpdated(t, ctx, w, "v3", "503 retry-after=none path=/manifests/ name=flaky", "failing with 503", "the registry stopped failing with 503")
}

// TestCorruptManifest: the registry serves the new version's manifest
// with a body that does not hash to its digest (the fault proxy appends
// a newline: still valid JSON, same layers). No node may be replaced
// while it does; once the manifest is served whole, the next scan
// updates every node to the published digest.
func TestCorruptManifest(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapRejectsCorruptManifest}, corruptManifest)
}

func corruptManifest(t testing.TB, p harness.Profile) {
	w, ctx := faultWorld(t, p)
	// A version of this sandbox's own: an engine that has the same
	// manifest from another sandbox's identical v2 pulls it by digest
	// without asking the registry, and the corrupt body is never served.
	before, v2 := publishUnder(t, ctx, w, "v2-"+w.sb.ID(), "digest mode=body path=/manifests/ name=corrupt", func(node, digest string) string {
		return fmt.Sprintf("the updater stopped node %s to deploy a manifest that does not match its digest %s (the registry's body was corrupted)", node, digest)
	})

	res := w.scan(ctx)
	requireNodeContainers(t, ctx, w, len(before))
	for name, n := range w.nodes(ctx) {
		if n != before[name] {
			require.FailNow(t, fmt.Sprintf("the updater deployed a manifest that does not match its digest on node %s", name),
				"node %s runs %s (digest %s), was %s; the registry's v2 is %s; trigger answered %d %s",
				name, short(n.ContainerID), n.Digest, short(before[name].ContainerID), v2.Digest, res.Status, oneLine(res.Body, 200))
		}
	}
	rules, err := w.sb.FaultRules(ctx)
	require.NoError(t, err)
	t.Logf("scan under a corrupt manifest: answer %d %s; manifest requests the rule saw: %s", res.Status, oneLine(res.Body, 200), seenOf(rules))
	require.Len(t, rules, 1, "the rules in force")
	require.Positive(t, rules[0].Seen, "no manifest body was served through the fault proxy: the corruption was not exercised")
	require.NoError(t, w.sb.ClearFaults(ctx))
	w.touchAgain()
	requireUpdatedAfterFaults(t, ctx, w, before, v2, "the manifest was served whole again")
}

// faultWorld is a world whose registry has the fault proxy in front, and
// the context its steps run in (the fault scenarios' deadline).
func faultWorld(t testing.TB, p harness.Profile) (*world, context.Context) {
	return newWorld(t, p, worldSpec{scanFailuresExpected: true, sandbox: []harness.Option{harness.WithFaultProxy()}}), within(t, 4*time.Minute)
}

// publishUnder publishes node:stable at version, keeps every node
// untouched if why is given (why names the node and the new digest), and
// puts rule in force: the nodes before, and what was published.
func publishUnder(t testing.TB, ctx context.Context, w *world, version, rule string, why func(node, digest string) string) (map[string]nodeState, harness.Published) {
	t.Helper()
	before := w.nodes(ctx)
	pub := w.publishNode(ctx, version)
	for name := range before {
		if why != nil {
			w.keepUntouched(name, why(name, pub.Digest))
		}
	}
	require.NoError(t, w.sb.InjectFault(ctx, rule))
	return before, pub
}

// refusedThenUpdated is the whole flow of a registry that refuses the new
// version's manifests by rule: a scan while it is how, which must not
// look clean (see refusedScan), then, the fault lifted, a scan that
// updates every node (see requireUpdatedAfterFaults; after says when).
func refusedThenUpdated(t testing.TB, ctx context.Context, w *world, version, rule, how, after string) {
	t.Helper()
	before, pub := refusedScan(t, ctx, w, version, rule, how)
	requireUpdatedAfterFaults(t, ctx, w, before, pub, after)
}

// refusedScan publishes version, refuses the manifests by rule and scans:
// no node may change, the scan must not look clean, and the requests made
// while refused stay under maxRequestsPerNode per node. It lifts the rule
// before it returns the nodes before and what was published.
func refusedScan(t testing.TB, ctx context.Context, w *world, version, rule, how string) (map[string]nodeState, harness.Published) {
	t.Helper()
	p := w.profile
	before, pub := publishUnder(t, ctx, w, version, rule, func(node, _ string) string {
		return fmt.Sprintf("the updater stopped node %s while the registry was %s: it cannot have pulled %s", node, how, version)
	})
	res := w.scan(ctx)
	require.Equal(t, before, w.nodes(ctx), "nodes changed while the registry was %s", how)
	requireNodeContainers(t, ctx, w, len(before))

	rules, err := w.sb.FaultRules(ctx)
	require.NoError(t, err)
	require.Len(t, rules, 1, "the rules in force")
	seen := rules[0].Seen
	n := len(before)
	md := w.scrapeAfterScans(ctx, w.scans)
	failed, skipped, clean := w.uncheckedCounted(md, res, n)
	t.Logf("scan while the registry was %s (%s): answer %d %s; %s=%d, skipped=%d; manifest requests while %s: %d for %d nodes, at most %d within one Retry-After",
		how, rule, res.Status, oneLine(res.Body, 200), p.Metrics.Failed, failed, skipped, how, seen, n, rules[0].Burst)
	if clean {
		require.FailNow(t, fmt.Sprintf("a scan while the registry was %s looked clean", how),
			"%d nodes could not be checked, but %s = %d, skipped = %d, and the trigger answered %d: %s (the registry refused %d manifest requests)",
			n, p.Metrics.Failed, failed, skipped, res.Status, oneLine(res.Body, 200), seen)
	}
	// The nodes run one image: its manifest path is theirs together.
	bound := int64(maxRequestsPerNode * n)
	if burst := rules[0].Burst; burst > bound {
		require.FailNow(t, fmt.Sprintf("retry stampede: %d manifest requests for %d nodes within one Retry-After while the registry was %s", burst, n, how),
			"at most %d per node in a Retry-After (a digest check, the engine's pull, one retry), %d in all; the rule: %s", maxRequestsPerNode, seen, rules[0].Text)
	}
	if rules[0].Burst == 0 && seen > bound {
		require.FailNow(t, fmt.Sprintf("retry stampede: %d manifest requests for %d nodes while the registry was %s", seen, n, how),
			"at most %d per node (a digest check, the engine's pull, one retry); the rule: %s", maxRequestsPerNode, rules[0].Text)
	}
	require.NoError(t, w.sb.ClearFaults(ctx))
	w.touchAgain()
	return before, pub
}

// requireUpdatedAfterFaults scans with no fault in force: every stale
// node must be updated to what was published, and the sandbox keep its
// node count.
func requireUpdatedAfterFaults(t testing.TB, ctx context.Context, w *world, stale map[string]nodeState, v2 harness.Published, after string) {
	t.Helper()
	since := time.Now()
	w.requireScanOK(w.scan(ctx))
	for name, n := range w.requireReplaced(ctx, stale, since, saying("was not updated after "+after)) {
		require.Equal(t, v2.Digest, n.Digest, "node %s after %s", name, after)
		w.waitHealthy(ctx, name, n.ContainerID)
	}
	requireNodeContainers(t, ctx, w, len(w.cluster.Nodes()))
}

func seenOf(rules []harness.FaultRule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "%q: %d; ", r.Text, r.Seen)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func nodeDigests(nodes map[string]nodeState) string {
	var b strings.Builder
	for name, n := range nodes {
		fmt.Fprintf(&b, "%s %s %s; ", name, short(n.ContainerID), n.Digest)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// uncheckedCounted reads how a scan that could check none of its n
// nodes was counted: the updater's failed and skipped gauges (skipped 0
// for a profile without one), and whether the scan looked clean: neither
// they nor the trigger's answer count all n, and the answer is one of
// the profile's ok statuses.
func (w *world) uncheckedCounted(md metricclient.MetricData, res harness.ScanResult, n int) (failed, skipped int64, clean bool) {
	w.t.Helper()
	p := w.profile
	failed, _, err := md.GetPrometheusInteger(p.Metrics.Failed, w.updaterLabels())
	require.NoError(w.t, err, "the updater's %s", p.Metrics.Failed)
	if p.Metrics.Skipped != "" {
		skipped, _, err = md.GetPrometheusInteger(p.Metrics.Skipped, w.updaterLabels())
		require.NoError(w.t, err, "the updater's %s", p.Metrics.Skipped)
	}
	answered, inAnswer := failedInAnswer(res.Body)
	clean = int(failed+skipped) < n && !(inAnswer && answered >= n) && res.OK(p)
	return failed, skipped, clean
}
