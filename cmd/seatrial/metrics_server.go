package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seatrial-dev/seatrial/metricclient/server"
)

// metricsServerFlags are the metrics server's settings.
type metricsServerFlags struct {
	addr                         string
	concurrency                  int
	targetTimeout, scrapeTimeout time.Duration
	staleness                    time.Duration
	bodyLimit                    int64
	verbose                      bool
	exitWithParent               bool
}

// bind declares the flags that fill f.
func (f *metricsServerFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&f.addr, "addr", server.DefaultAddr, "listen address: host:port, or the path of a unix socket (anything containing a /)")
	fl.IntVar(&f.concurrency, "concurrency", server.DefaultConcurrency, "sandboxes scraped at once")
	fl.DurationVar(&f.targetTimeout, "target-timeout", server.DefaultTargetTimeout, "deadline for one target (a sandbox's updater, registry or engine figures)")
	fl.DurationVar(&f.scrapeTimeout, "scrape-timeout", server.DefaultScrapeTimeout, "deadline for a whole GET /metrics")
	fl.DurationVar(&f.staleness, "staleness", server.DefaultStaleness, "how old a cached engine answer may be (a request may ask otherwise with ?max_staleness=)")
	fl.Int64Var(&f.bodyLimit, "body-size-limit", server.DefaultBodySizeLimit, "largest body read from one target, in bytes; a larger one fails that target")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every failed target")
	fl.BoolVar(&f.exitWithParent, "exit-with-parent", false, "stop when the process that started this one dies (the metric client sets it)")
}

func newMetricsServerCmd() *cobra.Command {
	return flagged("metrics-server", noArgs, func(cmd *cobra.Command, args []string, f metricsServerFlags) error {
		return runMetricsServer(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

// runMetricsServer runs the metrics server until ctx ends (SIGINT/SIGTERM).
func runMetricsServer(ctx context.Context, f metricsServerFlags, stdout, stderr io.Writer) error {
	level := slog.LevelError
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if f.exitWithParent {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go watchParent(ctx, cancel, stderr)
	}

	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()

	ln, err := server.Listen(f.addr)
	if err != nil {
		return err
	}
	srv := server.New(cli,
		server.WithConcurrency(f.concurrency),
		server.WithTargetTimeout(f.targetTimeout),
		server.WithScrapeTimeout(f.scrapeTimeout),
		server.WithStaleness(f.staleness),
		server.WithBodySizeLimit(f.bodyLimit),
		server.WithLogger(log),
	)
	fmt.Fprintf(stdout, "metrics-server: serving on %s\n", ln.Addr())
	return srv.Serve(ctx, ln)
}

// watchParent cancels when this process's parent changes, that is when the
// parent died and this process was handed to init or a subreaper: a
// server whose client is gone must not run on, holding its address.
func watchParent(ctx context.Context, cancel context.CancelFunc, stderr io.Writer) {
	ppid := os.Getppid()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				fmt.Fprintf(stderr, "metrics-server: parent process %d is gone; stopping\n", ppid)
				cancel()
				return
			}
		}
	}
}
