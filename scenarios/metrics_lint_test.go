package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/profile"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// TestMetricsLint: after a scan, the updater's own exposition (read from
// its API as it serves it, not through the metrics server, which adds
// labels and merges families) passes client_golang's promlint, but for
// the problems its profile lists in metrics_lint_known. A problem not
// listed fails, naming the family and promlint's text. A listed one
// that no longer occurs fails too, as a known failure that does not
// happen does: the list stays what the updater does, and a problem fixed
// and then brought back is caught. (Whether a family is served at all
// could depend on what the flow exercised, a vector with no series yet
// being absent; the flow here is fixed, one scan of one node, so the
// families are the same on every run.)
func TestMetricsLint(t *testing.T) {
	forEachWorld(t, []profile.Capability{profile.CapScope}, worldSpec{nodes: []harness.NodeSpec{{Name: "controller"}}}, 3*time.Minute, func(ctx context.Context, t testing.TB, w *world) {
		w.requireScanOK(w.scan(ctx))
		// Some updaters record a scan's metrics after answering its
		// trigger: lint once they show it.
		w.scrapeAfterScans(ctx, 1)
		text, err := w.updater.Metrics(ctx)
		require.NoError(t, err, "read the updater's own exposition (GET %s)", w.profile.API.MetricsPath)

		known := make([]metricclient.LintProblem, len(w.profile.MetricsLintKnown))
		for i, d := range w.profile.MetricsLintKnown {
			known[i] = metricclient.LintProblem{Metric: d.Metric, Text: d.Text}
		}
		unknown, gone, err := metricclient.LintAgainst(text, known)
		require.NoError(t, err, "lint the updater's exposition (GET %s)", w.profile.API.MetricsPath)
		for _, pr := range unknown {
			t.Errorf("promlint: %s, in the exposition of updater %s (GET %s): not in the profile's metrics_lint_known; fix the updater, or list it there with the reason",
				pr, w.profile.Name, w.profile.API.MetricsPath)
		}
		for _, pr := range gone {
			t.Errorf("the profile's metrics_lint_known lists %q, which promlint no longer finds in the exposition of updater %s: remove it from the list",
				pr.String(), w.profile.Name)
		}
	})
}
