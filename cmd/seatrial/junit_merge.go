package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/seatrial-dev/seatrial/cmd/seatrial/internal/testsummary"
)

// junitMerge merges the JUnit files ins into the file out.
func junitMerge(out string, ins []string) error {
	var readers []io.Reader
	for _, p := range ins {
		f, err := os.Open(p)
		if err != nil {
			return badInput("%v", err)
		}
		defer f.Close()
		readers = append(readers, f)
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := testsummary.MergeJUnit(w, readers...); err != nil {
		w.Close()
		return fmt.Errorf("merge into %s: %w", out, err)
	}
	return w.Close()
}

func newJUnitMergeCmd() *cobra.Command {
	return command("junit-merge", &cobra.Command{
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return badInput("give the output file and at least one JUnit file to merge: seatrial junit-merge OUT IN...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return junitMerge(args[0], args[1:]) },
	})
}
