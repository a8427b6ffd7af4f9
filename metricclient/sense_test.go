package metricclient

import (
	"strings"
	"testing"
)

// A failed assertion names the metric, the profile's name for it, what
// it means, the sandbox, the scrape, and what the difference suggests.
func TestExpectationsSayWhatTheNumberIs(t *testing.T) {
	const expo = `# TYPE watchtower_containers_scanned gauge
watchtower_containers_scanned{sandbox="st-a",source="updater"} 5
# TYPE watchtower_scans_total counter
watchtower_scans_total{sandbox="st-a",source="updater"} 1
`
	before := NewMetricData(strings.ReplaceAll(expo, "} 1\n", "} 0\n")).From("scrape 1 at 12:00:00.0")
	md := NewMetricData(expo).From("scrape 2 at 12:00:03.0")
	want := WantMetric{Metric: "watchtower_containers_scanned", Sandbox: "st-a", ExtraLabels: map[string]string{"source": "updater"},
		Key: "metrics.scanned", Sense: "containers scanned in this sandbox", IfMore: "the updater also counted containers outside its scope?"}
	if err := md.ExpectInteger(want, 5); err != nil {
		t.Fatalf("5 is 5: %v", err)
	}
	err := md.ExpectInteger(want, 2)
	for _, s := range []string{"watchtower_containers_scanned", "the profile's metrics.scanned", "containers scanned in this sandbox",
		"sandbox st-a", "scrape 2 at 12:00:03.0", "is 5", "want 2", "outside its scope?"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not say %q", err, s)
		}
	}
	d, err := Diff(before, md)
	if err != nil {
		t.Fatal(err)
	}
	scans := WantMetric{Metric: "watchtower_scans_total", Sandbox: "st-a", ExtraLabels: map[string]string{"source": "updater"},
		Key: "metrics.scans_total", Sense: "scans run", IfLess: "a scan was not counted?"}
	err = d.ExpectDelta(scans, 2)
	for _, s := range []string{"the profile's metrics.scans_total: scans run", "between scrape 1 at 12:00:00.0 and scrape 2 at 12:00:03.0", "changed by 1", "want 2", "not counted?"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not say %q", err, s)
		}
	}
}
