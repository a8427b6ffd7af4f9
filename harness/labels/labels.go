// Package labels holds the label keys seatrial puts on everything it creates
// on the Docker engine, and the owner identity that lets a later run tell a
// live sandbox from a crashed run's leftovers. Which keys go on which object
// and what they mean together is package descriptor's: it is the one
// writer and the one reader of a sandbox's labels.
//
// State lives in labels, as in kind: listing, pruning and the metrics server
// need no state file, and nothing seatrial did not label is ever touched.
package labels

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Label keys. Every object seatrial creates carries Sandbox and Role.
const (
	// Sandbox is the sandbox id ("st-" and 10 hex digits). Its presence is
	// what makes an object seatrial's.
	Sandbox = "io.seatrial.sandbox"
	// Role says what the object is for: one of the Role* values.
	Role = "io.seatrial.role"
	// Cluster is the cluster name, on node containers.
	Cluster = "io.seatrial.cluster"
	// Node is the node's short name ("controller", "worker-0"), on node
	// containers. It survives an updater's recreate, because updaters copy
	// labels; the container id does not.
	Node = "io.seatrial.node"
	// OwnerPID and OwnerStart identify the process that owns the sandbox:
	// its pid and its start time in clock ticks after boot (field 22 of
	// /proc/PID/stat), so a reused pid is not mistaken for the owner.
	OwnerPID   = "io.seatrial.owner.pid"
	OwnerStart = "io.seatrial.owner.start"
	// OwnerKind is OwnerProcess (pruned once that process is gone) or
	// OwnerPerson (made by `seatrial up`; kept until `seatrial down`).
	OwnerKind = "io.seatrial.owner.kind"
	// Created is the sandbox's creation time, RFC 3339, UTC.
	Created = "io.seatrial.created"
	// KeepOnFailure is the id of the run (`seatrial run --keep-on-failure`)
	// that asked to keep the sandbox if its test fails. A test removes its
	// sandbox when it passes; one left behind with this label is kept by
	// Prune (unless PruneAll) until `seatrial down`.
	KeepOnFailure = "io.seatrial.keep-on-failure"

	// ClusterImage is the reference a cluster's nodes were started from,
	// on node containers.
	ClusterImage = "io.seatrial.cluster.image"

	// UpdaterProfile is the updater's whole profile as JSON (package
	// profile), on the updater container, so a sandbox started from a
	// profile file is reopened with that profile's paths and statuses.
	UpdaterProfile = "io.seatrial.updater.profile"
	// UpdaterTokenFile is the host path of a 0600 file holding the
	// updater's API token, on the updater container. The token itself is
	// never put in a label.
	UpdaterTokenFile = "io.seatrial.updater.token-file"
	// UpdaterAPI is the updater's HTTP API base URL as reachable from the
	// host (for example http://127.0.0.1:49153), on the namespace holder,
	// which publishes the API port before any updater runs.
	UpdaterAPI = "io.seatrial.updater.api"
	// RegistryAddr is the registry's host:port, the same from the host,
	// the engine and the updater (for example localhost:40123), on the
	// namespace holder, which owns the port.
	RegistryAddr = "io.seatrial.registry.addr"
	// RegistryMetrics is the URL of the registry's Prometheus endpoint on
	// its debug listener, as reachable from the host, on the namespace
	// holder.
	RegistryMetrics = "io.seatrial.registry.metrics"
	// RegistryCA is the PEM certificate of the CA the sandbox made for its
	// registry's TLS (public, not a secret), on the namespace holder;
	// absent when the registry speaks plain HTTP.
	RegistryCA = "io.seatrial.registry.ca"
	// RegistryAuth is how the sandbox's registry wants clients to
	// authenticate ("basic" or "token"), on the namespace holder; absent
	// when it is anonymous. Never the credentials: those live in the
	// sandbox's state dir (0600).
	RegistryAuth = "io.seatrial.registry.auth"
)

// Keys are the label keys above: what seatrial puts on the objects it
// creates (an image's own io.seatrial.* labels are package images').
var Keys = []string{
	Sandbox, Role, Cluster, Node, OwnerPID, OwnerStart, OwnerKind, Created, KeepOnFailure, ClusterImage,
	UpdaterProfile, UpdaterTokenFile, UpdaterAPI, RegistryAddr, RegistryMetrics, RegistryCA, RegistryAuth,
}

// Role values.
const (
	RoleRegistry = "registry"
	RoleUpdater  = "updater"
	RoleNode     = "node"
	RoleApp      = "app"
	RoleNetwork  = "network"
	// RoleVolume is a named volume of a sandbox's nodes.
	RoleVolume = "volume"
	// RoleNetNS is the container that owns a sandbox's network namespace
	// and published ports; the registry and the updater join it.
	RoleNetNS = "netns"
	RoleProbe = "probe"
	// RoleEngineProxy is the Docker API proxy between a sandbox's updater
	// and the engine (harness.WithEngineProxy).
	RoleEngineProxy = "engineproxy"
	// RoleFaultProxy is the registry fault proxy in front of a sandbox's
	// registry (harness.WithFaultProxy).
	RoleFaultProxy = "faultproxy"
	// RoleTokenIssuer is the token issuer of a sandbox whose registry
	// takes bearer tokens (harness.WithRegistryAuth).
	RoleTokenIssuer = "tokenissuer"
)

// Owner kinds.
const (
	OwnerProcess = "process"
	OwnerPerson  = "person"
)

// Owner identifies the process that owns a sandbox.
type Owner struct {
	PID   int
	Start uint64 // clock ticks after boot, from /proc/PID/stat
	Kind  string // OwnerProcess or OwnerPerson
}

// Self returns the current process as an owner of the given kind.
func Self(kind string) (Owner, error) {
	pid := os.Getpid()
	start, err := processStart(pid)
	if err != nil {
		return Owner{}, err
	}
	return Owner{PID: pid, Start: start, Kind: kind}, nil
}

// Labels returns the owner labels.
func (o Owner) Labels() map[string]string {
	return map[string]string{
		OwnerPID:   strconv.Itoa(o.PID),
		OwnerStart: strconv.FormatUint(o.Start, 10),
		OwnerKind:  o.Kind,
	}
}

// OwnerFromLabels reads an owner back from an object's labels.
func OwnerFromLabels(l map[string]string) (Owner, error) {
	pid, err := strconv.Atoi(l[OwnerPID])
	if err != nil {
		return Owner{}, fmt.Errorf("label %s=%q: %w", OwnerPID, l[OwnerPID], err)
	}
	start, err := strconv.ParseUint(l[OwnerStart], 10, 64)
	if err != nil {
		return Owner{}, fmt.Errorf("label %s=%q: %w", OwnerStart, l[OwnerStart], err)
	}
	return Owner{PID: pid, Start: start, Kind: l[OwnerKind]}, nil
}

// Alive reports whether the owning process still runs: a process with that
// pid exists and started at the recorded time.
func (o Owner) Alive() bool {
	start, err := processStart(o.PID)
	return err == nil && start == o.Start
}

// processStart reads a process's start time (field 22 of /proc/PID/stat).
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read start time of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself, so split after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')' in %q", pid, s)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
