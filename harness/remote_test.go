package harness_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
)

// On a remote engine (DOCKER_HOST=tcp://HOST:PORT) every address seatrial
// dials is the engine's host, not 127.0.0.1: the updater's API and the
// registry's metrics in the sandbox's labels answer from this machine, a
// version pushed from here is what the engine pulls (as localhost:P, on
// its own loopback), and a node of it boots. It runs only against a
// remote engine; CONTRIBUTING.md ("A remote engine") makes one on this
// machine, a second dockerd in a network namespace of its own.
func TestRemoteEngine(t *testing.T) {
	cli, _ := env.Get(t)
	reach := engine.ReachOf(cli.DaemonHost())
	if !reach.Remote() {
		t.Skipf("the engine at %s is local: run with DOCKER_HOST=tcp://HOST:PORT of a remote engine (CONTRIBUTING.md, \"A remote engine\")", cli.DaemonHost())
	}
	sb := newSandbox(t)
	ctx := within(t, 3*time.Minute)
	d := sb.Descriptor()
	for what, u := range map[string]string{"updater API": d.UpdaterAPI, "registry metrics": d.Registry.MetricsURL} {
		pu, err := url.Parse(u)
		require.NoError(t, err)
		require.Equal(t, reach.Host, pu.Hostname(), "%s %s: dialled at the engine's host", what, u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Registry.MetricsURL, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the registry's metrics, from this machine")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c, err := sb.StartCluster(ctx, harness.ClusterSpec{Nodes: []harness.NodeSpec{{Name: "solo"}}})
	require.NoError(t, err, "the engine pulls what this machine pushed")
	state, err := c.Nodes()[0].SystemState(ctx)
	require.NoError(t, err)
	require.Equal(t, "running", state)
}
