package engine

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Reach is how this machine reaches the ports a sandbox publishes on the
// engine's host, and where they are published.
type Reach struct {
	// Host is the address this machine dials a published port at:
	// 127.0.0.1 for a local engine, else the engine's host as its address
	// names it (tcp://H:2375, ssh://user@H).
	Host string
	// Bind is the host IP ports are published on: 127.0.0.1 for a local
	// engine, so nothing outside this machine reaches a sandbox; for a
	// remote one the engine's IP when its address names one, else every
	// address (0.0.0.0): the harness dials them from another machine.
	Bind netip.Addr
}

// Bindings are the host IPs to publish a port on: Bind, and on a remote
// engine its loopback too, which is where the engine itself pulls from a
// sandbox's registry (localhost:P).
func (r Reach) Bindings() []netip.Addr {
	lo := netip.MustParseAddr(localHost)
	if r.Bind == lo || r.Bind.IsUnspecified() {
		return []netip.Addr{r.Bind}
	}
	return []netip.Addr{r.Bind, lo}
}

// Remote says whether the engine is on another host.
func (r Reach) Remote() bool { return r.Host != localHost }

// Dial is host:port at r.Host.
func (r Reach) Dial(port string) string { return net.JoinHostPort(r.Host, port) }

const localHost = "127.0.0.1"

// ReachOf is the Reach of the engine at daemonHost (a client's
// DaemonHost(): unix:///var/run/docker.sock, tcp://10.0.0.2:2375,
// ssh://me@box). A socket, or a tcp address on loopback, is local.
func ReachOf(daemonHost string) Reach {
	local := Reach{Host: localHost, Bind: netip.MustParseAddr(localHost)}
	u, err := url.Parse(daemonHost)
	if err != nil {
		return local
	}
	switch u.Scheme {
	case "tcp", "http", "https", "ssh":
	default: // unix, npipe: this machine
		return local
	}
	h := u.Hostname()
	if h == "" || strings.EqualFold(h, "localhost") {
		return local
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return Reach{Host: h, Bind: netip.IPv4Unspecified()}
	}
	if ip.IsLoopback() {
		return local
	}
	return Reach{Host: h, Bind: ip}
}
