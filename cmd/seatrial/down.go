package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/harness"
)

func newDownCmd() *cobra.Command {
	var all bool
	cmd := command("down", &cobra.Command{
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd.Context(), args, all, cmd.OutOrStdout())
		},
	})
	cmd.Flags().BoolVar(&all, "all", false, "remove every sandbox on the engine, whoever owns it")
	return cmd
}

func runDown(ctx context.Context, pos []string, all bool, stdout io.Writer) error {
	if all == (len(pos) > 0) {
		return badInput("give sandbox ids or --all (`seatrial ls` lists the sandboxes)")
	}
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	ids := pos
	if all {
		sbs, err := harness.ListSandboxes(ctx, cli)
		if err != nil {
			return err
		}
		for _, s := range sbs {
			ids = append(ids, s.ID)
		}
		if len(ids) == 0 {
			fmt.Fprintln(stdout, "no sandboxes to remove")
		}
	} else {
		// Check every id first: a typo removes nothing. A sandbox is
		// anything labelled with its id, a lone network included.
		sbs, err := harness.ListSandboxes(ctx, cli)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, s := range sbs {
			have[s.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				_, err := openSandbox(ctx, cli, id) // says which sandboxes there are
				if err == nil {
					err = fmt.Errorf("sandbox %q vanished while looking", id)
				}
				return err
			}
		}
	}
	var errs []error
	for _, id := range ids {
		sb, err := harness.OpenSandbox(ctx, cli, id)
		var r harness.Removed
		if err == nil {
			r, err = sb.Remove(context.WithoutCancel(ctx))
		} else {
			// Half made (no registry): remove by label all the same.
			r, err = harness.RemoveSandbox(context.WithoutCancel(ctx), cli, id)
			err = errors.Join(err, harness.RemoveStateDirs(id))
		}
		printRemoved(stdout, r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func newPruneCmd() *cobra.Command {
	var all bool
	cmd := command("prune", &cobra.Command{
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("unexpected arguments %q (to remove one sandbox: `seatrial down SANDBOX`)", args)
			}
			return runPrune(cmd.Context(), all, cmd.OutOrStdout())
		},
	})
	cmd.Flags().BoolVar(&all, "all", false, "also remove live processes' and people's sandboxes, and those kept after a failure")
	return cmd
}

func runPrune(ctx context.Context, all bool, stdout io.Writer) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	var opts []harness.PruneOption
	if all {
		opts = append(opts, harness.PruneAll())
	}
	removed, err := harness.Prune(context.WithoutCancel(ctx), cli, opts...)
	for _, r := range removed {
		fmt.Fprintf(stdout, "removed %s\n", r)
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to prune")
	}
	return err
}
