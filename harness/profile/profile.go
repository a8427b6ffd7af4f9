// Package profile describes the updaters under test: a Profile says how to
// start an updater, trigger it, read its metrics, and what it can do. It
// imports nothing of the harness, so the sandbox descriptor (which carries
// the whole profile in a label) and the metrics server can use it.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/seatrial-dev/seatrial/internal/loadfile"
)

// Capability is something an updater can do that a scenario may need.
type Capability string

// Capabilities scenarios ask for.
const (
	// CapScope: --scope limits the updater to containers labelled with it.
	CapScope Capability = "scope"
	// CapMonitorOnly: reports an update without applying it.
	CapMonitorOnly Capability = "monitor-only"
	// CapLabelFilter: --label-enable manages only enabled containers, and
	// enable=false excludes a container without it.
	CapLabelFilter Capability = "label-filter"
	// CapHealthGatedRollback: waits for the new container's health and
	// restores the old image when it turns unhealthy.
	CapHealthGatedRollback Capability = "health-gated-rollback"
	// CapSkipBusyScan: a scan triggered while one runs is skipped, answers
	// one of trigger.busy_statuses, and is counted in metrics.scans_skipped
	// (a 429 alone is not enough: the scenario checks the count).
	CapSkipBusyScan Capability = "skip-busy-scan"
	// CapToleratesEngineChurn: containers elsewhere on the engine being
	// created or removed while a scan runs do not break the scan. An
	// updater without it reaches the engine through seatrial's engine
	// proxy, whose view shows it only its sandbox's containers
	// (harness.WithUpdaterProfile), so other sandboxes' churn cannot fail
	// its scenarios.
	CapToleratesEngineChurn Capability = "tolerates-engine-churn"
	// CapConfigPreserved: the recreated container has the old one's
	// configuration (inspect), except the image, the id, timestamps,
	// state and what the engine generates; an engine-generated MAC
	// address is not pinned, a user-set one is kept. Needs API 1.41.
	CapConfigPreserved Capability = "config-preserved"
	// CapGracefulStop: the old container is stopped with its own stop
	// signal (Config.StopSignal, not only watchtower's label) and its own
	// grace period (Config.StopTimeout), and shuts down cleanly. Needs
	// API 1.41.
	CapGracefulStop Capability = "graceful-stop"
	// CapRestartsDependents: the containers that depend on an updated one
	// (in its network namespace, named in the depends-on label, linked)
	// are stopped before it and started after it, and end up running
	// attached where they were.
	CapRestartsDependents Capability = "restarts-dependents"
	// CapCleanup: flags.cleanup removes the image an update superseded,
	// unless another container still runs it.
	CapCleanup Capability = "cleanup"
	// CapLifecycleHooks: with flags.lifecycle_hooks, the pre-check,
	// pre-update, post-update and post-check hook labels run in order, and
	// a pre-update hook that exits 75 skips its container's update.
	CapLifecycleHooks Capability = "lifecycle-hooks"
	// CapSurvivesRefusedRecreate: when the engine refuses the
	// replacement's create or start, the updater loses nothing (the old
	// container runs again, or is left stopped with its name and
	// configuration) and counts or reports the failure. Measured by
	// TestRecreateRefused through the engine proxy.
	CapSurvivesRefusedRecreate Capability = "survives-refused-recreate"
	// CapSurvivesFlakyEngine: a 503 or a dropped connection from the
	// engine in the middle of a scan neither kills nor restarts the
	// updater, and the next scan works. Measured by TestEngineFlaky.
	CapSurvivesFlakyEngine Capability = "survives-flaky-engine"
	// CapHandlesEngineAPIRange: against an engine whose API range it may
	// not speak (Docker 29's minimum of 1.44, an engine capped at 1.41)
	// the updater works, or exits at start, non-zero, naming the API
	// version, touching nothing; it never panics, dies after it served,
	// or half-updates. Measured by TestEngineAPIFloor.
	CapHandlesEngineAPIRange Capability = "handles-engine-api-range"
	// CapSurvivesRateLimit: a scan the registry throttles (429 with
	// Retry-After on manifests) does not look clean (its containers count
	// as failed or skipped, or the trigger answers an error), replaces
	// nothing, makes at most a few requests per container while throttled
	// (no retry stampede), and the next scan after the limit updates.
	// Measured by TestRateLimited through the registry fault proxy.
	CapSurvivesRateLimit Capability = "survives-rate-limit"
	// CapSurvivesFlakyRegistry: the same for 503s on manifests, and a
	// connection reset in the middle of a layer neither loses nor
	// half-replaces a node. Measured by TestRegistryFlaky.
	CapSurvivesFlakyRegistry Capability = "survives-flaky-registry"
	// CapRejectsCorruptManifest: a manifest that does not hash to its
	// digest is never deployed. Measured by TestCorruptManifest.
	CapRejectsCorruptManifest Capability = "rejects-corrupt-manifest"
	// CapPrivateRegistry: given a private registry's credentials as
	// registry_auth says, the updater updates through htpasswd basic auth
	// and the bearer token flow; with wrong or missing credentials it
	// replaces nothing, fetches no blob, and the scan does not look clean
	// (failed or skipped counts, or the trigger's answer). Measured by
	// TestPrivateRegistry.
	CapPrivateRegistry Capability = "private-registry"
)

// DefaultAPIPort is the API port a sandbox publishes when it is made
// without a profile (watchtower's hard-coded 8080).
const DefaultAPIPort = 8080

// How a scan trigger is answered, and what the updater counts where: the
// values of the enumerations below.
const (
	// DockerAPINegotiate: nothing is injected; the updater's client
	// negotiates the engine's API version itself.
	DockerAPINegotiate = "negotiate"
	// DockerAPIInject: the version this engine speaks is passed in the
	// variable DockerAPI.Env (DOCKER_API_VERSION for the Docker SDKs).
	DockerAPIInject = "inject"

	// CountedFailed: a container whose new image cannot be checked (the
	// registry is down) counts in metrics.failed.
	CountedFailed = "failed"
	// CountedSkipped: it counts in metrics.skipped, and not in failed.
	CountedSkipped = "skipped"
	// CountedNowhere: it counts neither as failed nor as skipped (it may
	// count as scanned).
	CountedNowhere = "none"
)

// API is where the updater's HTTP API listens and how it is authenticated.
type API struct {
	// Port is the API's port inside the sandbox's network namespace; the
	// sandbox publishes it on the host. "{api_port}" in args is replaced
	// by it, so the updater can be told to listen there.
	Port int `json:"port"`
	// MetricsPath serves the Prometheus exposition (GET).
	MetricsPath string `json:"metrics_path"`
	Token       Token  `json:"token"`
}

// Token says how the updater gets its API token and how requests carry it.
type Token struct {
	// Env is the variable the updater reads its token from; the token is
	// never put in args, so it does not show in process lists.
	Env string `json:"env"`
	// Header carries the token on every request ("Authorization"), after
	// Scheme and a space ("Bearer"); an empty scheme sends the bare token.
	Header string `json:"header"`
	Scheme string `json:"scheme,omitempty"`
}

// Value is the header value that carries token.
func (t Token) Value(token string) string {
	if t.Scheme == "" {
		return token
	}
	return t.Scheme + " " + token
}

// Trigger is the request that starts a scan and the answers it may get.
type Trigger struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is sent as is (empty: no body).
	Body string `json:"body,omitempty"`
	// OKStatuses are the statuses of a scan that ran.
	OKStatuses []int `json:"ok_statuses"`
	// BusyStatuses are the statuses of a trigger skipped because a scan
	// was running; empty if the updater does not say so (watchtower
	// answers 200 anyway). BusyBody, if set, is a regular expression the
	// answer's body must match too, for an updater that gives the same
	// status for something else (a rate limiter's 429).
	BusyStatuses []int  `json:"busy_statuses,omitempty"`
	BusyBody     string `json:"busy_body,omitempty"`
}

// DockerAPI says how the updater learns the engine's API version.
type DockerAPI struct {
	// Mode is DockerAPINegotiate or DockerAPIInject.
	Mode string `json:"mode"`
	// Env is the variable injected in mode "inject".
	Env string `json:"env,omitempty"`
}

// Flags turn on the updater's optional behaviour; empty if it has none.
type Flags struct {
	MonitorOnly string `json:"monitor_only,omitempty"`
	LabelEnable string `json:"label_enable,omitempty"`
	HealthGate  string `json:"health_gate,omitempty"`
	// HealthTimeout has "{timeout}" replaced by a Go duration ("45s").
	HealthTimeout string `json:"health_timeout,omitempty"`
	// Cleanup removes the images updates superseded (watchtower's
	// --cleanup).
	Cleanup string `json:"cleanup,omitempty"`
	// LifecycleHooks runs the lifecycle hook labels (watchtower's
	// --enable-lifecycle-hooks).
	LifecycleHooks string `json:"lifecycle_hooks,omitempty"`
}

// NoopScan is what a scan that finds nothing new costs the registry, per
// managed container, from the updater and the engine's pulls together,
// over the sandbox's TLS registry (the default): an updater that checks
// digests first makes a HEAD; one that falls back to a pull leaves it to
// the engine, which (Docker 20.10) also makes a HEAD and no GET for an
// image it has. PlainHTTP, if given, is the same measured against a
// plain-HTTP registry (harness.WithPlainHTTPRegistry), which the NoOpScan
// scenario then checks too.
type NoopScan struct {
	ManifestHEADs int `json:"manifest_heads"`
	ManifestGETs  int `json:"manifest_gets"`
	// PlainHTTP: the same counts over plain HTTP; nil if not measured.
	PlainHTTP *NoopScan `json:"plain_http,omitempty"`
}

// Where an updater finds the sandbox registry's CA unless its profile's
// registry_ca says otherwise.
const (
	DefaultRegistryCAPath = "/etc/seatrial/registry-ca.pem"
	DefaultRegistryCAEnv  = "SSL_CERT_FILE"
)

// RegistryCA says how the updater is made to trust the CA of a sandbox
// registry that speaks TLS (the default). The CA's PEM certificate is
// copied into the updater's container at Path, Env is set to Path, and
// "{registry_ca}" in args becomes Path. The defaults (both empty) suit a
// Go updater on Linux: crypto/x509 reads its roots from SSL_CERT_FILE, and
// so do OpenSSL-based clients.
type RegistryCA struct {
	Path string `json:"path,omitempty"`
	// Env is the variable set to the path; "-" sets none (for an updater
	// told by an argument, "{registry_ca}").
	Env string `json:"env,omitempty"`
}

// CAPath is where the CA goes in the updater's container.
func (r RegistryCA) CAPath() string {
	if r.Path == "" {
		return DefaultRegistryCAPath
	}
	return r.Path
}

// CAEnv is the variable set to CAPath, or "" for none.
func (r RegistryCA) CAEnv() string {
	switch r.Env {
	case "":
		return DefaultRegistryCAEnv
	case "-":
		return ""
	}
	return r.Env
}

// How an updater is given the credentials of a registry that wants them
// (RegistryAuth.Mode).
const (
	// RegistryAuthEnv: the user and the password in two variables
	// (watchtower's REPO_USER and REPO_PASS).
	RegistryAuthEnv = "env"
	// RegistryAuthConfigJSON: a Docker config.json with "auths" for the
	// registry, copied into the container (0600), DOCKER_CONFIG set to
	// its directory.
	RegistryAuthConfigJSON = "config_json"
	// DefaultRegistryAuthConfigPath is where the config.json goes unless
	// the profile says otherwise: where watchtower looks without
	// DOCKER_CONFIG ("/", pkg/registry/trust.go).
	DefaultRegistryAuthConfigPath = "/config.json"
)

// RegistryAuth says how the updater receives the credentials of a
// sandbox registry that wants them (harness.WithRegistryAuth): empty for
// an updater that cannot be given any. The values are secrets: they go
// into the environment or a 0600 file, never the command line.
type RegistryAuth struct {
	Mode string `json:"mode"`
	// UserEnv and PassEnv are the variables of mode "env".
	UserEnv string `json:"user_env,omitempty"`
	PassEnv string `json:"pass_env,omitempty"`
	// Path is the config.json of mode "config_json" (its name must be
	// config.json: DOCKER_CONFIG names a directory).
	Path string `json:"path,omitempty"`
}

// ConfigPath is where the config.json goes (mode config_json).
func (r RegistryAuth) ConfigPath() string {
	if r.Path == "" {
		return DefaultRegistryAuthConfigPath
	}
	return r.Path
}

// Metrics names the updater's metrics and says what it counts where.
type Metrics struct {
	Scanned    string `json:"scanned"`     // gauge: containers scanned in the last scan
	Updated    string `json:"updated"`     // gauge: containers updated in the last scan
	Failed     string `json:"failed"`      // gauge: containers that failed in the last scan
	ScansTotal string `json:"scans_total"` // counter: scans run
	// ScansSkipped counts a trigger skipped because a scan was running;
	// empty if nothing counts it (a counter of skipped *scheduled* polls
	// is not it).
	ScansSkipped string `json:"scans_skipped,omitempty"`
	// Skipped is a gauge of containers skipped in the last scan; empty
	// if the updater has none.
	Skipped string `json:"skipped,omitempty"`
	// Rollbacks counts rollbacks; empty if the updater has none.
	Rollbacks string `json:"rollbacks,omitempty"`
	// RegistryDown is where a container whose image cannot be checked
	// (its registry is down) is counted: CountedFailed, CountedSkipped or
	// CountedNowhere.
	RegistryDown string `json:"registry_down"`
	// MonitorOnlyCountsUpdated: in monitor-only, a container with a newer
	// image counts in Updated though nothing was applied.
	MonitorOnlyCountsUpdated bool `json:"monitor_only_counts_updated"`
}

// KnownFailure is a finding: a scenario that fails on this updater for a
// reason outside seatrial. The suite's summary shows a failure whose
// message matches Match as KNOWN.
type KnownFailure struct {
	// Scenario is the test's name, as `go test -run` takes it
	// ("TestFullScan").
	Scenario string `json:"scenario"`
	// Reason says in a line what the updater does wrong, with evidence.
	Reason string `json:"reason"`
	// Link points to the evidence: an issue, or the source line.
	Link string `json:"link"`
	// Match is a regular expression that the failure's message matches.
	Match string `json:"match"`
}

// Matches reports whether a failure of scenario with message msg is this
// known failure. Subtests ("TestFullScan/reference") match their parent.
func (k KnownFailure) Matches(scenario, msg string) bool {
	if scenario != k.Scenario && !strings.HasPrefix(scenario, k.Scenario+"/") {
		return false
	}
	re, err := regexp.Compile(k.Match)
	return err == nil && re.MatchString(msg)
}

// LintDeviation is a problem promlint (client_golang's
// prometheus/testutil/promlint) finds in the updater's own exposition
// that is known: the family and promlint's text, exactly as promlint
// gives them. TestMetricsLint fails on a problem the profile does not
// list, and on a listed one that no longer occurs.
type LintDeviation struct {
	Metric string `json:"metric"`
	Text   string `json:"text"`
}

// String writes the deviation as promlint's problems are written.
func (d LintDeviation) String() string { return d.Metric + ": " + d.Text }

// Profile describes an updater under test: its image, how to start and
// trigger it, where its metrics are, and what it can do. Its JSON form is
// described by profile.schema.json.
type Profile struct {
	Name string `json:"name"`
	// Image is an engine reference. Fixture, if set instead, names a
	// fixture image (harness/images) to use.
	Image   string `json:"image,omitempty"`
	Fixture string `json:"fixture,omitempty"`
	// Args are the updater's arguments. "{scope}" is replaced by the
	// sandbox id and "{api_port}" by the API port.
	Args []string `json:"args"`
	// Env is the updater's environment (besides the token and the API
	// version, see API.Token and DockerAPI).
	Env       map[string]string `json:"env,omitempty"`
	API       API               `json:"api"`
	Trigger   Trigger           `json:"trigger"`
	DockerAPI DockerAPI         `json:"docker_api"`
	Flags     Flags             `json:"flags"`
	NoopScan  NoopScan          `json:"noop_scan"`
	// RegistryCA says where the updater finds the registry's CA.
	RegistryCA RegistryCA `json:"registry_ca,omitzero"`
	// RegistryAuth says how the updater receives registry credentials.
	RegistryAuth RegistryAuth `json:"registry_auth,omitzero"`
	// UpdateFoundLog is a regular expression matching a line of the
	// updater's log that says it found a newer image: how a monitor-only
	// updater reports an update it does not apply.
	UpdateFoundLog string         `json:"update_found_log,omitempty"`
	Metrics        Metrics        `json:"metrics"`
	Capabilities   []Capability   `json:"capabilities"`
	KnownFailures  []KnownFailure `json:"known_failures,omitempty"`
	// MetricsLintKnown are the promlint problems of the updater's own
	// exposition that are known (see LintDeviation).
	MetricsLintKnown []LintDeviation `json:"metrics_lint_known,omitempty"`
}

// Named maps "metrics.<key>" to each metric name the profile gives (the
// string fields of Metrics that are set; registry_down is a mode, not a
// name).
func (m Metrics) Named() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(m)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.String || f.Name == "RegistryDown" {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name := v.Field(i).String(); name != "" {
			out["metrics."+key] = name
		}
	}
	return out
}

// IsOK reports whether status says the triggered scan ran.
func (p Profile) IsOK(status int) bool { return slices.Contains(p.Trigger.OKStatuses, status) }

// IsBusy reports whether an answer says the trigger was skipped because a
// scan was running.
func (p Profile) IsBusy(status int, body string) bool {
	if !slices.Contains(p.Trigger.BusyStatuses, status) {
		return false
	}
	if p.Trigger.BusyBody == "" {
		return true
	}
	re, err := regexp.Compile(p.Trigger.BusyBody)
	return err == nil && re.MatchString(body)
}

// KnownFailure returns the known failure a failing scenario's message
// matches, if any.
func (p Profile) KnownFailure(scenario, msg string) (KnownFailure, bool) {
	for _, k := range p.KnownFailures {
		if k.Matches(scenario, msg) {
			return k, true
		}
	}
	return KnownFailure{}, false
}

// Has reports whether the profile has capability c.
func (p Profile) Has(c Capability) bool { return slices.Contains(p.Capabilities, c) }

// Missing returns a reason to skip a scenario that needs caps, or "".
func (p Profile) Missing(caps ...Capability) string {
	var missing []string
	for _, c := range caps {
		if !p.Has(c) {
			missing = append(missing, string(c))
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("updater profile %s lacks %s", p.Name, strings.Join(missing, ", "))
}

// Watchtower is watchtower v1.7.1, the last upstream release. Facts from
// its source: the HTTP API is on :8080, hard-coded; --http-api-update
// turns periodic scans off, so scans happen only when triggered; its
// Docker client asks for API 1.25 unless DOCKER_API_VERSION says
// otherwise (set by the sandbox to what the engine speaks); /v1/update
// answers 200 also when it skipped a scan.
//
// Facts measured by the scenarios on Docker 20.10:
//   - it checks digests over https only (GetDigest, with
//     InsecureSkipVerify; its challenge GET /v2/ first, with Go's default
//     roots, so SSL_CERT_FILE: the default registry_ca), so against a
//     plain-HTTP registry it falls back to a pull. Over the sandbox's TLS
//     registry (2026-12-06) it still falls back: the challenge GET /v2/
//     now succeeds (the registry counts it, so the CA is trusted) but an
//     anonymous registry answers it 200 with no WWW-Authenticate, and
//     GetToken (pkg/registry/auth/auth.go:58) returns "unsupported
//     challenge type from registry" for anything but Basic or Bearer: its
//     own HEAD is never sent. The engine's pull of an image it already has
//     makes one manifest HEAD and no GET, so a no-op scan costs the
//     registry, per container, 1 manifest HEAD, 0 GET, 0 blob GET over TLS
//     and over plain HTTP alike; GET /v2/ is 2 over TLS (its challenge,
//     the engine's ping) and 1 over plain HTTP (the engine's only);
//   - a scan triggered over HTTP while one runs is skipped with a log line
//     only: watchtower_scans_skipped counts skipped scheduled polls, not
//     skipped HTTP triggers, so it lacks CapSkipBusyScan;
//   - a failed pull (registry down) is logged as "Unable to update
//     container" but not counted: watchtower_containers_failed stays 0, so
//     it lacks CapCountsFailedPulls;
//   - it inspects every running container on the engine, in any scope,
//     before it filters; if one is removed in between ("No such
//     container"), the scan fails, and on /v1/update the handler then
//     panics on the nil report (metrics.NewMetric, pkg/metrics/metrics.go:31)
//     and the trigger's connection ends with EOF; at start-up the same
//     race makes it exit 1. Other sandboxes' containers come and go while
//     scenarios run in parallel, so it lacks CapToleratesEngineChurn;
//   - ConfigPreserved passes (API 1.41): it recreates from the old
//     inspect's Config and HostConfig (GetCreateConfig/GetCreateHostConfig,
//     pkg/container/container.go:283,352; its docker v24 types still have
//     Config.MacAddress, so a user-set MAC is kept and a generated one is
//     not set) and every network's EndpointSettings minus the old id's
//     alias (GetNetworkConfig, pkg/container/client.go:226); so it has
//     CapConfigPreserved;
//   - GracefulStop fails, KNOWN: it stops a container with
//     ContainerKill(signal) where the signal is its stop-signal label's,
//     else SIGTERM; Config.StopSignal is never read (StopSignal,
//     pkg/container/container.go:263; StopContainer, client.go:184), and
//     it waits its own --stop-timeout (10 s), not Config.StopTimeout,
//     before removing by force. A systemd node without the label gets
//     SIGTERM (systemd re-executes itself) and is SIGKILLed 10 s later.
//   - it keeps the rules of issue 18 (2026-11-23, TestUpdateTwice and
//     TestLabelRules passed): every node is updated both times of v1 →
//     v2 → v3 with its name, host name, network aliases, labels
//     (seatrial's, the scope, an operator's own) and run configuration
//     kept; enable=false excludes a node with --label-enable off and on,
//     enable=true is managed in both, an unlabelled node only without
//     --label-enable, and a monitor-only=true node is checked, not
//     updated, in both (counted in updated: MonitorOnlyCountsUpdated).
//   - dependents (measured by DependentsRestarted): containers in the
//     node's network namespace (named by id or by name) and one naming it
//     in the depends-on label are stopped before it and recreated after
//     it, in order; but a container linked to it on a user network (the
//     sandbox's, where the engine keeps --link in the endpoint, not in the
//     host config) is neither stopped nor restarted: Links() reads only
//     HostConfig.Links. Known failure below.
//   - --cleanup (measured by CleanupKeepsImagesInUse): the superseded
//     image no container runs is removed; one another container runs is
//     kept with its name (watchtower removes by id, forced, and the engine
//     refuses that for an image a running container uses).
//   - --enable-lifecycle-hooks (measured by LifecycleHooks): pre-check,
//     pre-update, post-update, post-check run in that order, in the old
//     and then the new container; a pre-update hook exiting 75 skips the
//     container (counted as failed). Its code skips on any other non-zero
//     exit too (internal/actions/update.go, stopStaleContainer), where
//     docs/lifecycle-hooks.md says such a failure does not prevent the
//     update; the scenario tests only 75;
//   - through the engine proxy (2026-11-23), when the engine refuses the
//     replacement's create (409 name conflict, TestRecreateRefused/create)
//     it has already removed the old container: "the updater removed node
//     worker-0 and did not recreate it" (its log: "Conflict. The container
//     name ... is already in use", then "Session done Failed=1"); when it
//     refuses the start (/start), the old container is gone and the new
//     one stays created, not running. So it lacks
//     CapSurvivesRefusedRecreate;
//   - a 503 and a dropped connection on the scan's container list are
//     logged, the trigger answers 200, the process runs on (no restart),
//     and the next scan updates (TestEngineFlaky): CapSurvivesFlakyEngine;
//   - against an engine whose minimum API is 1.44 (Docker 29; the engine
//     proxy, 2026-12-06) it exits 1 at start, before serving, with the
//     engine's own words: "Error response from daemon: client version
//     1.41 is too old. Minimum supported API version is 1.44" (it sends
//     the DOCKER_API_VERSION it is given, else 1.25, and never
//     negotiates). That is a clear refusal; under a restart policy it is
//     the crash loop users of Docker 29 report. Capped at 1.41 it works
//     (TestEngineAPIFloor): CapHandlesEngineAPIRange;
//   - through the registry fault proxy (2026-12-06): under 429 (with
//     Retry-After) or 503 on every manifest request, nothing is replaced
//     and it makes 2 manifest requests per container (the engine's pull;
//     no retry), but the scan looks clean: failed 0, no skipped metric,
//     /v1/update 200 with an empty body (KNOWN, RateLimited and
//     RegistryFlaky); the next scan after the fault updates. A layer
//     download reset half way is retried by the engine's pull and the
//     scan updates every node (RegistryFlaky). A manifest
//     body that does not hash to its digest is deployed (KNOWN,
//     CorruptManifest): it never checks digests itself here, and the
//     engine does not verify a pull by tag.
//   - against a private registry (TestPrivateRegistry, 2026-12-06, htpasswd
//     basic auth and the token flow, credentials in REPO_USER/REPO_PASS):
//     with the right credentials every node is updated, but only through
//     its fallback to the engine's pull: its own digest check sends
//     "Basic " and the base64 of the engine's AuthConfig JSON as if it
//     were user:password, to the registry and to the token realm alike
//     (pkg/registry/auth/auth.go, GetToken and GetBearerHeader), so the
//     HEAD is refused (for 2 nodes: 7 manifest requests, 5 answers 401
//     under basic auth; 6 and 5 under tokens). With wrong or missing
//     credentials the pull is refused too ("Unable to update container
//     ... unauthorized"), and the scan looks clean: failed 0, /v1/update
//     200 with an empty body (KNOWN, as under 429); no node replaced, no
//     blob fetched (manifest requests for 2 nodes: wrong 6 under basic
//     auth, 2 under tokens; missing 0 under basic auth, where it gives up
//     on "no credentials available" and the engine's pull stops at
//     GET /v2/, 2 under tokens).
func Watchtower() Profile {
	return Profile{
		Name:      "watchtower-1.7.1",
		Fixture:   "watchtower",
		Args:      []string{"--scope", "{scope}", "--http-api-update", "--http-api-metrics", "--debug"},
		API:       watchtowerAPI(),
		Trigger:   watchtowerTrigger("GET"),
		DockerAPI: DockerAPI{Mode: DockerAPIInject, Env: "DOCKER_API_VERSION"},
		Flags:     watchtowerFlags(),
		NoopScan:  NoopScan{ManifestHEADs: 1, ManifestGETs: 0, PlainHTTP: &NoopScan{ManifestHEADs: 1, ManifestGETs: 0}},
		// REPO_USER and REPO_PASS (docs/usage-overview.md), read first
		// (pkg/registry/trust.go, EncodedAuth); its other way, a
		// config.json in "/" or DOCKER_CONFIG (docs/private-registries.md),
		// is the reference's.
		RegistryAuth: RegistryAuth{Mode: RegistryAuthEnv, UserEnv: "REPO_USER", PassEnv: "REPO_PASS"},
		// "Found new <image> image (<id>)", at info (pkg/container/client.go).
		UpdateFoundLog: `Found new .* image`,
		Metrics: watchtowerMetrics(func(m *Metrics) {
			// watchtower_scans_skipped exists but counts skipped
			// scheduled polls only, so it is not named here.
			m.RegistryDown = CountedNowhere
			// updated = len(Updated)+len(Stale) (pkg/metrics/metrics.go:33);
			// measured by the monitor-only scenario.
			m.MonitorOnlyCountsUpdated = true
		}),
		Capabilities: []Capability{CapScope, CapMonitorOnly, CapLabelFilter, CapConfigPreserved, CapGracefulStop, CapRestartsDependents, CapCleanup, CapLifecycleHooks, CapSurvivesFlakyEngine, CapHandlesEngineAPIRange,
			CapSurvivesRateLimit, CapSurvivesFlakyRegistry, CapRejectsCorruptManifest, CapPrivateRegistry},
		KnownFailures: []KnownFailure{{
			Scenario: "TestGracefulStop",
			Reason:   "stops with its stop-signal label's signal, else SIGTERM, never the container's own Config.StopSignal, and waits its own 10 s, not Config.StopTimeout",
			Link:     "https://github.com/containrrr/watchtower/blob/v1.7.1/pkg/container/client.go#L184-L202",
			Match:    `first sent SIGTERM \(15\), not its own stop signal`,
		},
			// Links() reads HostConfig.Links only.
			userNetworkLinkNotRestarted("https://github.com/containrrr/watchtower/blob/v1.7.1/pkg/container/container.go#L191-L195"),
			refusedRegistryLooksClean("TestRateLimited", "429"),
			refusedRegistryLooksClean("TestRegistryFlaky", "503"),
			refusedRegistryLooksClean("TestPrivateRegistry", "401"),
			{
				Scenario: "TestCorruptManifest",
				Reason:   "it falls back to the engine's pull by tag, and Docker 20.10 verifies a manifest against its digest only on a pull by digest: a manifest body that does not hash to the registry's digest is pulled and deployed",
				Link:     "https://github.com/containrrr/watchtower/blob/v1.7.1/pkg/container/client.go#L352-L407",
				Match:    `to deploy a manifest that does not match its digest`,
			},
		},
		// Measured by TestMetricsLint (2026-12-06): promlint finds one
		// problem in /v1/metrics after a scan, the counter
		// watchtower_scans_skipped without _total (pkg/metrics/metrics.go).
		MetricsLintKnown: []LintDeviation{scansSkippedWithoutTotal},
	}
}

// scansSkippedWithoutTotal is the watchtower family's promlint finding:
// its counter of skipped scans is named watchtower_scans_skipped, without
// the _total a counter's name ends with.
var scansSkippedWithoutTotal = LintDeviation{Metric: "watchtower_scans_skipped", Text: `counter metrics should have "_total" suffix`}

// refusedRegistryLooksClean is watchtower 1.7.1's finding under a registry
// that refuses manifests with status: its own digest check has already
// fallen back, the engine's pull fails, and the container is put in the
// session report's skipped list (progress.AddSkipped), which no metric
// exports; watchtower_containers_failed stays 0 and /v1/update answers
// 200 with an empty body (measured 2026-12-06: 2 manifest requests per
// container while refused, no stampede).
func refusedRegistryLooksClean(scenario, status string) KnownFailure {
	return KnownFailure{
		Scenario: scenario,
		Reason:   "a container whose pull the registry refused (" + status + ") is logged (\"Unable to update container\") and put in the session's skipped list, which no metric exports: watchtower_containers_failed stays 0 and /v1/update answers 200 with an empty body",
		Link:     "https://github.com/containrrr/watchtower/blob/v1.7.1/internal/actions/update.go#L52-L56",
		Match:    `looked clean`,
	}
}

// Reference is seatrial's reference updater (fixtures/refupdater), a
// stand-in for what the maintained forks promise: it implements every
// capability the scenarios test, on any API port, and negotiates the
// engine's API version. It checks digests itself (HEAD) and pulls only
// what changed; for a loopback registry it asks in plain HTTP first and
// in https when answered as a TLS server answers a plain request (400,
// which the registry does not count), trusting SSL_CERT_FILE. Measured
// 2026-12-06 (TestNoOpScan): a no-op scan costs the registry, per
// container, 1 manifest HEAD, 0 GET, 0 blob GET, 0 GET /v2/, over TLS and
// over plain HTTP alike. It pulls the digest it checked and tags it (the
// engine verifies only a pull by digest), so a corrupt manifest fails the
// pull (CorruptManifest: failed 2 of 2). Under 429 or 503 on manifests it
// makes 1 request per container, counts each in failed and answers
// {"failed":N}; a reset layer download is retried by the engine and the
// scan updates (RateLimited, RegistryFlaky). Against a private registry
// (PrivateRegistry, 2026-12-06; credentials in a config.json) it logs in
// by basic auth or asks the token issuer with its credentials, and updates
// every node (for 2 nodes: 7 manifest requests, 5 answered 401, the
// challenges it and the engine meet first); with wrong or missing
// credentials it counts each container failed and answers {"failed":2},
// replaces nothing and fetches no blob (manifest requests for 2 nodes:
// wrong 4 under basic auth, its HEAD and the retry with credentials; 2
// otherwise, the token issuer refusing before a retry).
func Reference() Profile {
	return Profile{
		Name:      "reference",
		Fixture:   "refupdater",
		Args:      []string{"--scope", "{scope}", "--http-api-update", "--http-api-metrics", "--http-api-addr", ":{api_port}", "--debug"},
		API:       watchtowerAPI(),
		Trigger:   watchtowerTrigger("GET").busyAs429(""),
		DockerAPI: DockerAPI{Mode: DockerAPINegotiate},
		Flags:     watchtowerFlags().withHealthGate(),
		NoopScan:  NoopScan{ManifestHEADs: 1, ManifestGETs: 0, PlainHTTP: &NoopScan{ManifestHEADs: 1, ManifestGETs: 0}},
		// A config.json with "auths", DOCKER_CONFIG its directory, read
		// as watchtower reads it (fixtures/refupdater/updater/credentials.go);
		// watchtower's profile takes the other way, REPO_USER/REPO_PASS, so
		// the suite passes credentials both ways.
		RegistryAuth:   RegistryAuth{Mode: RegistryAuthConfigJSON, Path: DefaultRegistryAuthConfigPath},
		UpdateFoundLog: `update available`,
		Metrics: watchtowerMetrics(func(m *Metrics) {
			m.ScansSkipped = "watchtower_scans_skipped"
			m.Rollbacks = "watchtower_rollbacks_total"
			m.RegistryDown = CountedFailed
		}),
		Capabilities: []Capability{CapScope, CapMonitorOnly, CapLabelFilter, CapHealthGatedRollback, CapSkipBusyScan, CapToleratesEngineChurn,
			CapConfigPreserved, CapGracefulStop, CapRestartsDependents, CapCleanup, CapLifecycleHooks, CapSurvivesRefusedRecreate, CapSurvivesFlakyEngine, CapHandlesEngineAPIRange,
			CapSurvivesRateLimit, CapSurvivesFlakyRegistry, CapRejectsCorruptManifest, CapPrivateRegistry},
		// Measured by TestMetricsLint (2026-12-06): the one promlint
		// problem is the name it keeps from the openserbia fork
		// (fixtures/refupdater/updater/metrics.go).
		MetricsLintKnown: []LintDeviation{scansSkippedWithoutTotal},
	}
}

// Profiles returns the profiles that ship, by name.
func Profiles() map[string]Profile {
	return map[string]Profile{
		"watchtower-1.7.1":      Watchtower(),
		"reference":             Reference(),
		"nicholas-fedor-1.21.0": NicholasFedor(),
		"openserbia-1.12.2":     Openserbia1122(),
		"openserbia-1.18.3":     Openserbia1183(),
	}
}

// Default is the profile used when none is named.
const Default = "watchtower-1.7.1"

// ByName returns a shipped profile, or a profile read from a file
// when name is a path ending in .json.
func ByName(name string) (Profile, error) {
	if strings.HasSuffix(name, ".json") {
		return Load(name)
	}
	if p, ok := Profiles()[name]; ok {
		return p, nil
	}
	names := make([]string, 0)
	for n := range Profiles() {
		names = append(names, n)
	}
	sort.Strings(names)
	return Profile{}, fmt.Errorf("unknown updater profile %q: want one of %s, or a profile file ending in .json", name, strings.Join(names, ", "))
}

// Load reads a custom profile from a JSON file (see Parse).
func Load(path string) (Profile, error) { return loadfile.Parse(path, "updater profile", Parse) }

// Parse reads a profile from JSON and validates it, first against the
// schema (profile.schema.json), then with Validate. Unknown fields are an
// error, so a typo does not silently fall back to a default.
func Parse(b []byte) (Profile, error) {
	if err := CheckSchema(b); err != nil {
		return Profile{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return Profile{}, err
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// FromEnv builds a custom profile from SEATRIAL_UPDATER_* variables,
// starting from the watchtower profile's shape: SEATRIAL_UPDATER_IMAGE
// (required), SEATRIAL_UPDATER_NAME, SEATRIAL_UPDATER_CAPABILITIES (comma
// separated). ok is false if SEATRIAL_UPDATER_IMAGE is not set.
func FromEnv(getenv func(string) string) (p Profile, ok bool, err error) {
	img := getenv("SEATRIAL_UPDATER_IMAGE")
	if img == "" {
		return Profile{}, false, nil
	}
	p = Watchtower()
	p.Fixture = ""
	p.Image = img
	p.Name = "custom"
	if n := getenv("SEATRIAL_UPDATER_NAME"); n != "" {
		p.Name = n
	}
	if caps := getenv("SEATRIAL_UPDATER_CAPABILITIES"); caps != "" {
		p.Capabilities = nil
		for _, c := range strings.Split(caps, ",") {
			p.Capabilities = append(p.Capabilities, Capability(strings.TrimSpace(c)))
		}
	}
	if err := p.Validate(); err != nil {
		return Profile{}, true, fmt.Errorf("updater profile from SEATRIAL_UPDATER_*: %w", err)
	}
	return p, true, nil
}

var knownCaps = []Capability{CapScope, CapMonitorOnly, CapLabelFilter, CapHealthGatedRollback, CapSkipBusyScan, CapToleratesEngineChurn, CapConfigPreserved, CapGracefulStop,
	CapRestartsDependents, CapCleanup, CapLifecycleHooks, CapSurvivesRefusedRecreate, CapSurvivesFlakyEngine, CapHandlesEngineAPIRange,
	CapSurvivesRateLimit, CapSurvivesFlakyRegistry, CapRejectsCorruptManifest, CapPrivateRegistry}

// Capabilities returns every capability a profile may name.
func Capabilities() []Capability { return slices.Clone(knownCaps) }

// Validate says what is missing or wrong in a profile, naming each field
// by its JSON path. It checks what the schema cannot: how fields depend on
// each other, and that regular expressions compile.
func (p Profile) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if p.Name == "" {
		bad("name", "missing")
	}
	if (p.Image == "") == (p.Fixture == "") {
		bad("image", "give exactly one of image (an engine reference) and fixture")
	}
	if p.API.Port <= 0 || p.API.Port > 65535 {
		bad("api.port", "%d is not a port", p.API.Port)
	}
	if !strings.HasPrefix(p.API.MetricsPath, "/") {
		bad("api.metrics_path", "%q is not an absolute path", p.API.MetricsPath)
	}
	if p.API.Token.Env == "" {
		bad("api.token.env", "missing (the variable the updater reads its API token from)")
	}
	if p.API.Token.Header == "" {
		bad("api.token.header", "missing (the request header that carries the token, e.g. Authorization)")
	}
	if !slices.Contains(methods, p.Trigger.Method) {
		bad("trigger.method", "%q is not one of %s", p.Trigger.Method, strings.Join(methods, ", "))
	}
	if !strings.HasPrefix(p.Trigger.Path, "/") {
		bad("trigger.path", "%q is not an absolute path", p.Trigger.Path)
	}
	if len(p.Trigger.OKStatuses) == 0 {
		bad("trigger.ok_statuses", "missing (the statuses of a scan that ran, e.g. [200])")
	}
	for i, st := range p.Trigger.BusyStatuses {
		if slices.Contains(p.Trigger.OKStatuses, st) {
			bad(fmt.Sprintf("trigger.busy_statuses[%d]", i), "%d is also an ok status: a busy answer must be told apart from a scan that ran (leave busy_statuses out if the updater answers the same)", st)
		}
	}
	regexps := map[string]string{"trigger.busy_body": p.Trigger.BusyBody, "update_found_log": p.UpdateFoundLog}
	for i, k := range p.KnownFailures {
		regexps[fmt.Sprintf("known_failures[%d].match", i)] = k.Match
	}
	for field, re := range regexps {
		if _, err := regexp.Compile(re); err != nil {
			bad(field, "not a regular expression: %v", err)
		}
	}
	seenLint := map[LintDeviation]int{}
	for i, d := range p.MetricsLintKnown {
		field := fmt.Sprintf("metrics_lint_known[%d]", i)
		switch {
		case !metricName.MatchString(d.Metric):
			bad(field+".metric", "%q is not a metric name", d.Metric)
		case d.Text == "":
			bad(field+".text", "missing (promlint's text of the problem, as TestMetricsLint prints it)")
		}
		if j, dup := seenLint[d]; dup {
			bad(field, "the same as metrics_lint_known[%d]", j)
		}
		seenLint[d] = i
	}
	switch p.DockerAPI.Mode {
	case DockerAPINegotiate:
		if p.DockerAPI.Env != "" {
			bad("docker_api.env", "set, but mode %q injects nothing", DockerAPINegotiate)
		}
	case DockerAPIInject:
		if p.DockerAPI.Env == "" {
			bad("docker_api.env", "missing: mode %q needs the variable to inject (e.g. DOCKER_API_VERSION)", DockerAPIInject)
		}
	default:
		bad("docker_api.mode", "%q is not %q or %q", p.DockerAPI.Mode, DockerAPINegotiate, DockerAPIInject)
	}
	if ca := p.RegistryCA.Path; ca != "" && !strings.HasPrefix(ca, "/") {
		bad("registry_ca.path", "%q is not an absolute path", ca)
	}
	switch ra := p.RegistryAuth; ra.Mode {
	case "":
		if ra != (RegistryAuth{}) {
			bad("registry_auth.mode", "missing (%q or %q)", RegistryAuthEnv, RegistryAuthConfigJSON)
		}
	case RegistryAuthEnv:
		if ra.UserEnv == "" || ra.PassEnv == "" {
			bad("registry_auth", "mode %q needs user_env and pass_env (e.g. REPO_USER, REPO_PASS)", RegistryAuthEnv)
		}
		if ra.Path != "" {
			bad("registry_auth.path", "set, but mode %q takes no file", RegistryAuthEnv)
		}
	case RegistryAuthConfigJSON:
		if ra.UserEnv != "" || ra.PassEnv != "" {
			bad("registry_auth", "user_env and pass_env set, but mode %q takes a file", RegistryAuthConfigJSON)
		}
		if c := ra.ConfigPath(); !strings.HasPrefix(c, "/") || !strings.HasSuffix(c, "/config.json") {
			bad("registry_auth.path", "%q is not an absolute path to a file called config.json (DOCKER_CONFIG names its directory)", c)
		}
	default:
		bad("registry_auth.mode", "%q is not %q or %q", ra.Mode, RegistryAuthEnv, RegistryAuthConfigJSON)
	}
	if p.Has(CapPrivateRegistry) && p.RegistryAuth.Mode == "" {
		bad("registry_auth", "missing: capability %s needs it", CapPrivateRegistry)
	}
	if p.NoopScan.ManifestHEADs < 0 || p.NoopScan.ManifestGETs < 0 {
		bad("noop_scan", "request counts cannot be negative")
	}
	if h := p.NoopScan.PlainHTTP; h != nil {
		if h.ManifestHEADs < 0 || h.ManifestGETs < 0 {
			bad("noop_scan.plain_http", "request counts cannot be negative")
		}
		if h.PlainHTTP != nil {
			bad("noop_scan.plain_http.plain_http", "not allowed: plain_http holds the plain-HTTP counts only")
		}
	}
	m := p.Metrics
	for field, v := range map[string]string{"metrics.scanned": m.Scanned, "metrics.updated": m.Updated, "metrics.failed": m.Failed, "metrics.scans_total": m.ScansTotal} {
		if v == "" {
			bad(field, "missing")
		}
	}
	switch m.RegistryDown {
	case CountedFailed, CountedNowhere:
	case CountedSkipped:
		if m.Skipped == "" {
			bad("metrics.skipped", "missing: metrics.registry_down is %q", CountedSkipped)
		}
	default:
		bad("metrics.registry_down", "%q is not %q, %q or %q", m.RegistryDown, CountedFailed, CountedSkipped, CountedNowhere)
	}
	for i, c := range p.Capabilities {
		if !slices.Contains(knownCaps, c) {
			bad(fmt.Sprintf("capabilities[%d]", i), "unknown capability %q (known: %v)", c, knownCaps)
		}
	}
	if p.Has(CapHealthGatedRollback) {
		if p.Flags.HealthGate == "" {
			bad("flags.health_gate", "missing: capability %s needs it", CapHealthGatedRollback)
		}
		if m.Rollbacks == "" {
			bad("metrics.rollbacks", "missing: capability %s needs it", CapHealthGatedRollback)
		}
	}
	if p.Has(CapMonitorOnly) {
		if p.Flags.MonitorOnly == "" {
			bad("flags.monitor_only", "missing: capability %s needs it", CapMonitorOnly)
		}
		if p.UpdateFoundLog == "" {
			bad("update_found_log", "missing: capability %s needs it", CapMonitorOnly)
		}
	}
	if p.Has(CapCleanup) && p.Flags.Cleanup == "" {
		bad("flags.cleanup", "missing: capability %s needs it", CapCleanup)
	}
	if p.Has(CapLifecycleHooks) && p.Flags.LifecycleHooks == "" {
		bad("flags.lifecycle_hooks", "missing: capability %s needs it", CapLifecycleHooks)
	}
	if p.Has(CapLabelFilter) && p.Flags.LabelEnable == "" {
		bad("flags.label_enable", "missing: capability %s needs it", CapLabelFilter)
	}
	if p.Has(CapSkipBusyScan) {
		if m.ScansSkipped == "" {
			bad("metrics.scans_skipped", "missing: capability %s needs the counter of skipped triggers", CapSkipBusyScan)
		}
		if len(p.Trigger.BusyStatuses) == 0 {
			bad("trigger.busy_statuses", "missing: capability %s needs the statuses of a skipped trigger", CapSkipBusyScan)
		}
	}
	return errors.Join(errs...)
}

// metricName is the schema's metric name ($defs/metric).
var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// methods are the trigger methods a profile may name.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut}

// watchtowerAPI is the HTTP API every watchtower-family updater shipped
// here serves by default: port 8080, metrics at /v1/metrics, the token from
// WATCHTOWER_HTTP_API_TOKEN sent as "Authorization: Bearer".
func watchtowerAPI() API {
	return API{
		Port:        DefaultAPIPort,
		MetricsPath: "/v1/metrics",
		Token:       Token{Env: "WATCHTOWER_HTTP_API_TOKEN", Header: "Authorization", Scheme: "Bearer"},
	}
}

// watchtowerTrigger is the watchtower family's scan trigger: method on
// /v1/update, 200 for a scan that ran.
func watchtowerTrigger(method string) Trigger {
	return Trigger{Method: method, Path: "/v1/update", OKStatuses: []int{200}}
}

// busyAs429 is t for an updater that answers 429 to a trigger that came
// while a scan ran; body, if not empty, is what tells that answer from a
// rate limiter's 429 (see BusyBody).
func (t Trigger) busyAs429(body string) Trigger {
	t.BusyStatuses = []int{http.StatusTooManyRequests}
	t.BusyBody = body
	return t
}

// watchtowerFlags are the watchtower family's monitor-only and label
// filter flags.
func watchtowerFlags() Flags {
	return Flags{MonitorOnly: "--monitor-only", LabelEnable: "--label-enable",
		Cleanup: "--cleanup", LifecycleHooks: "--enable-lifecycle-hooks"}
}

// withHealthGate is f for a fork with watchtower's health-gated rollback
// flags (the reference updater has the same).
func (f Flags) withHealthGate() Flags {
	f.HealthGate = "--health-check-gated"
	f.HealthTimeout = "--health-check-timeout={timeout}"
	return f
}

// watchtowerMetrics is the watchtower family's four common series, with
// what each updater adds or counts differently set by with.
func watchtowerMetrics(with func(*Metrics)) Metrics {
	m := Metrics{
		Scanned:    "watchtower_containers_scanned",
		Updated:    "watchtower_containers_updated",
		Failed:     "watchtower_containers_failed",
		ScansTotal: "watchtower_scans_total",
	}
	with(&m)
	return m
}
