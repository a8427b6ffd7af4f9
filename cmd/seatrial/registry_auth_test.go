package main

import (
	"encoding/json"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/internal/leakcheck"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// TestUpRegistryAuthLeaksNothing: `seatrial up --registry-auth token`
// with the reference updater (which takes the credentials in a
// config.json and asks the token issuer itself), then watch, publish and
// scan, as a person would. The scan must update the node (the updater and
// the engine logged in); the credentials' file is 0600; and nothing the
// commands printed, the watch's picture, the process listing, the
// sandbox's containers' arguments, commands, labels and logs, holds the
// password (in any form it travels in) or a bearer token.
func TestUpRegistryAuthLeaksNothing(t *testing.T) {
	cli := testenv.Engine(t)
	name := newName(t)
	removeAfter(t, cli, name)

	var outputs = map[string]string{}
	r := seatrial(t, nil, "up", "--json", "--nodes", "1", "--name", name, "--profile", "reference", "--registry-auth", harness.RegistryAuthToken)
	require.Equal(t, 0, r.code, "up: %s", r.stderr)
	outputs["up's output"] = r.stdout + r.stderr
	var info upInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info), r.stdout)
	require.Equal(t, harness.RegistryAuthToken, info.RegistryAuth)
	fi, err := os.Stat(info.RegistryCredentials)
	require.NoError(t, err, "the credentials' file up names")
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(info.RegistryCredentials)
	require.NoError(t, err)
	var creds harness.RegistryCredentials
	require.NoError(t, json.Unmarshal(b, &creds))
	require.NotEmpty(t, creds.Password)
	secrets := leakcheck.Of(creds.Username, creds.Password, info.Registry)
	// The check can fail: the file it read holds the password.
	require.Equal(t, []string{"the password in the credentials' file"}, secrets.Find("the credentials' file", string(b)))

	watch := startWatch(t, bin, root, name)

	r = seatrial(t, nil, "publish", name, "node", "--behaviour", "healthy", "--version", "v2-"+name, "--json")
	require.Equal(t, 0, r.code, "publish from a reopened sandbox (its credentials from the state dir): %s", r.stderr)
	outputs["publish's output"] = r.stdout + r.stderr
	r = seatrial(t, nil, "scan", name)
	require.Equal(t, 0, r.code, "scan: %s %s", r.stdout, r.stderr)
	outputs["scan's output"] = r.stdout + r.stderr
	assert.Regexp(t, `"updated":\s*1\b`, r.stdout, "the node was updated through the private registry")

	ctx := t.Context()
	seen, err := leakcheck.Visible(ctx, cli, name)
	require.NoError(t, err, "read what the sandbox shows")
	maps.Copy(outputs, seen)
	issued := strings.Count(outputs["the log of container "+name+"-tokenissuer"], `"msg":"issued"`)
	require.Positive(t, issued, "the token issuer issued no token: the token check would prove nothing")

	watch.stop(t)
	outputs["watch's output"] = watch.out.String() + watch.err.String()
	html, err := os.ReadFile(watch.picture)
	require.NoError(t, err, "watch's picture")
	outputs["watch's picture"] = string(html)

	var leaks []string
	for where, text := range outputs {
		leaks = append(leaks, secrets.Find(where, text)...)
	}
	require.Empty(t, leaks, "credentials or tokens where anyone may read them")
	t.Logf("no credential and no token in %d places; the token issuer had issued %d tokens", len(outputs), issued)

	r = seatrial(t, nil, "down", name)
	require.Equal(t, 0, r.code, r.stderr)
	_, err = os.Stat(info.RegistryCredentials)
	assert.True(t, os.IsNotExist(err), "down removes the credentials' file with the state dir")
}
