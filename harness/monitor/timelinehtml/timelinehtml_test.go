package timelinehtml_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/monitor/timelinehtml"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

const app = "seatrial-app.service"

var t0 = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// flow is a small update flow, in the shape a Watcher reports one: two
// nodes, worker-0's container replaced by one that turns unhealthy,
// controller without a health verdict (its app unit says) and replaced
// before its old container is removed, a scan, an engine call with a
// fault, an image pull.
func flow() []monitor.Event {
	node := func(s float64, kind monitor.EventKind, n, id, detail string) monitor.Event {
		return monitor.Event{Time: at(s), Kind: kind, Node: n, Role: "node", ContainerID: id, Container: "st-0123456789-c-" + n, Detail: detail, Sandbox: "st-0123456789"}
	}
	unit := func(s float64, n, id, state string) monitor.Event {
		return monitor.Event{Time: at(s), Kind: monitor.EventKind("unit." + state), Node: n, ContainerID: id, Unit: app, State: state}
	}
	return []monitor.Event{
		{Time: at(0), Kind: monitor.EventContainerCreate, Role: "updater", Container: "st-0123456789-updater", ContainerID: "u1"},
		{Time: at(0.1), Kind: monitor.EventContainerStart, Role: "updater", Container: "st-0123456789-updater", ContainerID: "u1"},
		node(0.2, monitor.EventContainerCreate, "controller", "c1", ""),
		node(0.4, monitor.EventContainerStart, "controller", "c1", ""),
		node(1, monitor.EventContainerCreate, "worker-0", "w1", ""),
		node(1.5, monitor.EventContainerStart, "worker-0", "w1", ""),
		unit(2, "controller", "c1", "active"),
		{Time: at(2), Kind: monitor.EventMonitorAttached, Node: "controller", ContainerID: "c1"},
		{Time: at(2), Kind: monitor.EventUnitActive, Node: "controller", ContainerID: "c1", Unit: "dbus.service", State: "active", Snapshot: true},
		node(3, monitor.EventContainerHealthStatus, "worker-0", "w1", "healthy"),
		{Time: at(4.5), Kind: monitor.EventImagePull, Image: "localhost:5000/node:stable"},
		{Time: at(5), Kind: monitor.EventScanStarted},
		{Time: at(5.5), Kind: monitor.EventEngineCall, Role: monitor.RoleEngineAPI, Detail: "POST /v1.41/containers/create 500 1.2ms [create-fails]"},
		// The same instant as the fault: the fault's mark is drawn over it.
		{Time: at(5.5), Kind: monitor.EventEngineCall, Role: monitor.RoleEngineAPI, Detail: "GET /v1.41/containers/json 200 0.5ms"},
		{Time: at(6.1), Kind: monitor.EventEngineCall, Role: monitor.RoleEngineAPI, Detail: "GET /v1.41/containers/json 200 0.8ms"},
		node(5.8, monitor.EventContainerKill, "worker-0", "w1", "37"),
		{Time: at(6), Kind: monitor.EventContainerDie, Node: "worker-0", ContainerID: "w1", ExitCode: 0},
		node(6.5, monitor.EventContainerDestroy, "worker-0", "w1", ""),
		node(7.5, monitor.EventContainerCreate, "worker-0", "w2", ""),
		node(7.6, monitor.EventContainerStart, "worker-0", "w2", ""),
		{Time: at(8), Kind: monitor.EventScanAnswered, Detail: "status 200"},
		node(9, monitor.EventContainerHealthStatus, "worker-0", "w2", "unhealthy"),
		unit(9.2, "worker-0", "w2", "failed"),
		node(8.1, monitor.EventContainerDie, "controller", "c1", ""),
		node(8.3, monitor.EventContainerCreate, "controller", "c2", ""),
		node(8.4, monitor.EventContainerStart, "controller", "c2", ""),
		node(8.6, monitor.EventContainerDestroy, "controller", "c1", ""),
		unit(9, "controller", "c2", "active"),
		{Time: at(10), Kind: monitor.EventScanFailed, Detail: "the scan finished with failures"},
	}
}

// TestScreenshot renders the flow in headless Chromium and checks, in the
// screenshot's pixels, that each bar and mark is where and what its events
// say, and that there is nothing where no event is.
func TestScreenshot(t *testing.T) {
	chromium := testenv.NeedsCommand(t, "chromium", "chromium")
	p := timelinehtml.New(flow(), timelinehtml.Options{Title: "TestScreenshot", AppUnit: app, Width: 1000})
	require.Equal(t, []string{"updater", "engine-api", "registry", "controller", "worker-0"}, p.Lanes())
	// The flow's first and last instants are the axis' ends: right of the
	// lanes' names, inside the picture, 1000 px apart.
	require.InDelta(t, 1000, p.X(at(10))-p.X(at(0)), 0.01)
	require.Greater(t, p.X(at(0)), 100.0)
	require.Less(t, p.X(at(10)), float64(p.Width()))

	dir := t.TempDir()
	page := filepath.Join(dir, "timeline.html")
	require.NoError(t, os.WriteFile(page, p.HTML(), 0o644))
	shot := filepath.Join(dir, "timeline.png")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
		"--force-device-scale-factor=1", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", p.Width(), p.Height()+60), "file://"+page)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)
	t.Logf("chromium took %s", time.Since(start).Round(time.Millisecond))
	f, err := os.Open(shot)
	require.NoError(t, err, "chromium wrote no screenshot: %s", out)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	if os.Getenv("SEATRIAL_KEEP_SCREENSHOT") != "" {
		data, _ := os.ReadFile(shot)
		require.NoError(t, os.WriteFile(os.Getenv("SEATRIAL_KEEP_SCREENSHOT"), data, 0o644))
	}

	barRow := func(lane string, row int, s float64, want, why string) {
		t.Helper()
		y, ok := p.BarY(lane, row)
		require.True(t, ok, "no lane %s with a row %d", lane, row)
		requirePixel(t, img, p.X(at(s)), y, want, "bar of lane %s, row %d, at +%gs: %s", lane, row, s, why)
	}
	bar := func(lane string, s float64, want, why string) {
		t.Helper()
		barRow(lane, 0, s, want, why)
	}
	mark := func(lane string, s float64, want, why string) {
		t.Helper()
		y, ok := p.MarkY(lane)
		require.True(t, ok, "no lane %s", lane)
		requirePixel(t, img, p.X(at(s)), y, want, "mark on lane %s at +%gs: %s", lane, s, why)
	}
	bar("worker-0", 0.5, timelinehtml.Background, "before its first create")
	bar("worker-0", 1.2, timelinehtml.BarCreated, "created, not started")
	bar("worker-0", 2, timelinehtml.BarRunning, "started, no verdict")
	bar("worker-0", 4, timelinehtml.BarHealthy, "health healthy at +3s")
	bar("worker-0", 6.2, timelinehtml.BarExited, "died at +6s")
	bar("worker-0", 7, timelinehtml.Background, "destroyed at +6.5s, next created at +7.5s")
	bar("worker-0", 9.5, timelinehtml.BarUnhealthy, "the new container's health unhealthy at +9s")
	bar("controller", 1, timelinehtml.BarRunning, "no verdict before its app unit is active")
	bar("controller", 3, timelinehtml.BarHealthy, "no health check; app unit active at +2s")
	bar("controller", 8.2, timelinehtml.BarExited, "c1 died at +8.1s")
	barRow("controller", 1, 8.2, timelinehtml.Background, "c2 is not created yet")
	barRow("controller", 1, 8.5, timelinehtml.BarRunning, "c2 started while c1 is not yet removed: a row below")
	barRow("controller", 1, 9.5, timelinehtml.BarHealthy, "c2's app unit active at +9s")
	bar("controller", 9.5, timelinehtml.Background, "c1 destroyed at +8.6s")
	_, ok := p.BarY("worker-0", 1)
	require.False(t, ok, "worker-0's containers never lived at once: one row")
	bar("updater", 5, timelinehtml.BarRunning, "the updater's container, no health check")
	bar("registry", 5, timelinehtml.Background, "the registry's container is not in the timeline")

	mark("updater", 5, timelinehtml.MarkScanStarted, "scan.started")
	mark("updater", 8, timelinehtml.MarkScanAnswered, "scan.answered")
	mark("updater", 10, timelinehtml.MarkProblem, "scan.failed")
	mark("updater", 6.5, timelinehtml.Background, "no scan event")
	mark("engine-api", 5.5, timelinehtml.MarkProblem, "engine call a fault rule acted on, over another call of that instant")
	mark("engine-api", 6.1, timelinehtml.MarkEngineCall, "engine call")
	mark("registry", 4.5, timelinehtml.MarkPull, "image.pull")
	mark("worker-0", 5.8, timelinehtml.MarkContainer, "kill")
	mark("worker-0", 9.2, timelinehtml.MarkUnitFailed, "app unit failed")
	mark("controller", 2, timelinehtml.MarkUnitActive, "app unit active (dbus's snapshot is left out)")
	mark("controller", 4, timelinehtml.Background, "no event")
}

// requirePixel checks the screenshot's colour at (x, y) against the CSS hex
// colour want, within a little for anti-aliasing.
func requirePixel(t *testing.T, img image.Image, x, y float64, want string, msgAndArgs ...any) {
	t.Helper()
	got := color.NRGBAModel.Convert(img.At(int(x), int(y))).(color.NRGBA)
	w := hexColour(t, want)
	d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
	if d(got.R, w.R) > 6 || d(got.G, w.G) > 6 || d(got.B, w.B) > 6 {
		require.Failf(t, "wrong colour", "at (%d, %d) the screenshot is #%02x%02x%02x, want %s: %s", int(x), int(y), got.R, got.G, got.B, want, fmt.Sprintf(msgAndArgs[0].(string), msgAndArgs[1:]...))
	}
}

func hexColour(t *testing.T, s string) color.NRGBA {
	t.Helper()
	v, err := strconv.ParseUint(s[1:], 16, 32)
	require.NoError(t, err, s)
	return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

// TestSelfContained: the page refers to nothing outside itself (no URL at
// all, no src, href, import or url()), and an event's text cannot add a
// reference: it is escaped into its hover text.
func TestSelfContained(t *testing.T) {
	page := string(timelinehtml.Render(flow(), timelinehtml.Options{Title: "self-contained", AppUnit: app}))
	require.NotRegexp(t, `(?i)https?://`, page)
	requireNoReference(t, page)

	evs := append(flow(), monitor.Event{Time: at(11), Kind: monitor.EventScanFailed, Detail: `<script src="https://example.invalid/x.js"></script><img src=x>`})
	page = string(timelinehtml.Render(evs, timelinehtml.Options{Title: `<link href="https://example.invalid/">`, AppUnit: app}))
	requireNoReference(t, page)
	require.Contains(t, page, "&lt;script src=&#34;https://example.invalid/x.js&#34;&gt;", "an event's text is escaped into its hover text")
}

// requireNoReference reads the page's elements (it is well-formed XML as
// well as HTML) and checks them: none loads anything (script, link, img,
// ...), no attribute holds a URL (src, href, ...), the style sheet imports
// nothing. Text (the heading, the hover texts) is text, whatever words an
// event brings.
func requireNoReference(t *testing.T, page string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the page is not well-formed")
		switch tok := tok.(type) {
		case xml.StartElement:
			elements++
			name := strings.ToLower(tok.Name.Local)
			require.NotContains(t, []string{"script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignobject", "base"}, name, "an element that loads something")
			for _, a := range tok.Attr {
				require.NotContains(t, []string{"src", "href", "srcset", "action", "data"}, strings.ToLower(a.Name.Local), "attribute of <%s>", name)
				require.NotRegexp(t, `(?i)https?:|url\(|@import`, a.Value, "attribute %s of <%s>", a.Name.Local, name)
			}
		case xml.CharData:
			if regexp.MustCompile(`(?i)url\(|@import`).Match(tok) {
				require.Fail(t, "a style refers to a file", "%s", tok)
			}
		}
	}
	require.Greater(t, elements, 20)
}

// TestEmpty: no events is a page that says so, not a panic.
func TestEmpty(t *testing.T) {
	p := timelinehtml.New(nil, timelinehtml.Options{})
	require.Empty(t, p.Lanes())
	require.Contains(t, string(p.HTML()), "0 events drawn")
}
