// Package server is seatrial's metrics server: on every GET /metrics it finds
// the sandboxes on the engine by their labels, reads each sandbox's updater
// metrics, registry metrics and per-container engine figures, and writes them
// all out in the Prometheus text format with the labels sandbox and source
// added (and cluster and node on a node container's series), read from each
// sandbox's descriptor (package harness/descriptor). `seatrial metrics-server` runs it as a process of
// its own; the metricclient package spawns, scrapes and stops that process.
//
// Nothing is registered with the server and it keeps no state a restart
// could lose: the labels on the containers are the state (as in kind), read
// through the descriptor's one decoder. The
// only things it keeps are a cache of engine answers and its own error
// counters.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/seatrial-dev/seatrial/harness/descriptor"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// DefaultAddr is where `seatrial metrics-server` listens unless told
// otherwise: loopback only, since the updaters' metrics are behind their
// tokens and the server hands them out unauthenticated.
const DefaultAddr = "127.0.0.1:9797"

// Sources, the value of the source label; the client's names for them.
const (
	SourceUpdater  = metricclient.SourceUpdater
	SourceRegistry = metricclient.SourceRegistry
	SourceEngine   = metricclient.SourceEngine
	// SourceList is the source of an error listing the sandboxes.
	SourceList = "list"
)

// Added labels: the client's names for them, so the two cannot drift.
const (
	LabelSandbox = metricclient.LabelSandbox
	LabelSource  = metricclient.LabelSource
	LabelCluster = metricclient.LabelCluster
	LabelNode    = metricclient.LabelNode
)

// Series the server writes about itself and the sandboxes.
const (
	MetricSandboxMetadata = metricclient.SandboxMetadataMetric
	MetricSandboxes       = "seatrial_sandboxes"
	MetricScrapeErrors    = "seatrial_scrape_errors_total"
	MetricScrapeDuration  = "seatrial_scrape_duration_seconds"
	// MetricTargetUp is 1 when a target (one source of one sandbox) was
	// read in this scrape, 0 when not, as Prometheus' up.
	MetricTargetUp = "seatrial_target_up"
	// MetricTargetLastError carries, in its reason label, the last error
	// of a target since the server started.
	MetricTargetLastError = "seatrial_target_last_error_info"
	// MetricDroppedSeries counts, per target and metric, the series left
	// out of this scrape, with the reason: a name that poses as the
	// server's own, a type clash, a duplicate.
	MetricDroppedSeries = "seatrial_dropped_series"
)

// ownPrefix starts the name of every family the server writes itself; a
// target's family whose name is or escapes to such a name is dropped.
const ownPrefix = "seatrial_"

// Defaults of the options.
const (
	DefaultTargetTimeout = 5 * time.Second
	DefaultScrapeTimeout = 10 * time.Second
	DefaultStaleness     = 2 * time.Second
	DefaultConcurrency   = 4
)

// DefaultBodySizeLimit bounds what is read from one target, so a malicious
// or broken target cannot make the server hold an endless body in memory.
// A body over it fails the target, as Prometheus' body_size_limit does.
const DefaultBodySizeLimit = 32 << 20

// maxReason bounds the reason label of MetricTargetLastError.
const maxReason = 512

// Engine is what the server needs of the Docker engine; *client.Client has
// it. Tests may pass a fake.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, containerID string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerStats(ctx context.Context, containerID string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	ImageInspect(ctx context.Context, imageID string, inspectOpts ...client.ImageInspectOption) (client.ImageInspectResult, error)
}

// Server serves /metrics and /healthz. Make one with New.
type Server struct {
	engine        Engine
	httpClient    *http.Client
	concurrency   int
	targetTimeout time.Duration
	scrapeTimeout time.Duration
	staleness     time.Duration
	cache         *Cache
	log           *slog.Logger
	started       time.Time

	bodyLimit int64

	errMu   sync.Mutex
	errors  map[errKey]float64
	lastErr map[errKey]string
}

type errKey struct{ sandbox, source string }

// Option configures a Server.
type Option func(*Server)

// WithConcurrency bounds how many sandboxes are scraped at once (default 4).
func WithConcurrency(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.concurrency = n
		}
	}
}

// WithTargetTimeout is the deadline for one target (one sandbox's updater,
// registry or engine figures); default 5s.
func WithTargetTimeout(d time.Duration) Option { return func(s *Server) { s.targetTimeout = d } }

// WithScrapeTimeout is the deadline for a whole GET /metrics; default 10s.
// A target still running then is counted as failed and left out.
func WithScrapeTimeout(d time.Duration) Option { return func(s *Server) { s.scrapeTimeout = d } }

// WithStaleness is how old a cached engine answer may be by default (2s); a
// request may ask for another with ?max_staleness=DURATION (0 for fresh).
func WithStaleness(d time.Duration) Option { return func(s *Server) { s.staleness = d } }

// WithBodySizeLimit bounds the body read from one target (default 32 MiB);
// a body over it fails that target.
func WithBodySizeLimit(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.bodyLimit = n
		}
	}
}

// WithHTTPClient sets the client used to read updaters and registries.
func WithHTTPClient(c *http.Client) Option { return func(s *Server) { s.httpClient = c } }

// WithLogger sets where the server logs (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a server reading the given engine.
func New(engine Engine, opts ...Option) *Server {
	s := &Server{
		engine:        engine,
		concurrency:   DefaultConcurrency,
		targetTimeout: DefaultTargetTimeout,
		scrapeTimeout: DefaultScrapeTimeout,
		staleness:     DefaultStaleness,
		cache:         NewCache(time.Minute),
		log:           slog.New(slog.DiscardHandler),
		started:       time.Now(),
		bodyLimit:     DefaultBodySizeLimit,
		errors:        map[errKey]float64{},
		lastErr:       map[errKey]string{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.httpClient == nil {
		// No proxy from the environment: every target is on loopback.
		s.httpClient = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return s
}

// Handler serves /metrics and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	return mux
}

// Health is the /healthz answer.
type Health struct {
	Status        string   `json:"status"`
	PID           int      `json:"pid"`
	Started       string   `json:"started"`
	Serves        []string `json:"serves"`
	Sources       []string `json:"sources"`
	Labels        []string `json:"labels"`
	ScrapeTimeout string   `json:"scrape_timeout"`
	TargetTimeout string   `json:"target_timeout"`
	Staleness     string   `json:"staleness"`
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Health{
		Status:        "ok",
		PID:           os.Getpid(),
		Started:       s.started.UTC().Format(time.RFC3339),
		Serves:        []string{"/metrics", "/healthz"},
		Sources:       []string{SourceUpdater, SourceRegistry, SourceEngine},
		Labels:        []string{LabelSandbox, LabelSource, LabelCluster, LabelNode},
		ScrapeTimeout: s.scrapeTimeout.String(),
		TargetTimeout: s.targetTimeout.String(),
		Staleness:     s.staleness.String(),
	})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	staleness := s.staleness
	if v := r.URL.Query().Get("max_staleness"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("max_staleness: %v", err), http.StatusBadRequest)
			return
		}
		staleness = d
	}
	// ?source=updater,registry reads only those sources: a caller that
	// asserts on the updater's series need not wait for the engine's
	// figures (the first stats call on a new container takes about a
	// second on Docker 20.10).
	var only []string
	if v := r.URL.Query().Get("source"); v != "" {
		for _, src := range strings.Split(v, ",") {
			switch src {
			case SourceUpdater, SourceRegistry, SourceEngine:
				only = append(only, src)
			default:
				http.Error(w, fmt.Sprintf("source %q: want a comma-separated list of %s, %s and %s", src, SourceUpdater, SourceRegistry, SourceEngine), http.StatusBadRequest)
				return
			}
		}
	}
	// ?sandbox=ID reads that sandbox alone: a caller that asserts on one
	// sandbox's series (a scenario, with others running beside it) need
	// not have every sandbox's updater and registry read for it.
	sel := Selection{Sandbox: r.URL.Query().Get("sandbox"), Sources: only}
	if sel.Sandbox != "" {
		if err := descriptor.ValidName(sel.Sandbox); err != nil {
			http.Error(w, fmt.Sprintf("sandbox id %v", err), http.StatusBadRequest)
			return
		}
	}
	fams := s.GatherSelection(r.Context(), staleness, sel)
	w.Header().Set("Content-Type", string(expfmt.FmtText))
	enc := expfmt.NewEncoder(w, expfmt.FmtText)
	for _, mf := range fams {
		if err := enc.Encode(mf); err != nil {
			// The header is out; all that is left is to say so in the log.
			s.log.Error("write metrics", "err", err)
			return
		}
	}
}

// Gather does one scrape and returns the metric families, sorted by name.
// It never fails: what could not be read is counted in
// seatrial_scrape_errors_total and left out.
func (s *Server) Gather(ctx context.Context, staleness time.Duration) []*dto.MetricFamily {
	return s.GatherSources(ctx, staleness)
}

// GatherSources is Gather reading only the given sources (all if none).
func (s *Server) GatherSources(ctx context.Context, staleness time.Duration, sources ...string) []*dto.MetricFamily {
	return s.GatherSelection(ctx, staleness, Selection{Sources: sources})
}

// Selection narrows a scrape.
type Selection struct {
	// Sandbox is the one sandbox to read (its id); empty reads every one.
	Sandbox string
	// Sources are the sources to read (SourceUpdater, ...); none reads
	// them all.
	Sources []string
}

// GatherSelection is Gather reading only what sel selects. The server's
// own families are always there; MetricSandboxes then counts the
// sandboxes selected.
func (s *Server) GatherSelection(ctx context.Context, staleness time.Duration, sel Selection) []*dto.MetricFamily {
	ctx, cancel := context.WithTimeout(ctx, s.scrapeTimeout)
	defer cancel()
	out := newFamilies()

	sandboxes, err := s.findSandboxes(ctx, sel.Sandbox)
	if err != nil {
		s.countError("", SourceList)
		s.log.Warn("list sandboxes", "err", err)
	}

	// Random order, so that with a bound on concurrency no sandbox is always
	// last in line behind a slow one.
	rand.Shuffle(len(sandboxes), func(i, j int) { sandboxes[i], sandboxes[j] = sandboxes[j], sandboxes[i] })

	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, s.concurrency)
		results = make([][]targetResult, len(sandboxes))
	)
	// The server's own families first: a target's family of the same name
	// is then a clash, dropped, whatever order things finish in.
	for _, sb := range sandboxes {
		if sb.Err != nil {
			// Scraped all the same: what could be read is served, and a
			// target that needs what could not be read fails and is counted.
			s.log.Info("sandbox labels", "sandbox", sb.ID, "err", sb.Err)
		}
		out.add(metadataFamily(sb))
	}
	for i, sb := range sandboxes {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				// Waited past the total deadline: the targets below fail
				// at once on the ended context and are counted.
			}
			results[i] = s.scrapeSandbox(ctx, sb, staleness, sel.Sources)
		})
	}
	wg.Wait()

	// Merge in a fixed order (sandbox id, then source), so that when two
	// targets disagree on a family's type the same one wins every time.
	var all []targetResult
	for _, rs := range results {
		all = append(all, rs...)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].sandbox != all[j].sandbox {
			return all[i].sandbox < all[j].sandbox
		}
		return all[i].source < all[j].source
	})
	var dropped []droppedSeries
	for _, r := range all {
		out.add(gauge(MetricScrapeDuration, "How long reading one source of one sandbox took in this scrape.",
			map[string]string{LabelSandbox: r.sandbox, LabelSource: r.source}, r.took.Seconds()))
		out.add(gauge(MetricTargetUp, "1 if the target (one source of one sandbox) was read in this scrape, else 0.",
			map[string]string{LabelSandbox: r.sandbox, LabelSource: r.source}, boolFloat(r.err == nil)))
		if r.err != nil {
			s.targetFailed(r.sandbox, r.source, r.err)
			continue
		}
		dropped = append(dropped, r.dropped...)
		for _, f := range r.fams {
			if err := out.add(f); err != nil {
				s.log.Warn("merge", "sandbox", r.sandbox, "source", r.source, "err", err)
				dropped = append(dropped, droppedSeries{r.sandbox, r.source, f.GetName(), err.Error(), len(f.Metric)})
			}
		}
	}
	out.add(droppedFamily(dropped))

	out.add(gauge(MetricSandboxes, "Number of seatrial sandboxes found on the engine by their labels.",
		nil, float64(len(sandboxes))))
	out.add(s.errorFamily())
	out.add(s.lastErrorFamily())
	return out.sorted()
}

// findSandboxes lists every container (all states) with a sandbox label,
// or with sandbox id's, and reads the sandboxes through their descriptor.
// The labels the server adds to a series come from the descriptor only,
// never from which containers happen to exist at this scrape.
func (s *Server) findSandboxes(ctx context.Context, id string) ([]descriptor.Sandbox, error) {
	res, err := s.engine.ContainerList(ctx, client.ContainerListOptions{
		All:     true, // a stopped node or a crashed updater is still part of its sandbox
		Filters: descriptor.Filter(id),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers with label %s: %w", labels.Sandbox, err)
	}
	return descriptor.Decode(res.Items, nil), nil
}

// metadataFamily is the one seatrial_meta_sandbox_metadata series of a
// sandbox. Its labels are the sandbox's facts, which do not change while
// it lives: not its clusters or its number of containers, which come and
// go with a recreate or a node loss and would make it a new series.
func metadataFamily(sb descriptor.Sandbox) *dto.MetricFamily {
	l := map[string]string{LabelSandbox: sb.ID, "registry": sb.Registry.Addr, "owner_kind": sb.Owner.Kind}
	if !sb.Created.IsZero() {
		l["created"] = sb.Created.Format(time.RFC3339)
	}
	if sb.Owner.PID != 0 {
		l["owner_pid"] = strconv.Itoa(sb.Owner.PID)
	}
	if sb.Updater != nil {
		l["updater"] = sb.Updater.Profile.Name
		l["updater_image"] = sb.Updater.Container.Image
		l["updater_container"] = sb.Updater.Container.Name
	}
	return gauge(MetricSandboxMetadata, "A seatrial sandbox; its labels describe it. Always 1.", l, 1)
}

// deadlineGrace is how long past its deadline a target's answer is still
// waited for.
const deadlineGrace = 50 * time.Millisecond

// targetResult is what reading one source of one sandbox gave.
type targetResult struct {
	sandbox, source string
	fams            []*dto.MetricFamily // relabelled, names escaped, checked
	took            time.Duration
	err             error
	dropped         []droppedSeries
}

// droppedSeries says which of a target's series were left out, and why.
type droppedSeries struct {
	sandbox, source, metric, reason string
	n                               int
}

// scrapeSandbox reads the three sources of one sandbox concurrently, each
// under its own deadline. The deadline holds even for a source that
// ignores cancellation: its result is no longer waited for (it is dropped
// when it comes, into a buffered channel).
func (s *Server) scrapeSandbox(ctx context.Context, sb descriptor.Sandbox, staleness time.Duration, sources []string) []targetResult {
	targets := map[string]func(context.Context) ([]*dto.MetricFamily, error){
		SourceEngine: func(ctx context.Context) ([]*dto.MetricFamily, error) { return s.engineFigures(ctx, sb, staleness) },
	}
	if sb.Updater != nil {
		targets[SourceUpdater] = func(ctx context.Context) ([]*dto.MetricFamily, error) { return s.scrapeUpdater(ctx, sb) }
	}
	if sb.Registry.Container != nil {
		targets[SourceRegistry] = func(ctx context.Context) ([]*dto.MetricFamily, error) {
			if sb.Registry.MetricsURL == "" {
				return nil, fmt.Errorf("registry of sandbox %s: no metrics URL: %w", sb.ID, sb.Err)
			}
			return s.scrapeURL(ctx, sb.Registry.MetricsURL, nil)
		}
	}
	if len(sources) > 0 {
		for src := range targets {
			if !slices.Contains(sources, src) {
				delete(targets, src)
			}
		}
	}
	start := time.Now()
	deadline := start.Add(s.targetTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	results := make(chan targetResult, len(targets))
	for source, fn := range targets {
		go func() {
			tctx, cancel := context.WithDeadline(ctx, deadline)
			defer cancel()
			fams, err := fn(tctx)
			results <- targetResult{sandbox: sb.ID, source: source, fams: fams, took: time.Since(start), err: err}
		}()
	}
	// A little grace past the deadline: a target that honours it still
	// needs a moment to return, more so on a loaded machine.
	timer := time.NewTimer(time.Until(deadline) + deadlineGrace)
	defer timer.Stop()
	var out []targetResult
	pending := maps.Clone(targets)
	for len(pending) > 0 {
		select {
		case r := <-results:
			delete(pending, r.source)
			if r.err == nil {
				s.checkTarget(sb, &r)
			}
			out = append(out, r)
		case <-timer.C:
			for src := range pending {
				out = append(out, targetResult{sandbox: sb.ID, source: src, took: time.Since(start),
					err: fmt.Errorf("no answer within the target deadline of %s", s.targetTimeout)})
			}
			return out
		}
	}
	return out
}

// checkTarget relabels what a target gave and leaves out, saying so in
// r.dropped, what must not reach the exposition: a family whose name, once
// escaped as the server writes it, is one of the server's own; a family
// whose escaped name another of the target's families has with another
// type; duplicate series.
func (s *Server) checkTarget(sb descriptor.Sandbox, r *targetResult) {
	// The updater and the registry serve the whole sandbox, not a
	// cluster or a node: their series carry sandbox and source only, so
	// they keep their identity when nodes come and go. Engine series
	// carry their own container's cluster and node.
	add := map[string]string{LabelSandbox: sb.ID, LabelSource: r.source}
	drop := func(metric, reason string, n int) {
		s.log.Warn("dropped a target's series", "sandbox", sb.ID, "source", r.source, "metric", metric, "reason", reason)
		r.dropped = append(r.dropped, droppedSeries{sb.ID, r.source, metric, reason, n})
	}
	byName := map[string]*dto.MetricFamily{}
	var kept []*dto.MetricFamily
	for _, f := range r.fams {
		// Names are compared as the server writes them: the text format
		// escapes a UTF-8 name to underscores, so "seatrial.x" is
		// written "seatrial_x".
		name := model.EscapeName(f.GetName(), model.UnderscoreEscaping)
		if r.source != SourceEngine && strings.HasPrefix(name, ownPrefix) {
			drop(name, fmt.Sprintf("the name %q is the server's own (%s*)", f.GetName(), ownPrefix), len(f.Metric))
			continue
		}
		f.Name = proto.String(name)
		escapeLabelNames(f)
		relabel(f, add)
		if have, ok := byName[name]; ok {
			if have.GetType() != f.GetType() {
				drop(name, fmt.Sprintf("a %s here, and a %s under another spelling of the name in the same target", f.GetType(), have.GetType()), len(f.Metric))
				continue
			}
			have.Metric = append(have.Metric, f.Metric...)
			continue
		}
		byName[name] = f
		kept = append(kept, f)
	}
	for _, f := range kept {
		seen := make(map[string]bool, len(f.Metric))
		ms := f.Metric[:0]
		dups, clashes := 0, 0
		for _, m := range f.Metric {
			if dupLabelName(m) {
				clashes++
				continue
			}
			k := labelKey(m)
			if seen[k] {
				dups++
				continue
			}
			seen[k] = true
			ms = append(ms, m)
		}
		f.Metric = ms
		if dups > 0 {
			drop(f.GetName(), "duplicate series (same labels): the first is kept", dups)
		}
		if clashes > 0 {
			drop(f.GetName(), "two labels of one series have the same name once escaped", clashes)
		}
	}
	r.fams = kept
}

// dupLabelName reports whether two labels of m (sorted by name) share a
// name.
func dupLabelName(m *dto.Metric) bool {
	for i := 1; i < len(m.Label); i++ {
		if m.Label[i].GetName() == m.Label[i-1].GetName() {
			return true
		}
	}
	return false
}

// escapeLabelNames escapes the label names of f as the text format writes
// them, so that relabel and the duplicate check see what is written.
func escapeLabelNames(f *dto.MetricFamily) {
	for _, m := range f.Metric {
		for _, lp := range m.Label {
			if n := lp.GetName(); !model.LegacyValidation.IsValidLabelName(n) {
				lp.Name = proto.String(model.EscapeName(n, model.UnderscoreEscaping))
			}
		}
	}
}

func (s *Server) scrapeUpdater(ctx context.Context, sb descriptor.Sandbox) ([]*dto.MetricFamily, error) {
	u := sb.Updater
	if sb.UpdaterAPI == "" {
		return nil, fmt.Errorf("updater %s: no API URL: %w", u.Container.Name, sb.Err)
	}
	auth := http.Header{}
	if u.TokenFile != "" {
		// Read on every scrape: the file is the one place the token lives,
		// and a sandbox may rotate it.
		b, err := os.ReadFile(u.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("updater token of %s: %w", u.Container.Name, err)
		}
		// Where the profile says the token goes.
		tok := u.Profile.API.Token
		auth.Set(tok.Header, tok.Value(strings.TrimSpace(string(b))))
	}
	return s.scrapeURL(ctx, strings.TrimSuffix(sb.UpdaterAPI, "/")+u.Profile.API.MetricsPath, auth)
}

// scrapeURL reads one Prometheus endpoint, sending the headers in auth.
func (s *Server) scrapeURL(ctx context.Context, url string, auth http.Header) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	// Ask for the classic text format; an exporter that answers with
	// OpenMetrics anyway is still understood below.
	req.Header.Set("Accept", string(expfmt.FmtText))
	for k, v := range auth {
		req.Header[k] = v
	}
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	// One byte more than the limit tells a body at the limit from one
	// over it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.bodyLimit+1))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: read body: %w", url, err)
	}
	if int64(len(body)) > s.bodyLimit {
		return nil, fmt.Errorf("scrape %s: body exceeds the limit of %d bytes (as Prometheus' body_size_limit; raise it with --body-size-limit)", url, s.bodyLimit)
	}
	fams, err := parseExposition(bytes.NewReader(body),
		expfmt.ResponseFormat(resp.Header).FormatType() == expfmt.TypeOpenMetrics)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return fams, nil
}

// parseExposition reads the classic text format, or OpenMetrics.
func parseExposition(r io.Reader, openMetrics bool) ([]*dto.MetricFamily, error) {
	if openMetrics {
		dec := expfmt.NewDecoder(r, openMetricsUTF8())
		var fams []*dto.MetricFamily
		for {
			mf := &dto.MetricFamily{}
			err := dec.Decode(mf)
			if errors.Is(err, io.EOF) {
				return fams, nil
			}
			if err != nil {
				return nil, err
			}
			fams = append(fams, mf)
		}
	}
	return metricclient.ParseText(r)
}

// relabel adds the given labels to every series of f. A series that already
// has one of them keeps its value as exported_<name>, as Prometheus does
// with honor_labels off, so that an updater cannot pose as another sandbox.
func relabel(f *dto.MetricFamily, add map[string]string) {
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, m := range f.Metric {
		have := map[string]bool{}
		for _, lp := range m.Label {
			have[lp.GetName()] = true
		}
		for _, lp := range m.Label {
			if _, clash := add[lp.GetName()]; clash {
				n := "exported_" + lp.GetName()
				for have[n] {
					n = "exported_" + n
				}
				have[n] = true
				lp.Name = proto.String(n)
			}
		}
		for _, k := range keys {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(k), Value: proto.String(add[k])})
		}
		sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
	}
}

// targetFailed counts a target's failure and keeps its reason.
func (s *Server) targetFailed(sandbox, source string, err error) {
	s.log.Warn("scrape", "sandbox", sandbox, "source", source, "err", err)
	reason := err.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.errors[errKey{sandbox, source}]++
	s.lastErr[errKey{sandbox, source}] = reason
}

func (s *Server) lastErrorFamily() *dto.MetricFamily {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	f := gauge(MetricTargetLastError, "The last error of a target since the server started, in the reason label. Always 1.", nil, 0)
	f.Metric = nil
	for k, reason := range s.lastErr {
		addGauge(f, map[string]string{LabelSandbox: k.sandbox, LabelSource: k.source, "reason": reason}, 1)
	}
	return f
}

func droppedFamily(dropped []droppedSeries) *dto.MetricFamily {
	f := gauge(MetricDroppedSeries, "Series of a target left out of this scrape, by metric and reason.", nil, 0)
	f.Metric = nil
	n := map[droppedSeries]int{}
	for _, d := range dropped {
		k := d
		k.n = 0
		n[k] += d.n
	}
	for k, v := range n {
		addGauge(f, map[string]string{LabelSandbox: k.sandbox, LabelSource: k.source, "metric": k.metric, "reason": k.reason}, float64(v))
	}
	return f
}

func (s *Server) countError(sandbox, source string) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.errors[errKey{sandbox, source}]++
}

func (s *Server) errorFamily() *dto.MetricFamily {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	f := &dto.MetricFamily{
		Name: proto.String(MetricScrapeErrors),
		Help: proto.String("Targets this server failed to read, since it started, by sandbox and source."),
		Type: dto.MetricType_COUNTER.Enum(),
	}
	for k, v := range s.errors {
		f.Metric = append(f.Metric, &dto.Metric{
			Label:   labelPairs(map[string]string{LabelSandbox: k.sandbox, LabelSource: k.source}),
			Counter: &dto.Counter{Value: proto.Float64(v)},
		})
	}
	return f
}

// families merges metric families by name.
type families map[string]*dto.MetricFamily

func newFamilies() families { return families{} }

func (fs families) add(f *dto.MetricFamily) error {
	if f == nil || len(f.Metric) == 0 {
		return nil
	}
	have, ok := fs[f.GetName()]
	if !ok {
		fs[f.GetName()] = f
		return nil
	}
	if have.GetType() != f.GetType() {
		return fmt.Errorf("a %s here, but a %s in %s, which comes first by sandbox id and source",
			strings.ToLower(f.GetType().String()), strings.ToLower(have.GetType().String()), origin(have))
	}
	have.Metric = append(have.Metric, f.Metric...)
	return nil
}

// origin names where f's first series comes from: "sandbox S, source R",
// or "the server" for its own families.
func origin(f *dto.MetricFamily) string {
	var sb, src string
	for _, lp := range f.Metric[0].GetLabel() {
		switch lp.GetName() {
		case LabelSandbox:
			sb = lp.GetValue()
		case LabelSource:
			src = lp.GetValue()
		}
	}
	if sb == "" || src == "" {
		return "the server's own family"
	}
	return fmt.Sprintf("sandbox %s, source %s,", sb, src)
}

func (fs families) sorted() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(fs))
	for _, f := range fs {
		sort.SliceStable(f.Metric, func(i, j int) bool { return labelKey(f.Metric[i]) < labelKey(f.Metric[j]) })
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func labelKey(m *dto.Metric) string {
	var b strings.Builder
	for _, lp := range m.Label {
		b.WriteString(lp.GetName())
		b.WriteByte(0)
		b.WriteString(lp.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

// labelPairs turns a map into sorted label pairs, leaving out empty values
// (an empty label is no label in Prometheus).
func labelPairs(l map[string]string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(l))
	for k, v := range l {
		if v != "" {
			out = append(out, &dto.LabelPair{Name: proto.String(k), Value: proto.String(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func gauge(name, help string, l map[string]string, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: labelPairs(l), Gauge: &dto.Gauge{Value: proto.Float64(v)}}},
	}
}

// addGauge adds one series to the gauge family f.
func addGauge(f *dto.MetricFamily, l map[string]string, v float64) {
	f.Metric = append(f.Metric, &dto.Metric{Label: labelPairs(l), Gauge: &dto.Gauge{Value: proto.Float64(v)}})
}

func counter(name, help string, l map[string]string, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Label: labelPairs(l), Counter: &dto.Counter{Value: proto.Float64(v)}}},
	}
}

// Listen listens on addr: a unix socket when addr contains a "/", else TCP.
// A socket file left behind by a server that is gone is replaced.
func Listen(addr string) (net.Listener, error) {
	if !strings.Contains(addr, "/") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return ln, nil
	}
	if fi, err := os.Stat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on %s: another server answers there", addr)
		}
		// Nobody answers: a stale socket from a server that was killed.
		if err := os.Remove(addr); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", addr, err)
		}
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on unix socket %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight scrapes finish (they end by their own deadline
// at the latest) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// A scrape cannot outlive its total deadline, so this is enough time
	// for every one in flight; the extra second covers writing it out.
	sctx, cancel := context.WithTimeout(context.Background(), s.scrapeTimeout+time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// openMetricsUTF8 is OpenMetrics 1.0 with quoted UTF-8 names allowed: the
// decoder validates names by the legacy scheme unless told the exposition
// is not escaped.
func openMetricsUTF8() expfmt.Format {
	return expfmt.FmtOpenMetrics_1_0_0.WithEscapingScheme(model.NoEscaping)
}
