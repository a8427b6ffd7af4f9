// Package timelinehtml draws a Watcher's timeline (a []monitor.Event) as
// one self-contained HTML page: inline SVG and CSS, no script, no font or
// file from elsewhere, so it opens with no network.
//
// The page has a lane per node, one for the updater (its container and
// the scans), one for its Engine API calls (engine-api) and one for the
// registry (its container, the image pulls and any registry.* events),
// then a lane per other
// container of the sandbox. A container's life is a bar from its create
// to its destroy, coloured by its health: the engine's health verdict and
// the app unit's state (red if either says it is bad, green if either says
// it is good, blue while neither has said). Everything else the timeline
// holds is a mark on its lane: unit state changes, scans, image pulls,
// kills, the engine calls (red when a fault rule acted on one), and the
// Watcher's contradictions (node lost, label lost, scan answered early).
// Hovering a bar or a mark shows its event (an SVG title).
//
// New lays the picture out; its X, MarkY and BarY say where a time and a
// lane are on the page, in CSS pixels from the top left corner, which is
// what a screenshot test checks the pixels at.
package timelinehtml

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/seatrial-dev/seatrial/harness/monitor"
)

// Colours of the picture, as CSS hex colours.
const (
	Background = "#ffffff"

	// Bars: a container's state.
	BarCreated   = "#cbd5e0" // created, not started
	BarRunning   = "#63b3ed" // running, no verdict yet
	BarHealthy   = "#48bb78" // health healthy, or the app unit active
	BarUnhealthy = "#e53e3e" // health unhealthy, or the app unit failed
	BarExited    = "#4a5568" // died, not yet destroyed

	// Marks.
	MarkScanStarted  = "#2b6cb0"
	MarkScanAnswered = "#276749"
	MarkProblem      = "#c53030" // scan failed or early, node or label lost, a fault, a monitor error, an OOM kill
	MarkPull         = "#805ad5" // image.pull; other image events are MarkImage
	MarkImage        = "#b794f4"
	MarkEngineCall   = "#718096"
	MarkUnitActive   = "#38a169"
	MarkUnitFailed   = "#e53e3e"
	MarkUnitInactive = "#a0aec0"
	MarkUnitChanging = "#d69e2e" // activating, deactivating, reloading, ...
	MarkContainer    = "#1a202c" // kill, die, rename, pause, unpause
)

// Lanes with fixed names, drawn first in this order; node lanes follow,
// then other containers' lanes.
const (
	LaneUpdater   = "updater"
	LaneEngineAPI = monitor.RoleEngineAPI
	LaneRegistry  = "registry"
	LaneWatcher   = "watcher" // the Watcher's own errors
)

// Options say what New draws besides the events.
type Options struct {
	// Title heads the page (a test's name, a sandbox's id).
	Title string
	// AppUnit is the unit whose state changes are marks and colour a
	// node's bar ("seatrial-app.service"); other units' changes are left
	// out (timeline.txt has them). Empty: every unit's changes are marks,
	// and none colours a bar.
	AppUnit string
	// Width is the width of the time axis in CSS pixels (default 1100).
	Width int
}

// Geometry, in CSS pixels.
const (
	labelW  = 150 // the lane names' column
	padX    = 10  // between the names and the first instant, and after the last
	axisTop = 54  // the axis' labels
	lanesY0 = 70  // the first lane's top
	laneH   = 44  // with one row of bars; each further row adds rowH
	markDY  = 12  // a lane's marks' centre, from its top
	barDY   = 22  // a lane's first row of bars' top, from its top
	barH    = 16
	rowH    = barH + 4
)

// Picture is a laid-out timeline.
type Picture struct {
	opts       Options
	start, end time.Time
	lanes      []*lane
	byName     map[string]*lane
	events     int // drawn
	left       int // not drawn: attachments, network connects, other units
}

type lane struct {
	name  string
	rank  int // the order of fixed lanes, nodes, others
	first int // the order of first appearance
	top   float64
	busy  []bool // a row of bars is busy while a container in it lives
	segs  []segment
	marks []mark
}

type segment struct {
	from, to time.Time
	row      int
	colour   string
	title    string
}

type mark struct {
	at     time.Time
	colour string
	r      float64
	title  string
}

// life is a container's bar while its events are read.
type life struct {
	lane                *lane
	row                 int // of the lane's bars
	id, image           string
	since               time.Time // the open segment's start
	why                 string    // the event that opened it
	started, died, gone bool
	health, unit        string
}

func (l *life) state() (colour, words string) {
	switch {
	case l.died:
		return BarExited, "exited"
	case !l.started:
		return BarCreated, "created"
	case l.health == "unhealthy" || l.unit == "failed":
		return BarUnhealthy, fmt.Sprintf("unhealthy (health %s, app unit %s)", or(l.health, "-"), or(l.unit, "-"))
	case l.health == "healthy" || l.unit == "active":
		return BarHealthy, fmt.Sprintf("healthy (health %s, app unit %s)", or(l.health, "-"), or(l.unit, "-"))
	}
	return BarRunning, "running, no verdict yet"
}

func or(s, alt string) string { return cmp.Or(s, alt) }

// New lays out events (in any order; events with no time are left out).
func New(events []monitor.Event, opts Options) *Picture {
	if opts.Width <= 0 {
		opts.Width = 1100
	}
	p := &Picture{opts: opts, byName: map[string]*lane{}}
	evs := slices.DeleteFunc(slices.Clone(events), func(e monitor.Event) bool { return e.Time.IsZero() })
	slices.SortStableFunc(evs, func(a, b monitor.Event) int { return a.Time.Compare(b.Time) })
	if len(evs) == 0 {
		p.start = time.Now()
		p.end = p.start.Add(time.Second)
		return p
	}
	p.start, p.end = evs[0].Time, evs[len(evs)-1].Time
	if !p.end.After(p.start) {
		p.end = p.start.Add(time.Second)
	}

	lives := map[string]*life{} // by container id (or name)
	closeSeg := func(l *life, at time.Time, colour, words string) {
		l.lane.segs = append(l.lane.segs, segment{from: l.since, to: at, row: l.row, colour: colour,
			title: fmt.Sprintf("%s, container %s%s\n%s from %s to %s\nsince: %s", l.lane.name, short(l.id), imageNote(l.image), words, clock(l.since), clock(at), l.why)})
	}
	for _, e := range evs {
		ln := p.laneOf(e)
		if ln == nil || (strings.HasPrefix(string(e.Kind), "unit.") && opts.AppUnit != "" && e.Unit != opts.AppUnit) {
			p.left++
			continue
		}
		p.events++
		key := cmp.Or(e.ContainerID, e.Container)
		l := lives[key]
		if strings.HasPrefix(string(e.Kind), "container.") && key != "" && (l == nil || l.gone) {
			// A container's first event: its create, or whatever came
			// first of one that existed before the timeline began.
			// A container made while another of its lane still
			// lives (a replacement made before the old one is
			// removed) has a row of its own.
			row := slices.Index(ln.busy, false)
			if row < 0 {
				row = len(ln.busy)
				ln.busy = append(ln.busy, true)
			}
			ln.busy[row] = true
			l = &life{lane: ln, row: row, id: key, image: e.Image, since: e.Time, why: e.String()}
			if e.Kind != monitor.EventContainerCreate {
				l.since, l.started, l.why = p.start, true, "(existed when the timeline began)"
			}
			lives[key] = l
		}
		// What changes a bar's colour closes its open segment.
		if l != nil && !l.gone {
			before, words := l.state()
			switch {
			case e.Kind == monitor.EventContainerStart:
				l.started, l.died = true, false
			case e.Kind == monitor.EventContainerDie:
				l.died = true
			case e.Kind == monitor.EventContainerHealthStatus:
				l.health = e.Detail
			case strings.HasPrefix(string(e.Kind), "unit.") && opts.AppUnit != "":
				l.unit = e.State
			}
			if e.Kind == monitor.EventContainerDestroy {
				closeSeg(l, e.Time, before, words)
				l.gone, l.lane.busy[l.row] = true, false
			} else if after, _ := l.state(); after != before {
				closeSeg(l, e.Time, before, words)
				l.since, l.why = e.Time, e.String()
			}
		}
		if c, r, ok := markOf(e); ok {
			ln.marks = append(ln.marks, mark{at: e.Time, colour: c, r: r, title: e.String()})
		}
	}
	for _, l := range lives {
		if !l.gone {
			colour, words := l.state()
			closeSeg(l, p.end, colour, words)
		}
	}

	slices.SortStableFunc(p.lanes, func(a, b *lane) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.first, b.first))
	})
	top := float64(lanesY0)
	for _, ln := range p.lanes {
		ln.top = top
		top += ln.height()
		// Segments were closed in event order; drawn in time order.
		slices.SortStableFunc(ln.segs, func(a, b segment) int { return a.from.Compare(b.from) })
		// Larger marks (failures, faults) are drawn last, over the
		// small ones of the same instant.
		slices.SortStableFunc(ln.marks, func(a, b mark) int { return cmp.Compare(a.r, b.r) })
	}
	return p
}

// laneOf returns the lane an event is drawn on, making it on first use, or
// nil for an event the picture leaves out.
func (p *Picture) laneOf(e monitor.Event) *lane {
	var name string
	rank := 4
	switch {
	case e.Kind == monitor.EventMonitorAttached, e.Kind == monitor.EventNetworkConnect:
		return nil
	case e.Kind == monitor.EventEngineCall || e.Role == monitor.RoleEngineAPI:
		name = LaneEngineAPI
	case e.Node != "":
		name, rank = e.Node, 3
	case strings.HasPrefix(string(e.Kind), "scan."):
		name = LaneUpdater
	case strings.HasPrefix(string(e.Kind), "image."), strings.HasPrefix(string(e.Kind), "registry."):
		name = LaneRegistry
	case e.Kind == monitor.EventMonitorError:
		name, rank = LaneWatcher, 5
	case e.Container != "":
		name = shortName(e)
	default:
		return nil
	}
	if i := slices.Index([]string{LaneUpdater, LaneEngineAPI, LaneRegistry}, name); i >= 0 && rank != 3 {
		rank = i
	}
	ln := p.byName[name]
	if ln == nil {
		ln = &lane{name: name, rank: rank, first: len(p.lanes)}
		p.byName[name] = ln
		p.lanes = append(p.lanes, ln)
	}
	return ln
}

// shortName is a container's name without its sandbox's id in front
// ("st-0123456789-updater" is "updater").
func shortName(e monitor.Event) string {
	if e.Sandbox != "" {
		if s, ok := strings.CutPrefix(e.Container, e.Sandbox+"-"); ok {
			return s
		}
	}
	// A sandbox id is "st-" and 10 hex digits.
	if len(e.Container) > 14 && strings.HasPrefix(e.Container, "st-") && e.Container[13] == '-' {
		return e.Container[14:]
	}
	return e.Container
}

// markOf says how an event is marked: its colour and radius, or not at
// all (what a bar shows: create, start, health, destroy).
func markOf(e monitor.Event) (colour string, r float64, ok bool) {
	switch e.Kind {
	case monitor.EventContainerCreate, monitor.EventContainerStart, monitor.EventContainerHealthStatus, monitor.EventContainerDestroy:
		return "", 0, false
	case monitor.EventScanStarted:
		return MarkScanStarted, 5, true
	case monitor.EventScanAnswered:
		return MarkScanAnswered, 5, true
	case monitor.EventScanFailed, monitor.EventScanEarly, monitor.EventNodeLost, monitor.EventLabelLost, monitor.EventMonitorError, monitor.EventContainerOOM:
		return MarkProblem, 6, true
	case monitor.EventEngineCall:
		if strings.HasSuffix(e.Detail, "]") {
			return MarkProblem, 5, true // a fault rule acted on it
		}
		return MarkEngineCall, 3, true
	case monitor.EventImagePull:
		return MarkPull, 4, true
	case monitor.EventUnitActive:
		return MarkUnitActive, 4, true
	case monitor.EventUnitFailed:
		return MarkUnitFailed, 5, true
	case monitor.EventUnitInactive:
		return MarkUnitInactive, 4, true
	}
	switch {
	case strings.HasPrefix(string(e.Kind), "registry.") && strings.HasSuffix(e.Detail, "]"):
		return MarkProblem, 5, true // a registry request a fault rule acted on
	case strings.HasPrefix(string(e.Kind), "image."), strings.HasPrefix(string(e.Kind), "registry."):
		return MarkImage, 4, true
	case strings.HasPrefix(string(e.Kind), "unit."):
		return MarkUnitChanging, 4, true
	}
	return MarkContainer, 3.5, true
}

// X is the page's x of an instant, in CSS pixels.
func (p *Picture) X(t time.Time) float64 {
	f := float64(t.Sub(p.start)) / float64(p.end.Sub(p.start))
	return labelW + padX + f*float64(p.opts.Width)
}

// MarkY is the y of the centre of a lane's marks, and false if the picture
// has no such lane.
func (p *Picture) MarkY(lane string) (float64, bool) {
	ln, ok := p.byName[lane]
	if !ok {
		return 0, false
	}
	return ln.top + markDY, true
}

// BarY is the y of the middle of a lane's row of bars (0: the first; a
// container made while another of its lane lives is drawn in the next
// free row), and false if the picture has no such lane or row.
func (p *Picture) BarY(lane string, row int) (float64, bool) {
	ln, ok := p.byName[lane]
	if !ok || row < 0 || row >= max(len(ln.busy), 1) {
		return 0, false
	}
	return ln.top + barDY + float64(row*rowH) + barH/2, true
}

func (ln *lane) height() float64 { return laneH + float64(max(len(ln.busy)-1, 0)*rowH) }

// Lanes are the lanes' names, top to bottom.
func (p *Picture) Lanes() []string {
	var out []string
	for _, ln := range p.lanes {
		out = append(out, ln.name)
	}
	return out
}

// Width and Height are the drawing's size in CSS pixels (the legend
// follows below it).
func (p *Picture) Width() int { return labelW + 2*padX + p.opts.Width }

func (p *Picture) Height() int {
	h := float64(lanesY0 + 10)
	for _, ln := range p.lanes {
		h += ln.height()
	}
	return int(h)
}

// Render lays events out and returns the page.
func Render(events []monitor.Event, opts Options) []byte { return New(events, opts).HTML() }

// HTML returns the page: one file, nothing loaded from elsewhere.
func (p *Picture) HTML() []byte {
	var b strings.Builder
	title := cmp.Or(p.opts.Title, "seatrial timeline")
	fmt.Fprintf(&b, `<!doctype html>
<html><head><meta charset="utf-8"/><title>%s</title>
<style>
body{margin:0;background:%s;color:#1a202c;font:12px sans-serif}
svg{display:block}
svg text{font:12px sans-serif;fill:#1a202c}
svg .t{font-size:15px;font-weight:bold}
svg .s,svg .a{fill:#4a5568}
.m:hover,.b:hover{stroke:#000;stroke-width:1.5}
.legend{margin:0 10px 12px;line-height:20px}
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px;vertical-align:-1px}
</style></head><body>
`, esc(title), Background)
	w, h := p.Width(), p.Height()
	fmt.Fprintf(&b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", w, h, w, h)
	fmt.Fprintf(&b, "<text class=\"t\" x=\"10\" y=\"22\">%s</text>\n", esc(title))
	fmt.Fprintf(&b, "<text class=\"s\" x=\"10\" y=\"40\">%s to %s UTC (%s): %d events drawn, %d left out (monitor attachments, network connects, other units: see timeline.txt). Hover a bar or a mark for its event.</text>\n",
		p.start.UTC().Format("2006-01-02 15:04:05.000"), p.end.UTC().Format("15:04:05.000"), p.end.Sub(p.start).Round(time.Millisecond), p.events, p.left)

	// The time axis: a tick every step, labelled from the start.
	step := tickStep(p.end.Sub(p.start))
	for d := time.Duration(0); d <= p.end.Sub(p.start); d += step {
		x := p.X(p.start.Add(d))
		fmt.Fprintf(&b, "<text class=\"a\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">+%s</text><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#a0aec0\"/>\n",
			x, axisTop, d, x, axisTop+4, x, lanesY0)
	}
	for _, ln := range p.lanes {
		fmt.Fprintf(&b, "<g><text x=\"10\" y=\"%.1f\">%s</text><line x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e2e8f0\"/>\n",
			ln.top+barDY+barH-3, esc(ln.name), ln.top+ln.height()-0.5, w, ln.top+ln.height()-0.5)
		for _, s := range ln.segs {
			x0, x1 := p.X(s.from), p.X(s.to)
			fmt.Fprintf(&b, "<rect class=\"b\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s</title></rect>\n",
				x0, ln.top+barDY+float64(s.row*rowH), max(x1-x0, 1), barH, s.colour, esc(s.title))
		}
		for _, m := range ln.marks {
			fmt.Fprintf(&b, "<circle class=\"m\" cx=\"%.1f\" cy=\"%.1f\" r=\"%g\" fill=\"%s\"><title>%s</title></circle>\n",
				p.X(m.at), ln.top+markDY, m.r, m.colour, esc(m.title))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n<div class=\"legend\">")
	for _, l := range legend {
		fmt.Fprintf(&b, "<span style=\"background:%s\"></span>%s", l[0], esc(l[1]))
	}
	b.WriteString("</div>\n</body></html>\n")
	return []byte(b.String())
}

var legend = [][2]string{
	{BarCreated, "created"}, {BarRunning, "running, no verdict"}, {BarHealthy, "healthy"},
	{BarUnhealthy, "unhealthy"}, {BarExited, "exited"},
	{MarkScanStarted, "scan started"}, {MarkScanAnswered, "scan answered"}, {MarkProblem, "failure, fault, lost"},
	{MarkPull, "image pull"}, {MarkEngineCall, "engine call"}, {MarkUnitActive, "unit active"},
	{MarkUnitChanging, "unit changing"}, {MarkUnitFailed, "unit failed"}, {MarkContainer, "kill, die, rename"},
}

// tickStep is the axis' step: the smallest of 100 ms, 200 ms, 500 ms, 1 s,
// ... that makes at most 12 ticks.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute} {
		if span/s <= 12 {
			return s
		}
	}
	return time.Hour
}

func esc(s string) string { return html.EscapeString(s) }

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func imageNote(image string) string {
	if image == "" {
		return ""
	}
	return " (" + image + ")"
}
