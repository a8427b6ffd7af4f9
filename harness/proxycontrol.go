package harness

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// proxyReady bounds the wait for a fixture proxy's control API (the engine
// proxy asks the engine its version first): it serves in well under a
// second; a minute covers a loaded engine.
var proxyReady = readiness{bound: time.Minute, first: 10 * time.Millisecond, longest: 500 * time.Millisecond}

// proxyControl is the control API of one of seatrial's fixture proxies
// (fixtures/proxyrule: the engine proxy's and the registry fault proxy's
// rules calls, /healthz, /metrics), as reachable from the host.
type proxyControl struct {
	what string // what a rule is called in errors: "engine fault", "registry fault"
	url  string
	http *http.Client
}

func newProxyControl(what, url string) proxyControl {
	return proxyControl{what: what, url: url, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c proxyControl) do(ctx context.Context, method, path, body string) (int, string, error) {
	return sendHTTP(ctx, c.http, method, c.url+path, body, nil)
}

// wait polls GET /healthz until the proxy (container id) answers, and fails
// at once, with its log, if it exits.
func (c proxyControl) wait(ctx context.Context, cli *client.Client, id, name string) error {
	return waitServes(ctx, cli, id, "the "+name, "the "+name+"'s control API to answer GET "+c.url+"/healthz", proxyReady, func(ctx context.Context) error {
		st, _, err := c.do(ctx, http.MethodGet, "/healthz", "")
		if err == nil && st != http.StatusOK {
			err = fmt.Errorf("status %d", st)
		}
		return err
	})
}

// addRule adds rule (the proxy's rule language) to the rules in force. A
// rule the proxy refuses is an error that quotes it and the proxy's reason.
func (c proxyControl) addRule(ctx context.Context, rule string) error {
	st, body, err := c.do(ctx, http.MethodPost, "/rules", rule)
	if err != nil {
		return fmt.Errorf("%s %q: %w", c.what, rule, err)
	}
	if st == http.StatusBadRequest {
		return fmt.Errorf("%s %q: the proxy refused it: %s", c.what, rule, strings.TrimSpace(body))
	}
	if st != http.StatusOK {
		return fmt.Errorf("%s %q: the proxy answered %d: %s", c.what, rule, st, tail(body, 5))
	}
	return nil
}

// clearRules lifts every rule in force.
func (c proxyControl) clearRules(ctx context.Context) error {
	st, body, err := c.do(ctx, http.MethodDelete, "/rules", "")
	if err != nil {
		return fmt.Errorf("clear %ss: %w", c.what, err)
	}
	if st != http.StatusNoContent && st != http.StatusOK {
		return fmt.Errorf("clear %ss: the proxy answered %d: %s", c.what, st, tail(body, 5))
	}
	return nil
}

// get reads path (a JSON or text answer) and fails on any status but 200.
func (c proxyControl) get(ctx context.Context, path string) (string, error) {
	st, body, err := c.do(ctx, http.MethodGet, path, "")
	if err != nil {
		return "", fmt.Errorf("%s proxy GET %s: %w", c.what, path, err)
	}
	if st != http.StatusOK {
		return "", fmt.Errorf("%s proxy GET %s: the proxy answered %d: %s", c.what, path, st, tail(body, 5))
	}
	return body, nil
}
