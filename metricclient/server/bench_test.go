package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// benchSandboxes is a fake engine (the engine is the one peer faked here:
// twenty sandboxes cannot be made on the shared engine for a benchmark)
// listing n sandboxes whose updater and registry targets are real HTTP
// servers on 127.0.0.1 serving recorded expositions. The first hung
// sandboxes' updaters never answer.
func benchSandboxes(b *testing.B, n, hung int) *fakeEngine {
	b.Helper()
	updater := readFixture(b, "openserbia-v1.12.2.prom")
	registry := readFixture(b, "registry-v3.1.2.prom")
	serve := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		b.Cleanup(srv.Close)
		return srv.URL
	}
	hanging := testenv.HangingServer(b)
	urls := map[string]string{}
	for i := range n {
		u := serve(updater)
		if i < hung {
			u = hanging.URL
		}
		urls[fmt.Sprintf("st-%010d", i)] = u
	}
	e := updaterSandboxes(b, urls)
	// A registry container and target for each as well.
	for sb := range urls {
		e.containers = append(e.containers, container.Summary{ID: sb + "-r", Names: []string{"/" + sb + "-registry"}, Image: "r", ImageID: "sha256:r",
			State: container.StateRunning, Labels: map[string]string{labels.Sandbox: sb, labels.Role: labels.RoleRegistry,
				labels.RegistryAddr: "localhost:5000", labels.RegistryMetrics: serve(registry) + "/metrics"}})
	}
	return e
}

// BenchmarkScrape20Sandboxes is one GET /metrics over 20 sandboxes with
// an updater, a registry and engine figures each (goal: ≤ 300 ms).
func BenchmarkScrape20Sandboxes(b *testing.B) {
	benchScrape(b, 20, 0, DefaultTargetTimeout)
}

// BenchmarkScrapeOneHung is the same with one updater that never answers,
// under a target deadline of 500 ms: the scrape costs that deadline, not
// more.
func BenchmarkScrapeOneHung(b *testing.B) {
	benchScrape(b, 20, 1, 500*time.Millisecond)
}

func benchScrape(b *testing.B, n, hung int, targetTimeout time.Duration) {
	e := benchSandboxes(b, n, hung)
	h := New(e, WithConcurrency(DefaultConcurrency), WithTargetTimeout(targetTimeout), WithStaleness(0)).Handler()
	defer testenv.ReportCPU(b)()
	for b.Loop() {
		// The whole GET /metrics: read, merge, write.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			b.Fatalf("GET /metrics: %d", rec.Code)
		}
	}
}
