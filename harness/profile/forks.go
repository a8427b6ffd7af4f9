package profile

// The maintained watchtower forks, by the image references their projects
// publish (both tag the version without a "v"). Facts marked "src:" were
// read at the fork's tag; "measured" means run on Docker 20.10.24 (API
// 1.41, cgroup v1) with images built from the tagged sources, by hand and
// by the scenario suite (2026-11-23). What was not measured is said so.

// NicholasFedor is nicholas-fedor/watchtower v1.21.0.
//
// Facts from its source and measured:
//   - the scan trigger is POST /v1/update only (src: internal/api/routes/update.go:38);
//     GET and PUT answer 405 (measured);
//   - the API port is --http-api-port (default 8080; measured 9191 works);
//     endpoints are enabled with --http-api-endpoints update,metrics;
//   - a fiber rate limiter allows 60 requests a minute per client IP on
//     every route, metrics included, and answers a bare 429 (measured: 68
//     of 90 parallel scrapes refused): the profile raises it with
//     --http-api-rate-limit, and a busy answer is told from the limiter's
//     by its JSON body ("another update is already running", measured);
//   - a trigger during a scan answers 429 with Retry-After 30, but nothing
//     counts it: the busy answer registers no metric (src:
//     internal/api/handlers/update/handler.go:276-292) and
//     watchtower_scans_skipped_total counts only a nil scan report (src:
//     internal/metrics/metrics.go:322-331); measured 0, so it lacks
//     CapSkipBusyScan;
//   - a container whose registry is down counts in
//     watchtower_containers_skipped, not failed and not scanned (measured);
//   - in monitor-only, watchtower_containers_updated stays 0 (measured)
//     and the log says "Found new image" at info (measured);
//   - its client (moby/moby/client v0.5.1, floor API 1.40) negotiates;
//     DOCKER_API_VERSION=1.44 pinned on this 1.41 engine is not recovered:
//     every scan fails to list containers while the trigger answers 200
//     with scanned=0 (measured), so nothing is injected;
//   - no health-gated rollback (src: internal/actions/update.go:1541-1553
//     only warns).
//
// The scenario suite with this profile (2026-11-23, the whole suite in
// parallel, engine load average 9–18): full scan, no-op scan (1 manifest
// HEAD, 0 GET per container), monitor-only, label filters, scope
// isolation, registry down (skipped 2, failed 0) and node loss pass;
// concurrent trigger and health-gated rollback are skipped for the
// capabilities it lacks. No known failure.
//
// Not measured: whether engine churn (containers of other sandboxes
// removed during a scan) breaks its scans; it lists every container on the
// engine before filtering by scope, as 1.7.1 does, so it lacks
// CapToleratesEngineChurn until shown.
//
// Dependents, cleanup and lifecycle hooks (measured by their scenarios,
// 2026-11-23): containers in the node's network namespace and one naming
// it in depends-on are restarted in order, but one linked to it on a user
// network is not (as in 1.7.1); --cleanup removes the unused superseded
// image and keeps the one in use; the hooks run in order and 75 skips,
// but the post-check hooks run in the containers listed before the scan:
// an updated container's post-check fails with "No such container: <old
// id>" and never runs in the new one.
//
// TestMetricsLint (2026-12-06): promlint finds nothing in its /v1/metrics
// after a scan.
//
// Engine faults, through the engine proxy (2026-12-06, image built by
// hand from the v1.21.0 tag, with the two modules the Go module proxy
// refused, nicholas-fedor/shoutrrr v0.17.1 and gofiber/contrib/v3/zerolog
// v1.1.3, built from their own tags; the engine's own API is 1.41):
//   - against an engine whose minimum API is 1.44 (Docker 29) and one
//     capped at 1.41 it negotiates and works: the scan updates every node
//     (TestEngineAPIFloor): CapHandlesEngineAPIRange;
//   - a 503 and a dropped connection on the scan's container list: the
//     trigger answers 200 with scanned=0 failed=0 (the failed list is not
//     counted anywhere), the process runs on, not restarted, and the next
//     scan updates (TestEngineFlaky): CapSurvivesFlakyEngine;
//   - when the engine refuses the replacement's create or start
//     (TestRecreateRefused) it has already stopped and removed the old
//     container (stopStaleContainer, src: internal/actions/update.go:1740),
//     and it restores nothing: on a failed create only a watchtower
//     container gets its name back (update.go:2082-2129), on a failed start
//     only a watchtower's replacement is cleaned up (update.go:2141-2196).
//     Refused create: the node is gone, the log says "Updated container
//     state to failed" error="failed to create container: ..." and the
//     trigger answers failed=1. Refused start: the replacement stays
//     created, not running, under the node's name, failed=1. It counts the
//     failure but loses the node, so both variants are known failures.
//
// Against a private registry (TestPrivateRegistry, 2026-12-06, htpasswd
// basic auth and the token flow, REPO_USER/REPO_PASS): with the right
// credentials the scan updates both nodes (7 manifest requests for 2
// nodes, 5 answered 401, under basic auth; 6 and 5 under tokens); with
// wrong or missing ones it replaces nothing, fetches no blob, counts both
// containers in watchtower_containers_skipped and answers
// {"summary":{"skipped":2,...}} (manifest requests for 2 nodes: wrong 8
// under basic auth, else 0): CapPrivateRegistry.
//
// Through the registry fault proxy (2026-12-06, TLS, 2 nodes):
//   - a no-op scan costs the registry, per container, 1 manifest HEAD
//     (its own digest check), 0 GET, 0 blob GET, 1 GET /v2/, over TLS and
//     over plain HTTP alike (TestNoOpScan);
//   - under 503 on every manifest request nothing is replaced, both
//     containers count in watchtower_containers_skipped, the trigger
//     answers 200 {"summary":{"skipped":2,"scanned":0,...}}, 8 manifest
//     requests for 2 nodes; a layer download reset half way is retried
//     by the engine's pull and the scan updates both nodes; the next scan
//     after the fault updates (TestRegistryFlaky passed):
//     CapSurvivesFlakyRegistry;
//   - under 429 with Retry-After 2s nothing is replaced and the scan is
//     counted (skipped 2, the trigger answers {"summary":{"skipped":2,
//     ...}}), but its digest check retries each HEAD, honouring
//     Retry-After, up to 5 tries (ratelimit.Do, maxRetryTries, src:
//     pkg/registry/ratelimit/error.go:18): 10 manifest requests for 2
//     nodes in 8 s, at most 2 within one Retry-After, so no stampede
//     (TestRateLimited passed once the suite judged retries by the wait
//     they were asked for, not their count): CapSurvivesRateLimit;
//   - a manifest body that does not hash to its digest is deployed
//     (KNOWN, CorruptManifest): its HEAD reads the registry's
//     Docker-Content-Digest, which differs from the running one, and it
//     then pulls by tag (performImagePull, src:
//     pkg/container/image.go:687-721), which Docker 20.10 does not verify.
func NicholasFedor() Profile {
	const link = "https://github.com/nicholas-fedor/watchtower/tree/v1.21.0"
	return Profile{
		Name:  "nicholas-fedor-1.21.0",
		Image: "nickfedor/watchtower:1.21.0",
		Args: []string{"--scope", "{scope}", "--http-api-endpoints", "update,metrics", "--http-api-port", "{api_port}",
			// The rate limiter would refuse the suite's scrapes.
			"--http-api-rate-limit", "1000000", "--debug"},
		API:       watchtowerAPI(),
		Trigger:   watchtowerTrigger("POST").busyAs429(`another update is already running`),
		DockerAPI: DockerAPI{Mode: DockerAPINegotiate},
		Flags:     watchtowerFlags(),
		// Measured over plain HTTP (2026-11-23) and over TLS
		// (2026-12-06, TestNoOpScan).
		NoopScan: NoopScan{ManifestHEADs: 1, ManifestGETs: 0, PlainHTTP: &NoopScan{ManifestHEADs: 1, ManifestGETs: 0}},
		// REPO_USER and REPO_PASS, as upstream (pkg/registry/trust.go,
		// EncodedEnvAuth).
		RegistryAuth:   RegistryAuth{Mode: RegistryAuthEnv, UserEnv: "REPO_USER", PassEnv: "REPO_PASS"},
		UpdateFoundLog: `Found new image`,
		Metrics: watchtowerMetrics(func(m *Metrics) {
			m.Skipped = "watchtower_containers_skipped"
			m.RegistryDown = CountedSkipped
		}),
		Capabilities: []Capability{CapScope, CapMonitorOnly, CapLabelFilter, CapRestartsDependents, CapCleanup, CapLifecycleHooks, CapSurvivesRefusedRecreate, CapSurvivesFlakyEngine, CapHandlesEngineAPIRange, CapPrivateRegistry,
			CapSurvivesRateLimit, CapSurvivesFlakyRegistry, CapRejectsCorruptManifest},
		KnownFailures: []KnownFailure{userNetworkLinkNotRestarted(link), {
			Scenario: "TestRecreateRefused",
			Reason:   "refused create: the old container was stopped and removed before it, and nothing restores it: the node is gone (measured)",
			Link:     "https://github.com/nicholas-fedor/watchtower/blob/v1.21.0/internal/actions/update.go#L2082-L2129",
			Match:    `the updater removed node \S+ and did not recreate it`,
		}, {
			Scenario: "TestRecreateRefused",
			Reason:   "refused start: the old container was stopped and removed before the create, and the replacement is left created, not running (measured)",
			Link:     "https://github.com/nicholas-fedor/watchtower/blob/v1.21.0/internal/actions/update.go#L2141-L2196",
			Match:    `the updater replaced node \S+ with a container that is not running, and the old one is gone`,
		}, {
			Scenario: "TestLifecycleHooks",
			Reason:   "the post-check hook of an updated container runs in its old, removed container (\"No such container\") and never in the new one (measured)",
			Link:     link,
			// Exactly that: the hooked node's log ends at post-update.
			Match: `actual\s*:\s*\[\]string\{"pre-check [0-9a-f]+", "pre-update [0-9a-f]+", "post-update [0-9a-f]+"\}`,
		}, {
			Scenario: "TestCorruptManifest",
			Reason:   "its HEAD finds a new digest and it pulls by tag, which Docker 20.10 does not verify against the digest: a manifest body that does not hash to the registry's digest is pulled and deployed (measured)",
			Link:     "https://github.com/nicholas-fedor/watchtower/blob/v1.21.0/pkg/container/image.go#L687-L721",
			Match:    `to deploy a manifest that does not match its digest`,
		}},
	}
}

// userNetworkLinkNotRestarted is the known failure of the watchtower
// family's dependents: a link on a user network is not seen.
func userNetworkLinkNotRestarted(link string) KnownFailure {
	return KnownFailure{
		Scenario: "TestDependentsRestarted",
		Reason:   "a container linked to the updated one on a user network is neither stopped nor restarted: only the host config's links are read, and the engine keeps a user network's links in the endpoint (measured)",
		Link:     link,
		Match:    `dependent dep-link \(linked to it\) was never stopped`,
	}
}

// openserbia is what openserbia/watchtower 1.12.2 and 1.18.3 share.
//
// Facts from its source and measured (both versions):
//   - the trigger is /v1/update on any method (src: pkg/api/api.go:56-60;
//     measured GET, POST, PUT → 200); the listen address is
//     --http-api-host HOST:PORT (measured :9192 and :9193 work);
//   - the token must be exactly "Authorization: Bearer <t>" (a bare token
//     is refused, measured);
//   - a trigger during a scan answers 429 {"status":"skipped",…} and
//     registers no metric (src: pkg/api/update/update.go:83-89 at
//     v1.18.3); watchtower_scans_skipped counts skipped cron polls only
//     (src: cmd/root.go:480) and stays 0 (measured); the skip shows only as
//     watchtower_api_requests_total{endpoint="/v1/update",status="429"},
//     a labelled series a profile cannot name yet, so it lacks
//     CapSkipBusyScan;
//   - a container whose registry is down counts as scanned, not failed
//     (measured scanned 2, failed 0 for one healthy and one down);
//   - in monitor-only, a container with a newer image counts as updated
//     (measured updated 1, container untouched);
//   - it negotiates the API version itself (docker/docker v28.5.2 in
//     1.12.2, no floor; moby/moby/client v0.5.0 in 1.18.3, floor 1.40).
//
// Its own digest check runs only against a registry that challenges: a
// GET /v2/ answered 200 with no WWW-Authenticate, as the sandbox's
// registry answers it, ends it with "unsupported challenge type from
// registry" (src: pkg/registry/auth/auth.go:68, both versions; measured),
// and every check falls back to the engine's pull by tag. So, measured
// through the registry fault proxy (2026-12-06, TLS, 2 nodes, both
// versions):
//   - a no-op scan costs the registry, per container, 1 manifest HEAD
//     (the engine's pull), 0 GET, 0 blob GET, and 2 GET /v2/ over TLS
//     (its challenge, then the engine's), 1 over plain HTTP
//     (TestNoOpScan);
//   - under 429 with Retry-After, or 503, on every manifest request,
//     nothing is replaced and it makes 2 manifest requests per
//     container (the engine's pull; no retry of its own), but the scan
//     looks clean: "Unable to update container", the container goes to
//     the skipped list no metric exports, failed 0, and the trigger
//     answers 200 {"status":"completed","scanned":2} (KNOWN, as under
//     401 in 1.18.3);
//   - a manifest body that does not hash to its digest is deployed: the
//     engine does not verify a pull by tag (KNOWN, CorruptManifest).
//
// Not measured: engine churn (it inspects every container on the engine,
// as upstream does), so it lacks CapToleratesEngineChurn.
func openserbia(version string) Profile {
	return Profile{
		Name:      "openserbia-" + version,
		Image:     "openserbia/watchtower:" + version,
		Args:      []string{"--scope", "{scope}", "--http-api-update", "--http-api-metrics", "--http-api-host", ":{api_port}", "--debug"},
		API:       watchtowerAPI(),
		Trigger:   watchtowerTrigger("POST").busyAs429(`"status":"skipped"`),
		DockerAPI: DockerAPI{Mode: DockerAPINegotiate},
		Flags:     watchtowerFlags().withHealthGate(),
		// Measured over plain HTTP (2026-11-23) and over TLS (2026-12-06,
		// both versions; see above).
		NoopScan: NoopScan{ManifestHEADs: 1, ManifestGETs: 0, PlainHTTP: &NoopScan{ManifestHEADs: 1, ManifestGETs: 0}},
		// REPO_USER and REPO_PASS, as upstream (pkg/registry/trust.go,
		// EncodedEnvAuth), in 1.12.2 and 1.18.3.
		RegistryAuth: RegistryAuth{Mode: RegistryAuthEnv, UserEnv: "REPO_USER", PassEnv: "REPO_PASS"},
		Metrics: watchtowerMetrics(func(m *Metrics) {
			m.Rollbacks = "watchtower_rollbacks_total"
			m.RegistryDown = CountedNowhere
			m.MonitorOnlyCountsUpdated = true
		}),
		Capabilities: []Capability{CapScope, CapMonitorOnly, CapLabelFilter},
		// Measured by TestMetricsLint (2026-12-06, both versions): the one
		// promlint problem after a scan is upstream's
		// watchtower_scans_skipped without _total.
		MetricsLintKnown: []LintDeviation{scansSkippedWithoutTotal},
	}
}

// openserbiaRefusedLooksClean is the openserbia finding under a registry
// that refuses manifests with status (see openserbia); skipped links the
// version's "Unable to update container" and AddSkipped lines.
func openserbiaRefusedLooksClean(scenario, status, skipped string) KnownFailure {
	return KnownFailure{
		Scenario: scenario,
		Reason:   "a container whose pull the registry refused (" + status + ") is logged (\"Unable to update container\") and put in the session's skipped list, which no metric exports: watchtower_containers_failed stays 0 and the trigger answers 200 {\"status\":\"completed\",\"scanned\":2} (measured)",
		Link:     skipped,
		Match:    `looked clean`,
	}
}

// openserbiaCorruptDeployed is the openserbia finding under a manifest
// body that does not hash to its digest; pull links the version's
// fallback to the engine's pull by tag.
func openserbiaCorruptDeployed(pull string) KnownFailure {
	return KnownFailure{
		Scenario: "TestCorruptManifest",
		Reason:   "its own digest check gives up on a registry that does not challenge and it falls back to the engine's pull by tag, which Docker 20.10 does not verify: a manifest body that does not hash to the registry's digest is pulled and deployed (measured)",
		Link:     pull,
		Match:    `to deploy a manifest that does not match its digest`,
	}
}

// Openserbia1122 is openserbia/watchtower v1.12.2 (see openserbia).
//
// Measured, the decisive finding: on an API-1.41 engine every recreate
// fails. Its docker/docker v28.5.2 client refuses, client-side, to send
// the old container's per-endpoint MAC address below API 1.44
// (client/container_create.go:41), after the old container was stopped
// and removed (src: pkg/container/client.go:334-394): the update ends with
// the container gone and no replacement, log "\"specify mac-address per
// network\" requires API version 1.44", trigger 200 with failed=1. The
// scenarios that recreate a container list it as a known failure.
//
// The scenario suite (2026-11-23, the whole suite in parallel) confirmed
// it: full scan, label filters, scope isolation, registry down, node loss
// and health-gated rollback fail with "node controller (container …) was
// removed at … and no container replaced it before the scan's trigger
// answered", the updater's log holding the 1.44 error (KNOWN below);
// monitor-only (updated counts the stale containers) and no-op scan (no
// recreate) pass; concurrent trigger is skipped (no CapSkipBusyScan).
// Later the same day, update twice and label rules (issue 18) failed the
// same way at their first recreate (KNOWN below); the scenarios of issue
// 14 need capabilities this profile does not claim, unmeasured here since
// every recreate fails.
//
// Engine faults, through the engine proxy (2026-12-06, image built by
// hand from the v1.12.2 tag), where the MAC refusal decides again:
//   - against an engine whose minimum API is 1.44 (Docker 29) it
//     negotiates 1.44, its client sends the MAC address, and the scan
//     updates every node: it works (TestEngineAPIFloor/min-1.44 passed);
//     capped at 1.41 it negotiates 1.41 and every recreate fails as above
//     (TestEngineAPIFloor/max-1.41: "node worker-0 ... was removed ... and
//     no container replaced it", the log holding the 1.44 error). A known
//     failure names a whole scenario, and one variant passes, so it lacks
//     CapHandlesEngineAPIRange;
//   - a 503 on the scan's container list is retried (listContainersWithRetry,
//     src: pkg/container/client.go:169-194, counted in
//     watchtower_docker_api_retries_total): the trigger answers 200
//     {"status":"completed","scanned":2,"failed":2}, and the process runs
//     on, not restarted; but that scan's recreates lose every node to the
//     MAC refusal, and the scenario fails at its last scan with "node
//     controller (container …) was removed at … and no container replaced
//     it" (TestEngineFlaky). Its message holds the updater's last log
//     lines, which held the 1.44 error in one run of two, so no known
//     failure can match it reliably: it lacks CapSurvivesFlakyEngine;
//   - the engine's refusal of a replacement's create or start is never
//     reached (TestRecreateRefused): the old container is stopped and
//     removed, the client refuses the create before sending it, and the
//     node is gone, "Session done" Failed=2 (KNOWN).
//
// Registry faults (2026-12-06, see openserbia): RateLimited and
// CorruptManifest fail at their first scan, before any recreate, as in
// 1.18.3 (KNOWN below). RegistryFlaky begins with a layer download reset
// during an update, whose recreate loses the nodes to the MAC refusal
// ("node worker-0 (container …) was removed … and no container replaced
// it"); its message held none of the 1.44 error (its last log lines were
// the removals), so, as for the flaky engine, no known failure can match
// it reliably: it lacks CapSurvivesFlakyRegistry, and its 503 step is
// never reached.
//
// "Found new <image> image (<id>)" is logged at info (src:
// pkg/container/client.go:531; measured). Health-gated rollback is in its
// source (--health-check-gated, watchtower_rollbacks_total) but cannot run
// here: the recreate fails first.
func Openserbia1122() Profile {
	p := openserbia("1.12.2")
	p.UpdateFoundLog = `Found new .* image`
	// Every scenario that recreates a node: the node is removed and not
	// replaced, which the scenario sees as the engine's "No such
	// container", or the updater's own words where a wait reports them.
	const (
		reason = "recreate fails on API 1.41: the client refuses a per-network MAC address below 1.44 after the old container was removed (measured)"
		link   = "https://github.com/openserbia/watchtower/blob/v1.12.2/pkg/container/client.go#L392-L394"
		// The node found without a container, then the updater's own
		// error: neither alone is this finding.
		match = `(no container replaced it|has no container).*"specify mac-address per network\\" requires API version 1\.44`
	)
	// Its health gate is in its source (--health-check-gated,
	// watchtower_rollbacks_total), so the rollback scenario runs, and
	// fails the same way: the broken version is never created.
	// RecreateRefused runs too, and meets the same refusal; the API range
	// and the flaky engine are left out (see above).
	// PrivateRegistry (2026-12-06) fails the same way at its first scan,
	// with the right credentials, in both variants: what it does with
	// wrong or missing ones is never reached.
	p.Capabilities = append(p.Capabilities, CapHealthGatedRollback, CapSurvivesRefusedRecreate, CapPrivateRegistry, CapSurvivesRateLimit, CapRejectsCorruptManifest)
	for _, sc := range []string{"TestFullScan", "TestLabelFilters", "TestScopeIsolation", "TestRegistryDownDuringScan", "TestNodeLoss", "TestHealthGatedRollback", "TestUpdateTwice", "TestLabelRules",
		"TestRecreateRefused", "TestPrivateRegistry"} {
		p.KnownFailures = append(p.KnownFailures, KnownFailure{Scenario: sc, Reason: reason, Link: link, Match: match})
	}
	p.KnownFailures = append(p.KnownFailures,
		openserbiaRefusedLooksClean("TestRateLimited", "429", "https://github.com/openserbia/watchtower/blob/v1.12.2/internal/actions/update.go#L239-L243"),
		openserbiaCorruptDeployed("https://github.com/openserbia/watchtower/blob/v1.12.2/pkg/container/client.go#L562-L578"))
	return p
}

// Openserbia1183 is openserbia/watchtower v1.18.3 (see openserbia), its
// newest tag. Its client (moby/moby/client v0.5.0) no longer refuses the
// MAC address: update, recreate and rollback measured on 1.41.
//
// "Found new image" is logged at debug only (src:
// pkg/container/client.go:1166-1171): the profile passes --debug, without
// which monitor-only leaves no trace in the log (measured).
//
// Health-gated rollback measured by hand (failed 1, rollbacks_total 1,
// "Health check failed after updating … rolling back"); a rolled-back
// container is then skipped for an hour (src: update.go:30-33).
//
// The scenario suite (2026-11-23, the whole suite in parallel, engine load
// average 11–20): every scenario passes (health-gated rollback included)
// but concurrent trigger, skipped (no CapSkipBusyScan). No known failure.
//
// Dependents, cleanup and lifecycle hooks (measured by their scenarios,
// 2026-11-23): containers in the node's network namespace and one naming
// it in depends-on are restarted in order, but one linked to it on a user
// network is not (as in 1.7.1); the hooks run in order and 75 skips; but
// with --cleanup, the superseded image no container runs is still there
// 30 s after an HTTP-triggered scan, and the log says nothing of images.
//
// Engine faults, through the engine proxy (2026-12-06, image built by
// hand from the v1.18.3 tag; the engine's own API is 1.41):
//   - against an engine whose minimum API is 1.44 (Docker 29) and one
//     capped at 1.41 it negotiates and works: the scan updates every node
//     (TestEngineAPIFloor): CapHandlesEngineAPIRange;
//   - a 503 and a dropped connection on the scan's container list are
//     retried (listContainersWithRetry, src: pkg/container/client.go:276-301),
//     so the triggers answer 200 {"status":"completed","scanned":2,...}, the
//     first updating both nodes; the process runs on, not restarted, and
//     the next scan works (TestEngineFlaky): CapSurvivesFlakyEngine;
//   - when the engine refuses the replacement's create (409 name
//     conflict) or start (TestRecreateRefused), the old container was
//     already stopped and removed (StopContainer, src:
//     pkg/container/client.go:621), a refused create returns at once
//     (client.go:711-715) and a refused start removes the new container
//     too (cleanupPartialCreate, client.go:742-745); nothing restores the
//     old one (internal/actions/update.go:1176-1207 renames back only its
//     own container). The node is gone; the log says "Failed to start
//     container /<name> ...: Error response from daemon: ..." and "Session
//     done" Failed=1: counted, but lost, so both variants are known
//     failures.
//
// Against a private registry (TestPrivateRegistry, 2026-12-06, htpasswd
// basic auth and the token flow, REPO_USER/REPO_PASS): with the right
// credentials the scan updates both nodes (5 manifest requests for 2
// nodes, 9 answered 401, under basic auth; 4 and 9 under tokens); with
// wrong or missing ones nothing is replaced and no blob fetched, but the
// scan looks clean, as upstream's under 429: "Unable to update container
// — proceeding to next", the container goes to the skipped list, which
// no metric exports, failed 0, and the trigger answers 200
// {"status":"completed","scanned":2} (KNOWN; manifest requests for 2
// nodes: wrong 4 under basic auth, else 0).
//
// Registry faults (2026-12-06, see openserbia): a layer download reset
// half way is retried by the engine's pull and the scan updates both
// nodes (answer {"status":"completed","scanned":2,"updated":2}); under
// 429 and 503 the scan looks clean (KNOWN, RateLimited and
// RegistryFlaky); a corrupt manifest is deployed (KNOWN).
func Openserbia1183() Profile {
	p := openserbia("1.18.3")
	p.UpdateFoundLog = `Found new image`
	p.Capabilities = append(p.Capabilities, CapHealthGatedRollback, CapRestartsDependents, CapCleanup, CapLifecycleHooks, CapSurvivesRefusedRecreate, CapSurvivesFlakyEngine, CapHandlesEngineAPIRange,
		CapPrivateRegistry, CapSurvivesRateLimit, CapSurvivesFlakyRegistry, CapRejectsCorruptManifest)
	const link = "https://github.com/openserbia/watchtower/tree/v1.18.3"
	p.KnownFailures = append(p.KnownFailures, userNetworkLinkNotRestarted(link),
		KnownFailure{
			Scenario: "TestRecreateRefused",
			Reason:   "the old container is stopped and removed before its replacement is made; a refused create leaves nothing, and a replacement whose start is refused is removed too: the node is gone (measured)",
			Link:     "https://github.com/openserbia/watchtower/blob/v1.18.3/pkg/container/client.go#L711-L745",
			Match:    `the updater removed node \S+ and did not recreate it`,
		},
		KnownFailure{
			Scenario: "TestPrivateRegistry",
			Reason:   "a container whose pull the registry refused (401: wrong or missing credentials) is logged (\"Unable to update container\") and put in the session's skipped list, which no metric exports: watchtower_containers_failed stays 0 and the trigger answers 200 {\"status\":\"completed\",\"scanned\":2}",
			Link:     "https://github.com/openserbia/watchtower/blob/v1.18.3/internal/actions/update.go#L465-L473",
			Match:    `looked clean`,
		},
		KnownFailure{
			Scenario: "TestCleanupKeepsImagesInUse",
			Reason:   "with --cleanup, the superseded image no container runs is not removed after an HTTP-triggered scan (measured; not traced in its source)",
			Link:     link,
			Match:    `cleanup did not remove it`,
		},
		openserbiaRefusedLooksClean("TestRateLimited", "429", "https://github.com/openserbia/watchtower/blob/v1.18.3/internal/actions/update.go#L465-L473"),
		openserbiaRefusedLooksClean("TestRegistryFlaky", "503", "https://github.com/openserbia/watchtower/blob/v1.18.3/internal/actions/update.go#L465-L473"),
		openserbiaCorruptDeployed("https://github.com/openserbia/watchtower/blob/v1.18.3/pkg/container/client.go#L1202-L1218"))
	return p
}
