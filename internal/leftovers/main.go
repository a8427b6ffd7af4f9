// Command leftovers runs a command (one package's `go test`) and fails if
// the command left seatrial objects behind: containers, networks, volumes
// or images labelled io.seatrial.sandbox, image references pulled from a
// sandbox registry (localhost:P/...), or sandbox state dirs on the host.
//
//	go run ./internal/leftovers -name ./harness -- go test -count=1 ./harness
//
// The Makefile runs it around each package in turn, so a leak is named by
// the package that made it before the next package's sandboxes prune it
// (harness.NewSandbox removes dead owners' sandboxes when it starts).
//
// The engine is shared, so not everything new is the command's: a leftover
// is an object that appeared while the command ran and whose owner (the
// io.seatrial.owner.* labels of its sandbox) was the command or one of its
// descendants. Sandboxes of other processes, alive or dead, are not the
// command's; a sandbox made by `seatrial up` under the command (owner kind
// person) is, and so is one whose owner still runs after the command
// exited. Owners are learnt from the objects' labels, and for what has
// none of its own (an image pulled from a sandbox registry, a state dir)
// from the sandbox's containers, before, after and while the command ran
// (from the engine's events). An object whose owner nothing names is
// reported if it stays, but neither counted nor removed: on a shared
// engine it may be anyone's. A sandbox labelled io.seatrial.keep-on-failure
// (seatrial run --keep-on-failure) that a failed command left is named
// as kept and left up, not counted; after a command that passed it is a
// leftover like any other.
//
// What it finds it reports on stderr and then removes (unless -keep), so
// that the next package starts clean and the report is not hidden by a
// later prune. It exits with the command's status if the command failed,
// with 1 if the command passed but left something, with 2 on bad usage or
// when the engine cannot be read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

const usage = `Usage: leftovers [-name NAME] [-keep] [-state-root DIR] -- COMMAND [ARG...]

Runs COMMAND and fails if it left seatrial objects behind on the Docker
engine or the host; names them, and removes them unless -keep.
`

// Exit codes besides the command's own.
const (
	exitLeak  = 1
	exitUsage = 2
)

// settle is how long an object whose owner nothing names is given to go
// away before it counts (see the package comment).
const settle = 3 * time.Second

func main() {
	// Ctrl-C goes to the whole foreground process group, the command
	// included: wait for it to clean up and exit, then check. (Caught, not
	// ignored: an ignored signal stays ignored in the command.)
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("leftovers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	name := fs.String("name", "", "what to call the command in the report (a package path); default the command line")
	keep := fs.Bool("keep", false, "report leftovers but leave them on the engine")
	stateRoot := fs.String("state-root", harness.StateRoot(), "where sandboxes keep host-side state")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cmdline := fs.Args()
	if len(cmdline) == 0 {
		fmt.Fprintln(stderr, "leftovers: no command to run (usage: leftovers [flags] -- COMMAND [ARG...])")
		return exitUsage
	}
	if *name == "" {
		*name = strings.Join(cmdline, " ")
	}
	c := &checker{stateRoot: *stateRoot, keep: *keep, stderr: stderr}
	code, err := c.check(ctx, *name, cmdline)
	if err != nil {
		fmt.Fprintf(stderr, "leftovers: %s: %v\n", *name, err)
		if code == 0 {
			code = exitUsage
		}
	}
	return code
}

type checker struct {
	stateRoot string
	keep      bool
	stderr    io.Writer
}

// check runs cmdline and reports what it left. It returns the exit code.
func (c *checker) check(ctx context.Context, name string, cmdline []string) (int, error) {
	cli, err := engine.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	procs, err := trackDescendants(100 * time.Millisecond)
	if err != nil {
		return 0, err
	}
	before, err := take(ctx, cli, c.stateRoot)
	if err != nil {
		procs.Stop()
		return 0, fmt.Errorf("before: %w", err)
	}
	ectx, stopEvents := context.WithCancel(ctx)
	seen := watchCreates(ectx, cli)

	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			stopEvents()
			procs.Stop()
			return 0, fmt.Errorf("run %s: %w", cmdline[0], err)
		}
		if code = exit.ExitCode(); code <= 0 {
			code = 1 // killed by a signal
		}
	}
	procs.Stop()
	stopEvents()
	learnt := <-seen

	leaks, unknown, err := c.leaks(ctx, cli, before, learnt, procs)
	if err != nil {
		return code, fmt.Errorf("after: %w", err)
	}
	if len(unknown) > 0 {
		fmt.Fprintf(c.stderr, "leftovers: %s: %d new object(s) whose owner nothing names (not counted, left alone):\n", name, len(unknown))
		for _, o := range unknown {
			fmt.Fprintf(c.stderr, "  %s\n", o)
		}
	}
	// A sandbox a failed test kept for a look (seatrial run
	// --keep-on-failure) is honoured when the command failed: named, left
	// up, not counted. A command that passed has no failure to keep.
	if code != 0 {
		var kept []object
		leaks = slices.DeleteFunc(leaks, func(o object) bool {
			if o.kept != "" {
				kept = append(kept, o)
			}
			return o.kept != ""
		})
		if len(kept) > 0 {
			fmt.Fprintf(c.stderr, "leftovers: %s: %d object(s) of sandboxes kept after their test failed (--keep-on-failure; not counted, left up; seatrial down ID removes them):\n", name, len(kept))
			for _, o := range kept {
				fmt.Fprintf(c.stderr, "  %s\n", o)
			}
		}
	}
	if len(leaks) == 0 {
		return code, nil
	}
	fmt.Fprintf(c.stderr, "leftovers: %s left %d object(s) behind:\n", name, len(leaks))
	for _, o := range leaks {
		fmt.Fprintf(c.stderr, "  %s\n", o)
	}
	if !c.keep {
		if err := remove(ctx, cli, leaks); err != nil {
			fmt.Fprintf(c.stderr, "leftovers: %s: removing them: %v\n", name, err)
		}
	}
	fmt.Fprintf(c.stderr, "FAIL\t%s\tleft seatrial objects on the engine or the host\n", name)
	if code == 0 {
		code = exitLeak
	}
	return code, nil
}

// leaks lists what appeared since before and is the command's: owned by
// one of its processes. It also returns what appeared, is still there
// after settle, and has no owner that anything names: not counted (on a
// shared engine it may be anyone's) and not removed, only reported.
func (c *checker) leaks(ctx context.Context, cli *client.Client, before, learnt *snapshot, procs *descendants) (leaks, unknown []object, _ error) {
	after, err := take(ctx, cli, c.stateRoot)
	if err != nil {
		return nil, nil, err
	}
	var out, orphans []object
	for _, o := range newSince(before, after, learnt) {
		switch {
		case o.owner == nil:
			orphans = append(orphans, o)
		case procs.Owns(*o.owner):
			out = append(out, o)
		}
	}
	if len(orphans) == 0 {
		return out, nil, nil
	}
	// Another process removing its sandbox takes a moment to get to the
	// images and the state dir after the containers that named them.
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	later, err := take(ctx, cli, c.stateRoot)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range orphans {
		if _, ok := later.objects[o.key()]; ok {
			unknown = append(unknown, o)
		}
	}
	return out, unknown, nil
}

// watchCreates records the sandbox owners and registry addresses of the
// containers created until ctx ends, so that an image pulled from a
// registry created and removed meanwhile can still be traced to its
// sandbox. The snapshot is sent when ctx ends.
func watchCreates(ctx context.Context, cli *client.Client) <-chan *snapshot {
	out := make(chan *snapshot, 1)
	res := cli.Events(ctx, client.EventsListOptions{
		Filters: make(client.Filters).Add("type", "container").Add("event", "create").Add("label", labels.Sandbox),
	})
	go func() {
		s := newSnapshot()
		defer func() { out <- s }()
		for {
			select {
			case m := <-res.Messages:
				// A container event's attributes hold its labels.
				s.learn(m.Actor.Attributes)
				// Its published ports are in its configuration, there from
				// create on; a container already gone tells nothing.
				ins, err := cli.ContainerInspect(ctx, m.Actor.ID, client.ContainerInspectOptions{})
				if err != nil || ins.Container.HostConfig == nil {
					continue
				}
				for _, bs := range ins.Container.HostConfig.PortBindings {
					for _, b := range bs {
						p, _ := strconv.ParseUint(b.HostPort, 10, 16)
						s.learnPort(m.Actor.Attributes[labels.Sandbox], uint16(p))
					}
				}
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// remove takes away what leaked: each sandbox as harness.RemoveSandbox
// does (containers, its registry's images, networks) with its state dirs,
// then whatever is left by itself.
func remove(ctx context.Context, cli *client.Client, leaks []object) error {
	var errs []error
	done := map[string]bool{}
	for _, o := range leaks {
		if o.sandbox == "" || done[o.sandbox] {
			continue
		}
		done[o.sandbox] = true
		if _, err := harness.RemoveSandbox(ctx, cli, o.sandbox); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range leaks {
		var err error
		switch o.kind {
		case kindImage:
			// By reference: the same image id may be in use elsewhere.
			_, err = cli.ImageRemove(ctx, o.ref, client.ImageRemoveOptions{})
		case kindVolume:
			_, err = cli.VolumeRemove(ctx, o.ref, client.VolumeRemoveOptions{})
		case kindStateDir:
			err = os.RemoveAll(o.ref)
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", o.kind, o.name, err))
		}
	}
	return errors.Join(errs...)
}
