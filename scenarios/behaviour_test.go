package scenarios

import (
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/internal/behaviour"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// recording is what a world keeps for its behaviour record (see package
// behaviour) while the scenario runs: the registry's requests of each
// scan. A world has one only when the run asked for records
// (behaviour.DirEnv), so a run without pays one nil check per scan.
type recording struct {
	world int
	start time.Time
	mu    sync.Mutex
	scans []behaviour.Scan
	// spent is what the registry's reads cost the scans, in all (the
	// record's cost to the scenario, logged with it).
	spent time.Duration
}

// recordBehaviour starts w's recording, and writes the record when the
// test ends, whether it passed or failed. It is called from newWorld
// after the artifacts' cleanup is registered, so it runs before that one
// and before the sandbox's: everything still exists.
func (w *world) recordBehaviour() {
	seq, _ := s.worlds.LoadOrStore(w.t, new(atomic.Int32))
	w.rec = &recording{world: int(seq.(*atomic.Int32).Add(1)) - 1, start: time.Now()}
	w.t.Cleanup(w.writeBehaviour)
}

// registryCounts reads the registry's request counters straight from it
// (a few milliseconds: no other sandbox is read, as the metrics server
// would).
func (w *world) registryCounts(ctx context.Context) metricclient.MetricData {
	start := time.Now()
	defer func() {
		w.rec.mu.Lock()
		w.rec.spent += time.Since(start)
		w.rec.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.sb.RegistryMetricsURL(), nil)
	if err == nil {
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			defer resp.Body.Close()
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil {
				return metricclient.NewMetricData(string(b))
			}
		}
	}
	w.t.Logf("behaviour record: the registry's counters could not be read: %v", err)
	return metricclient.MetricData{}
}

// addScan records a scan: when its trigger was sent and answered, and
// the registry's requests between two reads of its counters, by handler
// and method ("manifest HEAD"): the updater's own, and apart from them
// the engine's (the pulls the updater asked for), as the sandbox
// registry counts them by client (seatrial_registry_requests_total,
// fixtures/registry).
func (r *recording) addScan(sent, answered time.Time, before, after metricclient.MetricData) {
	scan := behaviour.Scan{Sent: sent, Answered: answered, Requests: map[string]float64{}, Engine: map[string]float64{}}
	if d, err := metricclient.Diff(before, after); err == nil {
		for _, c := range d.Changed() {
			if c.Series.Name != "seatrial_registry_requests_total" {
				continue
			}
			l := c.Series.Labels
			to := scan.Requests
			if l["client"] == "engine" {
				to = scan.Engine
			}
			to[l["handler"]+" "+strings.ToUpper(l["method"])] += c.Delta()
		}
	}
	r.mu.Lock()
	r.scans = append(r.scans, scan)
	r.mu.Unlock()
}

// writeBehaviour writes the world's behaviour record into the run's
// directory.
func (w *world) writeBehaviour() {
	start := time.Now()
	r := behaviour.Record{
		Test: w.t.Name(), Scenario: behaviour.Pair(w.t.Name(), w.profile.Name), Profile: w.profile.Name,
		World: w.rec.world, Started: w.rec.start, Failed: w.t.Failed(), Metrics: map[string]float64{},
	}
	w.rec.mu.Lock()
	r.Scans = slices.Clone(w.rec.scans)
	w.rec.mu.Unlock()
	events := w.watcher.Timeline()
	r.FromTimeline(events, harness.AppUnit)
	// Runs as a Cleanup, when t.Context() is already cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.updater != nil && w.first.String() != "" {
		md, err := s.metrics.GetMetrics(ctx, map[string]string{"source": "updater", "sandbox": w.sb.ID()})
		if err == nil {
			var d *metricclient.MetricDiff
			if d, err = metricclient.Diff(w.first, md); err == nil {
				for _, c := range d.Changed() {
					l := c.Series.Labels
					if l[metricclient.LabelSandbox] != w.sb.ID() || l[metricclient.LabelSource] != metricclient.SourceUpdater || !behaviour.Comparable(c.Series.Name) {
						continue
					}
					own := map[string]string{}
					for k, v := range l {
						if k != metricclient.LabelSandbox && k != metricclient.LabelSource {
							own[k] = v
						}
					}
					if slices.Contains(slices.Collect(maps.Values(own)), w.profile.API.MetricsPath) {
						continue // the suite's own scrapes, as many as its waits took
					}
					// The sandbox's registry address and id are another
					// run's in the other side's record.
					for k, v := range own {
						own[k] = strings.NewReplacer(w.sb.RegistryAddr(), "REGISTRY", w.sb.ID(), "SANDBOX").Replace(v)
					}
					r.Metrics[metricclient.Series{Name: c.Series.Name, Labels: own}.String()] = c.Delta()
				}
			}
		}
		if err != nil {
			w.t.Logf("behaviour record: no metric deltas: %v", err)
		}
	}
	if err := behaviour.Write(s.behaviourDir, r, events); err != nil {
		w.t.Logf("behaviour record: %v", err)
		return
	}
	w.rec.mu.Lock()
	spent := w.rec.spent
	w.rec.mu.Unlock()
	w.t.Logf("behaviour record of world %d: %d scans, %d events; the registry's reads cost the scans %s, writing it %s",
		r.World, len(r.Scans), len(events), spent.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
