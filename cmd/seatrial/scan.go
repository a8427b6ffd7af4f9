package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newScanCmd() *cobra.Command {
	return command("scan", &cobra.Command{
		Args: oneSandbox("the one to scan"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), args[0], cmd.OutOrStdout())
		},
	})
}

func runScan(ctx context.Context, id string, stdout io.Writer) error {
	sb, closeEngine, err := connectOpen(ctx, id)
	if err != nil {
		return err
	}
	defer closeEngine()
	u := sb.Updater()
	if u == nil {
		return errors.New("the sandbox has no updater: it was made without one")
	}
	start := time.Now()
	res, err := u.Scan(ctx)
	if err != nil {
		return err
	}
	body := strings.TrimSpace(res.Body)
	if body == "" {
		body = "(empty body: this updater says nothing more; see `seatrial metrics " + id + "`)"
	}
	fmt.Fprintf(stdout, "%s answered %d %s after %s\n%s\n", u.Profile().Name, res.Status, http.StatusText(res.Status), time.Since(start).Round(time.Millisecond), body)
	if res.Skipped(u.Profile()) {
		fmt.Fprintln(stdout, "the scan was skipped: another one was running")
	}
	if !res.OK(u.Profile()) {
		// The answer above says what went wrong: not one of the
		// profile's trigger.ok_statuses.
		return exitError(exitFailure)
	}
	return nil
}
