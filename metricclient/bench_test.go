package metricclient

import (
	"fmt"
	"strings"
	"testing"
)

// benchExposition is a drydock-server-like exposition of 10,000 series:
// 100 sandboxes × 100 series (25 families × 4 label sets), and the 100
// look-ups a scenario-heavy test run might make of it.
func benchExposition() (string, []WantMetric) {
	var b strings.Builder
	var wants []WantMetric
	for f := 0; f < 25; f++ {
		name := fmt.Sprintf("watchtower_bench_metric_%02d_total", f)
		fmt.Fprintf(&b, "# HELP %s A generated counter.\n# TYPE %s counter\n", name, name)
		for s := 0; s < 100; s++ {
			sb := fmt.Sprintf("dd-%010x", s)
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
		for b.Loop() {
			m := NewMetricData(text)
			for _, w := range wants {
				if _, _, err := m.GetPrometheusContainerInteger(w); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("mode=reparse-each", func(b *testing.B) {
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
	text, _ := benchExposition()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := NewMetricData(text).Err(); err != nil {
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
	for b.Loop() {
		if _, _, err := m.GetPrometheusContainerInteger(wants[i%len(wants)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
