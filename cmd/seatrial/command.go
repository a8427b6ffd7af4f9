package main

import (
	"embed"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpTexts are the commands' help texts, one file a command, named by its
// path under seatrial joined by '-' (images-build.txt): the usage line, the
// one-line summary, a blank line, then the long help. They are prose, kept
// out of the Go source so that they read, and are reviewed, as --help
// shows them.
//
//go:embed helptext/*.txt
var helpTexts embed.FS

// command gives c the usage line and the help texts of the command name
// (see helpTexts) and returns it.
func command(name string, c *cobra.Command) *cobra.Command {
	b, err := helpTexts.ReadFile("helptext/" + name + ".txt")
	if err != nil {
		// A command without its text is a mistake in this binary, not in
		// the input: every help golden test finds it.
		panic(fmt.Sprintf("command %s has no help text: %v", name, err))
	}
	use, rest, _ := strings.Cut(string(b), "\n")
	short, long, _ := strings.Cut(rest, "\n")
	c.Use, c.Short, c.Long = use, short, strings.Trim(long, "\n")
	return c
}

// flagged makes the command name (see command) whose settings F its flags
// fill (F's bind declares them) before run sees them.
func flagged[F any, PF interface {
	*F
	bind(*pflag.FlagSet)
}](name string, args cobra.PositionalArgs, run func(cmd *cobra.Command, args []string, f F) error) *cobra.Command {
	var f F
	cmd := command(name, &cobra.Command{
		Args: args,
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd, args, f) },
	})
	PF(&f).bind(cmd.Flags())
	return cmd
}
