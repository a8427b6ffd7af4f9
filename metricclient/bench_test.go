package metricclient

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// benchExposition is a seatrial-server-like exposition of 10,000 series:
// 100 sandboxes × 100 series (25 families × 4 label sets), and the 100
// look-ups a scenario-heavy test run might make of it.
func benchExposition() (string, []WantMetric) {
	var b strings.Builder
	var wants []WantMetric
	for f := 0; f < 25; f++ {
		name := fmt.Sprintf("watchtower_bench_metric_%02d_total", f)
		fmt.Fprintf(&b, "# HELP %s A generated counter.\n# TYPE %s counter\n", name, name)
		for s := 0; s < 100; s++ {
			sb := fmt.Sprintf("st-%010x", s)
			for op := 0; op < 4; op++ {
				fmt.Fprintf(&b, "%s{operation=\"op%d\",sandbox=%q,source=\"updater\"} %d\n", name, op, sb, f*s+op)
			}
			if (f*100+s)%25 == 0 {
				wants = append(wants, WantMetric{Metric: name, Sandbox: sb, ExtraLabels: map[string]string{"operation": "op2"}})
			}
		}
	}
	return b.String(), wants
}

// BenchmarkLookups compares 100 look-ups on one parse with re-parsing the
// text for each look-up, as gVisor's string-typed MetricData does.
func BenchmarkLookups(b *testing.B) {
	text, wants := benchExposition()
	if len(wants) != 100 {
		b.Fatalf("%d look-ups, want 100", len(wants))
	}
	b.Run("mode=parse-once", func(b *testing.B) {
		defer testenv.ReportCPU(b)()
		for b.Loop() {
			m := NewMetricData(text)
			for _, w := range wants {
				if _, _, err := m.GetPrometheusContainerInteger(w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// What gVisor's client does: its MetricData is the raw string, and
	// every look-up runs expfmt's text parser over all of it, then scans
	// the family for the labels.
	b.Run("mode=gvisor-reparse", func(b *testing.B) {
		defer testenv.ReportCPU(b)()
		for b.Loop() {
			for _, w := range wants {
				if _, err := gvisorLookup(text, w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// This package's parse (serial, indexed)
	// re-run for every look-up.
	b.Run("mode=reparse-each", func(b *testing.B) {
		defer testenv.ReportCPU(b)()
		for b.Loop() {
			for _, w := range wants {
				if _, _, err := NewMetricData(text).GetPrometheusContainerInteger(w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkParse is the parse alone (goal: ≤ 20 ms for 10,000 series).
func BenchmarkParse(b *testing.B) {
	benchParse(b, func(text string) error { return NewMetricData(text).Err() })
}

// BenchmarkParseTextFloor is expfmt's text parser alone over the same
// exposition, no index: the floor under BenchmarkParse until scanText
// (textscan.go) replaced expfmt on the fast path, and now the figure that
// says why it did.
func BenchmarkParseTextFloor(b *testing.B) {
	benchParse(b, func(text string) error {
		_, err := ParseText(strings.NewReader(text))
		return err
	})
}

// benchParse times parse over the benchmarks' exposition, per byte.
func benchParse(b *testing.B, parse func(text string) error) {
	text, _ := benchExposition()
	b.SetBytes(int64(len(text)))
	defer testenv.ReportCPU(b)()
	for b.Loop() {
		if err := parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupOnly is one look-up on an already parsed exposition.
func BenchmarkLookupOnly(b *testing.B) {
	text, wants := benchExposition()
	m := NewMetricData(text)
	if err := m.Err(); err != nil {
		b.Fatal(err)
	}
	i := 0
	defer testenv.ReportCPU(b)()
	for b.Loop() {
		if _, _, err := m.GetPrometheusContainerInteger(wants[i%len(wants)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// gvisorLookup is seed 001's GetPrometheusContainerInteger, in short:
// parse everything, find the family, match labels by scanning.
func gvisorLookup(text string, w WantMetric) (int64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return 0, err
	}
	mf, ok := fams[w.Metric]
	if !ok {
		return 0, fmt.Errorf("no metric %s", w.Metric)
	}
	want := w.labels()
	var found []*dto.Metric
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		if labelsMatch(have, want) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("%d matches", len(found))
	}
	return int64(found[0].GetCounter().GetValue()), nil
}

// bigExposition is benchExposition's shape grown to at least size bytes.
func bigExposition(size int) string {
	var b strings.Builder
	b.Grow(size + 1<<20)
	for f := 0; b.Len() < size; f++ {
		name := fmt.Sprintf("watchtower_bench_metric_%04d_total", f)
		fmt.Fprintf(&b, "# HELP %s A generated counter.\n# TYPE %s counter\n", name, name)
		for s := 0; s < 1000; s++ {
			for op := 0; op < 4; op++ {
				fmt.Fprintf(&b, "%s{operation=\"op%d\",sandbox=\"st-%010x\",source=\"updater\"} %d\n", name, op, s, f*s+op)
			}
		}
	}
	return b.String()
}

// BenchmarkParse50MB parses a 50 MB exposition and reports the memory the
// parsed MetricData keeps live (heap in use after a GC, less what was in
// use before), alone and with the input it holds, per byte of input.
// Goal: (input + index) ≤ 2 × input.
func BenchmarkParse50MB(b *testing.B) {
	text := bigExposition(50 << 20)
	b.SetBytes(int64(len(text)))
	var live uint64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		m := NewMetricData(text)
		if err := m.Err(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(m)
		live = after.HeapInuse - before.HeapInuse
		b.StartTimer()
	}
	b.ReportMetric(float64(live)/float64(len(text)), "index-B/input-B")
	b.ReportMetric(float64(live+uint64(len(text)))/float64(len(text)), "live-B/input-B")
}
