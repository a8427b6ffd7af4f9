package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/internal/ticker"
)

func newImagesCmd() *cobra.Command {
	build := newImagesBuildCmd()
	cmd := command("images", &cobra.Command{
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("unknown arguments %q: want `seatrial images build` or `seatrial images ls`", args)
			}
			return build.RunE(cmd, args)
		},
	})
	cmd.AddCommand(build, newImagesLsCmd())
	return cmd
}

func newImagesBuildCmd() *cobra.Command {
	return command("images-build", &cobra.Command{
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return imagesBuild(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
}

func newImagesLsCmd() *cobra.Command {
	return command("images-ls", &cobra.Command{
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return imagesList(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
}

func imagesBuild(ctx context.Context, stdout, stderr io.Writer) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	p := newProgress(stderr)
	set, err := images.Ensure(ctx, cli, images.WithProgress(p))
	p.Close()
	var setup *images.SetupError
	if errors.As(err, &setup) {
		// The machine needs a step first: one line saying which, exit 2.
		return usageError{setup.Error()}
	}
	if err != nil {
		return fmt.Errorf("fixture images: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREFERENCE")
	for _, b := range set.All() {
		fmt.Fprintf(tw, "%s\t%s\n", b.Name, b.Ref)
	}
	return tw.Flush()
}

func imagesList(ctx context.Context, stdout, stderr io.Writer) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	list, err := cli.ImageList(ctx, client.ImageListOptions{
		Filters: make(client.Filters).Add("label", images.LabelImage),
	})
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	type row struct{ name, ref, size, app string }
	var rows []row
	for _, img := range list.Items {
		app := ""
		if v := img.Labels[images.LabelAppVersion]; v != "" {
			app = v + ", " + img.Labels[images.LabelAppBehaviour]
		}
		for _, t := range img.RepoTags {
			if !strings.HasPrefix(t, images.Repository+"/") {
				continue
			}
			rows = append(rows, row{img.Labels[images.LabelImage], t, fmt.Sprintf("%.1f MB", float64(img.Size)/1e6), app})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].name != rows[j].name {
			return rows[i].name < rows[j].name
		}
		return rows[i].ref < rows[j].ref
	})
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREFERENCE\tSIZE\tAPP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.ref, r.size, r.app)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(stderr, "no fixture images yet: run `seatrial images build`")
	}
	return nil
}

// progress shows Ensure's step lines: on a terminal as one status line
// redrawn in place with the step's elapsed time, otherwise as plain lines.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	line string
	at   time.Time
	stop func() // stops the redraw; returns once it has
	buf  []byte
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, tty: isTerminal(w), stop: func() {}}
	if p.tty {
		p.stop = ticker.Every(time.Second, func() {
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		})
	}
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		if !p.tty {
			fmt.Fprintln(p.w, line)
			continue
		}
		if p.line != "" {
			// The finished step stays on screen with its time.
			fmt.Fprintf(p.w, "\r\033[K  %s (%s)\n", p.line, time.Since(p.at).Round(time.Second))
		}
		p.line, p.at = line, time.Now()
		p.draw()
	}
	return len(b), nil
}

// draw redraws the status line; p.mu is held.
func (p *progress) draw() {
	if p.line == "" {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K> %s  %s", p.line, time.Since(p.at).Round(time.Second))
}

// Close ends the display, leaving the last step on its own line.
func (p *progress) Close() {
	p.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprintf(p.w, "\r\033[K  %s (%s)\n", p.line, time.Since(p.at).Round(time.Second))
		p.line = ""
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
