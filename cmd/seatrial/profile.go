package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/harness/profilecheck"
)

func newProfileCmd() *cobra.Command {
	cmd := command("profile", &cobra.Command{
		Args: noArgs,
	})
	cmd.AddCommand(newProfileCheckCmd(), newProfileShowCmd())
	return cmd
}

func newProfileShowCmd() *cobra.Command {
	return command("profile-show", &cobra.Command{
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return badInput("give one profile name or file, not %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				names := slices.Sorted(maps.Keys(profile.Profiles()))
				fmt.Fprintln(cmd.OutOrStdout(), strings.Join(names, "\n"))
				return nil
			}
			p, err := profile.ByName(args[0])
			if err != nil {
				return badInput("%v", err)
			}
			b, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				return fmt.Errorf("encode profile %s: %w", p.Name, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return nil
		},
	})
}

func newProfileCheckCmd() *cobra.Command {
	var static bool
	var wait time.Duration
	cmd := command("profile-check", &cobra.Command{
		Args: func(_ *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				return badInput("which profile? give its file (e.g. examples/profiles/refupdater-port-9090.json)")
			case 1:
				return nil
			default:
				return badInput("unexpected arguments %q after the profile file", args[1:])
			}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProfileCheck(cmd.Context(), args[0], static, wait, cmd.OutOrStdout())
		},
	})
	cmd.Flags().BoolVar(&static, "static", false, "check the file only; start nothing")
	cmd.Flags().DurationVar(&wait, "api-wait", 90*time.Second, "how long the updater's API may take to answer after it starts")
	return cmd
}

func runProfileCheck(ctx context.Context, file string, static bool, wait time.Duration, stdout io.Writer) error {
	p, err := profilecheck.Static(file)
	if err != nil {
		return badInput("%v", err)
	}
	fmt.Fprintf(stdout, "%s: the profile %s is valid\n", file, p.Name)
	if static {
		return nil
	}
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	// testcontainers-go prints a banner through its process-wide logger
	// when it first connects; here it is noise (as in seatrial up).
	tclog.SetDefault(tclog.NewNoopLogger())
	fmt.Fprintf(stdout, "starting %s in an empty sandbox (API port %d)\n", p.Name, p.API.Port)
	rep, err := profilecheck.Live(ctx, p, profilecheck.WithClient(cli), profilecheck.WithAPIWait(wait))
	if err != nil {
		return err
	}
	if a := rep.Trigger; a.Method != "" {
		body := strings.ReplaceAll(a.BodyHead, "\n", "\n  ")
		if strings.TrimSpace(body) == "" {
			body = "(an empty body)"
		}
		fmt.Fprintf(stdout, "%s %s answered %d\n  %s\n", a.Method, a.Path, a.Status, body)
	}
	if a := rep.Metrics; a.Method != "" {
		fmt.Fprintf(stdout, "%s %s answered %d; after one scan the profile's named metrics are:\n", a.Method, a.Path, a.Status)
	}
	for _, f := range slices.Sorted(maps.Keys(rep.Named)) {
		n := rep.Named[f]
		state := "NOT exported"
		if n.Exported {
			state = "= " + n.Value
		}
		fmt.Fprintf(stdout, "  %s: %s %s\n", f, n.Metric, state)
	}
	if len(rep.Problems) == 0 {
		fmt.Fprintln(stdout, "the updater answers as the profile says")
		// A person reading "the updater answers" should not take it for
		// more than it is: one scan of an empty sandbox.
		fmt.Fprintln(stdout, "not checked live (the scenarios check them): flags, update_found_log, docker_api, noop_scan, metrics.monitor_only_counts_updated, metrics.registry_down, capabilities")
		return nil
	}
	for _, pr := range rep.Problems {
		fmt.Fprintf(stdout, "PROBLEM %s\n", pr)
	}
	if rep.Log != "" {
		fmt.Fprintf(stdout, "updater log (tail):\n%s\n", rep.Log)
	}
	return exitError(exitFailure)
}
