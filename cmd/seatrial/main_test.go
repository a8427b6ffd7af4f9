package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCase is one in-process run of the CLI: its arguments, the exit code
// wanted, and text its output must hold.
type runCase struct {
	args     []string
	code     int
	contains string
}

// checkRuns runs each case in process and reports every one whose exit
// code or output is not what it wants.
func checkRuns(t *testing.T, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		code := run(t.Context(), tc.args, &out, &errOut)
		if code != tc.code {
			t.Errorf("seatrial %q: exit %d, want %d", tc.args, code, tc.code)
		}
		if got := out.String() + errOut.String(); !strings.Contains(got, tc.contains) {
			t.Errorf("seatrial %q: output lacks %q:\n%s", tc.args, tc.contains, got)
		}
	}
}

func TestDispatch(t *testing.T) {
	checkRuns(t, []runCase{
		{[]string{"--help"}, 0, "metrics-server"},
		{nil, 2, "Usage:\n  seatrial [command]"},
		{[]string{"no-such"}, 2, `unknown command "no-such"`},
		{[]string{"metrics-server", "--help"}, 0, "--addr"},
		{[]string{"metrics-server", "--bogus"}, 2, "seatrial metrics-server: unknown flag: --bogus (see `seatrial metrics-server --help`)"},
		{[]string{"scna"}, 2, `unknown command "scna"; did you mean "scan"?`},
		{[]string{"help"}, 0, "Available Commands:"},
		{[]string{"images", "ls", "extra"}, 2, `seatrial images ls: unexpected arguments ["extra"]`},
		{[]string{"metrics-server", "extra"}, 2, "unexpected arguments"},
	})
}
