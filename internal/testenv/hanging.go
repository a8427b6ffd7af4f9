package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// HangingServer is an HTTP peer that accepts every request and never
// answers it (an updater whose API hangs), until tb ends: then the
// handlers are released and the server is closed.
func HangingServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: release the handlers, then close
	// (Close waits for them).
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(release) })
	return srv
}
