// Package selection is which scenario and profile pairs a run of the
// suite selects (seatrial run --focus, --skip, --capability). The CLI
// checks the user's words and passes them to the test binary in the
// environment; the scenarios read them back (scenarios/selection_test.go)
// and do not start a pair that is not selected.
package selection

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

// The environment that carries a selection to the test binary.
const (
	FocusEnv      = "SEATRIAL_FOCUS"
	SkipEnv       = "SEATRIAL_SKIP"
	CapabilityEnv = "SEATRIAL_CAPABILITY"
)

// DeselectedPrefix starts the skip message of a scenario none of whose
// profiles is selected: the run summary counts it and shows no row.
const DeselectedPrefix = "DESELECTED:"

// Selection selects pairs named "Scenario/profile" (the test's name
// without its Test prefix: "FullScan/reference"). The zero Selection
// selects every pair.
type Selection struct {
	// Focus, when set, is what a pair's name must match; Skip what it
	// must not.
	Focus, Skip *regexp.Regexp
	// Capabilities, when set, selects scenarios that need one of them.
	Capabilities []profile.Capability
}

// Parse reads a selection as the user gives it: two regular expressions
// (empty: none) and capabilities, comma separated.
func Parse(focus, skip, capabilities string) (Selection, error) {
	var s Selection
	var err error
	if s.Focus, err = compile("focus", focus); err != nil {
		return s, err
	}
	if s.Skip, err = compile("skip", skip); err != nil {
		return s, err
	}
	known := profile.Capabilities()
	for _, c := range strings.Split(capabilities, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !slices.Contains(known, profile.Capability(c)) {
			return s, fmt.Errorf("unknown capability %q: the capabilities are %s", c, joinCaps(known))
		}
		s.Capabilities = append(s.Capabilities, profile.Capability(c))
	}
	return s, nil
}

func compile(what, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("--%s %q is not a regular expression (Go syntax, matched against Scenario/profile such as FullScan/reference): %w", what, expr, err)
	}
	return re, nil
}

func joinCaps(cs []profile.Capability) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// FromEnv reads the selection the CLI passed.
func FromEnv(getenv func(string) string) (Selection, error) {
	return Parse(getenv(FocusEnv), getenv(SkipEnv), getenv(CapabilityEnv))
}

// Env is the selection as environment entries for the test binary.
func (s Selection) Env() []string {
	var env []string
	if s.Focus != nil {
		env = append(env, FocusEnv+"="+s.Focus.String())
	}
	if s.Skip != nil {
		env = append(env, SkipEnv+"="+s.Skip.String())
	}
	if len(s.Capabilities) > 0 {
		env = append(env, CapabilityEnv+"="+strings.ReplaceAll(joinCaps(s.Capabilities), " ", ""))
	}
	return env
}

// PairName is the name a selection matches: "FullScan/reference" for the
// test TestFullScan and the profile reference.
func PairName(test, profileName string) string {
	return strings.TrimPrefix(test, "Test") + "/" + profileName
}

// Named says whether the pair's name is selected by Focus and Skip.
func (s Selection) Named(test, profileName string) bool {
	n := PairName(test, profileName)
	return (s.Focus == nil || s.Focus.MatchString(n)) && (s.Skip == nil || !s.Skip.MatchString(n))
}

// Has says whether the pair is selected, for a scenario that needs caps.
func (s Selection) Has(test, profileName string, caps []profile.Capability) bool {
	if len(s.Capabilities) > 0 && !slices.ContainsFunc(caps, func(c profile.Capability) bool { return slices.Contains(s.Capabilities, c) }) {
		return false
	}
	return s.Named(test, profileName)
}
