package metricclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Labels the metrics server adds to every series it serves.
const (
	LabelSandbox = "sandbox"
	LabelCluster = "cluster"
	LabelNode    = "node"
	LabelSource  = "source"
)

// Sources, the values of the source label: where a series was read.
const (
	SourceUpdater  = "updater"
	SourceRegistry = "registry"
	SourceEngine   = "engine"
)

// SandboxMetadataMetric is the one series per sandbox that carries the
// sandbox's description in its labels, always with the value 1.
const SandboxMetadataMetric = "seatrial_meta_sandbox_metadata"

// Errors a look-up wraps, so that a caller can tell "not there" from
// "ambiguous" with errors.Is.
var (
	// ErrNoMatch: no series has the wanted name and labels.
	ErrNoMatch = errors.New("no matching series")
	// ErrAmbiguous: more than one series has the wanted name and labels.
	ErrAmbiguous = errors.New("more than one matching series")
	// ErrNotInteger: the one matching series's value is not a finite integer.
	ErrNotInteger = errors.New("value is not an integer")
)

// WantMetric designates one series of one sandbox.
type WantMetric struct {
	// Metric is the name of the series, as written in the exposition
	// (for a histogram's parts: NAME_count, NAME_sum, NAME_bucket).
	Metric string
	// Sandbox is the sandbox id; it must be set.
	Sandbox string
	// Cluster and Node select a node container's series; leave them empty
	// for series that are not about a node (they then match anything).
	Cluster, Node string
	// ExtraLabels must match as well. A label wanted with the value ""
	// must be absent (Prometheus treats an empty label as no label).
	ExtraLabels map[string]string

	// What a failed assertion says of the series (see ExpectInteger and
	// ExpectDelta), so that it never reads only "expected 2, actual 5":
	// Key is the name the updater's profile gives the metric
	// ("metrics.scanned"), Sense what the number means ("containers
	// scanned in this sandbox's last scan"), IfMore and IfLess what a
	// value above or below the wanted one suggests ("the updater also
	// counted containers outside its scope?").
	Key, Sense, IfMore, IfLess string
}

// Describe names the series for a failure: the metric, the profile's
// name for it, what it means and the sandbox.
func (w WantMetric) Describe() string {
	var b strings.Builder
	b.WriteString(w.Metric)
	switch {
	case w.Key != "" && w.Sense != "":
		fmt.Fprintf(&b, " (the profile's %s: %s)", w.Key, w.Sense)
	case w.Key != "":
		fmt.Fprintf(&b, " (the profile's %s)", w.Key)
	case w.Sense != "":
		fmt.Fprintf(&b, " (%s)", w.Sense)
	}
	fmt.Fprintf(&b, " in sandbox %s", w.Sandbox)
	return b.String()
}

// hint is what a value got instead of want suggests, "" if nothing.
func (w WantMetric) hint(got, want float64) string {
	switch {
	case got > want && w.IfMore != "":
		return "; " + w.IfMore
	case got < want && w.IfLess != "":
		return "; " + w.IfLess
	}
	return ""
}

// labels returns the label set the want selects on.
func (w WantMetric) labels() map[string]string {
	l := make(map[string]string, len(w.ExtraLabels)+3)
	for k, v := range w.ExtraLabels {
		l[k] = v
	}
	l[LabelSandbox] = w.Sandbox
	if w.Cluster != "" {
		l[LabelCluster] = w.Cluster
	}
	if w.Node != "" {
		l[LabelNode] = w.Node
	}
	return l
}

// Series is one sample line of an exposition. Histograms and summaries are
// spread out into their NAME_bucket / NAME_count / NAME_sum (and quantile)
// series, as the text format writes them.
type Series struct {
	Name   string            // the sample's name, e.g. "x_bucket"
	Family string            // the family's name, e.g. "x"
	Type   string            // "counter", "gauge", "histogram", "summary", "untyped"
	Labels map[string]string // without __name__
	Value  float64
	// Timestamp is the sample's own timestamp, zero when the exposition
	// gave none (the usual case).
	Timestamp time.Time
}

// String writes the series as name{labels} with labels sorted.
func (s Series) String() string { return s.Name + formatLabels(s.Labels) }

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram is one histogram series (all its buckets, its count and sum).
type Histogram struct {
	Labels  map[string]string
	Count   uint64
	Sum     float64
	Buckets []Bucket // sorted by upper bound, +Inf last when present
}

// MetricData is the text of one scrape, with look-ups. It is parsed once, on
// the first look-up, and every look-up after that is answered from an index
// by name: a scenario asks dozens of questions of one scrape, and re-parsing
// a large exposition for each (as gVisor's client does) costs milliseconds
// every time. A MetricData is safe for concurrent use; copies share the
// parsed index.
type MetricData struct {
	raw    string
	st     *parseState
	origin string // which scrape this is, for failures (see From)
}

// From returns m marked with where it came from ("scrape 3 of the
// metrics server at 12:00:01.2"), which failed assertions name.
func (m MetricData) From(origin string) MetricData {
	m.origin = origin
	return m
}

// Origin is where the scrape came from (see From); "a scrape" if unsaid.
func (m MetricData) Origin() string {
	if m.origin == "" {
		return "a scrape"
	}
	return m.origin
}

// ExpectInteger checks that the one series want designates has the value
// v in m. A mismatch says which metric, its meaning and the profile's
// name for it, the sandbox, the scrape, and what the difference suggests.
func (m MetricData) ExpectInteger(want WantMetric, v int64) error {
	got, _, err := m.GetPrometheusContainerInteger(want)
	if err != nil {
		return fmt.Errorf("%s, from %s: %w", want.Describe(), m.Origin(), err)
	}
	if got == v {
		return nil
	}
	return fmt.Errorf("%s is %d in %s, want %d%s", want.Describe(), got, m.Origin(), v, want.hint(float64(got), float64(v)))
}

type parseState struct {
	once sync.Once
	idx  *index
	err  error
}

// index holds the series of one exposition by sample name.
type index struct {
	byName     map[string][]*entry
	histograms map[string][]*Histogram // by family name
	names      []string                // sorted sample names
}

// entry is a series in the index. It is kept small, for an exposition of
// a million series: its labels are a range of its family's pool of
// string-table references (8 bytes a pair, not 32), its name the family's
// name with one of four suffixes. A Series (with a map) is made only for an
// answer.
type entry struct {
	fam         *familyInfo // shared by the family's entries
	value       float64
	timestampMs int64  // 0: none
	off, n      uint32 // labels: fam.pool[off : off+n], sorted by name
	kind        uint8  // sample name: fam.names[kind]
}

// Sample kinds: the family's own name, or a histogram's or summary's part.
const (
	kindPlain = iota
	kindBucket
	kindSum
	kindCount
)

// familyInfo is what the entries of one family share.
type familyInfo struct {
	name, typ string
	// help is the family's HELP text ("" when it has none), for the
	// golden comparison (CompareSandbox): one string per family, not per
	// series, so it costs the parse nothing to speak of.
	help  string
	names [4]string    // by kind: name, name_bucket, name_sum, name_count
	pool  []labelRef   // the label pairs of the family's entries
	strs  *stringTable // what labelRefs refer to
}

// labelRef is a label pair as two indexes into the index's string table.
type labelRef struct{ name, value uint32 }

// stringTable holds each distinct label name and value of an index once
// (sandbox ids, label names and most values repeat from series to series).
type stringTable struct{ s []string }

type labelPair struct{ name, value string }

func cmpPair(a, b labelPair) int { return strings.Compare(a.name, b.name) }

func (e *entry) name() string { return e.fam.names[e.kind] }

func (e *entry) refs() []labelRef { return e.fam.pool[e.off : e.off+e.n] }

// labels returns the series's label pairs, sorted by name.
func (e *entry) labels() []labelPair {
	out := make([]labelPair, e.n)
	for i, r := range e.refs() {
		out[i] = labelPair{e.fam.strs.s[r.name], e.fam.strs.s[r.value]}
	}
	return out
}

func (e *entry) series() Series {
	l := make(map[string]string, e.n)
	for _, r := range e.refs() {
		l[e.fam.strs.s[r.name]] = e.fam.strs.s[r.value]
	}
	var ts time.Time
	if e.timestampMs != 0 {
		ts = time.UnixMilli(e.timestampMs)
	}
	return Series{Name: e.name(), Family: e.fam.name, Type: e.fam.typ, Labels: l, Value: e.value, Timestamp: ts}
}

// matchesSorted reports whether e has every wanted pair; want is sorted
// by name, as e's labels are.
func (e *entry) matchesSorted(want []labelPair) bool {
	refs, strs := e.refs(), e.fam.strs.s
	i := 0
	for _, w := range want {
		for i < len(refs) && strs[refs[i].name] < w.name {
			i++
		}
		have := ""
		if i < len(refs) && strs[refs[i].name] == w.name {
			have = strs[refs[i].value]
		}
		if have != w.value {
			return false
		}
	}
	return true
}

// String writes the series for an error message: huge label values cut.
func (e *entry) String() string { return e.name() + displayPairs(e.labels()) }

// NewMetricData wraps the text of an exposition. Nothing is parsed yet.

func NewMetricData(text string) MetricData {
	return MetricData{raw: text, st: &parseState{}}
}

// String returns the raw exposition.
func (m MetricData) String() string { return m.raw }

// Err parses the exposition if that has not happened yet and returns the
// parse error, if any.
func (m MetricData) Err() error {
	_, err := m.index()
	return err
}

func (m MetricData) index() (*index, error) {
	if m.st == nil {
		// A zero MetricData (or one made by conversion) has no shared
		// state to remember the result in: parse every time.
		return parse(m.raw)
	}
	m.st.once.Do(func() { m.st.idx, m.st.err = parse(m.raw) })
	return m.st.idx, m.st.err
}

// parse reads the text format, or OpenMetrics when the body ends with the
// OpenMetrics "# EOF" marker (the classic text parser rejects OpenMetrics'
// exemplars and EOF line). expfmt's OpenMetrics parser matches every line
// against the ABNF grammar and costs about a millisecond per line, a
// thousand times the text parser: the metrics server asks for and serves
// the text format, so OpenMetrics only comes from an exporter that ignores
// Accept. The text format is read by scanText (textscan.go), five times
// faster than expfmt, which reads what scanText leaves to it.
func parse(raw string) (*index, error) {
	fams, err := parseFamilies(raw)
	if err != nil {
		return nil, err
	}
	idx := &index{byName: map[string][]*entry{}, histograms: map[string][]*Histogram{}}
	b := indexBuilder{idx: idx, strs: &stringTable{}, ids: map[string]uint32{}}
	for _, f := range fams {
		b.add(f)
	}
	idx.names = make([]string, 0, len(idx.byName))
	for n := range idx.byName {
		idx.names = append(idx.names, n)
	}
	sort.Strings(idx.names)
	return idx, nil
}

// parseFamilies is the serial parse of raw into its families, as parse
// describes: the text format by scanText, or by expfmt when scanText
// gives up on it; OpenMetrics by expfmt.
func parseFamilies(raw string) ([]*textFamily, error) {
	if !isOpenMetrics(raw) {
		fams, err := scanText(raw)
		if err == nil {
			return fams, nil
		}
	}
	dfams, err := expfmtFamilies(raw)
	if err != nil {
		return nil, err
	}
	fams := make([]*textFamily, len(dfams))
	for i, mf := range dfams {
		fams[i] = fromDTO(mf)
	}
	return fams, nil
}

// expfmtFamilies parses raw with expfmt alone: OpenMetrics when it ends
// with "# EOF", the text format otherwise. It is parseFamilies' fallback,
// and the reference FuzzTextScanner holds scanText to.
func expfmtFamilies(raw string) ([]*dto.MetricFamily, error) {
	var fams []*dto.MetricFamily
	if isOpenMetrics(raw) {
		dec := expfmt.NewDecoder(strings.NewReader(raw), openMetricsUTF8())
		for {
			mf := &dto.MetricFamily{}
			err := dec.Decode(mf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("parse OpenMetrics exposition: %w", err)
			}
			fams = append(fams, mf)
		}
	} else {
		// UTF-8 validation accepts every name the legacy scheme accepts,
		// and the quoted names of newer exporters as well.
		var err error
		fams, err = ParseText(strings.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse Prometheus text exposition: %w", err)
		}
	}
	return fams, nil
}

// ParseText parses the classic text format serially (the metrics server
// reads its sources' answers with it too). expfmt's parser attaches a
// histogram's or summary's _bucket, _sum and _count lines to their family
// wherever they come, even after other families' TYPE lines, so the text
// cannot be cut at family boundaries and parsed in pieces without changing
// the answer (it was, once: issue 12, defect 4).
func ParseText(r io.Reader) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		fams = append(fams, mf)
	}
	return fams, nil
}

// fromDTO is mf as scanText would have given it, for the index: only
// what the index reads (names, type, labels, values, timestamps).
func fromDTO(mf *dto.MetricFamily) *textFamily {
	f := &textFamily{name: mf.GetName(), help: mf.GetHelp(), hasHelp: mf.Help != nil, typ: mf.GetType(), hasType: mf.Type != nil}
	f.metrics = make([]textMetric, len(mf.GetMetric()))
	for i, m := range mf.GetMetric() {
		tm := &f.metrics[i]
		for _, lp := range m.GetLabel() {
			tm.labels = append(tm.labels, labelPair{lp.GetName(), lp.GetValue()})
		}
		tm.ts, tm.hasTS = m.GetTimestampMs(), m.TimestampMs != nil
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			tm.value = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			tm.value = m.GetGauge().GetValue()
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			a := &textAgg{sum: s.GetSampleSum(), count: s.GetSampleCount()}
			for _, q := range s.GetQuantile() {
				a.quantiles = append(a.quantiles, textQuantile{q.GetQuantile(), q.GetValue()})
			}
			tm.agg = a
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			a := &textAgg{sum: h.GetSampleSum(), count: h.GetSampleCount()}
			for _, b := range h.GetBucket() {
				a.buckets = append(a.buckets, textBucket{upper: b.GetUpperBound(), count: b.GetCumulativeCount()})
			}
			tm.agg = a
		default:
			tm.value = m.GetUntyped().GetValue()
		}
	}
	return f
}

func isOpenMetrics(raw string) bool {
	s := strings.TrimRight(raw, "\n\r\t ")
	return strings.HasSuffix(s, "\n# EOF") || s == "# EOF"
}

// indexBuilder adds families to an index, keeping one copy of each
// distinct label name and value in its string table.
type indexBuilder struct {
	idx  *index
	strs *stringTable
	ids  map[string]uint32
	tmp  []labelRef
}

func (b *indexBuilder) id(s string) uint32 {
	if id, ok := b.ids[s]; ok {
		return id
	}
	id := uint32(len(b.strs.s))
	b.ids[s] = id
	b.strs.s = append(b.strs.s, s)
	return id
}

func (b *indexBuilder) cmpRef(x, y labelRef) int {
	return strings.Compare(b.strs.s[x.name], b.strs.s[y.name])
}

func (b *indexBuilder) add(f *textFamily) {
	idx := b.idx
	fam := f.name
	typ := strings.ToLower(f.getType().String())
	fi := &familyInfo{name: fam, typ: typ, help: f.help, strs: b.strs,
		names: [4]string{fam, fam + "_bucket", fam + "_sum", fam + "_count"}}
	agg := false
	switch f.getType() {
	case dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		agg = true
	}
	// Exact sizes, so that the family's entries and label pairs take one
	// allocation each, and pointers into them stay valid.
	nEntries, nRefs := 0, 0
	for i := range f.metrics {
		m := &f.metrics[i]
		nl := 0
		for _, lp := range m.labels {
			if lp.value != "" { // an empty label is no label
				nl++
			}
		}
		if !agg {
			nEntries++
			nRefs += nl
			continue
		}
		extra := len(m.agg.quantiles) + len(m.agg.buckets)
		nEntries += 2 + extra
		nRefs += nl + extra*(nl+1)
	}
	slab := make([]entry, 0, nEntries)
	fi.pool = make([]labelRef, 0, nRefs)
	for i := range f.metrics {
		m := &f.metrics[i]
		from := uint32(len(fi.pool))
		for _, lp := range m.labels {
			if lp.value != "" {
				fi.pool = append(fi.pool, labelRef{b.id(lp.name), b.id(lp.value)})
			}
		}
		slices.SortFunc(fi.pool[from:], b.cmpRef)
		n := uint32(len(fi.pool)) - from
		ts := m.ts
		put := func(kind uint8, off, n uint32, v float64) {
			slab = append(slab, entry{fam: fi, value: v, timestampMs: ts, off: off, n: n, kind: kind})
			name := fi.names[kind]
			idx.byName[name] = append(idx.byName[name], &slab[len(slab)-1])
		}
		// putExtra is a quantile or bucket: the labels and one more.
		putExtra := func(kind uint8, k, kv string, v float64) {
			off := uint32(len(fi.pool))
			fi.pool = append(fi.pool, fi.pool[from:from+n]...)
			fi.pool = append(fi.pool, labelRef{b.id(k), b.id(kv)})
			slices.SortFunc(fi.pool[off:], b.cmpRef)
			put(kind, off, n+1, v)
		}
		if !agg {
			put(kindPlain, from, n, m.value)
			continue
		}
		a := m.agg
		if f.getType() == dto.MetricType_SUMMARY {
			for _, q := range a.quantiles {
				putExtra(kindPlain, "quantile", formatFloat(q.q), q.v)
			}
		} else {
			lm := make(map[string]string, n)
			for _, r := range fi.pool[from : from+n] {
				lm[b.strs.s[r.name]] = b.strs.s[r.value]
			}
			hist := &Histogram{Labels: lm, Count: a.count, Sum: a.sum}
			for _, bk := range a.buckets {
				hist.Buckets = append(hist.Buckets, Bucket{UpperBound: bk.upper, Count: bk.count})
				putExtra(kindBucket, "le", formatFloat(bk.upper), float64(bk.count))
			}
			sort.SliceStable(hist.Buckets, func(i, j int) bool { return hist.Buckets[i].UpperBound < hist.Buckets[j].UpperBound })
			idx.histograms[fam] = append(idx.histograms[fam], hist)
		}
		put(kindSum, from, n, a.sum)
		put(kindCount, from, n, float64(a.count))
	}
}

// Names returns the sorted sample names of the exposition.
func (m MetricData) Names() ([]string, error) {
	idx, err := m.index()
	if err != nil {
		return nil, err
	}
	return append([]string(nil), idx.names...), nil
}

// All returns every series with the given sample name.
func (m MetricData) All(name string) ([]Series, error) {
	idx, err := m.index()
	if err != nil {
		return nil, err
	}
	out := make([]Series, 0, len(idx.byName[name]))
	for _, e := range idx.byName[name] {
		out = append(out, e.series())
	}
	return out, nil
}

// Find returns the one series with the given name whose labels include
// wantLabels (a wanted "" means the label must be absent). No match or more
// than one is an error saying what was there.
func (m MetricData) Find(name string, wantLabels map[string]string) (Series, error) {
	idx, err := m.index()
	if err != nil {
		return Series{}, err
	}
	e, err := idx.find(name, wantLabels)
	if err != nil {
		return Series{}, err
	}
	return e.series(), nil
}

func (idx *index) find(name string, want map[string]string) (*entry, error) {
	all, ok := idx.byName[name]
	if !ok {
		return nil, fmt.Errorf("metric %s: %w: no series by that name%s", name, ErrNoMatch, idx.nearest(name))
	}
	// The wanted labels as a sorted slice: checking a series is then a
	// merge of two short sorted lists, with no map access per series.
	wp := make([]labelPair, 0, len(want))
	for k, v := range want {
		wp = append(wp, labelPair{k, canonicalValue(k, v)})
	}
	slices.SortFunc(wp, cmpPair)
	var match []*entry
	for _, e := range all {
		if e.matchesSorted(wp) {
			match = append(match, e)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("metric %s%s: %w; its %d series have the labels:%s",
			name, displayLabels(want), ErrNoMatch, len(all), listSeries(all, 20))
	default:
		return nil, fmt.Errorf("metric %s%s: %w: %d series match:%s",
			name, displayLabels(want), ErrAmbiguous, len(match), listSeries(match, 20))
	}
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != canonicalValue(k, v) {
			return false
		}
	}
	return true
}

// canonicalValue writes a wanted le or quantile value as the index does
// (formatFloat of the parsed number), so that a look-up may spell it as
// the exposition does: "1.0", "+Inf", "0.50". Other labels, and values
// that are no number, are compared as they are.
func canonicalValue(name, value string) string {
	if name != model.BucketLabel && name != model.QuantileLabel {
		return value
	}
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return value
	}
	return formatFloat(f)
}

// nearest names the metric names closest to name by edit distance.
func (idx *index) nearest(name string) string { return nearestNames(idx.names, name) }

// nearestNames names the five of names closest to name by edit distance.
func nearestNames(names []string, name string) string {
	if len(names) == 0 {
		return " (the exposition has no series at all)"
	}
	type cand struct {
		n string
		d int
	}
	var c []cand
	// Compare at most maxNameCompare bytes: edit distance is quadratic,
	// and a 100 kB name (say, from a fuzzer) against every name must not
	// take minutes. Real names are far shorter.
	const maxNameCompare = 128
	short := func(s string) string { return s[:min(len(s), maxNameCompare)] }
	for _, n := range names {
		c = append(c, cand{n, editDistance(short(name), short(n))})
	}
	sort.SliceStable(c, func(i, j int) bool { return c[i].d < c[j].d })
	var near []string
	for i := 0; i < len(c) && i < 5; i++ {
		near = append(near, c[i].n)
	}
	return "; nearest names: " + strings.Join(near, ", ")
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func listSeries(ss []*entry, limit int) string {
	var b strings.Builder
	for i, s := range ss {
		if i == limit {
			fmt.Fprintf(&b, "\n\t... and %d more", len(ss)-limit)
			break
		}
		fmt.Fprintf(&b, "\n\t%s %s", displayPairs(s.labels()), formatFloat(s.value))
	}
	return b.String()
}

// formatLabels writes {a="x",b="y"} with sorted keys, "{}" for none.
func formatLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// formatPairs writes sorted pairs as formatLabels does.
func formatPairs(l []labelPair) string { return writePairs(l, strconv.Quote) }

// writePairs writes {a="x",...}, each value written by quote.
func writePairs(l []labelPair, quote func(string) string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(quote(p.value))
	}
	b.WriteByte('}')
	return b.String()
}

// maxDisplayValue is how much of a label value an error message shows: a
// hostile or broken exporter's megabyte-long value must not bury the
// message.
const maxDisplayValue = 256

func displayValue(v string) string {
	if len(v) <= maxDisplayValue {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s…(%d more bytes)", strconv.Quote(v[:maxDisplayValue]), len(v)-maxDisplayValue)
}

// displayPairs is formatPairs for a message, with long values cut.
func displayPairs(l []labelPair) string { return writePairs(l, displayValue) }

// displayLabels is formatLabels for a message, with long values cut.
func displayLabels(l map[string]string) string {
	pairs := make([]labelPair, 0, len(l))
	for k, v := range l {
		pairs = append(pairs, labelPair{k, v})
	}
	slices.SortFunc(pairs, cmpPair)
	return displayPairs(pairs)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// toInteger converts a sample value that must be a whole number.
func toInteger(s *entry) (int64, error) {
	v := s.value
	// 2^63 itself is not representable, hence >=.
	if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || v >= math.MaxInt64 || v < math.MinInt64 {
		return 0, fmt.Errorf("%s: %w: %s", s, ErrNotInteger, formatFloat(v))
	}
	return int64(v), nil
}

// GetPrometheusInteger returns the integer value and timestamp of the one
// series with the given name whose labels include wantLabels.
func (m MetricData) GetPrometheusInteger(metricName string, wantLabels map[string]string) (int64, time.Time, error) {
	idx, err := m.index()
	if err != nil {
		return 0, time.Time{}, err
	}
	e, err := idx.find(metricName, wantLabels)
	if err != nil {
		return 0, time.Time{}, err
	}
	v, err := toInteger(e)
	var ts time.Time
	if e.timestampMs != 0 {
		ts = time.UnixMilli(e.timestampMs)
	}
	return v, ts, err
}

// GetPrometheusFloat is GetPrometheusInteger for any value, NaN and ±Inf
// included.
func (m MetricData) GetPrometheusFloat(metricName string, wantLabels map[string]string) (float64, time.Time, error) {
	s, err := m.Find(metricName, wantLabels)
	if err != nil {
		return 0, time.Time{}, err
	}
	return s.Value, s.Timestamp, nil
}

// GetPrometheusContainerInteger returns the integer value of want.Metric for
// want.Sandbox (and want.Cluster, want.Node, want.ExtraLabels).
func (m MetricData) GetPrometheusContainerInteger(want WantMetric) (int64, time.Time, error) {
	if want.Sandbox == "" {
		return 0, time.Time{}, errors.New("WantMetric.Sandbox is empty")
	}
	return m.GetPrometheusInteger(want.Metric, want.labels())
}

// GetPrometheusContainerFloat is GetPrometheusContainerInteger for any value.
func (m MetricData) GetPrometheusContainerFloat(want WantMetric) (float64, time.Time, error) {
	if want.Sandbox == "" {
		return 0, time.Time{}, errors.New("WantMetric.Sandbox is empty")
	}
	return m.GetPrometheusFloat(want.Metric, want.labels())
}

// GetSandboxMetadataMetric returns the labels of the sandbox's
// seatrial_meta_sandbox_metadata series (want.Metric is ignored).
func (m MetricData) GetSandboxMetadataMetric(want WantMetric) (map[string]string, error) {
	if want.Sandbox == "" {
		return nil, errors.New("WantMetric.Sandbox is empty")
	}
	s, err := m.Find(SandboxMetadataMetric, want.labels())
	if err != nil {
		return nil, err
	}
	if s.Value != 1 {
		return nil, fmt.Errorf("%s: value is %s, want 1", s, formatFloat(s.Value))
	}
	out := make(map[string]string, len(s.Labels))
	for k, v := range s.Labels {
		out[k] = v
	}
	return out, nil
}

// GetPrometheusHistogram returns the one histogram of the family name (no
// _bucket suffix) whose labels include wantLabels.
func (m MetricData) GetPrometheusHistogram(name string, wantLabels map[string]string) (Histogram, error) {
	idx, err := m.index()
	if err != nil {
		return Histogram{}, err
	}
	all, ok := idx.histograms[name]
	if !ok {
		return Histogram{}, fmt.Errorf("histogram %s: %w: no histogram by that name%s", name, ErrNoMatch, idx.nearest(name+"_count"))
	}
	var match []*Histogram
	for _, h := range all {
		if labelsMatch(h.Labels, wantLabels) {
			match = append(match, h)
		}
	}
	if len(match) == 1 {
		// A copy throughout: the caller may edit what it gets.
		h := *match[0]
		h.Labels = maps.Clone(h.Labels)
		h.Buckets = slices.Clone(h.Buckets)
		return h, nil
	}
	var b strings.Builder
	for _, h := range all {
		fmt.Fprintf(&b, "\n\t%s count=%d", displayLabels(h.Labels), h.Count)
	}
	if len(match) == 0 {
		return Histogram{}, fmt.Errorf("histogram %s%s: %w; it has:%s", name, displayLabels(wantLabels), ErrNoMatch, b.String())
	}
	return Histogram{}, fmt.Errorf("histogram %s%s: %w: %d match among:%s", name, displayLabels(wantLabels), ErrAmbiguous, len(match), b.String())
}

// GetPrometheusContainerHistogram is GetPrometheusHistogram for one sandbox.
func (m MetricData) GetPrometheusContainerHistogram(want WantMetric) (Histogram, error) {
	if want.Sandbox == "" {
		return Histogram{}, errors.New("WantMetric.Sandbox is empty")
	}
	return m.GetPrometheusHistogram(want.Metric, want.labels())
}

// openMetricsUTF8 is OpenMetrics 1.0 with quoted UTF-8 names allowed: the
// decoder validates names by the legacy scheme unless told the exposition
// is not escaped.
func openMetricsUTF8() expfmt.Format {
	return expfmt.FmtOpenMetrics_1_0_0.WithEscapingScheme(model.NoEscaping)
}
