package descriptor

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// customProfile differs from watchtower's where a reopened sandbox used to
// lose it: trigger, port, metrics path, token, known failures, image.
func customProfile() profile.Profile {
	p := profile.Reference()
	p.Name = "my-updater"
	p.Fixture = ""
	p.Image = "example/updater:dev"
	p.Trigger = profile.Trigger{Method: "POST", Path: "/api/v2/scan", OKStatuses: []int{200, 202}, BusyStatuses: []int{409}}
	p.API.Port = 9191
	p.API.MetricsPath = "/api/v2/metrics"
	p.API.Token = profile.Token{Env: "UPDATER_TOKEN", Header: "X-Api-Key"}
	p.KnownFailures = []profile.KnownFailure{{Scenario: "TestFullScan", Reason: "r", Link: "https://example.invalid/1", Match: "No such container"}}
	p.Env = map[string]string{"UPDATER_LOG": "debug"}
	return p
}

func sample() Sandbox {
	return Sandbox{
		ID:            "st-0123456789",
		Owner:         labels.Owner{PID: 4242, Start: 99, Kind: labels.OwnerPerson},
		Created:       time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		KeepOnFailure: "run-0a1b2c3d",
		Registry:      Registry{Addr: "localhost:40123", MetricsURL: "http://127.0.0.1:40124/metrics", CA: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", Auth: "token"},
		UpdaterAPI:    "http://127.0.0.1:40125",
	}
}

func ctr(name string, state container.ContainerState, l map[string]string) container.Summary {
	return container.Summary{ID: name + "-id", Names: []string{"/" + name}, Image: "img", State: state, Labels: l}
}

// encodeAll encodes a whole sandbox as the harness creates it.
func encodeAll(t *testing.T, s Sandbox, u Updater, c Cluster, nodes ...string) ([]container.Summary, []network.Summary) {
	t.Helper()
	ul, err := s.UpdaterLabels(u)
	require.NoError(t, err)
	cs := []container.Summary{
		ctr(s.ID+"-netns", container.StateRunning, s.Labels(labels.RoleNetNS)),
		ctr(s.ID+"-registry", container.StateRunning, s.Labels(labels.RoleRegistry)),
		ctr(s.ID+"-updater", container.StateRunning, ul),
	}
	for _, n := range nodes {
		cs = append(cs, ctr(s.ID+"-"+c.Name+"-"+n, container.StateRunning, s.NodeLabels(c, n)))
	}
	nets := []network.Summary{{Network: network.Network{ID: "net-id", Name: s.ID, Labels: s.Labels(labels.RoleNetwork)}}}
	return cs, nets
}

func TestRoundTrip(t *testing.T) {
	s := sample()
	u := Updater{Profile: customProfile(), TokenFile: "/run/user/0/seatrial/st-0123456789-1/updater-token"}
	cl := Cluster{Name: "c1", Image: "localhost:40123/node:stable"}
	cs, nets := encodeAll(t, s, u, cl, "worker-1", "controller", "worker-0")
	got := Decode(cs, nets)
	require.Len(t, got, 1)
	d := got[0]
	require.NoError(t, d.Err)

	ignore := cmpopts.IgnoreFields(Sandbox{}, "Containers", "Networks", "NetNS", "Updater", "Clusters", "Err", "Registry.Container")
	require.Empty(t, cmp.Diff(s, d, ignore))
	require.NotNil(t, d.Updater)
	require.Empty(t, cmp.Diff(u, *d.Updater, cmpopts.IgnoreFields(Updater{}, "Container")), "the whole profile round-trips")
	require.Equal(t, "/api/v2/scan", d.Updater.Profile.Trigger.Path)
	require.Equal(t, []int{409}, d.Updater.Profile.Trigger.BusyStatuses)
	require.Equal(t, s.ID+"-updater", d.Updater.Container.Name)
	require.Equal(t, s.ID+"-registry", d.Registry.Container.Name)
	require.Equal(t, s.ID+"-netns", d.NetNS.Name)
	require.Equal(t, 40123, d.Registry.Port())
	require.Equal(t, []Network{{ID: "net-id", Name: s.ID}}, d.Networks)

	require.Len(t, d.Clusters, 1)
	require.Equal(t, "c1", d.Clusters[0].Name)
	require.Equal(t, cl.Image, d.Clusters[0].Image)
	var names []string
	for _, n := range d.Clusters[0].Nodes {
		names = append(names, n.Name)
		require.Equal(t, "c1", n.Container.Cluster)
		require.Equal(t, labels.RoleNode, n.Container.Role)
	}
	require.Equal(t, []string{"controller", "worker-0", "worker-1"}, names, "spec order: controller first")
}

// TestSandboxFactsOutliveTheNodes: what the sandbox is does not depend on
// which node containers exist.
func TestSandboxFactsOutliveTheNodes(t *testing.T) {
	s := sample()
	u := Updater{Profile: customProfile(), TokenFile: "/tmp/tok"}
	with, nets := encodeAll(t, s, u, Cluster{Name: "c1", Image: "i"}, "controller")
	without, _ := encodeAll(t, s, u, Cluster{Name: "c1", Image: "i"})
	a, b := Decode(with, nets)[0], Decode(without, nets)[0]
	require.NoError(t, a.Err)
	require.NoError(t, b.Err)
	ignore := cmpopts.IgnoreFields(Sandbox{}, "Containers", "Clusters")
	require.Empty(t, cmp.Diff(a, b, ignore))
	require.Empty(t, b.Clusters)
}

func TestDecodeSaysWhatIsWrong(t *testing.T) {
	s := sample()
	u := Updater{Profile: customProfile(), TokenFile: "/tmp/tok"}
	for _, tc := range []struct {
		name  string
		spoil func(cs []container.Summary)
		want  []string
	}{
		{"profile absent", func(cs []container.Summary) { delete(cs[2].Labels, labels.UpdaterProfile) },
			[]string{"st-0123456789-updater", labels.UpdaterProfile + " is absent"}},
		{"profile not JSON", func(cs []container.Summary) { cs[2].Labels[labels.UpdaterProfile] = "watchtower-1.7.1" },
			[]string{labels.UpdaterProfile, "not a valid profile as JSON", `"watchtower-1.7.1"`}},
		{"profile with an unknown field", func(cs []container.Summary) {
			cs[2].Labels[labels.UpdaterProfile] = strings.Replace(cs[2].Labels[labels.UpdaterProfile], `"name"`, `"nmae"`, 1)
		}, []string{`additional properties 'nmae' not allowed`}},
		{"created malformed", func(cs []container.Summary) { cs[0].Labels[labels.Created] = "yesterday" },
			[]string{labels.Created + `="yesterday" is not an RFC 3339 time`}},
		{"owner malformed", func(cs []container.Summary) { cs[0].Labels[labels.OwnerPID] = "x" },
			[]string{labels.OwnerPID + `="x"`}},
		{"registry address malformed", func(cs []container.Summary) { cs[0].Labels[labels.RegistryAddr] = "registry" },
			[]string{labels.RegistryAddr + `="registry": want localhost:PORT`}},
		{"registry CA not PEM", func(cs []container.Summary) { cs[0].Labels[labels.RegistryCA] = "not a certificate" },
			[]string{labels.RegistryCA + ": want a PEM certificate"}},
		{"registry auth unknown", func(cs []container.Summary) { cs[0].Labels[labels.RegistryAuth] = "kerberos" },
			[]string{labels.RegistryAuth + `="kerberos": want basic or token`}},
		{"no holder", func(cs []container.Summary) { cs[0].Labels[labels.Role] = "" },
			[]string{"no namespace holder", "half made or half removed"}},
		{"node without a name", func(cs []container.Summary) { delete(cs[3].Labels, labels.Node) },
			[]string{"node container st-0123456789-c1-controller", labels.Node + `=""`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, nets := encodeAll(t, s, u, Cluster{Name: "c1", Image: "i"}, "controller")
			tc.spoil(cs)
			got := Decode(cs, nets)
			require.Len(t, got, 1, "a sandbox that cannot be read whole is still listed")
			require.Error(t, got[0].Err)
			require.Contains(t, got[0].Err.Error(), "sandbox st-0123456789: ")
			for _, w := range tc.want {
				require.Contains(t, got[0].Err.Error(), w)
			}
			require.Len(t, got[0].Containers, len(cs), "every container is still there to remove")
		})
	}
}

func TestLoneNetworkIsASandbox(t *testing.T) {
	s := sample()
	got := Decode(nil, []network.Summary{{Network: network.Network{ID: "n", Name: s.ID, Labels: s.Labels(labels.RoleNetwork)}}})
	require.Len(t, got, 1)
	require.Equal(t, s.ID, got[0].ID)
	require.Equal(t, s.Owner, got[0].Owner, "identity is read from the network")
	require.ErrorContains(t, got[0].Err, "no namespace holder")
}

func TestEncodeRefusesABadProfile(t *testing.T) {
	s := sample()
	p := customProfile()
	p.API.Token.Env = ""
	_, err := s.UpdaterLabels(Updater{Profile: p})
	require.ErrorContains(t, err, "api.token.env: missing")

	p = customProfile()
	p.Args = []string{strings.Repeat("x", maxProfileLabel)}
	_, err = s.UpdaterLabels(Updater{Profile: p})
	require.ErrorContains(t, err, "over the 65536 a label may carry")
}
