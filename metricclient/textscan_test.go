package metricclient

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// toDTO is f as expfmt's TextParser builds it, field presence included.
func toDTO(f *textFamily) *dto.MetricFamily {
	mf := &dto.MetricFamily{Name: proto.String(f.name)}
	if f.hasHelp {
		mf.Help = proto.String(f.help)
	}
	if f.hasType {
		mf.Type = f.typ.Enum()
	}
	for i := range f.metrics {
		m := &f.metrics[i]
		dm := &dto.Metric{}
		for _, lp := range m.labels {
			dm.Label = append(dm.Label, &dto.LabelPair{Name: proto.String(lp.name), Value: proto.String(lp.value)})
		}
		if m.hasTS {
			dm.TimestampMs = proto.Int64(m.ts)
		}
		switch f.getType() {
		case dto.MetricType_COUNTER:
			dm.Counter = &dto.Counter{Value: proto.Float64(m.value)}
		case dto.MetricType_GAUGE:
			dm.Gauge = &dto.Gauge{Value: proto.Float64(m.value)}
		case dto.MetricType_UNTYPED:
			dm.Untyped = &dto.Untyped{Value: proto.Float64(m.value)}
		case dto.MetricType_SUMMARY:
			a, s := m.agg, &dto.Summary{}
			if a.hasCount {
				s.SampleCount = proto.Uint64(a.count)
			}
			if a.hasSum {
				s.SampleSum = proto.Float64(a.sum)
			}
			for _, q := range a.quantiles {
				s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: proto.Float64(q.q), Value: proto.Float64(q.v)})
			}
			dm.Summary = s
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			a, h := m.agg, &dto.Histogram{}
			if a.hasCount {
				h.SampleCount = proto.Uint64(a.count)
			}
			if a.hasCountFloat {
				h.SampleCountFloat = proto.Float64(a.countFloat)
			}
			if a.hasSum {
				h.SampleSum = proto.Float64(a.sum)
			}
			for _, b := range a.buckets {
				db := &dto.Bucket{UpperBound: proto.Float64(b.upper)}
				if b.isFloat {
					db.CumulativeCountFloat = proto.Float64(b.countFloat)
				} else {
					db.CumulativeCount = proto.Uint64(b.count)
				}
				h.Bucket = append(h.Bucket, db)
			}
			dm.Histogram = h
		}
		mf.Metric = append(mf.Metric, dm)
	}
	return mf
}

// dumpFamilies writes families in name order as protobuf text, every
// field and its presence, NaN as nan: two parses agree iff their dumps do.
func dumpFamilies(t testing.TB, fams []*dto.MetricFamily) string {
	t.Helper()
	fams = slices.Clone(fams)
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	var b strings.Builder
	for _, mf := range fams {
		out, err := prototext.MarshalOptions{Multiline: true}.Marshal(mf)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteString("---\n")
	}
	return b.String()
}

// checkScanner holds scanText to expfmt on body: scanText gives up
// (errFallback, and the caller uses expfmt), or expfmt accepts body too and
// builds the very same families. It reports whether scanText took body.
func checkScanner(t testing.TB, body string) bool {
	t.Helper()
	got, err := scanText(body)
	want, werr := ParseText(strings.NewReader(body))
	if err != nil {
		if !errors.Is(err, errFallback) {
			t.Fatalf("scanText failed with %v, not errFallback", err)
		}
		return false
	}
	if werr != nil {
		t.Fatalf("scanText accepted what expfmt rejects (%v):\n%q", werr, body)
	}
	gotDTO := make([]*dto.MetricFamily, len(got))
	for i, f := range got {
		gotDTO[i] = toDTO(f)
	}
	if g, w := dumpFamilies(t, gotDTO), dumpFamilies(t, want); g != w {
		t.Fatalf("scanText and expfmt differ on %q\nscanText:\n%s\nexpfmt:\n%s", body, g, w)
	}
	return true
}

// scannerCases are expositions scanText must take (not fall back on) and
// parse as expfmt does: the quirks of expfmt's parser it follows.
var scannerCases = map[string]string{
	"plain":      "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"\"} 3\nx_total 4 1700000000000\n",
	"values":     "g NaN\ng +Inf\ng -Inf\ng 1e3\ng -0\ng .5\ng Inf\n",
	"escapes":    "# HELP e A \\\\ back\\nslash \\\"quote\\\".\ne{v=\"a\\\"b\\\\c\\nd\"} 1\n",
	"comments":   "# just words\n#\n\n   \n# HELP\n# TYPE x\nx 1\n  # indented\n",
	"blanks":     "x\t{ a = \"1\" , }\t2\t3\n",
	"sign-value": "x-1\n",
	// Defect 4: a histogram's lines after another family's TYPE line
	// still belong to the histogram.
	"scattered-histogram": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# TYPE g gauge\ng 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
	"scattered-summary":   "# TYPE s summary\ns{quantile=\"0.5\",x=\"1\"} 1\n# TYPE c counter\nc 1\ns_sum{x=\"1\"} 2\ns_count{x=\"1\"} 3\ns{x=\"2\"} 4\n",
	"label-order":         "# TYPE s summary\ns{a=\"1\",b=\"2\",quantile=\"0.9\"} 1\ns_count{b=\"2\",a=\"1\"} 3 5\n",
	"float-histogram":     "# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\nh_bucket{le=\"2\"} 2\nh_count 2\nh_sum NaN\n",
	"nan-count":           "# TYPE h histogram\nh_count NaN\n# TYPE s summary\ns_count NaN\ns_count -1\n",
	"le-on-own-name":      "# TYPE h histogram\nh{le=\"1\"} 1\nh_bucket 7\n",
	"help-only-family":    "# HELP x_count \nx_count 1\n# TYPE x summary\nx_count 2\n",
	"type-case":           "# TYPE a GAUGE\na 1\n# TYPE b gaugehistogram\nb_bucket{le=\"1\"} 1\n# TYPE c Gauge_Histogram\nc_count 1\n",
	"empty-families":      "# HELP unused Never sampled.\n# TYPE alsounused counter\nx 1\n",
	"trailing-blanks-eof": "x 1\n   ",
	"other-types-le":      "# TYPE q gauge\nq{le=\"x\",quantile=\"y\"} 1\n",
	"duplicate-special":   "# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n",
}

// fallbackCases are expositions scanText leaves to expfmt (some valid,
// some not).
var fallbackCases = map[string]string{
	"no-final-newline":  "x 1",
	"quoted-name":       "{\"utf8.name\",a=\"b\"} 1\n",
	"quoted-label-name": "x{\"a.b\"=\"1\"} 1\n",
	"bad-escape":        "x{a=\"\\t\"} 1\n",
	"bad-help-escape":   "# HELP x a\\tb\nx 1\n",
	"second-type":       "# TYPE x gauge\n# TYPE x counter\nx 1\n",
	"type-after-sample": "x 1\n# TYPE x counter\n",
	"duplicate-label":   "x{a=\"1\",a=\"2\"} 1\n",
	"name-label":        "x{__name__=\"y\"} 1\n",
	"space-after-value": "x 1 \n",
	"space-after-ts":    "x 1 2 \n",
	"negative-bucket":   "# TYPE h histogram\nh_bucket{le=\"1\"} -1.5\n",
	"bad-le":            "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
	"hex-float-p":       "x 0x1p3\n",
	"hex-float":         "x 0x1\n",
	"underscore-float":  "x 1_000\n",
	"crlf":              "x 1\r\n",
	"unknown-type":      "# TYPE x thing\nx 1\n",
	"invalid-utf8":      "x{a=\"\xff\"} 1\n",
}

func TestTextScannerMatchesExpfmt(t *testing.T) {
	for name, body := range scannerCases {
		t.Run(name, func(t *testing.T) {
			if !checkScanner(t, body) {
				t.Fatalf("scanText fell back on %q; it should take it", body)
			}
		})
	}
	for name, body := range fallbackCases {
		t.Run("fallback/"+name, func(t *testing.T) {
			if checkScanner(t, body) {
				t.Fatalf("scanText took %q; expfmt should parse it", body)
			}
			// MetricData still answers as expfmt does, error or not.
			_, werr := ParseText(strings.NewReader(body))
			if err := NewMetricData(body).Err(); (err == nil) != (werr == nil) {
				t.Fatalf("MetricData error %v, expfmt error %v", err, werr)
			}
		})
	}
}

// TestTextScannerTakesFixtures: the recorded expositions (and the
// benchmark's) are on the fast path, not left to expfmt.
func TestTextScannerTakesFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "fixtures", "testdata", "metrics", "*.prom"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	bench, _ := benchExposition()
	bodies := map[string]string{"benchExposition": bench}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies[filepath.Base(p)] = string(b)
	}
	for name, body := range bodies {
		if isOpenMetrics(body) {
			continue
		}
		if !checkScanner(t, body) {
			t.Errorf("%s: scanText fell back to expfmt", name)
		}
	}
}

// FuzzTextScanner is the differential fuzz of scanText against expfmt's
// text parser: whatever scanText takes, expfmt takes too and parses to
// the same families (names, HELP, TYPE, label sets, values with NaN and
// ±Inf, timestamps, field presence); whatever expfmt rejects, scanText
// leaves to it.
func FuzzTextScanner(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "fixtures", "testdata", "metrics", "*.prom"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b[:min(len(b), 4096)]))
		}
	}
	for _, body := range scannerCases {
		f.Add(body)
	}
	for _, body := range fallbackCases {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkScanner(t, body)
	})
}
