package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/monitor/timelinehtml"
)

// watchEvent is one event as --json writes it.
type watchEvent struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Node        string    `json:"node,omitempty"`
	Container   string    `json:"container,omitempty"`
	ContainerID string    `json:"container_id,omitempty"`
	Role        string    `json:"role,omitempty"`
	Image       string    `json:"image,omitempty"`
	Unit        string    `json:"unit,omitempty"`
	State       string    `json:"state,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	ExitCode    *int      `json:"exit_code,omitempty"`
	Error       string    `json:"error,omitempty"`
	Snapshot    bool      `json:"snapshot,omitempty"`
}

// watchFlags are the settings of `seatrial watch`.
type watchFlags struct {
	asJSON, allUnits bool
	since, forD      time.Duration
	html             string
}

// bind declares the flags that fill f.
func (f *watchFlags) bind(fl *pflag.FlagSet) {
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object per line")
	fl.DurationVar(&f.since, "since", 0, "also show the engine's events of this long ago (it keeps its last 256)")
	fl.DurationVar(&f.forD, "for", 0, "stop after this long (default: until Ctrl-C)")
	fl.StringVar(&f.html, "html", "", "on stopping, write the events seen as a picture (one self-contained HTML page) to this file")
	fl.BoolVar(&f.allUnits, "all-units", false, "show every unit: changes of mounts, targets etc. too, and the state of every service when a node's monitor attaches, not only the app's")
}

func newWatchCmd() *cobra.Command {
	return flagged("watch", oneSandbox("the one to watch"), func(cmd *cobra.Command, args []string, f watchFlags) error {
		return runWatch(cmd.Context(), args[0], f, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func runWatch(ctx context.Context, id string, f watchFlags, stdout, stderr io.Writer) error {
	if f.html != "" {
		// Said now, not after an hour of watching.
		if st, err := os.Stat(filepath.Dir(f.html)); err != nil || !st.IsDir() {
			return badInput("--html %s: no directory %s to write it in", f.html, filepath.Dir(f.html))
		}
	}
	sb, closeEngine, err := connectOpen(ctx, id)
	if err != nil {
		return err
	}
	defer closeEngine()
	if f.forD > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.forD)
		defer cancel()
	}
	opts := []monitor.Option{monitor.WithImages(sb.RegistryAddr() + "/")}
	if f.since > 0 {
		opts = append(opts, monitor.WithDockerOptions(monitor.WithSince(time.Now().Add(-f.since))))
	}
	w := monitor.NewWatcher(sb.Client(), id, opts...)
	ch := w.Subscribe()
	var targets []monitor.NodeTarget
	for _, c := range sb.Clusters() {
		for _, n := range c.Nodes() {
			targets = append(targets, monitor.NodeTarget{ShortName: n.Name(), Container: n.ContainerName()})
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := w.Start(wctx, targets); err != nil {
		return err
	}
	// The updater's calls to the engine, as its engine proxy records them,
	// are a lane of their own (who: engine-api), from now on.
	lane := sb.LaneEngineCalls(wctx, w)
	// Said once the engine's stream is connected: from here on nothing is
	// missed (a script waits for this line before acting).
	fmt.Fprintf(stderr, "watching sandbox %s (%d nodes); Ctrl-C stops\n", id, len(targets))
	enc := json.NewEncoder(stdout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if !f.allUnits && !interesting(ev) {
				continue
			}
			if f.asJSON {
				_ = enc.Encode(toWatchEvent(ev))
			} else {
				fmt.Fprintln(stdout, formatEvent(ev))
			}
		}
	}()
	<-ctx.Done()
	cancel()
	if err := lane(); err != nil {
		fmt.Fprintf(stderr, "seatrial watch: the updater's engine calls were shown only until: %v\n", err)
	}
	w.Wait() // closes ch
	<-done
	if f.html != "" {
		page := timelinehtml.Render(w.Timeline(), timelinehtml.Options{Title: "seatrial watch " + id, AppUnit: harness.AppUnit})
		if err := os.WriteFile(f.html, page, 0o644); err != nil {
			return fmt.Errorf("write the timeline's picture: %w", err)
		}
		fmt.Fprintf(stderr, "wrote the timeline's picture to %s\n", f.html)
	}
	return nil
}

func toWatchEvent(ev monitor.Event) watchEvent {
	out := watchEvent{
		Time: ev.Time.UTC(), Kind: string(ev.Kind), Node: ev.Node, Container: ev.Container,
		ContainerID: ev.ContainerID, Role: ev.Role, Image: ev.Image, Unit: ev.Unit,
		State: ev.State, Detail: ev.Detail, Snapshot: ev.Snapshot,
	}
	if ev.Kind == monitor.EventContainerDie {
		code := ev.ExitCode
		out.ExitCode = &code
	}
	if ev.Err != nil {
		out.Error = ev.Err.Error()
	}
	return out
}

// formatEvent writes an event as "time  who  kind  detail".
func formatEvent(ev monitor.Event) string {
	who := ev.Node
	if who == "" {
		who = ev.Role
	}
	if who == "" {
		who = ev.Container
	}
	if who == "" {
		who = "-"
	}
	var detail []string
	switch {
	case ev.Kind == monitor.EventContainerKill:
		detail = append(detail, "signal "+ev.Detail)
	case ev.Kind == monitor.EventContainerDie:
		detail = append(detail, fmt.Sprintf("exit %d", ev.ExitCode))
	case strings.HasPrefix(string(ev.Kind), "unit."):
		d := ev.Unit
		if ev.Detail != "" {
			d += " (" + ev.Detail + ")"
		}
		detail = append(detail, d)
	case ev.Detail != "":
		detail = append(detail, ev.Detail)
	}
	if ev.ContainerID != "" && strings.HasPrefix(string(ev.Kind), "container.") {
		detail = append(detail, "id "+short(ev.ContainerID))
	}
	if ev.Image != "" && (ev.Kind == monitor.EventContainerCreate || strings.HasPrefix(string(ev.Kind), "image.")) {
		detail = append(detail, ev.Image)
	}
	if ev.Err != nil {
		detail = append(detail, ev.Err.Error())
	}
	if ev.Snapshot {
		detail = append(detail, "(state when watching began)")
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	return fmt.Sprintf("%s  %-12s %-24s %s", t.Local().Format("15:04:05.000"), who, ev.Kind, strings.Join(detail, ", "))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// interesting says which unit events watch shows without --all-units:
// changes of services, and of the snapshot a monitor takes when it
// attaches (every active service), only the app's unit.
func interesting(ev monitor.Event) bool {
	if ev.Unit == "" {
		return true
	}
	if ev.Snapshot {
		return ev.Unit == harness.AppUnit
	}
	return strings.HasSuffix(ev.Unit, ".service")
}
