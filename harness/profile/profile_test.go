package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShippedProfiles: every shipped profile is valid and named as it is
// listed; as JSON, it is valid against the schema and loads back equal.
// The default profile ships.
func TestShippedProfiles(t *testing.T) {
	for name, p := range Profiles() {
		require.NoError(t, p.Validate(), name)
		require.Equal(t, name, p.Name)
		b, err := json.Marshal(p)
		require.NoError(t, err)
		require.NoError(t, CheckSchema(b), name)
		back, err := Parse(b)
		require.NoError(t, err, name)
		require.Equal(t, p, back, name)
	}
	_, ok := Profiles()[Default]
	require.True(t, ok, "the default profile ships")
}

func TestProfileMissingSaysWhichCapability(t *testing.T) {
	p := Watchtower()
	require.Empty(t, p.Missing(CapScope))
	require.Equal(t, "updater profile watchtower-1.7.1 lacks health-gated-rollback, skip-busy-scan",
		p.Missing(CapScope, CapHealthGatedRollback, CapSkipBusyScan))
	require.Empty(t, Reference().Missing(CapHealthGatedRollback, CapSkipBusyScan, CapToleratesEngineChurn))
}

func TestProfileByNameUnknown(t *testing.T) {
	_, err := ByName("watchtower")
	require.EqualError(t, err, `unknown updater profile "watchtower": want one of nicholas-fedor-1.21.0, openserbia-1.12.2, openserbia-1.18.3, reference, watchtower-1.7.1, or a profile file ending in .json`)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	p, err := Load("../../examples/profiles/refupdater-port-9090.json")
	require.NoError(t, err)
	require.Equal(t, "refupdater-port-9090", p.Name)
	require.Equal(t, 9090, p.API.Port)
	require.True(t, p.Has(CapScope))

	typo := write("typo.json", `{"name": "x", "imgae": "y"}`)
	_, err = Load(typo)
	require.ErrorContains(t, err, `additional properties 'imgae' not allowed`)

	// What the schema cannot say, Validate does, naming the field.
	ref := Reference()
	ref.Trigger.BusyStatuses = []int{200}
	ref.Trigger.BusyBody = "("
	ref.DockerAPI = DockerAPI{Mode: DockerAPIInject}
	ref.Metrics.RegistryDown = CountedSkipped
	ref.Metrics.Rollbacks = ""
	ref.KnownFailures = []KnownFailure{{Scenario: "TestFullScan", Reason: "r", Link: "https://example.invalid", Match: "[a"}}
	dev := LintDeviation{Metric: "x_seconds", Text: `counter metrics should have "_total" suffix`}
	ref.MetricsLintKnown = []LintDeviation{dev, dev}
	b, err := json.Marshal(ref)
	require.NoError(t, err)
	_, err = Load(write("deps.json", string(b)))
	for _, field := range []string{"trigger.busy_statuses[0]: 200 is also an ok status", "trigger.busy_body: not a regular expression", "docker_api.env: missing", "metrics.skipped: missing", "metrics.rollbacks: missing", "known_failures[0].match: not a regular expression", "metrics_lint_known[1]: the same as metrics_lint_known[0]"} {
		require.ErrorContains(t, err, field)
	}

	// A profile built in Go is not checked against the schema: Validate
	// checks the deviations' fields too.
	ref = Reference()
	ref.MetricsLintKnown = []LintDeviation{{Metric: "9lives", Text: "t"}, {Metric: "x"}}
	err = ref.Validate()
	require.ErrorContains(t, err, `metrics_lint_known[0].metric: "9lives" is not a metric name`)
	require.ErrorContains(t, err, "metrics_lint_known[1].text: missing")

	_, err = Load(filepath.Join(dir, "absent.json"))
	require.ErrorContains(t, err, "read updater profile")
}

func TestKnownFailureMatches(t *testing.T) {
	p := Openserbia1122()
	p.KnownFailures = []KnownFailure{{Scenario: "TestFullScan", Reason: "r", Link: "https://example.invalid", Match: `requires API version 1\.44`}}
	k, ok := p.KnownFailure("TestFullScan/openserbia-1.12.2", `updater log: "specify mac-address per network" requires API version 1.44`)
	require.True(t, ok)
	require.Equal(t, "TestFullScan", k.Scenario)
	_, ok = p.KnownFailure("TestFullScanTwice", "requires API version 1.44")
	require.False(t, ok, "a scenario whose name only begins alike is another scenario")
	_, ok = p.KnownFailure("TestFullScan", "No such container")
	require.False(t, ok, "another message is another failure")
}

func TestTriggerAnswers(t *testing.T) {
	nf := NicholasFedor()
	require.True(t, nf.IsOK(200))
	require.False(t, nf.IsOK(202))
	require.True(t, nf.IsBusy(429, `{"api_version":"v1","error":"another update is already running"}`))
	require.False(t, nf.IsBusy(429, "Too Many Requests"), "the rate limiter's 429 is not a busy skip")
	require.False(t, Watchtower().IsBusy(200, ""), "watchtower's answer never says busy")
	require.Equal(t, "Bearer t", nf.API.Token.Value("t"))
	require.Equal(t, "t", Token{Header: "X-Api-Key"}.Value("t"))
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	_, ok, err := FromEnv(get)
	require.NoError(t, err)
	require.False(t, ok, "no SEATRIAL_UPDATER_IMAGE, no custom profile")

	env["SEATRIAL_UPDATER_IMAGE"] = "example/updater:dev"
	env["SEATRIAL_UPDATER_CAPABILITIES"] = "scope, monitor-only"
	p, ok, err := FromEnv(get)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "custom", p.Name)
	require.Equal(t, "example/updater:dev", p.Image)
	require.Equal(t, []Capability{CapScope, CapMonitorOnly}, p.Capabilities)

	env["SEATRIAL_UPDATER_CAPABILITIES"] = "scope,teleport"
	_, _, err = FromEnv(get)
	require.ErrorContains(t, err, `unknown capability "teleport"`)
}

// TestKnownFailuresNameScenarios: every known failure of a shipped
// profile names a scenario that exists, so a rename cannot orphan it.
func TestKnownFailuresNameScenarios(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*_test.go")
	require.NoError(t, err)
	scenarios := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllSubmatch(b, -1) {
			scenarios[string(m[1])] = true
		}
	}
	require.NotEmpty(t, scenarios)
	for name, p := range Profiles() {
		for i, k := range p.KnownFailures {
			require.True(t, scenarios[k.Scenario], "profile %s known_failures[%d]: no scenario %s", name, i, k.Scenario)
		}
	}
}

func TestRegistryAuthValidate(t *testing.T) {
	for _, tc := range []struct {
		ra   RegistryAuth
		caps []Capability
		want string // "" for valid
	}{
		{RegistryAuth{}, nil, ""},
		{RegistryAuth{Mode: RegistryAuthEnv, UserEnv: "REPO_USER", PassEnv: "REPO_PASS"}, nil, ""},
		{RegistryAuth{Mode: RegistryAuthConfigJSON}, nil, ""},
		{RegistryAuth{Mode: RegistryAuthConfigJSON, Path: "/etc/docker/config.json"}, nil, ""},
		{RegistryAuth{Mode: RegistryAuthEnv, UserEnv: "REPO_USER"}, nil, "registry_auth: mode \"env\" needs user_env and pass_env"},
		{RegistryAuth{Mode: RegistryAuthConfigJSON, Path: "/etc/creds.json"}, nil, "registry_auth.path: \"/etc/creds.json\" is not an absolute path to a file called config.json"},
		{RegistryAuth{Mode: RegistryAuthConfigJSON, UserEnv: "U"}, nil, "registry_auth: user_env and pass_env set"},
		{RegistryAuth{Path: "/config.json"}, nil, "registry_auth.mode: missing"},
		{RegistryAuth{Mode: "vault"}, nil, `registry_auth.mode: "vault" is not`},
		{RegistryAuth{}, []Capability{CapPrivateRegistry}, "registry_auth: missing: capability private-registry needs it"},
	} {
		p := Reference()
		p.RegistryAuth = tc.ra
		p.Capabilities = append([]Capability{CapScope}, tc.caps...)
		err := p.Validate()
		if tc.want == "" {
			require.NoError(t, err, "%+v", tc.ra)
			continue
		}
		require.ErrorContains(t, err, tc.want, "%+v", tc.ra)
	}
}
