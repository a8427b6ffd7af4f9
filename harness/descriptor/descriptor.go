// Package descriptor is the one schema of a sandbox's labels: a typed
// Sandbox (its id, owner, registry, updater API, token file, the updater's
// whole profile, its clusters and nodes), one encoder that turns it into
// the labels of each object a sandbox is made of, and one decoder that
// reads it back from the engine's containers and networks.
//
// State lives in labels, as in kind: everything that creates a sandbox's
// objects labels them through the encoder, and everything that lists,
// reopens, prunes or labels metric series reads them through the decoder,
// so the schema cannot drift between a writer and its readers.
package descriptor

import (
	"cmp"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// Sandbox describes one sandbox. The encoder reads ID, Owner, Created, KeepOnFailure,
// Registry's addresses and UpdaterAPI; the decoder fills every field from
// what is on the engine.
type Sandbox struct {
	ID      string
	Owner   labels.Owner
	Created time.Time // UTC, whole seconds (labels carry RFC 3339)
	// KeepOnFailure is the run that asked to keep the sandbox if its test
	// fails ("" for none): see labels.KeepOnFailure.
	KeepOnFailure string

	Registry Registry
	// UpdaterAPI is the updater API's base URL as reachable from the host
	// (http://127.0.0.1:R). The namespace holder publishes the API port
	// before any updater runs, so it is a fact of the sandbox.
	UpdaterAPI string
	// Updater is the sandbox's updater; nil until one was started.
	Updater *Updater
	// Clusters are the clusters whose nodes are on the engine, by name.
	Clusters []Cluster

	// NetNS is the container that owns the sandbox's network namespace
	// and published ports; nil if it is gone.
	NetNS *Container
	// Containers are all of the sandbox's containers, by name.
	Containers []Container
	// Networks are the sandbox's networks.
	Networks []Network

	// Err says what could not be decoded (a label absent or malformed, a
	// part missing): the fields it concerns are zero. A sandbox with Err
	// set is still listed, so that it can be removed.
	Err error
}

// Registry is where a sandbox's registry is.
type Registry struct {
	// Addr is "localhost:P": the same for the host, the engine and the
	// updater, which shares the registry's network namespace.
	Addr string
	// MetricsURL is the registry's Prometheus endpoint, from the host.
	MetricsURL string
	// CA is the PEM certificate of the CA that signed the registry's
	// certificate; empty when the registry speaks plain HTTP.
	CA string
	// Auth is how the registry wants clients to authenticate: "" (none),
	// "basic" (htpasswd) or "token" (bearer tokens from the sandbox's
	// token issuer). The credentials are not here: they are in the
	// sandbox's state dir.
	Auth string
	// Container is the registry container; nil if it is gone.
	Container *Container
}

// Port is the registry's port P, from Addr; 0 if Addr has none.
func (r Registry) Port() int {
	_, p, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Scheme is "https" for a registry that serves TLS (it has a CA), else
// "http".
func (r Registry) Scheme() string {
	if r.CA != "" {
		return "https"
	}
	return "http"
}

// Updater is a sandbox's updater.
type Updater struct {
	// Profile is the whole profile it was started from.
	Profile profile.Profile
	// TokenFile is the host path of the 0600 file holding its API token.
	TokenFile string
	// Container is the updater container (as decoded; zero when encoding).
	Container Container
}

// Cluster is a set of nodes started from one image.
type Cluster struct {
	Name  string
	Image string
	// Nodes are in the order StartCluster makes them: the controller, then
	// the others by name.
	Nodes []Node
}

// Node is one node container of a cluster.
type Node struct {
	Name      string
	Container Container
}

// Container is what the decoder keeps of one container.
type Container struct {
	ID    string
	Name  string // without the leading '/'
	Image string // the reference it was created from
	State string // "running", "exited", ...
	Role  string // one of the labels.Role* values
	// Cluster and Node are set on node containers.
	Cluster, Node string
}

// Running reports whether the engine says the container runs.
func (c Container) Running() bool { return c.State == "running" }

// Network is one of a sandbox's networks.
type Network struct {
	ID, Name string
}

// maxProfileLabel bounds the encoded profile. The engine sets no limit on
// one label's value, but every label is returned by every container list
// call (the metrics server lists on each scrape), and a profile is about
// 1 KiB of JSON; a profile this large is a mistake to report at create.
const maxProfileLabel = 64 << 10

// Labels returns the labels of an object of the sandbox with the given
// role: the sandbox's identity (id, role, creation time, owner) on every
// object, and on the namespace holder (labels.RoleNetNS), which lives as
// long as the sandbox, the sandbox-wide facts: the registry's address and
// metrics URL and the updater API's URL. Updaters and nodes take
// UpdaterLabels and NodeLabels.
func (s *Sandbox) Labels(role string) map[string]string {
	l := map[string]string{
		labels.Sandbox: s.ID,
		labels.Role:    role,
		labels.Created: s.Created.UTC().Format(time.RFC3339),
	}
	maps.Copy(l, s.Owner.Labels())
	if s.KeepOnFailure != "" {
		l[labels.KeepOnFailure] = s.KeepOnFailure
	}
	if role == labels.RoleNetNS {
		l[labels.RegistryAddr] = s.Registry.Addr
		l[labels.RegistryMetrics] = s.Registry.MetricsURL
		l[labels.UpdaterAPI] = s.UpdaterAPI
		if s.Registry.CA != "" {
			l[labels.RegistryCA] = s.Registry.CA
		}
		if s.Registry.Auth != "" {
			l[labels.RegistryAuth] = s.Registry.Auth
		}
	}
	return l
}

// UpdaterLabels returns the labels of the updater container: its whole
// profile as JSON and its token file.
func (s *Sandbox) UpdaterLabels(u Updater) (map[string]string, error) {
	b, err := encodeProfile(u.Profile)
	if err != nil {
		return nil, err
	}
	l := s.Labels(labels.RoleUpdater)
	l[labels.UpdaterProfile] = string(b)
	l[labels.UpdaterTokenFile] = u.TokenFile
	return l, nil
}

// NodeLabels returns the labels of a node container of cluster c.
func (s *Sandbox) NodeLabels(c Cluster, node string) map[string]string {
	l := s.Labels(labels.RoleNode)
	l[labels.Cluster] = c.Name
	l[labels.ClusterImage] = c.Image
	l[labels.Node] = node
	return l
}

// Cluster returns the cluster with the given name, or nil.
func (s *Sandbox) Cluster(name string) *Cluster {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}

// nodeOrder sorts node names as StartCluster makes them: the controller,
// then the others by name.
func nodeOrder(a, b Node) int {
	if (a.Name == "controller") != (b.Name == "controller") {
		if a.Name == "controller" {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

func sortNodes(ns []Node) { slices.SortFunc(ns, nodeOrder) }

func trimName(names []string, id string) string {
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
