package metricclient

// textscan.go: a scanner for the Prometheus text format (0.0.4) that reads
// what expfmt's TextParser reads, to the same families, in a fraction of
// its time.
//
// Why it exists: expfmt's parser reads byte by byte through a bufio.Reader
// and builds a protobuf message (with a pointer for every field) per
// series; over the 10,000-series exposition of BenchmarkParse it took
// ~23 ms CPU of the ~26 ms MetricData's parse cost (BenchmarkParseTextFloor
// against BenchmarkParse), and the goal for the whole parse is ≤ 20 ms.
// This scanner slices the string in place (names and values share the
// input unless escaped) and keeps plain structs.
//
// It is no second implementation of the format: it takes only the plain,
// common shape of each line (legacy names, quoted values, one value and an
// optional timestamp), and gives up on anything else, malformed or merely
// unusual (quoted UTF-8 names, `{` first, a HELP escape it does not know,
// a missing final newline, ...), with errFallback, upon which the caller
// parses the whole text with expfmt. So every error, and every odd input,
// is expfmt's own; what the scanner accepts it must parse exactly as
// expfmt does, which FuzzTextScanner checks against expfmt.
//
// Within that shape it follows expfmt's state machine step by step,
// quirks included: a _sum/_count/_bucket line joins the summary or
// histogram family of that name wherever it comes, a family named in a
// HELP or TYPE line exists (and so captures later lines) even if it never
// gets a sample, a histogram's count that is no whole number makes every
// count of that histogram a float, and so on.

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

// errFallback: the text is outside what scanText takes; parse it with
// expfmt.
var errFallback = errors.New("text scanner: not on the fast path, use expfmt")

// textFamily is one family as expfmt's TextParser builds it, with the
// presence of each optional field kept (hasHelp, hasType), so that it
// converts to the very same dto.MetricFamily.
type textFamily struct {
	name    string
	help    string
	hasHelp bool
	typ     dto.MetricType
	hasType bool
	metrics []textMetric
}

// getType is dto's GetType: COUNTER when no type is set.
func (f *textFamily) getType() dto.MetricType {
	if !f.hasType {
		return dto.MetricType_COUNTER
	}
	return f.typ
}

func (f *textFamily) isSummary() bool { return f.getType() == dto.MetricType_SUMMARY }
func (f *textFamily) isHistogram() bool {
	t := f.getType()
	return t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM
}

// textMetric is one metric of a family: one sample line, or for a summary
// or histogram all the lines of one label set.
type textMetric struct {
	labels []labelPair // as written; a summary's quantile and a histogram's le excluded
	value  float64     // counter, gauge, untyped
	ts     int64
	hasTS  bool
	agg    *textAgg // summaries and histograms only
}

// textAgg is a summary's or histogram's parts, with their presence.
type textAgg struct {
	sum              float64
	count            uint64
	countFloat       float64
	hasSum, hasCount bool
	hasCountFloat    bool
	quantiles        []textQuantile
	buckets          []textBucket
}

type textQuantile struct{ q, v float64 }

type textBucket struct {
	upper      float64
	count      uint64
	countFloat float64
	isFloat    bool
}

// textScanner holds the state of one scan.
type textScanner struct {
	s      string
	i      int
	fams   []*textFamily
	byName map[string]*textFamily
	// aggs finds a summary's or histogram's metric (its index in its
	// family) by its family and label set: expfmt's summaries and
	// histograms maps, keyed by the label signature.
	aggs   map[string]int
	key    []byte
	sorted []labelPair
	// pairs is the label pool the lines' labels are cut from, from
	// p.pairs[lineFrom] on for the current line. When it is full the scan
	// starts a new one (see addPair) rather than grow it: growing copies
	// every pair so far, write barriers and all.
	lineFrom int
	pairs    []labelPair
}

// scanText scans s as expfmt's TextParser (UTF-8 validation) would, or
// returns errFallback. Families come in the order they were first named;
// those without metrics are left out, as expfmt leaves them out.
func scanText(s string) ([]*textFamily, error) {
	p := &textScanner{s: s, byName: map[string]*textFamily{}, aggs: map[string]int{}}
	for p.i < len(p.s) {
		if !p.line() {
			return nil, errFallback
		}
	}
	out := p.fams[:0]
	for _, f := range p.fams {
		if len(f.metrics) > 0 {
			out = append(out, f)
		}
	}
	for _, f := range out {
		if f.isHistogram() {
			for i := range f.metrics {
				normalizeTextHistogram(f.metrics[i].agg)
			}
		}
	}
	return out, nil
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// skipBlank moves past blanks and tabs; false at the end of the text.
func (p *textScanner) skipBlank() bool {
	for p.i < len(p.s) && isBlank(p.s[p.i]) {
		p.i++
	}
	return p.i < len(p.s)
}

// line scans one line, its newline included; false: fall back.
func (p *textScanner) line() bool {
	if !p.skipBlank() {
		return true // trailing blanks at the end: expfmt's clean EOF
	}
	switch p.s[p.i] {
	case '\n':
		p.i++
		return true
	case '#':
		p.i++
		return p.comment()
	case '{':
		return false // a quoted name inside the braces
	}
	return p.sample()
}

// newline consumes a newline, if that is what comes next.
func (p *textScanner) newline() bool {
	if p.i < len(p.s) && p.s[p.i] == '\n' {
		p.i++
		return true
	}
	return false
}

// token returns the bytes up to the next blank, tab or newline (not
// consumed); ok is false at the end of the text (expfmt's EOF error).
func (p *textScanner) token() (string, bool) {
	j := p.i
	for j < len(p.s) && !isBlank(p.s[j]) && p.s[j] != '\n' {
		j++
	}
	if j == len(p.s) {
		return "", false
	}
	t := p.s[p.i:j]
	p.i = j
	return t, true
}

// restOfLine returns the bytes up to the newline and consumes the newline.
func (p *textScanner) restOfLine() (string, bool) {
	j := strings.IndexByte(p.s[p.i:], '\n')
	if j < 0 {
		return "", false
	}
	t := p.s[p.i : p.i+j]
	p.i += j + 1
	return t, true
}

func isNameStart(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' || b == ':'
}

func isNameCont(b byte) bool { return isNameStart(b) || (b >= '0' && b <= '9') }

func isLabelStart(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_' }

func isLabelCont(b byte) bool { return isLabelStart(b) || (b >= '0' && b <= '9') }

// name reads a legacy (unquoted) metric name; "" if there is none. A quote
// where expfmt would start or continue a quoted name gives up (ok false).
func (p *textScanner) name() (string, bool) {
	j := p.i
	if j < len(p.s) && p.s[j] == '"' {
		return "", false
	}
	if j >= len(p.s) {
		return "", false
	}
	if !isNameStart(p.s[j]) {
		return "", true
	}
	for j < len(p.s) && isNameCont(p.s[j]) {
		j++
	}
	if j == len(p.s) || p.s[j] == '"' {
		return "", false
	}
	n := p.s[p.i:j]
	p.i = j
	return n, true
}

// comment scans what follows a '#'.
func (p *textScanner) comment() bool {
	if !p.skipBlank() {
		return false
	}
	if p.newline() {
		return true
	}
	kw, ok := p.token()
	if !ok || p.newline() {
		return ok // a lone word: a comment
	}
	if kw != "HELP" && kw != "TYPE" {
		_, ok := p.restOfLine()
		return ok
	}
	if !p.skipBlank() {
		return false
	}
	name, ok := p.name()
	if !ok || p.newline() {
		return ok // no name: a comment
	}
	if name == "" || !isBlank(p.s[p.i]) {
		return false // expfmt's "invalid metric name in comment"
	}
	f, _, _ := p.family(name)
	if !p.skipBlank() {
		return false
	}
	if p.newline() {
		return true
	}
	if kw == "HELP" {
		if f.hasHelp {
			return false
		}
		h, ok := p.restOfLine()
		if !ok {
			return false
		}
		if strings.IndexByte(h, '\\') >= 0 {
			if h, ok = unescapeHelp(h); !ok {
				return false
			}
		}
		f.help, f.hasHelp = h, true
		return true
	}
	if f.hasType {
		return false
	}
	t, ok := p.restOfLine()
	if !ok {
		return false
	}
	typ, ok := textTypes[t]
	if !ok {
		if typ, ok = textTypes[strings.ToUpper(t)]; !ok {
			return false
		}
	}
	f.typ, f.hasType = typ, true
	return true
}

// textTypes are the TYPE words expfmt takes, compared upper-cased.
var textTypes = map[string]dto.MetricType{
	"COUNTER": dto.MetricType_COUNTER, "GAUGE": dto.MetricType_GAUGE, "SUMMARY": dto.MetricType_SUMMARY,
	"UNTYPED": dto.MetricType_UNTYPED, "HISTOGRAM": dto.MetricType_HISTOGRAM,
	"GAUGE_HISTOGRAM": dto.MetricType_GAUGE_HISTOGRAM, "GAUGEHISTOGRAM": dto.MetricType_GAUGE_HISTOGRAM,
}

// unescapeHelp undoes \\, \n and \" in a HELP text; any other escape (or
// a trailing backslash) gives up.
func unescapeHelp(h string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(h) {
			return "", false
		}
		switch h[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			b.WriteByte('"')
		default:
			return "", false
		}
	}
	return b.String(), true
}

// family is expfmt's setOrCreateCurrentMF: the family a name belongs to,
// and whether the name is that summary's or histogram's _count or _sum.
func (p *textScanner) family(name string) (f *textFamily, isCount, isSum bool) {
	if f = p.byName[name]; f != nil {
		return f, false, false
	}
	count := len(name) > 6 && strings.HasSuffix(name, "_count")
	sum := len(name) > 4 && strings.HasSuffix(name, "_sum")
	base := name
	switch {
	case count:
		base = name[:len(name)-6]
	case sum:
		base = name[:len(name)-4]
	}
	if f = p.byName[base]; f != nil && f.isSummary() {
		return f, count, sum
	}
	if !count && !sum && len(name) > 7 && strings.HasSuffix(name, "_bucket") {
		base = name[:len(name)-7]
	}
	if f = p.byName[base]; f != nil && f.isHistogram() {
		return f, count, sum
	}
	f = &textFamily{name: name}
	p.byName[name] = f
	p.fams = append(p.fams, f)
	return f, false, false
}

// sample scans a sample line: name, labels, value, timestamp.
func (p *textScanner) sample() bool {
	name, ok := p.name()
	if !ok || name == "" {
		return false
	}
	f, isCount, isSum := p.family(name)
	if !f.hasType {
		f.typ, f.hasType = dto.MetricType_UNTYPED, true
	}
	if !p.skipBlank() {
		return false
	}
	special := ""
	switch {
	case f.isSummary():
		special = "quantile"
	case f.isHistogram():
		special = "le"
	}
	specialValue := math.NaN()
	p.lineFrom = len(p.pairs)
	if p.s[p.i] == '{' {
		p.i++
		if !p.labels(special, &specialValue) {
			return false
		}
	} else if p.s[p.i] == '\n' || p.s[p.i] == '"' {
		return false
	}
	labels := p.pairs[p.lineFrom:len(p.pairs):len(p.pairs)]
	vs, ok := p.token()
	if !ok {
		return false
	}
	v, err := parseTextFloat(vs)
	if err != nil {
		return false
	}
	var m *textMetric
	if special == "" {
		f.metrics = append(f.metrics, textMetric{labels: labels, value: v})
		m = &f.metrics[len(f.metrics)-1]
	} else {
		// One metric per label set (le or quantile left out), wherever
		// its lines come.
		p.key = append(p.key[:0], f.name...)
		p.sorted = append(p.sorted[:0], labels...)
		slices.SortFunc(p.sorted, cmpPair)
		for _, lp := range p.sorted {
			p.key = append(p.key, 0xff)
			p.key = append(p.key, lp.name...)
			p.key = append(p.key, 0xff)
			p.key = append(p.key, lp.value...)
		}
		if k, found := p.aggs[string(p.key)]; found {
			m = &f.metrics[k]
			p.pairs = p.pairs[:p.lineFrom] // this line's labels are dropped
		} else {
			p.aggs[string(p.key)] = len(f.metrics)
			f.metrics = append(f.metrics, textMetric{labels: labels, agg: &textAgg{}})
			m = &f.metrics[len(f.metrics)-1]
		}
		a := m.agg
		switch {
		case special == "quantile" && isCount:
			a.count, a.hasCount = uint64(v), true
		case special == "quantile" && isSum:
			a.sum, a.hasSum = v, true
		case special == "quantile" && !math.IsNaN(specialValue):
			a.quantiles = append(a.quantiles, textQuantile{specialValue, v})
		case special == "le" && isCount:
			if u := uint64(v); v == float64(u) {
				a.count, a.hasCount = u, true
			} else {
				if v < 0 {
					return false
				}
				a.countFloat, a.hasCountFloat = v, true
			}
		case special == "le" && isSum:
			a.sum, a.hasSum = v, true
		case special == "le" && !math.IsNaN(specialValue):
			b := textBucket{upper: specialValue}
			if u := uint64(v); v == float64(u) {
				b.count = u
			} else {
				if v < 0 {
					return false
				}
				b.countFloat, b.isFloat = v, true
			}
			a.buckets = append(a.buckets, b)
		}
	}
	if p.newline() {
		return true
	}
	// A timestamp: blanks, an integer, and the newline right after it.
	if !p.skipBlank() {
		return false
	}
	ts, ok := p.token()
	if !ok {
		return false
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || p.s[p.i] != '\n' {
		return false
	}
	p.i++
	m.ts, m.hasTS = t, true
	return true
}

// labels scans a label set after its '{', through the '}' and the blanks
// after it. The pairs go to p.pairs; special (quantile, le) is parsed into
// *specialValue and left out, as expfmt leaves it out.
func (p *textScanner) labels(special string, specialValue *float64) bool {
	for {
		if !p.skipBlank() {
			return false
		}
		if p.s[p.i] == '}' {
			p.i++
			return p.skipBlank()
		}
		j := p.i
		if !isLabelStart(p.s[j]) {
			return false // a quoted name, or none at all
		}
		for j < len(p.s) && isLabelCont(p.s[j]) {
			j++
		}
		if j == len(p.s) || p.s[j] == '"' {
			return false
		}
		ln := p.s[p.i:j]
		p.i = j
		if !p.skipBlank() || p.s[p.i] != '=' || ln == "__name__" {
			return false
		}
		p.i++
		isSpecial := ln == special
		if !isSpecial {
			for _, q := range p.pairs[p.lineFrom:] {
				if q.name == ln {
					return false // duplicate label names
				}
			}
		}
		if !p.skipBlank() || p.s[p.i] != '"' {
			return false
		}
		p.i++
		v, ok := p.labelValue()
		if !ok {
			return false
		}
		if isSpecial {
			f, err := parseTextFloat(v)
			if err != nil {
				return false
			}
			*specialValue = f
		} else {
			p.addPair(labelPair{ln, v})
		}
		if !p.skipBlank() {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return p.skipBlank()
		default:
			return false
		}
	}
}

// addPair appends lp to the current line's labels, moving them to a new
// pool if this one is full.
func (p *textScanner) addPair(lp labelPair) {
	if len(p.pairs) == cap(p.pairs) {
		cur := p.pairs[p.lineFrom:]
		pool := make([]labelPair, len(cur), max(4096, 2*len(cur)))
		copy(pool, cur)
		p.pairs, p.lineFrom = pool, 0
	}
	p.pairs = append(p.pairs, lp)
}

// labelValue reads a quoted value after its opening quote, through the
// closing one, undoing \", \\ and \n.
func (p *textScanner) labelValue() (string, bool) {
	j := p.i
	for j < len(p.s) {
		switch p.s[j] {
		case '"':
			v := p.s[p.i:j]
			p.i = j + 1
			return v, utf8.ValidString(v)
		case '\\':
			return p.escapedLabelValue()
		case '\n':
			return "", false
		}
		j++
	}
	return "", false
}

func (p *textScanner) escapedLabelValue() (string, bool) {
	var b strings.Builder
	for j := p.i; j < len(p.s); j++ {
		c := p.s[j]
		switch c {
		case '"':
			p.i = j + 1
			v := b.String()
			return v, utf8.ValidString(v)
		case '\n':
			return "", false
		case '\\':
			j++
			if j == len(p.s) {
				return "", false
			}
			switch p.s[j] {
			case '"', '\\':
				b.WriteByte(p.s[j])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", false
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// parseTextFloat is expfmt's parseFloat.
func parseTextFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, errors.New("unsupported character in float")
	}
	return strconv.ParseFloat(s, 64)
}

// normalizeTextHistogram is expfmt's normalizeHistogram: if any count of
// the histogram is a float, all are.
func normalizeTextHistogram(a *textAgg) {
	anyFloats := a.hasCountFloat && a.countFloat != 0
	for _, b := range a.buckets {
		if b.isFloat && b.countFloat != 0 {
			anyFloats = true
		}
	}
	if !anyFloats {
		return
	}
	if !(a.hasCountFloat && a.countFloat != 0) {
		a.countFloat, a.hasCountFloat = float64(a.count), true
		a.count, a.hasCount = 0, false
	}
	for i := range a.buckets {
		b := &a.buckets[i]
		if !(b.isFloat && b.countFloat != 0) {
			b.countFloat, b.isFloat = float64(b.count), true
			b.count = 0
		}
	}
}
