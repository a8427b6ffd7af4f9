package harness

import (
	"context"
	"io"
	"net/http"
	"strings"
)

// sendHTTP sends a request with body (none if empty) and header, and
// returns the status and up to 16 MiB of the answer: how the harness talks
// to the updater's API and to the engine proxy's control API.
func sendHTTP(ctx context.Context, hc *http.Client, method, url, body string, header http.Header) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(b), err
}
