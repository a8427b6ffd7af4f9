package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// EnableLabel is the label watchtower and its forks read with --label-enable.
const EnableLabel = "com.centurylinklabs.watchtower.enable"

// TestLabelFilters: with --label-enable, only containers labelled
// enable=true are touched; one without the label and one with
// enable=false never are.
func TestLabelFilters(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapLabelFilter}, func(t testing.TB, p harness.Profile) {
		w := newWorld(t, p, worldSpec{
			nodes: []harness.NodeSpec{
				{Name: "controller", Labels: map[string]string{EnableLabel: "true"}},
				{Name: "worker-0"},
				{Name: "worker-1", Labels: map[string]string{EnableLabel: "false"}},
			},
			updater: harness.UpdaterOptions{LabelEnable: true},
		})
		ctx := within(t, 3*time.Minute)
		before := w.nodes(ctx)
		v2 := w.publishNode(ctx, "v2")

		since := time.Now()
		res := w.scan(ctx)
		w.requireScanOK(res)

		after := w.nodes(ctx)
		require.Equal(t, before["worker-0"], after["worker-0"], "a node without the enable label was touched")
		require.Equal(t, before["worker-1"], after["worker-1"], "a node with enable=false was touched")
		after = w.requireReplaced(ctx, map[string]nodeState{"controller": before["controller"]}, since, saying("(enable=true) was not updated"))
		require.Equal(t, v2.Digest, after["controller"].Digest, "the enabled node was not updated")

		md := w.scrapeAfterScans(ctx, 1)
		w.requireGauge(md, mScanned, 1)
		w.requireGauge(md, mUpdated, 1)
		w.requireGauge(md, mFailed, 0)
	})
}
