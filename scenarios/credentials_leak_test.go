package scenarios

import (
	"cmp"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/internal/leakcheck"
)

// TestCredentialsStayOutOfArtifacts: a PrivateRegistry world on the token
// flow whose update fails on purpose (the reference updater with fault
// fail-create: it logs in, takes tokens and pulls, then cannot create the
// replacement), so that its failure artifacts are written. No artifact
// file, no log of the sandbox's containers, no process's command line and
// no container's arguments, command or labels may hold the registry's
// password (in any of the forms it travels in) or a bearer token. The
// token issuer must have issued tokens, or the token check proves nothing.
func TestCredentialsStayOutOfArtifacts(t *testing.T) {
	ref := selfTest(t, "a self-test of what the suite writes")
	p := ref
	p.Args = append(slices.Clone(ref.Args), "--fault", "fail-create")
	var (
		secrets leakcheck.Secrets
		texts   = map[string]string{} // where -> what was there, read while the sandbox ran
		issued  int
	)
	var seen *caught
	// The artifacts' directory is named after the test, with a random
	// suffix, under a root other runs write to too: this run's is the
	// one made after it began.
	began := time.Now()
	t.Run("scenario", func(t *testing.T) {
		seen = runCaught(t, p, func(t testing.TB, p harness.Profile) {
			w := privateWorld(t, p, harness.RegistryAuthToken, harness.CredentialsRight)
			ctx := within(t, 3*time.Minute)
			c, err := w.sb.RegistryCredentials()
			require.NoError(t, err)
			secrets = leakcheck.Of(c.Username, c.Password, w.sb.RegistryAddr())
			before := w.nodes(ctx)
			since := time.Now()
			w.publishNode(ctx, "v2-"+w.sb.ID())
			res := w.scan(ctx)
			shown, err := leakcheck.Visible(ctx, s.cli, w.sb.ID())
			require.NoError(t, err, "read what the sandbox shows")
			maps.Copy(texts, shown)
			issued = strings.Count(texts["the log of container "+w.sb.ID()+"-tokenissuer"], `"msg":"issued"`)
			w.requireScanOK(res)
			// Fails: the fault refuses every replacement.
			w.requireReplaced(ctx, before, since, saying("was not updated (fault fail-create, on purpose: the artifacts are what this test reads)"))
		})
	})
	require.True(t, seen.failed(), "the world did not fail, so no artifacts were written")
	require.NotNil(t, secrets, "the world never came up")
	require.Positive(t, issued, "the token issuer issued no token: a token could not have leaked, so the check would prove nothing")

	base := cmp.Or(s.artifacts, filepath.Join(os.TempDir(), "seatrial-artifacts"))
	dirs, err := filepath.Glob(filepath.Join(base, strings.ReplaceAll(t.Name()+"/scenario", "/", "_")+"-*"))
	require.NoError(t, err)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		fi, err := os.Stat(d)
		return err != nil || fi.ModTime().Before(began)
	})
	require.Len(t, dirs, 1, "this run's artifacts under %s", base)
	dir := dirs[0]
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		texts["artifact "+strings.TrimPrefix(path, dir+"/")] = string(b)
		return nil
	}))
	require.GreaterOrEqual(t, files, 4, "the artifacts in %s (updater log, timeline, metrics, journals)", dir)
	var leaks []string
	for where, text := range texts {
		leaks = append(leaks, secrets.Find(where, text)...)
	}
	require.Empty(t, leaks, "credentials or tokens where nobody may read them (artifacts in %s)", dir)
	t.Logf("no credential and no token in %d places (%d artifact files in %s); the token issuer had issued %d tokens", len(texts), files, dir, issued)
}
