package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestProfileCheckStatic: the static check names the wrong field and exits
// 2 (bad input); a valid file passes. The live check is tested in
// harness/profilecheck against real updaters.
func TestProfileCheckStatic(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "image": "y", "trigger": {"method": "FETCH"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	checkRuns(t, []runCase{
		{[]string{"profile", "check", "--static", "../../examples/profiles/refupdater-port-9090.json"}, 0, "the profile refupdater-port-9090 is valid"},
		{[]string{"profile", "check", "--static", bad}, 2, "trigger.method: value must be one of 'GET', 'POST', 'PUT'"},
		{[]string{"profile", "check"}, 2, "which profile? give its file"},
	})
}

// TestProfileShowIsAProfileFile: what `profile show` prints for each
// shipped profile is a profile file that reads back (schema and rules) as
// the same profile, so a newcomer can start from it.
func TestProfileShowIsAProfileFile(t *testing.T) {
	for name, want := range profile.Profiles() {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), []string{"profile", "show", name}, &out, &errOut); code != 0 {
			t.Fatalf("seatrial profile show %s: exit %d: %s", name, code, errOut.String())
		}
		got, err := profile.Parse(out.Bytes())
		if err != nil {
			t.Fatalf("seatrial profile show %s does not read back as a profile file: %v\n%s", name, err, out.String())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("seatrial profile show %s reads back as another profile (-shipped +read):\n%s", name, diff)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"profile", "show", "no-such-updater"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown updater profile "no-such-updater"`) {
		t.Errorf("profile show of an unknown name: exit %d, %q; want 2 and the names there are", code, errOut.String())
	}
}
