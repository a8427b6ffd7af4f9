package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	engrule "github.com/seatrial-dev/seatrial/fixtures/engineproxy/rule"
	"github.com/seatrial-dev/seatrial/fixtures/faultproxy/fault"
	"github.com/seatrial-dev/seatrial/harness"
)

// faultFlags are the settings of `seatrial fault`.
type faultFlags struct{ engine bool }

// bind declares the flags that fill f.
func (f *faultFlags) bind(fl *pflag.FlagSet) {
	fl.BoolVar(&f.engine, "engine", false, "the fault is the engine proxy's (between the updater and the Docker engine), not the registry's")
}

func newFaultCmd() *cobra.Command {
	return flagged("fault", nil, func(cmd *cobra.Command, args []string, f faultFlags) error {
		target := faultTargetOf(f.engine)
		if err := target.check(args); err != nil {
			return err
		}
		return runFault(cmd.Context(), args[0], args[1], target, cmd.OutOrStdout())
	})
}

// faultTarget is one of the proxies a fault goes to: the registry's fault
// proxy or the engine proxy.
type faultTarget struct {
	kind    string // "registry fault"
	example string // a rule, quoted, for an error
	parse   func(rule string) error
	// proxy is the proxy's name, and upFlag the flag of seatrial up that
	// gives a sandbox one.
	proxy, upFlag string
	has           func(*harness.Sandbox) bool
	inject        func(sb *harness.Sandbox, ctx context.Context, rule string) error
}

var (
	registryFaults = faultTarget{
		kind:    "registry fault",
		example: "'429 retry-after=2s path=/manifests/'",
		parse:   func(rule string) error { _, err := fault.Parse(rule); return err },
		proxy:   "registry fault proxy",
		upFlag:  "--fault-proxy",
		has:     func(sb *harness.Sandbox) bool { return sb.FaultProxy() != nil },
		inject:  (*harness.Sandbox).InjectFault,
	}
	engineFaults = faultTarget{
		kind:    "engine fault",
		example: "'fail call=create first=1'",
		parse:   func(rule string) error { _, err := engrule.Parse(rule); return err },
		proxy:   "engine proxy",
		upFlag:  "--engine-proxy",
		has:     func(sb *harness.Sandbox) bool { return sb.EngineProxy() != nil },
		inject:  (*harness.Sandbox).InjectEngineFault,
	}
)

// check is fault's argument check: a sandbox id and one rule, which
// parses in the target's language.
func (target faultTarget) check(args []string) error {
	switch {
	case len(args) == 0:
		return badInput("which sandbox? give its id, then the rule; `seatrial ls` lists them")
	case len(args) == 1:
		return badInput("which fault? give a rule after the sandbox id, e.g. %s", target.example)
	case len(args) > 2:
		return badInput("one rule, as one argument: quote it (%q)", strings.Join(args[1:], " "))
	}
	if err := target.parse(args[1]); err != nil {
		return badInput("%s %q: %s", target.kind, args[1], strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return nil
}

// faultTargetOf is the target --engine says.
func faultTargetOf(engine bool) faultTarget {
	if engine {
		return engineFaults
	}
	return registryFaults
}

func runFault(ctx context.Context, id, text string, target faultTarget, stdout io.Writer) error {
	sb, closeEngine, err := connectOpen(ctx, id)
	if err != nil {
		return err
	}
	defer closeEngine()
	if !target.has(sb) {
		return fmt.Errorf("the sandbox has no %s: make it with `seatrial up %s`", target.proxy, target.upFlag)
	}
	if err := target.inject(sb, ctx, text); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s in force in %s: %s\n", target.kind, id, text)
	return nil
}
