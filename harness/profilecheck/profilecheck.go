// Package profilecheck checks an updater profile: statically (the schema,
// then Validate, each error naming the field) and live (the updater
// started in an empty sandbox, one scan triggered, one scrape), so that a
// profile's mistake is found in seconds, not after a suite run.
package profilecheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// Static reads a profile file and checks it against the schema and
// Validate; the error names each wrong field.
func Static(path string) (profile.Profile, error) {
	return profile.Load(path)
}

// Answer is what the updater answered one request.
type Answer struct {
	Method   string
	Path     string
	Status   int    // 0 if nothing answered
	BodyHead string // the first lines of the body
}

// Problem is a profile field that does not match the updater.
type Problem struct {
	Field   string // the JSON path, as in the schema ("trigger.method")
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Report is what a live check saw.
type Report struct {
	Profile string
	Trigger Answer
	Metrics Answer
	// Named maps each metrics.* field the profile names to what the
	// updater's exposition has of that metric after the scan.
	Named    map[string]Named
	Problems []Problem
	// Log is the tail of the updater's log, for a person reading a
	// failed check.
	Log string
}

// Named is one metric a profile names, as the updater exported it.
type Named struct {
	Metric   string
	Exported bool
	// Value is its samples' values, "name{labels} value" each, at most a
	// few; empty when not exported.
	Value string
}

// Err joins the report's problems into one error, or nil.
func (r Report) Err() error {
	var errs []error
	for _, p := range r.Problems {
		errs = append(errs, errors.New(p.String()))
	}
	return errors.Join(errs...)
}

// config of Live.
type config struct {
	cli       *client.Client
	images    *images.Set
	apiWait   time.Duration
	sandboxFn []harness.Option
}

// Option configures Live.
type Option func(*config)

// WithClient uses an existing engine client.
func WithClient(cli *client.Client) Option { return func(c *config) { c.cli = cli } }

// WithImages uses an already ensured fixture image set.
func WithImages(set *images.Set) Option { return func(c *config) { c.images = set } }

// WithAPIWait bounds the wait for the updater's API to answer (default
// 90 s: an updater lists the engine's containers before it serves,
// which on a loaded shared engine takes long).
func WithAPIWait(d time.Duration) Option { return func(c *config) { c.apiWait = d } }

// WithSandboxOptions adds options for the sandbox the check makes.
func WithSandboxOptions(opts ...harness.Option) Option {
	return func(c *config) { c.sandboxFn = append(c.sandboxFn, opts...) }
}

// Live starts the profile's updater in an empty sandbox (no nodes),
// triggers one scan as the profile says, scrapes the updater's metrics
// once, and reports what answered and which named metrics exist. A
// mismatch between the profile and the updater is a Problem naming the
// field; the error is for what kept the check from running (no engine,
// the image absent). The sandbox is removed before it returns.
func Live(ctx context.Context, p profile.Profile, opts ...Option) (rep Report, err error) {
	cfg := config{apiWait: 90 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	rep = Report{Profile: p.Name, Named: map[string]Named{}}
	if err := p.Validate(); err != nil {
		return rep, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	sbOpts := []harness.Option{harness.WithUpdaterProfile(p)}
	if cfg.cli != nil {
		sbOpts = append(sbOpts, harness.WithClient(cfg.cli))
	}
	if cfg.images != nil {
		sbOpts = append(sbOpts, harness.WithImages(cfg.images))
	}
	sb, err := harness.NewSandbox(ctx, append(sbOpts, cfg.sandboxFn...)...)
	if err != nil {
		return rep, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err = errors.Join(err, sb.Close(cctx))
	}()
	if err := harness.EnsureUpdaterImage(ctx, sb.Client(), p, false); err != nil {
		return rep, err
	}
	problem := func(field, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	sctx, cancel := context.WithTimeout(ctx, cfg.apiWait)
	u, err := sb.StartUpdater(sctx, p, harness.UpdaterOptions{})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return rep, err
		}
		// The updater ran but its API did not answer as the profile
		// says: by the last answer, the token, the metrics path, or
		// (nothing answered) the port or the args that should set it.
		msg := err.Error()
		switch {
		case strings.Contains(msg, "status 401"), strings.Contains(msg, "status 403"):
			problem("api.token", "GET %s was refused (%s): the token is not where the updater looks (header %q, scheme %q, variable %s)", p.API.MetricsPath, firstLine(err), p.API.Token.Header, p.API.Token.Scheme, p.API.Token.Env)
		case strings.Contains(msg, "status 404"), strings.Contains(msg, "status 405"):
			problem("api.metrics_path", "GET %s did not serve metrics (%s)", p.API.MetricsPath, firstLine(err))
		default:
			problem("api.port", "nothing answered GET %s on port %d inside the sandbox within %s; check that args make the updater listen on {api_port}, or give it longer to start (%s)", p.API.MetricsPath, p.API.Port, cfg.apiWait, firstLine(err))
		}
		rep.Log = tailOf(err.Error(), 15)
		return rep, nil
	}
	res, err := u.Scan(ctx)
	rep.Trigger = Answer{Method: p.Trigger.Method, Path: p.Trigger.Path, Status: res.Status, BodyHead: head(res.Body)}
	switch {
	case err != nil:
		problem("trigger.path", "the trigger %s %s got no answer: %v", p.Trigger.Method, p.Trigger.Path, err)
	case res.Status == http.StatusMethodNotAllowed:
		problem("trigger.method", "%s %s answered 405 Method Not Allowed: the updater wants another method", p.Trigger.Method, p.Trigger.Path)
	case res.Status == http.StatusNotFound:
		problem("trigger.path", "%s %s answered 404 Not Found", p.Trigger.Method, p.Trigger.Path)
	case res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden:
		problem("api.token", "%s %s answered %d: the token is not where the updater looks (header %q, scheme %q, variable %s)", p.Trigger.Method, p.Trigger.Path, res.Status, p.API.Token.Header, p.API.Token.Scheme, p.API.Token.Env)
	case !res.OK(p):
		problem("trigger.ok_statuses", "%s %s answered %d, not one of %v: %s", p.Trigger.Method, p.Trigger.Path, res.Status, p.Trigger.OKStatuses, head(res.Body))
	}

	body, err := u.Metrics(ctx)
	rep.Metrics = Answer{Method: http.MethodGet, Path: p.API.MetricsPath, BodyHead: head(body)}
	if err != nil {
		problem("api.metrics_path", "GET %s: %v", p.API.MetricsPath, err)
	} else {
		rep.Metrics.Status = http.StatusOK
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, perr := parser.TextToMetricFamilies(strings.NewReader(body))
		if perr != nil {
			problem("api.metrics_path", "GET %s is not a Prometheus text exposition: %v", p.API.MetricsPath, perr)
		}
		for field, name := range p.Metrics.Named() {
			mf, ok := families[name]
			rep.Named[field] = Named{Metric: name, Exported: ok, Value: sampleValues(mf)}
			if !ok && perr == nil {
				problem(field, "%s is not in the updater's exposition after a scan (it exports %s)", name, strings.Join(similar(families, name), ", "))
			}
		}
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Field < rep.Problems[j].Field })
	if len(rep.Problems) > 0 {
		logs, _ := u.Logs(context.WithoutCancel(ctx))
		rep.Log = tailOf(u.Redact(logs), 15)
	}
	return rep, nil
}

// similar lists the exposition's families that share the name's first
// word (its namespace), or all of them if none does, to help the reader
// find the right name.
func similar(families map[string]*dto.MetricFamily, name string) []string {
	ns, _, _ := strings.Cut(name, "_")
	var same, all []string
	for n := range families {
		all = append(all, n)
		if strings.HasPrefix(n, ns+"_") {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		same = all
	}
	sort.Strings(same)
	if len(same) == 0 {
		return []string{"nothing"}
	}
	return same
}

func head(s string) string { return headOf(s, 5) }

func headOf(s string, lines int) string {
	ls := strings.SplitN(strings.TrimSpace(s), "\n", lines+1)
	if len(ls) > lines {
		ls = append(ls[:lines], "…")
	}
	return strings.Join(ls, "\n")
}

func tailOf(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func firstLine(err error) string {
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}

// sampleValues renders a family's first samples for a person checking a
// profile ("3", or "{status=\"429\"} 1, ..." when labelled); nil is "".
func sampleValues(mf *dto.MetricFamily) string {
	if mf == nil {
		return ""
	}
	const most = 3
	var parts []string
	for _, m := range mf.GetMetric() {
		if len(parts) == most {
			parts = append(parts, fmt.Sprintf("... (%d series)", len(mf.GetMetric())))
			break
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		case m.Histogram != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			v = float64(m.GetSummary().GetSampleCount())
		}
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if len(labels) > 0 {
			s = "{" + strings.Join(labels, ",") + "} " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
