package harness_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
)

// TestRegistryTLS: a sandbox's registry speaks https by default, with a
// certificate for localhost, 127.0.0.1 and its names on the sandbox's
// network signed by the sandbox's own CA; a client that does not trust
// that CA is refused; a plain-HTTP request is refused; the host pushes and
// the engine pulls localhost:P over it without any change to the engine
// (it treats loopback registries as insecure: https without verifying);
// a reopened sandbox trusts the same CA.
func TestRegistryTLS(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	ctx := within(t, 3*time.Minute)

	require.True(t, strings.HasPrefix(sb.RegistryURL(), "https://localhost:"), sb.RegistryURL())
	block, _ := pem.Decode(sb.RegistryCA())
	require.NotNil(t, block, "the sandbox's CA is not PEM")
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.True(t, ca.IsCA)
	require.Contains(t, ca.Subject.CommonName, sb.ID())

	tr, err := sb.RegistryTransport()
	require.NoError(t, err)
	trusted := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		u := "https://" + strings.Replace(sb.RegistryAddr(), "localhost", host, 1) + "/v2/"
		st, _ := get(t, ctx, trusted, u)
		require.Equal(t, http.StatusOK, st, "GET %s trusting the sandbox's CA", u)
	}
	// The certificate names the registry's containers on the sandbox's
	// network (what a peer there dials).
	port := strings.TrimPrefix(sb.RegistryAddr(), "localhost:")
	for _, name := range []string{sb.ID() + "-netns", sb.ID() + "-registry"} {
		require.NoError(t, leafOf(t, ctx, tr, sb.RegistryAddr()).VerifyHostname(name), "certificate for %s", name)
	}

	_, err = (&http.Client{Timeout: 10 * time.Second}).Get("https://" + sb.RegistryAddr() + "/v2/")
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown, "a client with the system roots only must not trust the sandbox's registry")
	st, _ := get(t, ctx, &http.Client{Timeout: 10 * time.Second}, "http://127.0.0.1:"+port+"/v2/")
	require.Equal(t, http.StatusBadRequest, st, "a plain-HTTP request to the TLS registry")

	pub, err := sb.Publish(ctx, "app", "tls", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	require.NoError(t, sb.Pull(ctx, pub.Ref), "the engine pulls from a TLS registry on loopback")
	insp, err := sb.Client().ImageInspect(ctx, pub.Ref)
	require.NoError(t, err)
	require.Contains(t, insp.RepoDigests, sb.RegistryAddr()+"/app@"+pub.Digest)
	t.Cleanup(func() {
		_, _ = sb.Client().ImageRemove(context.Background(), pub.Ref, client.ImageRemoveOptions{Force: true})
	})

	re, err := harness.OpenSandbox(ctx, sb.Client(), sb.ID(), harness.WithImages(sb.Images()))
	require.NoError(t, err)
	require.Equal(t, sb.RegistryCA(), re.RegistryCA(), "the reopened sandbox's CA (its label)")
	_, err = re.Publish(ctx, "app", "tls2", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
	require.NoError(t, err, "publish from a reopened sandbox")
}

// TestRegistryPlainHTTP: WithPlainHTTPRegistry keeps the registry on
// plain HTTP; the host pushes and the engine pulls over it.
func TestRegistryPlainHTTP(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, harness.WithPlainHTTPRegistry())
	ctx := within(t, 3*time.Minute)
	require.Empty(t, sb.RegistryCA())
	require.True(t, strings.HasPrefix(sb.RegistryURL(), "http://localhost:"), sb.RegistryURL())
	st, _ := get(t, ctx, &http.Client{Timeout: 10 * time.Second}, sb.RegistryURL()+"/v2/")
	require.Equal(t, http.StatusOK, st)
	pub, err := sb.Publish(ctx, "app", "plain", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = sb.Client().ImageRemove(context.Background(), pub.Ref, client.ImageRemoveOptions{Force: true})
	})
	require.NoError(t, sb.Pull(ctx, pub.Ref))
}

func get(t testing.TB, ctx context.Context, hc *http.Client, u string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err, "GET %s", u)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// leafOf is the certificate the registry serves.
func leafOf(t testing.TB, ctx context.Context, tr *http.Transport, addr string) *x509.Certificate {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v2/", nil)
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		require.NoError(t, errors.New("no TLS peer certificate"))
	}
	return resp.TLS.PeerCertificates[0]
}

// TestFaultProxyFrontsTheRegistry: with WithFaultProxy the registry's
// address is the proxy's (over TLS, with the registry's certificate): the
// host pushes and the engine pulls through it, a rule in force answers
// what it says and counts what it selected, a rule the proxy refuses is an
// error naming it, and a reopened sandbox finds the proxy.
func TestFaultProxyFrontsTheRegistry(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, harness.WithFaultProxy())
	ctx := within(t, 3*time.Minute)
	require.NotNil(t, sb.FaultProxy())
	pub, err := sb.Publish(ctx, "app", "stable", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
	require.NoError(t, err, "push through the fault proxy")
	t.Cleanup(func() {
		_, _ = sb.Client().ImageRemove(context.Background(), pub.Ref, client.ImageRemoveOptions{Force: true})
	})

	err = sb.InjectFault(ctx, "4299 path=/manifests/")
	require.ErrorContains(t, err, `registry fault "4299 path=/manifests/": the proxy refused it`)

	require.NoError(t, sb.InjectFault(ctx, "429 retry-after=7s path=/manifests/ name=throttle"))
	tr, err := sb.RegistryTransport()
	require.NoError(t, err)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	st, hdr := get(t, ctx, hc, sb.RegistryURL()+"/v2/app/manifests/stable")
	require.Equal(t, http.StatusTooManyRequests, st)
	require.Equal(t, "7", hdr.Get("Retry-After"))
	require.Error(t, sb.Pull(ctx, pub.Ref), "the engine's pull is throttled too")
	rules, err := sb.FaultRules(ctx)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.GreaterOrEqual(t, rules[0].Seen, int64(2), "the rule counts the requests it selected: %+v", rules[0])

	re, err := harness.OpenSandbox(ctx, sb.Client(), sb.ID(), harness.WithImages(sb.Images()))
	require.NoError(t, err)
	require.NotNil(t, re.FaultProxy(), "the reopened sandbox's fault proxy")
	require.NoError(t, re.ClearFaults(ctx))
	st, _ = get(t, ctx, hc, sb.RegistryURL()+"/v2/app/manifests/stable")
	require.Equal(t, http.StatusOK, st, "after ClearFaults")
	require.NoError(t, sb.Pull(ctx, pub.Ref), "the engine pulls through the fault proxy")

	plain := newSandbox(t)
	require.ErrorContains(t, plain.InjectFault(ctx, "503"), "harness.WithFaultProxy()")
}

// BenchmarkNewSandboxRegistry measures a new sandbox (network, holder,
// registry) by the kind of registry: plain HTTP, TLS (a CA and a
// certificate made, copied in) and TLS behind the fault proxy (one more
// container): what WithFaultProxy costs, to decide whether it could be on
// by default.
//
//	go test ./harness -run '^$' -bench NewSandboxRegistry -count 6 > bench.txt; benchstat -col /registry bench.txt
func BenchmarkNewSandboxRegistry(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []harness.Option
	}{
		{"registry=plain", []harness.Option{harness.WithPlainHTTPRegistry()}},
		{"registry=tls", nil},
		{"registry=tls+faultproxy", []harness.Option{harness.WithFaultProxy()}},
	} {
		b.Run(c.name, func(b *testing.B) { benchSandbox(b, c.opts, nil) })
	}
}
