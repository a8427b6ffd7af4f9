package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	engrule "github.com/seatrial-dev/seatrial/fixtures/engineproxy/rule"
	"github.com/seatrial-dev/seatrial/fixtures/faultproxy/fault"
)

func newFaultCmd() *cobra.Command {
	var engineFault bool
	cmd := &cobra.Command{
		Use:   "fault [--engine] SANDBOX RULE",
		Short: "inject a fault between a sandbox and its registry, or its updater and the engine",
		Long: `Adds RULE to the rules of the sandbox's registry fault proxy (a sandbox made
with ` + "`seatrial up --fault-proxy`" + `), which holds the registry's address, so
the updater's registry requests and the engine's pulls pass it; with
--engine, to the rules of its engine proxy (` + "`seatrial up --engine-proxy`" + `),
which sits between its updater and the Docker engine. RULE is the proxy's
rule language, as one argument:

  seatrial fault st-0123456789 '429 retry-after=30s path=/manifests/'
  seatrial fault st-0123456789 '503 every=2 method=HEAD'
  seatrial fault st-0123456789 'digest mode=body path=/manifests/'
  seatrial fault --engine st-0123456789 'fail call=create first=1'
  seatrial fault --engine st-0123456789 '503 path=^/containers/json first=1'

See fixtures/faultproxy/README.md and fixtures/engineproxy/README.md for
every fault and key. A rule that does not parse is bad input (exit 2):
nothing is sent.`,
		Args: func(_ *cobra.Command, args []string) error {
			example, kind := "'429 retry-after=2s path=/manifests/'", "registry fault"
			if engineFault {
				example, kind = "'fail call=create first=1'", "engine fault"
			}
			switch {
			case len(args) == 0:
				return badInput("which sandbox? give its id, then the rule; `seatrial ls` lists them")
			case len(args) == 1:
				return badInput("which fault? give a rule after the sandbox id, e.g. %s", example)
			case len(args) > 2:
				return badInput("one rule, as one argument: quote it (%q)", strings.Join(args[1:], " "))
			}
			var err error
			if engineFault {
				_, err = engrule.Parse(args[1])
			} else {
				_, err = fault.Parse(args[1])
			}
			if err != nil {
				return badInput("%s %q: %s", kind, args[1], strings.ReplaceAll(err.Error(), "\n", " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFault(cmd.Context(), args[0], args[1], engineFault, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&engineFault, "engine", false, "the fault is the engine proxy's (between the updater and the Docker engine), not the registry's")
	return cmd
}

func runFault(ctx context.Context, id, text string, engineFault bool, stdout io.Writer) error {
	sb, closeEngine, err := connectOpen(ctx, id)
	if err != nil {
		return err
	}
	defer closeEngine()
	if engineFault {
		if sb.EngineProxy() == nil {
			return errors.New("the sandbox has no engine proxy: make it with `seatrial up --engine-proxy`")
		}
		if err := sb.InjectEngineFault(ctx, text); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "engine fault in force in %s: %s\n", id, text)
		return nil
	}
	if sb.FaultProxy() == nil {
		return errors.New("the sandbox has no registry fault proxy: make it with `seatrial up --fault-proxy`")
	}
	if err := sb.InjectFault(ctx, text); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registry fault in force in %s: %s\n", id, text)
	return nil
}
