package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/internal/behaviourdiff"
	"github.com/seatrial-dev/seatrial/internal/testenv"
)

// An image of the reference updater changed in one way (it checks
// digests with a manifest GET, not a HEAD: REFUPDATER_FAULT=manifest-get
// in its environment, as `FROM seatrial/refupdater` and `ENV` would make
// it) against the reference's own: seatrial diff exits 1 and names that
// change, in the registry's requests of each no-op scan, and nothing else
// but NoOpScan's result (its failure says the GETs) and noise.
func TestDiffChangedImage(t *testing.T) {
	testenv.NeedsEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	cli, err := engine.Connect(ctx)
	require.NoError(t, err)
	defer cli.Close()
	set, err := images.Ensure(ctx, cli, images.Only(images.RefUpdater))
	require.NoError(t, err)
	ref, err := set.Get(images.RefUpdater)
	require.NoError(t, err)
	changed := "seatrial/refupdater-changed:" + strings.TrimPrefix(newName(t), "st-clitest-")
	loadChanged(t, ctx, cli, ref, changed)

	var stdout, stderr strings.Builder
	report := filepath.Join(t.TempDir(), "diff.json")
	out := t.TempDir()
	f := diffFlags{pkg: "./scenarios", imageA: ref.Ref, imageB: changed, focus: "NoOpScan", repeat: defaultDiffRepeats,
		tolerance: "50%", slack: defaultTimeSlack, json: report, out: out, timeout: 15 * time.Minute}
	err = runDiff(ctx, []string{"reference"}, f, &stdout, &stderr)
	t.Log(stdout.String(), stderr.String())
	require.Equal(t, exitError(exitFailure), err, "seatrial diff found no difference")

	var rep diffReport
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "reference-a", rep.A.Profile)
	assert.Equal(t, "pass", rep.A.Results["NoOpScan"].Status, "the reference passes NoOpScan")
	named := map[string]bool{}
	for _, fd := range rep.Findings {
		if fd.Verdict != behaviourdiff.Differs {
			continue
		}
		switch {
		case fd.Kind == behaviourdiff.KindRequests && strings.HasSuffix(fd.What, "scan 1: manifest HEAD"):
			assert.Equal(t, [2]string{"2", "0"}, [2]string{fd.A, fd.B}, "manifest HEADs of %s", fd.What)
			named["HEAD"] = true
		case fd.Kind == behaviourdiff.KindRequests && strings.HasSuffix(fd.What, "scan 1: manifest GET"):
			assert.Equal(t, [2]string{"0", "2"}, [2]string{fd.A, fd.B}, "manifest GETs of %s", fd.What)
			named["GET"] = true
		case fd.Kind == behaviourdiff.KindResult:
			// NoOpScan asserts the profile's HEADs: the changed image
			// fails it, and its failure names the GETs.
			assert.Contains(t, fd.B, "manifest GETs", "the failure's reason")
		default:
			t.Errorf("a difference other than the manifest requests: %+v", fd)
		}
	}
	assert.True(t, named["HEAD"] && named["GET"], "both the HEADs and the GETs are named: %v", named)
	assert.Contains(t, stdout.String(), "DIFFERS  registry requests, world 1, scan 1: manifest GET: A 0, B 2")

	// B's scenario ends at its first world's failure (TLS): a picture of
	// the worlds both sides have.
	pics, err := filepath.Glob(filepath.Join(out, "NoOpScan-world*.html"))
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(out, "NoOpScan-world1.html")}, pics)
	for _, p := range pics {
		page, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, 2, strings.Count(string(page), "<iframe srcdoc="), "A's and B's timelines in %s", p)
		assert.NotContains(t, string(page), "http://", "no network needed to open %s", p)
	}
}

// loadChanged loads, under name, the reference updater's image with
// REFUPDATER_FAULT=manifest-get added to its environment, and removes it
// when the test ends.
func loadChanged(t *testing.T, ctx context.Context, cli *client.Client, ref images.Built, name string) {
	t.Helper()
	img, err := ref.Image()
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cfg := cf.Config.DeepCopy()
	cfg.Env = append(cfg.Env, "REFUPDATER_FAULT=manifest-get")
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["io.seatrial.test"] = t.Name() // whose it is, if a crash leaves it
	img, err = mutate.Config(img, *cfg)
	require.NoError(t, err)
	require.NoError(t, images.Load(ctx, cli, name, img))
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), name, client.ImageRemoveOptions{})
		assert.NoError(t, err, "remove %s", name)
	})
}

// With one profile and two images, each side is a profile file the
// scenarios load: the profile, renamed, with the image instead of the
// fixture.
func TestDiffSidesOfImages(t *testing.T) {
	dir := t.TempDir()
	a, b, err := diffSides([]string{"reference"}, diffFlags{imageA: "seatrial/refupdater:x", imageB: "example/pr:1"}, dir)
	require.NoError(t, err)
	for _, c := range []struct {
		s           diffSide
		name, image string
	}{{a, "reference-a", "seatrial/refupdater:x"}, {b, "reference-b", "example/pr:1"}} {
		p, err := harness.ProfileByName(c.s.arg)
		require.NoError(t, err, "the scenarios load %s", c.s.arg)
		assert.Equal(t, [3]string{c.name, c.image, ""}, [3]string{p.Name, p.Image, p.Fixture})
		assert.Equal(t, c.name, c.s.profile)
		ref, err := harness.ProfileByName("reference")
		require.NoError(t, err)
		assert.Equal(t, ref.Args, p.Args, "the profile's arguments are kept")
	}
}
