package metricclient

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// LintProblem is a problem promlint finds in an exposition: the family
// and promlint's text.
type LintProblem struct{ Metric, Text string }

// String writes the problem as "family: text".
func (p LintProblem) String() string { return p.Metric + ": " + p.Text }

// Lint runs client_golang's promlint over an exposition in the text
// format (an updater's own, as it serves it), its problems sorted by
// family, then text.
func Lint(exposition string) ([]LintProblem, error) {
	ps, err := promlint.New(strings.NewReader(exposition)).Lint()
	if err != nil {
		return nil, fmt.Errorf("promlint: %w", err)
	}
	out := make([]LintProblem, len(ps))
	for i, p := range ps {
		out[i] = LintProblem{Metric: p.Metric, Text: p.Text}
	}
	return out, nil
}

// LintAgainst lints the exposition (see Lint) and compares its problems
// with the known ones: unknown are the problems known does not list,
// gone the listed ones that no longer occur. Both are sorted.
func LintAgainst(exposition string, known []LintProblem) (unknown, gone []LintProblem, err error) {
	found, err := Lint(exposition)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range found {
		if !slices.Contains(known, p) {
			unknown = append(unknown, p)
		}
	}
	for _, k := range known {
		if !slices.Contains(found, k) {
			gone = append(gone, k)
		}
	}
	cmpProblem := func(a, b LintProblem) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(unknown, cmpProblem)
	slices.SortFunc(gone, cmpProblem)
	return unknown, gone, nil
}
