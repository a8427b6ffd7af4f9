// Package monitor reports what the Docker engine and the systemd inside each
// node did, as a stream of Events, so a scenario waits for the event it
// needs instead of sleeping and polling.
//
// Its shape follows sind's pkg/monitor: a DockerMonitor for the engine's
// event stream, a SystemdMonitor per node for unit state changes, and a
// Watcher that owns both and broadcasts to subscribers. The differences: the
// engine is read through the Go client (no docker CLI), a dropped event
// stream is resumed from the last event's time without loss or duplicates,
// a node recreated by an updater gets its unit monitor back by itself, a
// slow subscriber never blocks the others, and WaitFor waits for a named
// Predicate (Died, HealthIs, UnitState, ...): it returns the first event
// that matches, or an error that says what it waited for and lists the
// last events the Watcher saw.
package monitor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// EventKind identifies the category of a monitored event.
type EventKind string

// Container events, from the engine's event stream. The kind is
// "container." and the engine's action (without the detail the engine puts
// after a colon, as in "health_status: healthy").
const (
	EventContainerCreate  EventKind = "container.create"
	EventContainerStart   EventKind = "container.start"
	EventContainerKill    EventKind = "container.kill" // Detail: the signal number
	EventContainerDie     EventKind = "container.die"  // ExitCode: the exit code
	EventContainerStop    EventKind = "container.stop"
	EventContainerOOM     EventKind = "container.oom"
	EventContainerPause   EventKind = "container.pause"
	EventContainerUnpause EventKind = "container.unpause"
	EventContainerRename  EventKind = "container.rename" // Detail: the old name
	// EventContainerHealthStatus carries Detail healthy, unhealthy or
	// starting.
	EventContainerHealthStatus EventKind = "container.health_status"
	EventContainerDestroy      EventKind = "container.destroy"
)

// Image events, from the engine's event stream (see WithImageRefPrefix for
// which ones a Watcher sees). The kind is "image." and the engine's action;
// these are the ones an updater causes.
const (
	EventImagePull   EventKind = "image.pull"
	EventImageTag    EventKind = "image.tag"
	EventImageUntag  EventKind = "image.untag"
	EventImageDelete EventKind = "image.delete"
	EventImagePush   EventKind = "image.push"
	EventImageImport EventKind = "image.import"
	EventImageLoad   EventKind = "image.load"
)

// EventNetworkConnect says a container was attached to one of the
// sandbox's networks (see WithNetworks): ContainerID is the container,
// Detail the network's name.
const EventNetworkConnect EventKind = "network.connect"

// Unit events, from systemd inside a node: the kind is "unit." and the
// unit's new ActiveState. State holds the ActiveState, Detail the SubState.
const (
	EventUnitActive       EventKind = "unit.active"
	EventUnitReloading    EventKind = "unit.reloading"
	EventUnitInactive     EventKind = "unit.inactive"
	EventUnitFailed       EventKind = "unit.failed"
	EventUnitActivating   EventKind = "unit.activating"
	EventUnitDeactivating EventKind = "unit.deactivating"
	// Newer systemd versions (252 and later) also report "maintenance" and
	// "refreshing"; they arrive as unit.maintenance and unit.refreshing.
)

// Monitor events, about the monitors themselves.
const (
	// EventMonitorError reports a monitor failure (Err says which), or that
	// a subscriber missed events because its buffer was full (Err is
	// ErrDropped). A monitor that can retry keeps retrying after it.
	EventMonitorError EventKind = "monitor.error"
	// EventMonitorAttached says a node's unit monitor is live: from this
	// event on, every unit state change in that container is reported.
	// Node and ContainerID say which.
	EventMonitorAttached EventKind = "monitor.attached"
)

// Contradiction events: published on a Watcher, by the Watcher itself
// (node.lost) or by whoever triggers scans (scan.answered, scan.failed),
// so that a wait can fail at once on them (see Contradictions).
const (
	// EventScanAnswered says a scan trigger returned; Detail holds the
	// answer ("status 200 {...}") or the transport error.
	EventScanAnswered EventKind = "scan.answered"
	// EventScanFailed says a scan trigger answered an error (a status it
	// should not, a transport error) or a scan that finished with
	// failures. Detail says so in words.
	EventScanFailed EventKind = "scan.failed"
	// EventNodeLost says a node's last container was removed and no
	// container of that node was created after it: by the time a scan's
	// trigger answered (see Watcher.SettleNodes), or within the node-loss
	// grace (see WithNodeLossGrace). Node names the node, ContainerID the
	// removed container, Detail says so in words.
	EventNodeLost EventKind = "node.lost"
	// EventScanStarted says a scan trigger was sent and has not answered
	// yet (published by whoever triggers scans, with scan.answered after
	// it), so the Watcher can tell work the updater does while a trigger
	// waits from work it does after every trigger answered.
	EventScanStarted EventKind = "scan.started"
	// EventScanEarly says a node was replaced after every scan trigger
	// had answered: the trigger answered before its scan was done (its
	// answer contradicts what then happened). Detail says so in words.
	EventScanEarly EventKind = "scan.early"
	// EventLabelLost says a container that replaced one of the sandbox's
	// (same name) lacks a label seatrial or the updater contract put on
	// the one it replaced: the updater dropped it. Node names the node,
	// Detail says which labels in words.
	EventLabelLost EventKind = "label.lost"
)

// EventEngineCall is one Engine API call the updater made through the
// sandbox's engine proxy, as the proxy recorded it (published by whoever
// follows the proxy's calls: seatrial watch, a scenario's world). Role is
// RoleEngineAPI; Detail is "METHOD PATH STATUS DURATION [faults]".
const EventEngineCall EventKind = "engine.call"

// RoleEngineAPI is the Role of EventEngineCall events: the timeline's lane
// of the updater's calls to the engine.
const RoleEngineAPI = "engine-api"

// ErrDropped is the Err of the monitor.error event a subscriber receives
// after it missed events because its buffer was full.
var ErrDropped = errors.New("subscriber buffer full: events dropped")

// Event is one state change observed by a monitor.
type Event struct {
	Kind    EventKind
	Sandbox string // the io.seatrial.sandbox label
	// Node is the node's short name ("controller", "worker-0") from the
	// io.seatrial.node label; empty for containers that are not nodes.
	Node string
	// Role is the io.seatrial.role label of the container.
	Role string
	// Container is the container's name (without the leading slash).
	Container   string
	ContainerID string
	// Image is the image a container event's container runs, or the image
	// reference (or id, where the engine gives no reference) of an image
	// event.
	Image string
	// Unit is the systemd unit name ("seatrial-app.service"), for unit
	// events.
	Unit string
	// State is the unit's systemd ActiveState, for unit events.
	State string
	// Time is when the engine or systemd says it happened (not when the
	// monitor saw it).
	Time time.Time
	// Detail is the kind's detail: the health status, the signal, the
	// unit's SubState, a message.
	Detail string
	// ExitCode is the exit code of container.die events.
	ExitCode int
	// Err is set on monitor.error events.
	Err error
	// Labels are the container's labels, on container.create events only
	// (what the Watcher compares a replacement's labels with).
	Labels map[string]string
	// Unlabelled marks a container event of a container without the
	// sandbox label that the Watcher followed by its name or id; Node and
	// Role are then what the Watcher knew of that name or id.
	Unlabelled bool
	// Snapshot marks a unit event that reports a unit's state as found
	// when the monitor attached (see WithSnapshot), not a change; its Time
	// is when the snapshot was taken.
	Snapshot bool
}

// String formats the event on one line, for logs and failure messages.
func (e Event) String() string {
	var b strings.Builder
	if !e.Time.IsZero() {
		b.WriteString(e.Time.UTC().Format("15:04:05.000000 "))
	}
	b.WriteString(string(e.Kind))
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	add("node", e.Node)
	if e.Node == "" {
		add("container", e.Container)
	}
	if e.ContainerID != "" {
		add("id", shortID(e.ContainerID))
	}
	add("unit", e.Unit)
	add("detail", e.Detail)
	if e.Kind == EventContainerDie {
		fmt.Fprintf(&b, " exit=%d", e.ExitCode)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%q", e.Err.Error())
	}
	if e.Snapshot {
		b.WriteString(" (snapshot)")
	}
	return b.String()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// NodeTarget identifies a node to monitor.
type NodeTarget struct {
	// ShortName is the node's name in its cluster ("worker-0").
	ShortName string
	// Container is the node container's name or id.
	Container string
}
