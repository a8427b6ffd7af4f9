package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

type lsRow struct {
	ID         string `json:"id"`
	Owner      string `json:"owner"` // person or process
	OwnerPID   int    `json:"owner_pid"`
	OwnerAlive bool   `json:"owner_alive"`
	// KeptBy is the run that kept the sandbox after its test failed
	// (seatrial run --keep-on-failure); prune leaves it.
	KeptBy       string `json:"kept_by,omitempty"`
	Created      string `json:"created"`
	Age          string `json:"age"`
	Profile      string `json:"profile"`
	Nodes        int    `json:"nodes"`
	NodesRunning int    `json:"nodes_running"`
	Updater      string `json:"updater"` // the updater container's state, or "none"
	Registry     string `json:"registry"`
	Problem      string `json:"problem,omitempty"` // what could not be read of its labels
}

func newLsCmd() *cobra.Command {
	var asJSON bool
	cmd := command("ls", &cobra.Command{
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLs(cmd.Context(), asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runLs(ctx context.Context, asJSON bool, stdout, stderr io.Writer) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	sbs, err := harness.ListSandboxes(ctx, cli)
	if err != nil {
		return err
	}
	rows := make([]lsRow, 0, len(sbs))
	for _, s := range sbs {
		r := lsRow{ID: s.ID, Owner: s.Owner.Kind, OwnerPID: s.Owner.PID, OwnerAlive: s.OwnerAlive, KeptBy: s.KeepOnFailure, Updater: "none"}
		if !s.Created.IsZero() {
			r.Created = s.Created.Format(time.RFC3339)
			r.Age = time.Since(s.Created).Round(time.Second).String()
		}
		// Everything here is the sandbox's descriptor, read by the one
		// decoder; a sandbox it cannot read whole is listed all the same.
		r.Registry = s.Registry.Addr
		if s.Updater != nil {
			r.Profile = s.Updater.Profile.Name
			r.Updater = s.Updater.Container.State
		}
		for _, c := range s.Clusters {
			for _, n := range c.Nodes {
				r.Nodes++
				if n.Container.Running() {
					r.NodesRunning++
				}
			}
		}
		if s.Err != nil {
			r.Problem = s.Err.Error()
		}
		rows = append(rows, r)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SANDBOX\tOWNER\tAGE\tPROFILE\tNODES\tUPDATER\tREGISTRY")
	for _, r := range rows {
		owner := r.Owner
		switch {
		case r.Owner == labels.OwnerPerson:
			// A person's sandbox does not depend on its process.
		case r.OwnerAlive:
			owner = fmt.Sprintf("%s %d (alive)", r.Owner, r.OwnerPID)
		case r.KeptBy != "":
			owner = fmt.Sprintf("%s %d (gone: kept, its test failed; seatrial down removes it)", r.Owner, r.OwnerPID)
		default:
			owner = fmt.Sprintf("%s %d (gone: prune removes it)", r.Owner, r.OwnerPID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d running\t%s\t%s\n", r.ID, owner, r.Age, dash(r.Profile), r.NodesRunning, r.Nodes, r.Updater, dash(r.Registry))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Problem != "" {
			fmt.Fprintf(stderr, "%s: %s\n", r.ID, strings.ReplaceAll(r.Problem, "\n", "\n  "))
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(stderr, "no sandboxes; `seatrial up` makes one")
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
