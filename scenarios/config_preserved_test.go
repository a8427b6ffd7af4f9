package scenarios

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/configdiff"
	"github.com/seatrial-dev/seatrial/harness/monitor"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestConfigPreserved: two realistic nodes (see realisticNode), one with
// a user-set MAC address, one with an engine-generated one, are updated;
// each new container's inspect equals the old one's except the image,
// the id, timestamps, state and what the engine generates (the one list:
// configdiff.Ignored). A failure lists every field lost or changed, with
// its old and new value. The engine-generated MAC address must not be
// pinned on the new container; the user-set one must be kept.
//
// Needs API 1.41 (Docker 20.10). A MAC address per network needs API
// 1.44 and is not tested here: on this engine a container has one, on its
// primary network (Config.MacAddress).
func TestConfigPreserved(t *testing.T) {
	forEachProfile(t, []profile.Capability{profile.CapScope, profile.CapConfigPreserved}, func(t testing.TB, p harness.Profile) {
		specs := []harness.NodeSpec{realisticNode("controller", userMAC), realisticNode("worker-0", "")}
		// A node may take its whole grace period to stop, and an updater
		// may stop both before it recreates either: this scenario judges
		// what the new containers carry, not how long the nodes were gone.
		w := newWorld(t, p, worldSpec{nodes: specs, nodeLossGrace: 2*realisticStopTimeout*time.Second + nodeLossGrace})
		ctx := within(t, 4*time.Minute)

		before := map[string]configdiff.Side{}
		oldIDs := map[string]string{}
		for _, spec := range specs {
			side, insp := w.inspectSide(ctx, spec.Name)
			w.requireConfigured(spec.Name, spec, side, insp)
			before[spec.Name], oldIDs[spec.Name] = side, insp.ID
		}
		w.publishNode(ctx, "v2")
		w.requireScanOK(w.scan(ctx))

		var problems []string
		for _, spec := range specs {
			node := spec.Name
			ev, err := w.waitFor(ctx, monitor.Recreated(node, oldIDs[node]), monitor.IncludePast())
			require.NoError(t, err)
			w.waitHealthy(ctx, node, ev.ContainerID)
			after, insp := w.inspectSide(ctx, node)
			problems = append(problems, macProblems(node, before[node], after)...)
			for _, nw := range spec.Config.Networks {
				ip, ok := w.cluster.StaticIP(node, nw.Name)
				if ep := insp.NetworkSettings.Networks[w.cluster.NetworkName(nw.Name)]; ok && ep != nil && ep.IPAddress != ip {
					problems = append(problems, fmt.Sprintf("node %s: its static address %s on network %s was not kept: the new container has %s", node, ip, nw.Name, ep.IPAddress))
				}
			}
			changes, err := configdiff.Diff(before[node], after)
			require.NoError(t, err)
			for _, c := range changes {
				problems = append(problems, fmt.Sprintf("node %s: %s", node, c))
			}
		}
		if len(problems) > 0 {
			t.Fatalf("the update lost or changed the nodes' configuration (field: old -> new): %s\n%s\n(ignored, as the engine or the update changes them: configdiff.Ignored)",
				problems[0], strings.Join(problems, "\n"))
		}
	})
}

// macProblems applies the MAC address rule: a user-set MAC address (on
// this engine, Config.MacAddress) is kept; an engine-generated one is not
// pinned on the new container.
func macProblems(node string, old, new configdiff.Side) []string {
	was, is := rawMAC(old.Inspect), rawMAC(new.Inspect)
	switch {
	case was == "" && is != "":
		return []string{fmt.Sprintf("node %s: an engine-generated MAC address was pinned on the new container (Config.MacAddress %q; the old container had none set)", node, is)}
	case was != "" && is != was:
		return []string{fmt.Sprintf("node %s: its user-set MAC address %s was not kept (the new container's Config.MacAddress is %q)", node, was, is)}
	}
	return nil
}
