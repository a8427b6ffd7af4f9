package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/testenv"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// fakeEngine answers from fixed data and counts calls.
type fakeEngine struct {
	containers []container.Summary
	inspects   atomic.Int64
	stats      atomic.Int64
}

// ContainerList applies the label filters as the engine does: "K" wants
// the label, "K=V" that value; each given filter must hold.
func (f *fakeEngine) ContainerList(ctx context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	var out []container.Summary
	for _, c := range f.containers {
		ok := true
		for want := range o.Filters["label"] {
			k, v, withValue := strings.Cut(want, "=")
			got, has := c.Labels[k]
			ok = ok && has && (!withValue || got == v)
		}
		if ok {
			out = append(out, c)
		}
	}
	return client.ContainerListResult{Items: out}, nil
}

func (f *fakeEngine) ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.inspects.Add(1)
	for _, c := range f.containers {
		if c.ID == id {
			st := &container.State{Status: c.State, Running: c.State == container.StateRunning}
			if c.Labels[labels.Role] == labels.RoleNode {
				st.Health = &container.Health{Status: container.Healthy}
			}
			return client.ContainerInspectResult{Container: container.InspectResponse{
				ID: id, State: st, Image: c.ImageID, RestartCount: 1, Config: &container.Config{Image: c.Image},
			}}, nil
		}
	}
	return client.ContainerInspectResult{}, fmt.Errorf("no such container %s", id)
}

func (f *fakeEngine) ContainerStats(ctx context.Context, id string, o client.ContainerStatsOptions) (client.ContainerStatsResult, error) {
	f.stats.Add(1)
	var sr container.StatsResponse
	sr.CPUStats.CPUUsage.TotalUsage = 2_500_000_000
	sr.MemoryStats.Usage = 12 << 20
	sr.PidsStats.Current = 7
	b, _ := json.Marshal(sr)
	return client.ContainerStatsResult{Body: io.NopCloser(strings.NewReader(string(b)))}, nil
}

func (f *fakeEngine) ImageInspect(ctx context.Context, id string, o ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{InspectResponse: image.InspectResponse{ID: id, RepoDigests: []string{"localhost:5000/app@sha256:abc"}}}, nil
}

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "testdata", "metrics", name))
	require.NoError(t, err)
	return string(b)
}

// world is two good sandboxes and one whose updater hangs.
type world struct {
	engine *fakeEngine
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600))

	seed000 := readFixture(t, "openserbia-v1.12.2.prom")
	updaterA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.URL.Path != "/v1/metrics" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, seed000)
	}))
	t.Cleanup(updaterA.Close)
	// B poses as another sandbox; it must not succeed.
	updaterB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# TYPE watchtower_scans_total counter\nwatchtower_scans_total{sandbox=\"st-0123456789\"} 1\n"+
			"# TYPE seatrial_meta_sandbox_metadata gauge\nseatrial_meta_sandbox_metadata{sandbox=\"st-0123456789\",updater=\"fake\"} 1\n")
	}))
	t.Cleanup(updaterB.Close)
	registry := readFixture(t, "registry-v3.1.2.prom")
	registryA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, registry)
	}))
	t.Cleanup(registryA.Close)
	hanging := testenv.HangingServer(t)

	// The labels are the descriptor encoder's, as the harness writes them.
	desc := func(id, updaterAPI string) *descriptor.Sandbox {
		return &descriptor.Sandbox{
			ID: id, Owner: labels.Owner{PID: 42, Start: 1, Kind: labels.OwnerProcess},
			Created:    time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
			Registry:   descriptor.Registry{Addr: "localhost:40123", MetricsURL: registryA.URL + "/metrics"},
			UpdaterAPI: updaterAPI,
		}
	}
	updaterLabels := func(d *descriptor.Sandbox, name, tokenFile string) map[string]string {
		p := profile.Reference()
		p.Name = name
		l, err := d.UpdaterLabels(descriptor.Updater{Profile: p, TokenFile: tokenFile})
		require.NoError(t, err)
		return l
	}
	a, b, c := desc("st-0123456789", updaterA.URL), desc("st-abcdefabcd", updaterB.URL), desc("st-cccccccccc", hanging.URL)
	c1 := descriptor.Cluster{Name: "c1", Image: "localhost:40123/node:v1"}
	running := container.StateRunning
	cs := []container.Summary{
		{ID: "a0", Names: []string{"/st-0123456789-netns"}, Image: "seatrial/app:x", ImageID: "sha256:p", State: running,
			Labels: a.Labels(labels.RoleNetNS)},
		{ID: "a1", Names: []string{"/st-0123456789-updater"}, Image: "seatrial/refupdater:x", ImageID: "sha256:u", State: running,
			Labels: updaterLabels(a, "refupdater", tokenFile)},
		{ID: "a2", Names: []string{"/st-0123456789-registry"}, Image: "seatrial/registry:x", ImageID: "sha256:r", State: running,
			Labels: a.Labels(labels.RoleRegistry)},
		{ID: "a3", Names: []string{"/st-0123456789-c1-worker-0"}, Image: "localhost:40123/node:v1", ImageID: "sha256:n", State: running,
			Labels: a.NodeLabels(c1, "worker-0")},
		{ID: "a4", Names: []string{"/st-0123456789-c1-worker-1"}, Image: "localhost:40123/node:v1", ImageID: "sha256:n", State: container.StateExited,
			Labels: a.NodeLabels(c1, "worker-1")},
		{ID: "b0", Names: []string{"/st-abcdefabcd-netns"}, Image: "seatrial/app:x", ImageID: "sha256:p", State: running,
			Labels: b.Labels(labels.RoleNetNS)},
		{ID: "b1", Names: []string{"/st-abcdefabcd-updater"}, Image: "seatrial/watchtower:x", ImageID: "sha256:w", State: running,
			Labels: updaterLabels(b, "watchtower", "")},
		{ID: "c0", Names: []string{"/st-cccccccccc-netns"}, Image: "seatrial/app:x", ImageID: "sha256:p", State: running,
			Labels: c.Labels(labels.RoleNetNS)},
		{ID: "c1", Names: []string{"/st-cccccccccc-updater"}, Image: "seatrial/watchtower:x", ImageID: "sha256:w", State: running,
			Labels: updaterLabels(c, "watchtower", "")},
	}
	return &world{engine: &fakeEngine{containers: cs}}
}

func scrape(t *testing.T, h http.Handler, query string) metricclient.MetricData {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics"+query, nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	m := metricclient.NewMetricData(rec.Body.String())
	require.NoError(t, m.Err())
	return m
}

func TestGather(t *testing.T) {
	w := newWorld(t)
	s := New(w.engine, WithTargetTimeout(300*time.Millisecond), WithScrapeTimeout(5*time.Second), WithStaleness(time.Minute))
	h := s.Handler()

	start := time.Now()
	m := scrape(t, h, "")
	// The hanging updater is cut at its deadline, well before the total one.
	assert.Less(t, time.Since(start), 4*time.Second)

	const a, b, c = "st-0123456789", "st-abcdefabcd", "st-cccccccccc"
	v, _, err := m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: a})
	require.NoError(t, err)
	assert.Equal(t, int64(4), v)
	v, _, err = m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: b})
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	// B's own sandbox label was kept aside, not believed.
	bs, err := m.Find("watchtower_scans_total", map[string]string{"sandbox": b})
	require.NoError(t, err)
	assert.Equal(t, a, bs.Labels["exported_sandbox"])
	assert.Equal(t, "updater", bs.Labels[LabelSource])

	v, _, err = m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "registry_http_requests_total", Sandbox: a,
		ExtraLabels: map[string]string{"handler": "base", "code": "200", "method": "get"}})
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)

	md, err := m.GetSandboxMetadataMetric(metricclient.WantMetric{Sandbox: a})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"sandbox": a, "created": "2026-11-23T10:00:00Z", "owner_kind": "process",
		"owner_pid": "42", "updater": "refupdater", "updater_image": "seatrial/refupdater:x", "updater_container": "st-0123456789-updater",
		"registry": "localhost:40123"}, md)

	n := metricclient.WantMetric{Sandbox: a, Cluster: "c1", Node: "worker-0"}
	for metric, want := range map[string]float64{
		MetricContainerRunning: 1, MetricContainerHealthy: 1, MetricContainerRestarts: 1,
		MetricContainerCPU: 2.5, MetricContainerMemory: 12 << 20, MetricContainerPIDs: 7, MetricContainerInfo: 1,
	} {
		n.Metric = metric
		got, _, err := m.GetPrometheusContainerFloat(n)
		require.NoError(t, err, metric)
		assert.Equal(t, want, got, metric)
	}
	n.Node, n.Metric = "worker-1", MetricContainerRunning
	v, _, err = m.GetPrometheusContainerInteger(n)
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
	n.Metric = MetricContainerCPU
	_, _, err = m.GetPrometheusContainerInteger(n)
	require.ErrorIs(t, err, metricclient.ErrNoMatch, "no stats for a stopped container")

	v, _, err = m.GetPrometheusInteger(MetricSandboxes, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
	// The hanging updater is a counted error and missing series.
	v, _, err = m.GetPrometheusInteger(MetricScrapeErrors, map[string]string{LabelSandbox: c, LabelSource: SourceUpdater})
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	_, _, err = m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: c})
	require.ErrorIs(t, err, metricclient.ErrNoMatch)
	// ... but its engine figures are there.
	_, _, err = m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: MetricContainerRunning, Sandbox: c,
		ExtraLabels: map[string]string{"role": labels.RoleUpdater}})
	require.NoError(t, err)

	if os.Getenv("SEATRIAL_UPDATE_FIXTURES") != "" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "fixtures", "testdata", "metrics", "seatrial-server.prom"), []byte(m.String()), 0o644))
	}

	// A second scrape within the staleness asks the engine nothing new; the
	// error counter goes on counting in this server.
	inspects, stats := w.engine.inspects.Load(), w.engine.stats.Load()
	m2 := scrape(t, h, "")
	assert.Equal(t, inspects, w.engine.inspects.Load())
	assert.Equal(t, stats, w.engine.stats.Load())
	d, err := metricclient.Diff(m, m2)
	require.NoError(t, err)
	require.NoError(t, d.ExpectDelta(metricclient.WantMetric{Metric: MetricScrapeErrors, Sandbox: c, ExtraLabels: map[string]string{LabelSource: SourceUpdater}}, 1))
	require.NoError(t, d.ExpectDelta(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: a}, 0))

	// A caller that wants fresh figures gets them.
	scrape(t, h, "?max_staleness=0s")
	assert.Greater(t, w.engine.inspects.Load(), inspects)

	// Another server instance has its own counters.
	m3 := scrape(t, New(w.engine, WithTargetTimeout(100*time.Millisecond)).Handler(), "")
	v, _, err = m3.GetPrometheusInteger(MetricScrapeErrors, map[string]string{LabelSandbox: c, LabelSource: SourceUpdater})
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
}

func TestSourceFilter(t *testing.T) {
	w := newWorld(t)
	h := New(w.engine, WithTargetTimeout(300*time.Millisecond)).Handler()
	m := scrape(t, h, "?source=updater,registry")
	const a = "st-0123456789"
	_, _, err := m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: a})
	require.NoError(t, err, "updater series are served")
	names, err := m.Names()
	require.NoError(t, err)
	for _, name := range []string{MetricContainerCPU, MetricContainerMemory, MetricContainerPIDs, MetricContainerInfo} {
		require.NotContains(t, names, name, "an engine series is served")
	}
	full, err := scrape(t, h, "").Names()
	require.NoError(t, err)
	require.Contains(t, full, MetricContainerInfo, "without ?source= every source is read")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics?source=updater,kernel", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), `source "kernel"`)
}

func TestSandboxFilter(t *testing.T) {
	w := newWorld(t)
	h := New(w.engine, WithTargetTimeout(300*time.Millisecond)).Handler()
	const a, b = "st-0123456789", "st-abcdefabcd"
	m := scrape(t, h, "?sandbox="+b+"&source=updater")
	_, _, err := m.GetPrometheusContainerInteger(metricclient.WantMetric{Metric: "watchtower_scans_total", Sandbox: b})
	require.NoError(t, err, "the sandbox asked for is served")
	_, err = m.Find("watchtower_scans_total", map[string]string{"sandbox": a})
	require.Error(t, err, "another sandbox's updater was read")
	_, err = m.GetSandboxMetadataMetric(metricclient.WantMetric{Sandbox: a})
	require.Error(t, err, "another sandbox's metadata is served")
	v, _, err := m.GetPrometheusInteger(MetricSandboxes, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v, "%s counts the sandboxes selected", MetricSandboxes)

	none := scrape(t, h, "?sandbox=st-gone")
	v, _, err = none.GetPrometheusInteger(MetricSandboxes, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "a sandbox that does not exist has no series, and no error")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics?sandbox=a%2Cb", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), `sandbox id "a,b"`)
}

func TestBadStaleness(t *testing.T) {
	rec := httptest.NewRecorder()
	New(&fakeEngine{}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics?max_staleness=soon", nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	New(&fakeEngine{}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var h Health
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, "ok", h.Status)
	assert.Equal(t, os.Getpid(), h.PID)
	assert.Contains(t, h.Serves, "/metrics")
}

func TestRelabel(t *testing.T) {
	in := "x{sandbox=\"a\",exported_sandbox=\"b\",node=\"n\"} 1\n"
	fams, err := parseExposition(strings.NewReader(in), false)
	require.NoError(t, err)
	relabel(fams[0], map[string]string{"sandbox": "s", LabelSource: SourceUpdater})
	got := map[string]string{}
	for _, lp := range fams[0].Metric[0].Label {
		got[lp.GetName()] = lp.GetValue()
	}
	assert.Equal(t, map[string]string{"sandbox": "s", "exported_sandbox": "b", "exported_exported_sandbox": "a", "node": "n", LabelSource: SourceUpdater}, got)
}

// TestGracefulShutdown: a scrape in flight when the server is told to stop
// is answered; then Serve returns and the socket is gone.
func TestGracefulShutdown(t *testing.T) {
	w := newWorld(t)
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := Listen(sock)
	require.NoError(t, err)
	s := New(w.engine, WithTargetTimeout(500*time.Millisecond))
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	c := metricclient.NewMetricClient(sock)
	defer c.Close()
	var wg sync.WaitGroup
	var scrapeErr error
	var md metricclient.MetricData
	wg.Go(func() { md, scrapeErr = c.GetMetrics(t.Context(), nil) })
	time.Sleep(100 * time.Millisecond) // let the scrape start; it waits on the hanging target
	cancel()
	wg.Wait()
	require.NoError(t, scrapeErr)
	_, _, err = md.GetPrometheusInteger(MetricSandboxes, nil)
	require.NoError(t, err)
	require.NoError(t, <-served)
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "socket removed")
	_, err = net.Dial("unix", sock)
	assert.Error(t, err)
}

func TestListenStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	_, err = Listen(sock)
	require.Error(t, err, "someone answers there")
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(sock)
	require.NoError(t, err, "a stale socket is replaced")
	ln2.Close()
}

func TestCache(t *testing.T) {
	c := NewCache(time.Minute)
	t0 := time.Now()
	c.Store(t0, "k", 1, nil)
	_, ok, _ := c.Get(t0.Add(time.Second), "k", 0)
	assert.False(t, ok, "validity 0 never hits")
	v, ok, _ := c.Get(t0.Add(time.Second), "k", 2*time.Second)
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	_, ok, _ = c.Get(t0.Add(3*time.Second), "k", 2*time.Second)
	assert.False(t, ok)
	c.Store(t0.Add(2*time.Minute), "other", 2, fmt.Errorf("gone"))
	assert.Equal(t, 1, c.Len(), "old entry collected")
	_, ok, err := c.Get(t0.Add(2*time.Minute), "other", time.Second)
	assert.True(t, ok)
	assert.Error(t, err, "errors are cached too")
}
