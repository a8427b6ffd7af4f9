package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/fixtures/engineproxy/rule"
)

func newFaultCmd() *cobra.Command {
	var engineFault bool
	cmd := &cobra.Command{
		Use:   "fault --engine SANDBOX RULE",
		Short: "inject a fault between a sandbox's updater and the engine",
		Long: `Adds RULE to the rules of the sandbox's engine proxy (a sandbox made with
` + "`seatrial up --engine-proxy`" + `), which sits between its updater and the
Docker engine. RULE is the proxy's rule language, as one argument:

  seatrial fault --engine st-0123456789 'fail call=create first=1'
  seatrial fault --engine st-0123456789 'api min=1.44'
  seatrial fault --engine st-0123456789 '503 path=^/containers/json first=1'

See fixtures/engineproxy/README.md for every fault and key. A rule that
does not parse is bad input (exit 2): nothing is sent.`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case !engineFault:
				return badInput("say where the fault goes: --engine (the only kind there is yet)")
			case len(args) == 0:
				return badInput("which sandbox? give its id, then the rule; `seatrial ls` lists them")
			case len(args) == 1:
				return badInput("which fault? give a rule after the sandbox id, e.g. 'fail call=create first=1'")
			case len(args) > 2:
				return badInput("one rule, as one argument: quote it (%q)", strings.Join(args[1:], " "))
			}
			if _, err := rule.Parse(args[1]); err != nil {
				return badInput("engine fault %q: %s", args[1], strings.ReplaceAll(err.Error(), "\n", " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEngineFault(cmd.Context(), args[0], args[1], cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&engineFault, "engine", false, "the fault is the engine proxy's (between the updater and the Docker engine)")
	return cmd
}

func runEngineFault(ctx context.Context, id, text string, stdout io.Writer) error {
	sb, closeEngine, err := connectOpen(ctx, id)
	if err != nil {
		return err
	}
	defer closeEngine()
	if sb.EngineProxy() == nil {
		return errors.New("the sandbox has no engine proxy: make it with `seatrial up --engine-proxy`")
	}
	if err := sb.InjectEngineFault(ctx, text); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "engine fault in force in %s: %s\n", id, text)
	return nil
}
