package metricclient

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/internal/enginetest"
)

// TestUpdaterSeriesOutliveTheNodes: a real sandbox (registry, reference
// updater, a cluster of two) scraped through the real metrics server;
// then every node is removed. The updater's and the registry's series
// keep the same labels across the scrapes, since the labels the server
// adds come from the sandbox's descriptor, not from which containers
// exist; so Diff pairs every series and finds no ambiguity.
// env is the engine client and the image set of this binary's sandbox
// tests.
var env enginetest.Env

func TestUpdaterSeriesOutliveTheNodes(t *testing.T) {
	cli, _ := env.Get(t)
	mc := newServerClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	sb, err := harness.NewSandbox(ctx, env.SandboxOptions(t)...)
	require.NoError(t, err)
	c, err := sb.StartCluster(ctx, harness.ClusterSpec{Workers: 1})
	require.NoError(t, err)
	p := profile.Reference()
	u, err := sb.StartUpdater(ctx, p, harness.UpdaterOptions{})
	require.NoError(t, err)
	_, err = u.Scan(ctx)
	require.NoError(t, err)

	require.NoError(t, mc.SpawnServer(ctx, "--target-timeout", "5s", "--scrape-timeout", "10s"))
	scrape := func() MetricData {
		t.Helper()
		m, err := mc.GetMetrics(ctx, map[string]string{"max_staleness": "0s", LabelSource: SourceUpdater + "," + SourceRegistry})
		require.NoError(t, err)
		return m
	}
	before := scrape()
	_, _, err = before.GetPrometheusContainerInteger(WantMetric{Metric: p.Metrics.ScansTotal, Sandbox: sb.ID()})
	require.NoError(t, err, "the updater is scraped while its nodes run")

	for _, n := range c.Nodes() {
		_, err := cli.ContainerRemove(ctx, n.ContainerName(), client.ContainerRemoveOptions{Force: true})
		require.NoError(t, err)
	}
	_, err = u.Scan(ctx)
	require.NoError(t, err)
	after := scrape()

	require.Equal(t, sandboxSeries(t, before, sb.ID()), sandboxSeries(t, after, sb.ID()),
		"the updater's and the registry's series are the same series with and without nodes")
	d, err := Diff(before, after)
	require.NoError(t, err)
	require.NoError(t, d.ExpectDelta(WantMetric{Metric: p.Metrics.ScansTotal, Sandbox: sb.ID(),
		ExtraLabels: map[string]string{LabelSource: SourceUpdater}}, 1), "one series, paired across the scrapes")
	for _, ch := range d.Changed() {
		if ch.Series.Labels["sandbox"] == sb.ID() {
			require.False(t, ch.New || ch.Gone, "series %s appeared or vanished with the nodes", ch.Series)
		}
	}
}

// sandboxSeries lists the series (name and labels) of one sandbox's
// updater and registry sources, as strings, sorted by name.
func sandboxSeries(t *testing.T, m MetricData, sandbox string) []string {
	t.Helper()
	names, err := m.Names()
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		all, err := m.All(n)
		require.NoError(t, err)
		for _, s := range all {
			src := s.Labels[LabelSource]
			if s.Labels["sandbox"] == sandbox && (src == "updater" || src == "registry") {
				require.NotContains(t, s.Labels, "cluster", "a sandbox-wide series has no cluster: %s", s)
				out = append(out, s.Name+formatLabels(s.Labels))
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}
