package metricclient

// golden.go: golden comparisons of a sandbox's families with an expected
// exposition, in the manner of client_golang's prometheus/testutil
// (CollectAndCompare, ScrapeAndCompare), with a diff that says what
// differs family by family rather than two whole texts.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// ErrMismatch: the sandbox's families differ from the expected exposition.
// CompareSandbox's error wraps it, with the differences.
var ErrMismatch = errors.New("metrics differ from the expected exposition")

// CompareOption changes what CompareSandbox compares.
type CompareOption func(*compareConfig)

type compareConfig struct {
	names        []string // families compared; none: every family
	source       string   // "": every source, with the source label
	ignoreValues bool
}

// OnlyFamilies compares only the families of these names (family names:
// "x", not "x_bucket"), as testutil's metricNames. Unlike testutil, an
// expected family outside them is an error, not silently left out
// (client_golang issue 1351), and so is a name that neither side has (a
// misspelt name would compare nothing with nothing).
func OnlyFamilies(names ...string) CompareOption {
	return func(c *compareConfig) { c.names = append(c.names, names...) }
}

// FromSource compares only the sandbox's series read from one source
// (SourceUpdater, SourceRegistry, SourceEngine), without the source
// label: the expected exposition is then written as that source serves it.
func FromSource(source string) CompareOption {
	return func(c *compareConfig) { c.source = source }
}

// IgnoreValues compares the families (names, HELP, TYPE) and their sets
// of series (names and label sets), not the values: for series whose
// values depend on timing.
func IgnoreValues() CompareOption {
	return func(c *compareConfig) { c.ignoreValues = true }
}

// maxDiffSeries is how many series lines the diff shows of one family
// that is missing or unexpected as a whole.
const maxDiffSeries = 20

// CompareSandbox compares the families of one sandbox in m (the series
// whose sandbox label is sandbox, compared without that label) with
// expected, an exposition in the Prometheus text format: the families'
// names, HELP (none counts as empty, as in testutil) and TYPE, the set of
// series (sample names and label sets) and their values. A family with
// no series is no family, on either side. On a difference the error wraps
// ErrMismatch and lists, family by family, what differs as a diff (-want
// +got): a missing or unexpected family with its lines, a HELP or TYPE
// changed, a series missing, unexpected, or with another value.
func (m MetricData) CompareSandbox(sandbox string, expected io.Reader, opts ...CompareOption) error {
	if sandbox == "" {
		return errors.New("CompareSandbox: the sandbox id is empty")
	}
	var cfg compareConfig
	for _, o := range opts {
		o(&cfg)
	}
	raw, err := io.ReadAll(expected)
	if err != nil {
		return fmt.Errorf("read the expected exposition: %w", err)
	}
	wantIdx, err := NewMetricData(string(raw)).index()
	if err != nil {
		return fmt.Errorf("the expected exposition: %w", err)
	}
	gotIdx, err := m.index()
	if err != nil {
		return fmt.Errorf("%s: %w", m.Origin(), err)
	}
	what := "sandbox " + sandbox
	if cfg.source != "" {
		what += ", source " + cfg.source
	}
	want, err := goldenFamilies(wantIdx, cfg, nil)
	if err != nil {
		return fmt.Errorf("the expected exposition: %w", err)
	}
	sel := []labelPair{{LabelSandbox, sandbox}}
	if cfg.source != "" {
		sel = append(sel, labelPair{LabelSource, cfg.source})
	}
	slices.SortFunc(sel, cmpPair)
	got, err := goldenFamilies(gotIdx, cfg, sel)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", what, m.Origin(), err)
	}
	if len(cfg.names) > 0 {
		var left []string
		for _, name := range keys(want) {
			if !slices.Contains(cfg.names, name) {
				left = append(left, name)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("the expected exposition has families that OnlyFamilies leaves out, %s: add them there or remove them from the expected text", strings.Join(left, ", "))
		}
		for _, name := range cfg.names {
			if want[name] == nil && got[name] == nil {
				return fmt.Errorf("OnlyFamilies names %s, which neither the expected exposition nor %s in %s has: misspelt?%s",
					name, what, m.Origin(), nearestNames(gotIdx.names, name))
			}
		}
	}
	diff, n := diffFamilies(want, got, cfg.ignoreValues)
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s in %s: %w: %d of %d families differ (-want +got):\n%s",
		what, m.Origin(), ErrMismatch, n, len(mergeNames(keys(want), keys(got))), diff)
}

// ScrapeAndCompare scrapes the server and compares the sandbox's families
// with expected, as CompareSandbox does (with FromSource, only that
// source is asked for).
func (c *MetricClient) ScrapeAndCompare(ctx context.Context, sandbox string, expected io.Reader, opts ...CompareOption) error {
	var cfg compareConfig
	for _, o := range opts {
		o(&cfg)
	}
	var params map[string]string
	if cfg.source != "" {
		params = map[string]string{LabelSource: cfg.source}
	}
	md, err := c.GetMetrics(ctx, params)
	if err != nil {
		return err
	}
	return md.CompareSandbox(sandbox, expected, opts...)
}

// goldenFamily is one family as compared: its HELP, TYPE and series
// lines, keyed by series (name and labels, without the selecting labels).
type goldenFamily struct {
	name, help, typ string
	series          map[string]goldenSeries
}

type goldenSeries struct {
	display string // name{labels}, long values cut
	value   float64
}

// goldenFamilies collects idx's families as compared: with sel, only the
// series that have every pair of sel, without those labels; without sel
// (the expected side), every series, none of which may carry the labels
// the comparison selects on.
func goldenFamilies(idx *index, cfg compareConfig, sel []labelPair) (map[string]*goldenFamily, error) {
	drop := []string{LabelSandbox}
	if cfg.source != "" {
		drop = append(drop, LabelSource)
	}
	out := map[string]*goldenFamily{}
	for _, name := range idx.names {
		for _, e := range idx.byName[name] {
			if len(cfg.names) > 0 && sel != nil && !slices.Contains(cfg.names, e.fam.name) {
				continue
			}
			if sel != nil && !e.matchesSorted(sel) {
				continue
			}
			all := e.labels()
			kept := all[:0]
			for _, p := range all {
				if !slices.Contains(drop, p.name) {
					kept = append(kept, p)
				} else if sel == nil {
					return nil, fmt.Errorf("series %s has the label %s: leave it out, the comparison selects on it and compares without it", e, p.name)
				}
			}
			f := out[e.fam.name]
			if f == nil {
				f = &goldenFamily{name: e.fam.name, help: e.fam.help, typ: e.fam.typ, series: map[string]goldenSeries{}}
				out[e.fam.name] = f
			}
			key := e.name() + formatPairs(kept)
			if _, dup := f.series[key]; dup {
				return nil, fmt.Errorf("%w: series %s occurs more than once", ErrAmbiguous, e.name()+displayPairs(kept))
			}
			display := e.name()
			if len(kept) > 0 {
				display += displayPairs(kept)
			}
			f.series[key] = goldenSeries{display: display, value: e.value}
		}
	}
	return out, nil
}

// keys returns m's keys, sorted.
func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// helpEscaper writes HELP text as the text format does.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func (f *goldenFamily) helpLine() string {
	return strings.TrimSuffix("# HELP "+f.name+" "+helpEscaper.Replace(f.help), " ")
}
func (f *goldenFamily) typeLine() string { return "# TYPE " + f.name + " " + f.typ }

func (s goldenSeries) line(ignoreValues bool) string {
	if ignoreValues {
		return s.display
	}
	return s.display + " " + formatFloat(s.value)
}

// diffFamilies writes the differences of want and got family by family,
// sorted by name, and counts the families that differ.
func diffFamilies(want, got map[string]*goldenFamily, ignoreValues bool) (string, int) {
	var b strings.Builder
	n := 0
	line := func(sign byte, s string) {
		b.WriteByte(sign)
		b.WriteByte('\t')
		b.WriteString(s)
		b.WriteByte('\n')
	}
	// whole writes every line of a family that only one side has.
	whole := func(sign byte, f *goldenFamily) {
		line(sign, f.helpLine())
		line(sign, f.typeLine())
		ks := keys(f.series)
		for i, k := range ks {
			if i == maxDiffSeries {
				fmt.Fprintf(&b, "%c\t... and %d more series\n", sign, len(ks)-i)
				break
			}
			line(sign, f.series[k].line(ignoreValues))
		}
	}
	for _, name := range mergeNames(keys(want), keys(got)) {
		w, g := want[name], got[name]
		switch {
		case g == nil:
			n++
			fmt.Fprintf(&b, "family %s: missing (%s, %d series)\n", name, w.typ, len(w.series))
			whole('-', w)
			continue
		case w == nil:
			n++
			fmt.Fprintf(&b, "family %s: not expected (%s, %d series)\n", name, g.typ, len(g.series))
			whole('+', g)
			continue
		}
		var fb strings.Builder
		fline := func(sign byte, s string) { fmt.Fprintf(&fb, "%c\t%s\n", sign, s) }
		if w.help != g.help {
			fline('-', w.helpLine())
			fline('+', g.helpLine())
		}
		if w.typ != g.typ {
			fline('-', w.typeLine())
			fline('+', g.typeLine())
		}
		missing, extra, changed := 0, 0, 0
		for _, k := range mergeNames(keys(w.series), keys(g.series)) {
			ws, inW := w.series[k]
			gs, inG := g.series[k]
			switch {
			case !inG:
				missing++
				fline('-', ws.line(ignoreValues))
			case !inW:
				extra++
				fline('+', gs.line(ignoreValues))
			case !ignoreValues && !sameValue(ws.value, gs.value):
				changed++
				fline('-', ws.line(false))
				fline('+', gs.line(false))
			}
		}
		if fb.Len() == 0 {
			continue
		}
		n++
		var what []string
		if w.help != g.help {
			what = append(what, "HELP differs")
		}
		if w.typ != g.typ {
			what = append(what, "TYPE differs")
		}
		for _, c := range []struct {
			n    int
			what string
		}{{missing, "missing"}, {extra, "not expected"}, {changed, "with another value"}} {
			if c.n > 0 {
				what = append(what, fmt.Sprintf("%d series %s", c.n, c.what))
			}
		}
		fmt.Fprintf(&b, "family %s: %s\n", name, strings.Join(what, ", "))
		b.WriteString(fb.String())
	}
	return strings.TrimSuffix(b.String(), "\n"), n
}
