package configdiff

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// inspect is a trimmed API 1.41 inspect of a node; id is its container id.
func inspect(id, env, mac, alias string) json.RawMessage {
	s := `{
	  "Id": "` + id + `", "Created": "2026-11-23T20:00:00Z", "Image": "sha256:` + id + `",
	  "State": {"Status": "running"}, "HostsPath": "/var/lib/docker/containers/` + id + `/hosts",
	  "Config": {"Hostname": "controller", "Env": ["PATH=/usr/bin", "container=docker", ` + env + `],
	             "Labels": {"io.seatrial.app.version": "` + id + `", "tier": "control"}, "MacAddress": "` + mac + `"},
	  "HostConfig": {"CapAdd": ["SYS_ADMIN", "NET_ADMIN"], "Binds": ["b:/b", "a:/a"]},
	  "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4` + id[:4] + `"}]},
	    "Networks": {"st-1-c1-front": {"Aliases": ["controller", ` + alias + `"` + id[:12] + `"], "IPAddress": "10.0.0.2",
	      "MacAddress": "02:42:0a:00:00:02", "EndpointID": "` + id + `"}}}
	}`
	return json.RawMessage(s)
}

func side(raw json.RawMessage, version string) Side {
	return Side{Inspect: raw, ImageEnv: []string{"PATH=/usr/bin", "container=docker"}, ImageLabels: map[string]string{"io.seatrial.app.version": version}}
}

func TestNothingButTheEnginesPartsChanged(t *testing.T) {
	oldID, newID := "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"
	ch, err := Diff(side(inspect(oldID, `"MODE=blue"`, "", `"api", `), oldID), side(inspect(newID, `"MODE=blue"`, "", `"api", `), newID))
	require.NoError(t, err)
	require.Empty(t, ch)
}

func TestLostEnvAliasAndPinnedMAC(t *testing.T) {
	oldID, newID := "aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"
	ch, err := Diff(side(inspect(oldID, `"MODE=blue"`, "", `"api", `), oldID), side(inspect(newID, `"OTHER=1"`, "02:42:0a:00:00:02", ``), newID))
	require.NoError(t, err)
	var lines []string
	for _, c := range ch {
		lines = append(lines, c.String())
	}
	got := strings.Join(lines, "\n")
	require.Contains(t, got, `Config.Env[MODE]: "blue" -> (missing)`)
	require.Contains(t, got, `Config.Env[OTHER]: (missing) -> "1"`)
	require.Contains(t, got, `Config.MacAddress: "" -> "02:42:0a:00:00:02"`)
	require.Contains(t, got, `NetworkSettings.Networks[st-1-c1-front].Aliases[0]: "api" -> (missing)`)
	require.Len(t, ch, 4, got)
}
