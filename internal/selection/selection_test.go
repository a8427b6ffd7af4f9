package selection

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

func TestSelection(t *testing.T) {
	var all Selection
	assert.True(t, all.Has("TestFullScan", "reference", nil), "the zero selection selects everything")
	assert.Empty(t, all.Env())

	s, err := Parse("FullScan|Rollback", "/watchtower", "")
	require.NoError(t, err)
	assert.True(t, s.Has("TestFullScan", "reference", nil))
	assert.False(t, s.Has("TestFullScan", "watchtower-1.7.1", nil), "skip wins over focus")
	assert.True(t, s.Has("TestHealthGatedRollback", "reference", nil))
	assert.False(t, s.Has("TestNoOpScan", "reference", nil), "not focused")

	c, err := Parse("", "", "health-gated-rollback, scope")
	require.NoError(t, err)
	assert.True(t, c.Has("TestHealthGatedRollback", "reference", []profile.Capability{profile.CapHealthGatedRollback}))
	assert.True(t, c.Has("TestScopeIsolation", "reference", []profile.Capability{profile.CapScope, profile.CapMonitorOnly}))
	assert.False(t, c.Has("TestFullScan", "reference", nil), "a scenario that needs none of them")

	// What the CLI passes is what the test binary reads back.
	env := map[string]string{}
	for _, e := range append(s.Env(), c.Env()...) {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	back, err := FromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "FullScan|Rollback", back.Focus.String())
	assert.Equal(t, "/watchtower", back.Skip.String())
	assert.Equal(t, []profile.Capability{profile.CapHealthGatedRollback, profile.CapScope}, back.Capabilities)
}

func TestParseBadInput(t *testing.T) {
	_, err := Parse("Full(", "", "")
	assert.ErrorContains(t, err, `--focus "Full(" is not a regular expression`)
	_, err = Parse("", "[", "")
	assert.ErrorContains(t, err, `--skip "[" is not a regular expression`)
	_, err = Parse("", "", "teleport")
	assert.ErrorContains(t, err, `unknown capability "teleport": the capabilities are scope, monitor-only`)
}
