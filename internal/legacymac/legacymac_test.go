package legacymac

import (
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

func TestFromInspect(t *testing.T) {
	mac, err := FromInspect(json.RawMessage(`{"Id":"x","Config":{"Hostname":"h","MacAddress":"02:5e:a7:00:00:01"}}`))
	require.NoError(t, err)
	require.Equal(t, "02:5e:a7:00:00:01", mac)

	mac, err = FromInspect(json.RawMessage(`{"Id":"x","Config":{"Hostname":"h"}}`))
	require.NoError(t, err)
	require.Empty(t, mac, "an engine-generated MAC address is not in Config")

	_, err = FromInspect(json.RawMessage(`{"Config":`))
	require.ErrorContains(t, err, "Config.MacAddress")
}

// The create body has the Config's fields at the top (CreateRequest embeds
// Config), so MacAddress goes there, beside Image, and nothing else moves.
func TestCreateBodyCarriesTheMAC(t *testing.T) {
	b, err := createBody(client.ContainerCreateOptions{
		Config:     &container.Config{Image: "img", Env: []string{"A=1"}},
		HostConfig: &container.HostConfig{NetworkMode: "net"},
	}, "02:5e:a7:00:00:01")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, "02:5e:a7:00:00:01", m["MacAddress"])
	require.Equal(t, "img", m["Image"])
	require.Equal(t, []any{"A=1"}, m["Env"])
	require.Equal(t, "net", m["HostConfig"].(map[string]any)["NetworkMode"])
}
