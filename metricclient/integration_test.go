package metricclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// TestIntegration runs the real server process against the real engine with
// two sandboxes' worth of labelled containers: real registries, a node-like
// container, and an updater whose API never answers.
func TestIntegration(t *testing.T) {
	cli := testenv.Engine(t)
	c := newServerClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	set, err := images.Ensure(ctx, cli, images.Only(images.Registry))
	require.NoError(t, err)
	reg, err := set.Get(images.Registry)
	require.NoError(t, err)
	owner, err := labels.Self(labels.OwnerProcess)
	require.NoError(t, err)

	// An updater API that accepts the connection and never answers.
	hanging := testenv.HangingServer(t)

	// The labels are the descriptor encoder's, as the harness writes them.
	sb1, sb2 := sandboxID(t), sandboxID(t)
	now := time.Now().UTC().Truncate(time.Second)
	created := now.Format(time.RFC3339)
	d1 := &descriptor.Sandbox{ID: sb1, Owner: owner, Created: now, UpdaterAPI: "http://127.0.0.1:1"}
	d2 := &descriptor.Sandbox{ID: sb2, Owner: owner, Created: now, UpdaterAPI: hanging.URL}

	// Each sandbox's registry, with its API and debug listener on loopback
	// host ports chosen here, since the labels must name them at create
	// time.
	api1, dbg1 := runRegistry(t, ctx, cli, reg.Ref, d1)
	api2, _ := runRegistry(t, ctx, cli, reg.Ref, d2)

	// A node-like container in sandbox 1 (the registry image is what this
	// engine has; what runs in it does not matter here).
	node := d1.NodeLabels(descriptor.Cluster{Name: "c1", Image: reg.Ref}, "worker-0")
	runContainer(t, ctx, cli, &container.Config{Image: reg.Ref, Labels: node}, &container.HostConfig{}, true)

	// Sandbox 2's updater hangs. It is created and not started: the server
	// finds sandboxes from containers in every state.
	hangingProfile := profile.Reference()
	hangingProfile.Name = "hanging"
	upd, err := d2.UpdaterLabels(descriptor.Updater{Profile: hangingProfile})
	require.NoError(t, err)
	runContainer(t, ctx, cli, &container.Config{Image: reg.Ref, Labels: upd}, &container.HostConfig{}, false)

	// Registry traffic that tells the sandboxes apart: 3 GET /v2/ on the
	// first, 1 on the second.
	waitGet(t, ctx, api1+"/v2/")
	get(t, ctx, api1+"/v2/")
	get(t, ctx, api1+"/v2/")
	waitGet(t, ctx, api2+"/v2/")
	waitGet(t, ctx, dbg1+"/metrics")

	// The target deadline leaves room for the engine's one-shot stats,
	// which can take up to its one-second collection tick.
	const targetTimeout, scrapeTimeout = 3 * time.Second, 6 * time.Second
	require.NoError(t, c.SpawnServer(ctx, "-v",
		"--target-timeout", targetTimeout.String(), "--scrape-timeout", scrapeTimeout.String()))
	pid := c.ServerPID()

	m, err := c.GetMetrics(ctx, map[string]string{"max_staleness": "0s"})
	require.NoError(t, err)
	// The hanging updater fails its own target at its deadline; the
	// scrape goes on and serves everything else (how long that takes is
	// the server benchmark's business, not this test's).
	up, _, err := m.GetPrometheusInteger("seatrial_target_up", map[string]string{LabelSandbox: sb2, LabelSource: SourceUpdater})
	require.NoError(t, err)
	assert.EqualValues(t, 0, up, "the hanging updater's target is down")
	up, _, err = m.GetPrometheusInteger("seatrial_target_up", map[string]string{LabelSandbox: sb1, LabelSource: SourceRegistry})
	require.NoError(t, err)
	assert.EqualValues(t, 1, up, "sandbox 1's registry target is up")

	base200 := map[string]string{"handler": "base", "code": "200", "method": "get", LabelSource: SourceRegistry}
	v, _, err := m.GetPrometheusContainerInteger(WantMetric{Metric: "registry_http_requests_total", Sandbox: sb1, ExtraLabels: base200})
	require.NoError(t, err)
	assert.EqualValues(t, 3, v)
	v, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "registry_http_requests_total", Sandbox: sb2, ExtraLabels: base200})
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)

	md, err := m.GetSandboxMetadataMetric(WantMetric{Sandbox: sb1})
	require.NoError(t, err)
	assert.Equal(t, created, md["created"])
	assert.Equal(t, d1.Registry.Addr, md["registry"])
	md, err = m.GetSandboxMetadataMetric(WantMetric{Sandbox: sb2})
	require.NoError(t, err)
	assert.Equal(t, "hanging", md["updater"])
	assert.Equal(t, reg.Ref, md["updater_image"])

	v, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "seatrial_container_running", Sandbox: sb1, Cluster: "c1", Node: "worker-0"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	pids, _, err := m.GetPrometheusContainerInteger(WantMetric{Metric: "seatrial_container_pids", Sandbox: sb1, Node: "worker-0"})
	require.NoError(t, err)
	assert.Positive(t, pids)
	mem, _, err := m.GetPrometheusContainerFloat(WantMetric{Metric: "seatrial_container_memory_bytes", Sandbox: sb1, Node: "worker-0"})
	require.NoError(t, err)
	assert.Positive(t, mem)
	info, err := m.Find("seatrial_container_info", map[string]string{"sandbox": sb1, "node": "worker-0"})
	require.NoError(t, err)
	assert.Equal(t, reg.Ref, info.Labels["image"])
	assert.NotEmpty(t, info.Labels["image_id"])
	v, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "seatrial_container_running", Sandbox: sb2,
		ExtraLabels: map[string]string{"role": labels.RoleUpdater}})
	require.NoError(t, err)
	assert.EqualValues(t, 0, v, "the updater was never started")

	// The hanging updater is a counted error and missing series, no more.
	v, _, err = m.GetPrometheusContainerInteger(WantMetric{Metric: "seatrial_scrape_errors_total", Sandbox: sb2,
		ExtraLabels: map[string]string{LabelSource: SourceUpdater}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)
	_, err = m.Find("seatrial_scrape_errors_total", map[string]string{"sandbox": sb1})
	require.ErrorIs(t, err, ErrNoMatch, "sandbox 1 had no failed target")

	// A second scrape: sandbox 1's registry saw one more GET /v2/.
	get(t, ctx, api1+"/v2/")
	m2, err := c.GetMetrics(ctx, nil)
	require.NoError(t, err)
	d, err := Diff(m, m2)
	require.NoError(t, err)
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "registry_http_requests_total", Sandbox: sb1, ExtraLabels: base200}, 1))
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "registry_http_requests_total", Sandbox: sb2, ExtraLabels: base200}, 0))
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: "seatrial_scrape_errors_total", Sandbox: sb2,
		ExtraLabels: map[string]string{LabelSource: SourceUpdater}}, 1))

	// The golden comparison on the real server: sandbox 2's targets, its
	// hanging updater down.
	require.NoError(t, c.ScrapeAndCompare(ctx, sb2, strings.NewReader(`# HELP seatrial_target_up 1 if the target (one source of one sandbox) was read in this scrape, else 0.
# TYPE seatrial_target_up gauge
seatrial_target_up{source="engine"} 1
seatrial_target_up{source="registry"} 1
seatrial_target_up{source="updater"} 0
`), OnlyFamilies("seatrial_target_up")))

	require.NoError(t, c.ShutdownServer(ctx))
	assert.True(t, processGone(pid), "server process %d left behind", pid)
}

func sandboxID(t *testing.T) string {
	b := make([]byte, 5)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "st-" + hex.EncodeToString(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runRegistry starts a registry container and returns the base URLs of its
// API and debug listener on the host.
// It fills in d's registry and creates d's namespace holder (not started:
// here the registry publishes its own ports), which carries them.
func runRegistry(t *testing.T, ctx context.Context, cli *client.Client, ref string, d *descriptor.Sandbox) (apiURL, debugURL string) {
	apiPort, debugPort := freePort(t), freePort(t)
	apiURL = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	debugURL = "http://127.0.0.1:" + strconv.Itoa(debugPort)
	d.Registry = descriptor.Registry{Addr: "localhost:" + strconv.Itoa(apiPort), MetricsURL: debugURL + "/metrics"}
	runContainer(t, ctx, cli, &container.Config{Image: ref, Labels: d.Labels(labels.RoleNetNS)}, &container.HostConfig{}, false)
	loopback := netip.MustParseAddr("127.0.0.1")
	runContainer(t, ctx, cli, &container.Config{Image: ref, Labels: d.Labels(labels.RoleRegistry)}, &container.HostConfig{
		// Loopback only: nothing of a test is exposed beyond this machine.
		PortBindings: network.PortMap{
			network.MustParsePort("5000/tcp"): {{HostIP: loopback, HostPort: strconv.Itoa(apiPort)}},
			network.MustParsePort("5001/tcp"): {{HostIP: loopback, HostPort: strconv.Itoa(debugPort)}},
		},
	}, true)
	return apiURL, debugURL
}

// runContainer creates (and maybe starts) a container, removed when the
// test ends.
func runContainer(t *testing.T, ctx context.Context, cli *client.Client, cfg *container.Config, hc *container.HostConfig, start bool) string {
	t.Helper()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	require.NoError(t, err)
	t.Cleanup(func() {
		// Not t.Context(): it is cancelled before Cleanup functions run.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cli.ContainerRemove(cctx, res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove container %.12s: %v", res.ID, err)
		}
	})
	if start {
		_, err = cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
		require.NoError(t, err)
	}
	return res.ID
}

func get(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	require.NoError(t, tryGet(ctx, url))
}

// waitGet GETs url until it answers 200 (a container needs a moment to
// listen).
func waitGet(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for {
		err := tryGet(ctx, url)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered: %v", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tryGet(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
