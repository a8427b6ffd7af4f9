// Command seatrial is the CLI of seatrial, an end-to-end regression harness for
// container auto-updaters. It also runs the metrics server
// (`seatrial metrics-server`), which the metricclient package spawns.
//
// Every command is a cobra command made by a newXxxCmd function in a file
// of its own, as kind's pkg/cmd does; newRootCmd adds them. A command
// declares its flags on the cobra command, so `--help` is generated from
// them; it writes to cmd.OutOrStdout() and cmd.ErrOrStderr() (so tests can
// run it in-process), stops when cmd.Context() ends (on SIGINT/SIGTERM),
// and returns an error: a usageError for bad input (exit 2), an exitError
// when it has already said why it ends with that code, anything else a
// failure (exit 1).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/harness"
)

func main() {
	// SIGINT and SIGTERM end ctx; a command shuts down gracefully on that.
	// A second signal kills the process the default way, since stop()
	// restores the default handling once the first has arrived.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	// testcontainers-go's settings are the program's, set once here: Ryuk
	// off (its image cannot be pulled; seatrial removes what it makes),
	// its process-wide log lines on standard error.
	if err := harness.SetupTestcontainers(os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "seatrial:", err)
		os.Exit(exitUsage)
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// newRootCmd returns the seatrial command with every subcommand.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "seatrial",
		Short: "an end-to-end regression harness for container auto-updaters",
		Long: `seatrial runs container auto-updaters (watchtower and its kind) against real
sandboxes on a Docker engine: a registry, the updater, clusters of systemd
nodes. ` + "`seatrial run`" + ` runs the scenario suite; ` + "`seatrial up`" + ` and the
commands after it bring one sandbox up by hand to watch an update happen.`,
		// Errors are printed once, on one line, by run; bad input does
		// not repeat the usage (--help has it).
		SilenceErrors: true,
		SilenceUsage:  true,
		// Shell completion works (`seatrial completion bash`) but is not
		// one of the commands a person looks for in the list.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	// cobra's usage template, with three spaces rather than one between
	// the longest command name (metrics-server) and its summary, and the
	// flags' descriptions wrapped to 80 columns.
	root.SetUsageTemplate(strings.NewReplacer(
		"{{rpad .Name .NamePadding }} {{.Short}}", "{{rpad .Name .NamePadding }}   {{.Short}}",
		".FlagUsages ", ".FlagUsagesWrapped 80 ",
	).Replace(root.UsageTemplate()))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput("%v (see `%s --help`)", err, c.CommandPath())
	})
	root.AddCommand(
		newDiffCmd(),
		newDownCmd(),
		newFaultCmd(),
		newImagesCmd(),
		newJUnitMergeCmd(),
		newLsCmd(),
		newMetricsCmd(),
		newMetricsServerCmd(),
		newProfileCmd(),
		newPruneCmd(),
		newPublishCmd(),
		newRunCmd(),
		newScanCmd(),
		newUpCmd(),
		newWatchCmd(),
	)
	root.InitDefaultHelpCmd()
	if help, _, err := root.Find([]string{"help"}); err == nil {
		help.Short = "show the help of any command" // cobra's says it in another voice
	}
	return root
}

// run runs the command that args name and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// ExecuteC adds these itself, but after the checks below look.
	root.InitDefaultHelpFlag()
	root.InitDefaultCompletionCmd(args...)
	if len(args) == 0 {
		fmt.Fprint(stderr, root.UsageString())
		return exitUsage
	}
	if c, _, err := root.Find(args); err != nil && c == root {
		// Find's one failure at the root: the first word names no command.
		fmt.Fprintf(stderr, "seatrial: %v\n\n%s", unknownCommand(root, args), root.UsageString())
		return exitUsage
	}
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(cmd, err, stderr)
}

// unknownCommand says which word named no command, and what it may have
// meant.
func unknownCommand(root *cobra.Command, args []string) error {
	name := args[0]
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			name = a
			break
		}
	}
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return fmt.Errorf("unknown command %q; did you mean %q?", name, s[0])
	}
	return fmt.Errorf("unknown command %q", name)
}

// exitCode prints err on one line prefixed by the command, and returns the
// exit code it deserves.
func exitCode(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
