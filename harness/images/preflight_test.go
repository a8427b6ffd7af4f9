package images

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestDecideDebootstrap covers every machine a first build may meet: the
// decision is made from facts given as inputs, so each case runs here
// whatever this machine is.
func TestDecideDebootstrap(t *testing.T) {
	cases := []struct {
		name  string
		facts hostFacts
		want  debootstrapStep
		// wantCmd, when set, means a SetupError naming this command.
		wantCmd string
		// wantIn are phrases the one line must hold.
		wantIn []string
	}{
		{name: "installed, root", facts: hostFacts{debootstrap: true, root: true, aptGet: true}, want: debootstrapReady},
		{name: "installed, root, no apt", facts: hostFacts{debootstrap: true, root: true}, want: debootstrapReady},
		{name: "absent, root, apt", facts: hostFacts{root: true, aptGet: true}, want: debootstrapInstall},
		{name: "absent, not root, apt", facts: hostFacts{aptGet: true},
			wantCmd: "sudo apt-get install debootstrap", wantIn: []string{"not installed", "`sudo apt-get install debootstrap`"}},
		{name: "absent, root, no apt", facts: hostFacts{root: true},
			wantCmd: "install debootstrap", wantIn: []string{"no apt-get", "debootstrap package"}},
		{name: "absent, not root, no apt", facts: hostFacts{},
			wantCmd: "install debootstrap", wantIn: []string{"no apt-get"}},
		{name: "installed, not root", facts: hostFacts{debootstrap: true, aptGet: true},
			wantCmd: "sudo seatrial images build", wantIn: []string{"needs root", "`sudo seatrial images build`"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step, err := decideDebootstrap(c.facts)
			if c.wantCmd == "" {
				if err != nil {
					t.Fatalf("decideDebootstrap(%+v): %v, want no error", c.facts, err)
				}
				if step != c.want {
					t.Fatalf("decideDebootstrap(%+v) = %d, want %d", c.facts, step, c.want)
				}
				return
			}
			var se *SetupError
			if !errors.As(err, &se) {
				t.Fatalf("decideDebootstrap(%+v) = %d, %v; want a SetupError", c.facts, step, err)
			}
			if se.Command != c.wantCmd {
				t.Errorf("command %q, want %q", se.Command, c.wantCmd)
			}
			msg := se.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			for _, w := range c.wantIn {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}

// TestEveryImageIsScheduled: Ensure builds the node on its own and the
// others through the Go build queue; an image added to Names but to
// neither would silently never be built.
func TestEveryImageIsScheduled(t *testing.T) {
	scheduled := append(goBuildOrder(), Node)
	slices.Sort(scheduled)
	names := slices.Sorted(slices.Values(Names()))
	if !slices.Equal(scheduled, names) {
		t.Fatalf("goBuildOrder() + node = %v, want every image of Names() once: %v", scheduled, names)
	}
	if n := goBuildSlots(); n < 1 || n > 2 {
		t.Fatalf("goBuildSlots() = %d, want 1 or 2", n)
	}
}
