package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--help"}, 0, "metrics-server"},
		{nil, 2, "Usage:\n  seatrial [command]"},
		{[]string{"no-such"}, 2, `unknown command "no-such"`},
		{[]string{"metrics-server", "--help"}, 0, "--addr"},
		{[]string{"metrics-server", "--bogus"}, 2, "seatrial metrics-server: unknown flag: --bogus (see `seatrial metrics-server --help`)"},
		{[]string{"scna"}, 2, `unknown command "scna"; did you mean "scan"?`},
		{[]string{"help"}, 0, "Available Commands:"},
		{[]string{"images", "ls", "extra"}, 2, `seatrial images ls: unexpected arguments ["extra"]`},
		{[]string{"metrics-server", "extra"}, 2, "unexpected arguments"},
	} {
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
