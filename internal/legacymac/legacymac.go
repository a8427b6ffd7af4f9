// Package legacymac carries a container's user-set MAC address on engines
// older than API 1.44.
//
// Until API 1.44 (Docker 25) a container has one MAC address setting,
// Config.MacAddress, which the engine applies to the endpoint of the
// container's primary network (HostConfig.NetworkMode); a MAC address in a
// network's EndpointSettings is ignored at create and connect. API 1.44
// moved it there (per network) and deprecated Config.MacAddress; the Go
// types seatrial builds with (github.com/moby/moby/api) no longer have the
// field at all. So on an API 1.41 engine (Docker 20.10, as here) a
// user-set MAC address can be neither read from a typed inspect nor given
// to a typed create: it is read from the inspect's raw JSON, and a create
// that carries one is posted as JSON with the field added. On API 1.44
// and later the typed per-network field is used instead.
package legacymac

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// PerNetworkAPI is the first API version that takes a MAC address per
// network (EndpointSettings.MacAddress).
const PerNetworkAPI = "1.44"

// Engine is what Create needs of the engine; *client.Client has it.
type Engine interface {
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	ClientVersion() string
	DaemonHost() string
}

// FromInspect returns the user-set MAC address an API < 1.44 engine
// reports in Config.MacAddress of a container's raw inspect JSON, or "".
// (Engines of API 1.44 and later report it per network instead.)
func FromInspect(raw json.RawMessage) (string, error) {
	var v struct {
		Config struct {
			MacAddress string `json:"MacAddress"`
		} `json:"Config"`
	}
	if len(raw) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("read Config.MacAddress from inspect: %w", err)
	}
	return v.Config.MacAddress, nil
}

// Create creates a container as e.ContainerCreate does, with mac as its
// MAC address on its primary network when mac is not empty: per network
// on API 1.44 and later, else in Config.MacAddress, posted as raw JSON
// (see the package comment). It returns the new container's id.
func Create(ctx context.Context, e Engine, opts client.ContainerCreateOptions, mac string) (string, error) {
	if mac == "" {
		res, err := e.ContainerCreate(ctx, opts)
		return res.ID, err
	}
	if _, err := e.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return "", fmt.Errorf("ask the engine's API version: %w", err)
	}
	version := e.ClientVersion()
	if !versions.LessThan(version, PerNetworkAPI) {
		return createPerNetwork(ctx, e, opts, mac)
	}
	body, err := createBody(opts, mac)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	var created container.CreateResponse
	if err := post(ctx, e.DaemonHost(), "/v"+version+"/containers/create?"+q.Encode(), body, &created); err != nil {
		return "", fmt.Errorf("create %s with MAC address %s: %w", opts.Name, mac, err)
	}
	return created.ID, nil
}

// createPerNetwork sets mac on the primary network's endpoint (API >= 1.44).
func createPerNetwork(ctx context.Context, e Engine, opts client.ContainerCreateOptions, mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", fmt.Errorf("MAC address %q: %w", mac, err)
	}
	primary := ""
	if opts.HostConfig != nil {
		primary = string(opts.HostConfig.NetworkMode)
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if opts.NetworkingConfig != nil {
		for k, v := range opts.NetworkingConfig.EndpointsConfig {
			nc.EndpointsConfig[k] = v
		}
	}
	ep := &network.EndpointSettings{}
	if cur := nc.EndpointsConfig[primary]; cur != nil {
		c := *cur
		ep = &c
	}
	ep.MacAddress = network.HardwareAddr(hw)
	nc.EndpointsConfig[primary] = ep
	opts.NetworkingConfig = nc
	res, err := e.ContainerCreate(ctx, opts)
	return res.ID, err
}

// createBody is the JSON of a create request (Config's fields at the top,
// HostConfig, NetworkingConfig) with MacAddress added to the Config part.
func createBody(opts client.ContainerCreateOptions, mac string) ([]byte, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = &container.Config{}
	}
	if opts.Image != "" {
		c := *cfg
		c.Image = opts.Image
		cfg = &c
	}
	b, err := json.Marshal(container.CreateRequest{Config: cfg, HostConfig: opts.HostConfig, NetworkingConfig: opts.NetworkingConfig})
	if err != nil {
		return nil, fmt.Errorf("encode create request: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode create request: %w", err)
	}
	m["MacAddress"], _ = json.Marshal(mac)
	return json.Marshal(m)
}

// post sends body to the engine at host (DOCKER_HOST's form: unix:// or
// tcp:// without TLS) and decodes a 2xx answer into out. The typed client
// has no way to send a field its types lack, hence this small client of
// its own.
func post(ctx context.Context, host, path string, body []byte, out any) error {
	u, err := client.ParseHostURL(host)
	if err != nil {
		return err
	}
	tr := &http.Transport{}
	base := ""
	switch u.Scheme {
	case "unix":
		sock := u.Host
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		base = "http://" + client.DummyHost
	case "tcp":
		base = "http://" + u.Host + u.Path
	default:
		return fmt.Errorf("engine address %s: only unix:// and tcp:// (without TLS) are supported for a create with a MAC address on this API version", host)
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("engine answered %d: %s", resp.StatusCode, e.Message)
		}
		return fmt.Errorf("engine answered %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
