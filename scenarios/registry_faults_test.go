package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// maxRequestsPerNode bounds the manifest requests a scan may make per
// container while the registry refuses them: the updater's digest check,
// the engine's pull (a HEAD, then a GET) and one retry. An updater that
// retries at once, or keeps retrying inside one scan, makes more: the
// stampede that turns a rate limit into a ban.
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
	refusedScan(t, p, "429 retry-after=2s path=/manifests/ name=throttle", "throttled")
}

// TestRegistryFlaky: the registry answers every manifest request 503: the
// same expectations as TestRateLimited. Then, with the manifests served
// again, the first layer download is reset half way: the scan updates
// (the engine retries the download) or counts the failure, and loses or
// half-replaces no node. Last, a clean scan updates every node.
func TestRegistryFlaky(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapSurvivesFlakyRegistry}, registryFlaky)
}

func registryFlaky(t testing.TB, p harness.Profile) {
	w, before, v2 := refusedScanWorld(t, p, "503 retry-after=none path=/manifests/ name=flaky", "failing with 503")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	rule := "reset after=50% path=/blobs/ method=GET first=1 name=reset"
	require.NoError(t, w.sb.InjectFault(ctx, rule))
	res := w.scan(ctx)
	requireNodeContainers(t, ctx, w, len(before))
	rules, err := w.sb.FaultRules(ctx)
	require.NoError(t, err)
	now := w.nodes(ctx)
	t.Logf("scan with a layer download reset (%s): answer %d %s; blob GETs the rule saw: %s; nodes: %s",
		rule, res.Status, oneLine(res.Body, 200), seenOf(rules), nodeDigests(now))
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
	{
		w, before, v2 := faultedWorld(t, p, "digest mode=body path=/manifests/ name=corrupt", func(node, digest string) string {
			return fmt.Sprintf("the updater stopped node %s to deploy a manifest that does not match its digest %s (the registry's body was corrupted)", node, digest)
		})
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
		defer cancel()

		res := w.scan(ctx)
		requireNodeContainers(t, ctx, w, len(before))
		after := w.nodes(ctx)
		for name, n := range after {
			if n.ContainerID != before[name].ContainerID || n.Digest != before[name].Digest {
				require.FailNow(t, fmt.Sprintf("the updater deployed a manifest that does not match its digest on node %s", name),
					"node %s runs %s (digest %s), was %s; the registry's v2 is %s; trigger answered %d %s",
					name, short(n.ContainerID), n.Digest, short(before[name].ContainerID), v2.Digest, res.Status, oneLine(res.Body, 200))
			}
		}
		rules, err := w.sb.FaultRules(ctx)
		require.NoError(t, err)
		t.Logf("scan under a corrupt manifest: answer %d %s; manifest requests the rule saw: %s", res.Status, oneLine(res.Body, 200), seenOf(rules))
		require.NoError(t, w.sb.ClearFaults(ctx))
		w.touchAgain()
		requireUpdatedAfterFaults(t, ctx, w, before, v2, "the manifest was served whole again")
	}
}

// refusedScan runs refusedScanWorld and then a clean scan that must
// update every node.
func refusedScan(t testing.TB, p harness.Profile, rule, how string) {
	w, before, v2 := refusedScanWorld(t, p, rule, how)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	requireUpdatedAfterFaults(t, ctx, w, before, v2, "the registry stopped "+how)
}

// refusedScanWorld makes a world with the fault proxy, publishes v2,
// refuses the manifests by rule and scans: no node may change, the scan
// must not look clean, and the requests made while refused stay under
// maxRequestsPerNode per node. It lifts the rule before it returns.
func refusedScanWorld(t testing.TB, p harness.Profile, rule, how string) (*world, map[string]nodeState, harness.Published) {
	t.Helper()
	w, before, v2 := faultedWorld(t, p, rule, func(node, _ string) string {
		return fmt.Sprintf("the updater stopped node %s while the registry was %s: it cannot have pulled v2", node, how)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	res := w.scan(ctx)
	require.Equal(t, before, w.nodes(ctx), "nodes changed while the registry was %s", how)
	requireNodeContainers(t, ctx, w, len(before))

	rules, err := w.sb.FaultRules(ctx)
	require.NoError(t, err)
	require.Len(t, rules, 1, "the rules in force")
	seen := rules[0].Seen
	n := len(before)
	md := w.scrapeAfterScans(ctx, 1)
	failed, _, err := md.GetPrometheusInteger(p.Metrics.Failed, w.updaterLabels())
	require.NoError(t, err, "the updater's %s", p.Metrics.Failed)
	var skipped int64
	if p.Metrics.Skipped != "" {
		skipped, _, err = md.GetPrometheusInteger(p.Metrics.Skipped, w.updaterLabels())
		require.NoError(t, err, "the updater's %s", p.Metrics.Skipped)
	}
	answered, inAnswer := failedInAnswer(res.Body)
	t.Logf("scan while the registry was %s (%s): answer %d %s; %s=%d, skipped=%d; manifest requests while %s: %d for %d nodes",
		how, rule, res.Status, oneLine(res.Body, 200), p.Metrics.Failed, failed, skipped, how, seen, n)
	if int(failed+skipped) < n && !(inAnswer && answered >= n) && res.OK(p) {
		require.FailNow(t, fmt.Sprintf("a scan while the registry was %s looked clean", how),
			"%d nodes could not be checked, but %s = %d, skipped = %d, and the trigger answered %d: %s (the registry refused %d manifest requests)",
			n, p.Metrics.Failed, failed, skipped, res.Status, oneLine(res.Body, 200), seen)
	}
	if seen > int64(maxRequestsPerNode*n) {
		require.FailNow(t, fmt.Sprintf("retry stampede: %d manifest requests for %d nodes while the registry was %s", seen, n, how),
			"at most %d per node (a digest check, the engine's pull, one retry); the rule: %s", maxRequestsPerNode, rules[0].Text)
	}
	require.NoError(t, w.sb.ClearFaults(ctx))
	w.touchAgain()
	return w, before, v2
}

// faultedWorld makes a world whose registry has the fault proxy in front,
// publishes node v2, keeps every node untouched (why names the node and
// v2's digest) and puts rule in force: the nodes before, and v2.
func faultedWorld(t testing.TB, p harness.Profile, rule string, why func(node, digest string) string) (*world, map[string]nodeState, harness.Published) {
	t.Helper()
	w := newWorld(t, p, worldSpec{scanFailuresExpected: true, sandbox: []harness.Option{harness.WithFaultProxy()}})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	before := w.nodes(ctx)
	v2, err := w.sb.Publish(ctx, "node", "stable", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	for name := range before {
		w.keepUntouched(name, why(name, v2.Digest))
	}
	require.NoError(t, w.sb.InjectFault(ctx, rule))
	return w, before, v2
}

// requireUpdatedAfterFaults scans with no fault in force: every stale
// node must be updated to v2, and the sandbox keep its node count.
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
