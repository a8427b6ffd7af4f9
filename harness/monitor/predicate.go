package monitor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// A Predicate is what a wait waits for: a test on one Event that knows how
// to say what it tests. Its String completes "waiting for …" ("node
// controller to turn healthy"), so a wait that fails names what it waited
// for, as moby's integration/internal/container/states.go does for its
// polls.
//
// The predicates of this package are values: one can be used by any number
// of waits at once. A Predicate of the caller's own must be safe for that
// too, or be made afresh per wait.
type Predicate interface {
	Match(Event) bool
	String() string
}

// containerPredicate matches the container events of one node: of a given
// kind, optionally of one container (or of any container but one), with
// one detail.
type containerPredicate struct {
	node   string
	id     string // "" any container of the node
	notID  string // "" no exclusion: matches only containers other than this one
	kinds  []EventKind
	detail string // "" any detail
	what   string // the verb phrase: "to die"
}

func (p containerPredicate) Match(ev Event) bool {
	return slices.Contains(p.kinds, ev.Kind) &&
		ev.Node == p.node &&
		(p.id == "" || ev.ContainerID == p.id) &&
		(p.notID == "" || ev.ContainerID != p.notID) &&
		(p.detail == "" || ev.Detail == p.detail)
}

func (p containerPredicate) String() string {
	return nodePhrase(p.node, p.id) + " " + p.what
}

// nodePhrase names a node, and one of its containers when id is given.
func nodePhrase(node, id string) string {
	if id == "" {
		return "node " + node
	}
	return fmt.Sprintf("node %s (container %s)", node, shortID(id))
}

// Created waits for a container of the node to be created (by the cluster,
// or by an updater replacing the node).
func Created(node string) Predicate {
	return containerPredicate{node: node, kinds: []EventKind{EventContainerCreate}, what: "to be created"}
}

// Started waits for a container of the node to start.
func Started(node string) Predicate {
	return containerPredicate{node: node, kinds: []EventKind{EventContainerStart}, what: "to start"}
}

// Died waits for a container of the node to exit, for whatever reason
// (killed, stopped, crashed); the event's ExitCode says how.
func Died(node string) Predicate {
	return containerPredicate{node: node, kinds: []EventKind{EventContainerDie}, what: "to die"}
}

// Stopping waits for the node's container with the given id to be
// stopped or killed: its first kill, stop or die event, whichever the
// engine reports first (an updater stopping a container causes a kill,
// then a die, then a stop).
func Stopping(node, containerID string) Predicate {
	return containerPredicate{
		node: node, id: containerID,
		kinds: []EventKind{EventContainerKill, EventContainerStop, EventContainerDie},
		what:  "to be stopped (kill, stop or die)",
	}
}

// Destroyed waits for a container of the node to be removed.
func Destroyed(node string) Predicate {
	return containerPredicate{node: node, kinds: []EventKind{EventContainerDestroy}, what: "to be removed"}
}

// Recreated waits for the node to run in a container other than oldID: a
// container of the node with another id starts, as when an updater
// replaces the node (or rolls it back).
func Recreated(node, oldID string) Predicate {
	return containerPredicate{
		node: node, notID: oldID, kinds: []EventKind{EventContainerStart},
		what: fmt.Sprintf("to be recreated (a container other than %s to start)", shortID(oldID)),
	}
}

// HealthIs waits for the node's container with the given id (any of its
// containers when id is "") to report the health status given: "healthy",
// "unhealthy" or "starting".
func HealthIs(node, containerID, status string) Predicate {
	return containerPredicate{
		node: node, id: containerID, kinds: []EventKind{EventContainerHealthStatus}, detail: status,
		what: "to turn " + status,
	}
}

// Attached waits for the unit monitor of the node's container with the
// given id (any of its containers when id is "") to go live: from then on
// every unit state change in it is reported.
func Attached(node, containerID string) Predicate {
	return containerPredicate{
		node: node, id: containerID, kinds: []EventKind{EventMonitorAttached},
		what: "to have its unit monitor attached",
	}
}

// unitPredicate matches the unit events of one unit in one node.
type unitPredicate struct {
	node, id, unit, state string
}

func (p unitPredicate) Match(ev Event) bool {
	return strings.HasPrefix(string(ev.Kind), "unit.") &&
		ev.Node == p.node && (p.id == "" || ev.ContainerID == p.id) &&
		ev.Unit == p.unit && ev.State == p.state
}

func (p unitPredicate) String() string {
	return fmt.Sprintf("unit %s on %s to be %s", p.unit, nodePhrase(p.node, p.id), p.state)
}

// UnitState waits for the unit (a full name: "seatrial-app.service") in
// the node's container with the given id (any of its containers when id
// is "") to reach the systemd ActiveState given ("active", "failed", ...).
// A state the unit already had when the unit monitor attached counts too
// (see WithSnapshot).
func UnitState(node, containerID, unit, state string) Predicate {
	return unitPredicate{node: node, id: containerID, unit: unit, state: state}
}

// funcPredicate is a caller's own test with its description.
type funcPredicate struct {
	what  string
	match func(Event) bool
}

func (p funcPredicate) Match(ev Event) bool { return p.match(ev) }
func (p funcPredicate) String() string      { return p.what }

// Matching makes a Predicate of a test this package has no name for.
// what completes "waiting for …": say what the test waits for, as the
// named predicates do, so a failed wait says it too.
func Matching(what string, match func(Event) bool) Predicate {
	return funcPredicate{what: what, match: match}
}

// anyOf matches when one of its predicates does.
type anyOf []Predicate

func (ps anyOf) Match(ev Event) bool {
	for _, p := range ps {
		if p.Match(ev) {
			return true
		}
	}
	return false
}

func (ps anyOf) String() string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", or ")
}

// AnyOf waits for whichever of the predicates matches first.
func AnyOf(ps ...Predicate) Predicate { return anyOf(ps) }

// kindPredicate matches every event of its kinds, of containers of one
// role when role is set.
type kindPredicate struct {
	kinds []EventKind
	role  string
	what  string
}

func (p kindPredicate) Match(ev Event) bool {
	return slices.Contains(p.kinds, ev.Kind) && (p.role == "" || ev.Role == p.role)
}

func (p kindPredicate) String() string { return p.what }

// UpdaterExited matches the updater's container exiting (its die event),
// for whatever reason: an updater that waits for nothing any more.
func UpdaterExited() Predicate {
	return kindPredicate{kinds: []EventKind{EventContainerDie}, role: labels.RoleUpdater, what: "the updater to exit"}
}

// NodeLost matches a node.lost event: a node removed and not replaced.
func NodeLost() Predicate {
	return kindPredicate{kinds: []EventKind{EventNodeLost}, what: "a node to be removed and not replaced"}
}

// ScanFailed matches a scan.failed event: a trigger that answered an
// error, or a scan that finished with failures.
func ScanFailed() Predicate {
	return kindPredicate{kinds: []EventKind{EventScanFailed}, what: "a scan to fail"}
}

// LabelLost matches a label.lost event: a replacement without a label
// of the container it replaced.
func LabelLost() Predicate {
	return kindPredicate{kinds: []EventKind{EventLabelLost}, what: "a replacement to lose a label"}
}

// ScanEarly matches a scan.early event: a node replaced after every
// scan trigger had answered.
func ScanEarly() Predicate {
	return kindPredicate{kinds: []EventKind{EventScanEarly}, what: "a node to be replaced after the trigger answered"}
}

// Contradictions are what contradicts any wait for an updater's work:
// the updater exited, a node was removed and not replaced, a replacement
// lost a label, a node was replaced after the scan's trigger answered, a
// scan's trigger answered an error or its scan finished with failures.
// Pass them to FailOn (a caller that expects a scan to fail leaves
// ScanFailed out).
func Contradictions(scanFailuresExpected bool) []Predicate {
	ps := []Predicate{UpdaterExited(), NodeLost(), LabelLost(), ScanEarly()}
	if !scanFailuresExpected {
		ps = append(ps, ScanFailed())
	}
	return ps
}

// Happened says what a contradicting event means, in words a person
// understands without the timeline: "the updater exited with code 3 at
// 12:01:03.4". Events without words of their own get their String.
func Happened(ev Event) string {
	at := ev.Time.UTC().Format("15:04:05.0")
	switch {
	case ev.Kind == EventContainerDie && ev.Role == labels.RoleUpdater:
		return fmt.Sprintf("the updater (container %s) exited with code %d at %s", shortID(ev.ContainerID), ev.ExitCode, at)
	case ev.Kind == EventNodeLost, ev.Kind == EventScanFailed, ev.Kind == EventLabelLost, ev.Kind == EventScanEarly:
		return ev.Detail
	case ev.Kind == EventContainerDestroy && ev.Node != "":
		return fmt.Sprintf("node %s (container %s) was removed at %s", ev.Node, shortID(ev.ContainerID), at)
	case ev.Kind == EventContainerDie && ev.Node != "":
		return fmt.Sprintf("node %s (container %s) exited with code %d at %s", ev.Node, shortID(ev.ContainerID), ev.ExitCode, at)
	}
	return ev.String()
}
