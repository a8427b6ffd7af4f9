// Package configdiff compares the engine's inspect of a container with
// the inspect of the container an updater replaced it with, and says
// what the replacement lost or changed: field, old value, new value.
//
// It compares the raw inspect JSON, not a typed struct, so a field the
// Go types lack (Config.MacAddress on an API 1.41 engine, see
// internal/legacymac) is compared too. Before the comparison both sides
// are normalised the same way: the fields in Ignored are removed, lists
// whose order means nothing are sorted, and what a container inherited
// from its own image is taken out (the image is what an update changes).
package configdiff

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// Ignored is the one list of inspect fields an update may change, each
// with why. A path is dot-separated keys; "*" stands for any key (a
// network's name, a port).
var Ignored = []struct{ Path, Why string }{
	{"Id", "a new container"},
	{"Created", "a timestamp"},
	{"State", "state: running, health, pid, start and finish times"},
	{"RestartCount", "state"},
	{"ExecIDs", "state"},
	{"Image", "the image id: what the update changes"},
	{"Config.Image", "the image reference: an updater may pin the new digest"},
	{"ResolvConfPath", "engine-generated, under the container's id"},
	{"HostnamePath", "engine-generated, under the container's id"},
	{"HostsPath", "engine-generated, under the container's id"},
	{"LogPath", "engine-generated, under the container's id"},
	{"GraphDriver", "engine-generated: the container's own layer"},
	{"SizeRw", "state"},
	{"SizeRootFs", "state"},
	{"NetworkSettings.SandboxID", "engine-generated: the network namespace"},
	{"NetworkSettings.SandboxKey", "engine-generated: the network namespace"},
	{"NetworkSettings.Bridge", "engine runtime data"},
	{"NetworkSettings.HairpinMode", "engine runtime data"},
	{"NetworkSettings.LinkLocalIPv6Address", "engine runtime data"},
	{"NetworkSettings.LinkLocalIPv6PrefixLen", "engine runtime data"},
	{"NetworkSettings.SecondaryIPAddresses", "engine runtime data"},
	{"NetworkSettings.SecondaryIPv6Addresses", "engine runtime data"},
	{"NetworkSettings.EndpointID", "engine-generated (default bridge)"},
	{"NetworkSettings.Gateway", "the default bridge's (empty on user networks)"},
	{"NetworkSettings.GlobalIPv6Address", "engine-allocated (default bridge)"},
	{"NetworkSettings.GlobalIPv6PrefixLen", "engine-allocated (default bridge)"},
	{"NetworkSettings.IPAddress", "engine-allocated (default bridge)"},
	{"NetworkSettings.IPPrefixLen", "engine-allocated (default bridge)"},
	{"NetworkSettings.IPv6Gateway", "the default bridge's"},
	{"NetworkSettings.MacAddress", "engine-generated (default bridge)"},
	{"NetworkSettings.Ports.*.*.HostPort", "engine-picked when the user gave none (the binding's address and container port are compared)"},
	{"NetworkSettings.Networks.*.EndpointID", "engine-generated"},
	{"NetworkSettings.Networks.*.IPAddress", "engine-allocated; a static address is IPAMConfig, compared (and see StaticIPKept)"},
	{"NetworkSettings.Networks.*.GlobalIPv6Address", "engine-allocated"},
	{"NetworkSettings.Networks.*.MacAddress", "engine-generated unless user-set; a user-set one is Config.MacAddress on API < 1.44, compared"},
}

// Side is one container as the comparison sees it: its raw inspect and
// the environment and labels of its own image.
type Side struct {
	Inspect     json.RawMessage
	ImageEnv    []string
	ImageLabels map[string]string
}

// Change is one field the replacement lost, gained or changed.
type Change struct {
	Path     string
	Old, New any // nil: absent on that side
}

func (c Change) String() string {
	return fmt.Sprintf("%s: %s -> %s", c.Path, show(c.Old), show(c.New))
}

// show writes a value as JSON; of an object, only the fields that are
// set, so a lost network reads as what it had.
func show(v any) string {
	if v == nil {
		return "(missing)"
	}
	if m, ok := v.(map[string]any); ok {
		set := map[string]any{}
		for k, x := range m {
			if x != nil && x != "" && x != float64(0) && x != false {
				set[k] = x
			}
		}
		v = set
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Diff returns what differs between old and new once both are
// normalised (see the package comment), sorted by path.
func Diff(old, new Side) ([]Change, error) {
	a, err := Normalise(old)
	if err != nil {
		return nil, fmt.Errorf("old container: %w", err)
	}
	b, err := Normalise(new)
	if err != nil {
		return nil, fmt.Errorf("new container: %w", err)
	}
	var r reporter
	cmp.Equal(a, b, cmp.Reporter(&r))
	sort.SliceStable(r.changes, func(i, j int) bool { return r.changes[i].Path < r.changes[j].Path })
	return r.changes, nil
}

// unordered are the lists whose order the engine does not keep or that
// mean the same in any order; they are sorted before comparing.
var unordered = []string{
	"HostConfig.Binds", "HostConfig.CapAdd", "HostConfig.CapDrop", "HostConfig.ExtraHosts",
	"HostConfig.Dns", "HostConfig.DnsOptions", "HostConfig.DnsSearch", "HostConfig.GroupAdd",
	"HostConfig.SecurityOpt", "HostConfig.Ulimits", "HostConfig.Links", "Mounts",
	"NetworkSettings.Networks.*.Aliases", "NetworkSettings.Networks.*.DNSNames", "NetworkSettings.Networks.*.Links",
}

// Normalise returns the inspect as a JSON tree ready to compare: Ignored
// fields removed; Config.Env and Config.Labels without what the
// container's image sets (the same key and value), Env as a map by name;
// the container's own id and short id taken out of its aliases and DNS
// names, and a hostname that is its short id (engine-generated) replaced
// by "(generated)"; unordered lists sorted.
func Normalise(s Side) (map[string]any, error) {
	var tree map[string]any
	if err := json.Unmarshal(s.Inspect, &tree); err != nil {
		return nil, fmt.Errorf("read inspect: %w", err)
	}
	id, _ := tree["Id"].(string)
	shortID := id
	if len(id) > 12 {
		shortID = id[:12]
	}
	for _, ig := range Ignored {
		remove(tree, strings.Split(ig.Path, "."))
	}
	if cfg, ok := tree["Config"].(map[string]any); ok {
		if h, _ := cfg["Hostname"].(string); h != "" && h == shortID {
			cfg["Hostname"] = "(generated)"
		}
		env := map[string]any{}
		for _, e := range asStrings(cfg["Env"]) {
			if slices.Contains(s.ImageEnv, e) {
				continue
			}
			k, v, _ := strings.Cut(e, "=")
			env[k] = v
		}
		cfg["Env"] = env
		if l, ok := cfg["Labels"].(map[string]any); ok {
			for k, v := range l {
				if iv, ok := s.ImageLabels[k]; ok && iv == v {
					delete(l, k)
				}
			}
		}
	}
	if ns, ok := tree["NetworkSettings"].(map[string]any); ok {
		if nets, ok := ns["Networks"].(map[string]any); ok {
			for _, ep := range nets {
				m, ok := ep.(map[string]any)
				if !ok {
					continue
				}
				for _, k := range []string{"Aliases", "DNSNames"} {
					if l, ok := m[k].([]any); ok {
						m[k] = slices.DeleteFunc(l, func(v any) bool { return v == shortID || v == id })
					}
				}
			}
		}
	}
	for _, p := range unordered {
		sortAt(tree, strings.Split(p, "."))
	}
	return tree, nil
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// at calls fn on every map the path's parent leads to, with the last key.
func at(v any, path []string, fn func(parent map[string]any, key string)) {
	switch node := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			if path[0] == "*" {
				for k := range node {
					fn(node, k)
				}
				return
			}
			fn(node, path[0])
			return
		}
		if path[0] == "*" {
			for _, k := range slices.Collect(maps.Keys(node)) {
				at(node[k], path[1:], fn)
			}
			return
		}
		at(node[path[0]], path[1:], fn)
	case []any:
		// A list in the middle of a path ("Ports.*.*"): its elements.
		if path[0] == "*" {
			for _, e := range node {
				at(e, path[1:], fn)
			}
		}
	}
}

func remove(tree map[string]any, path []string) {
	at(tree, path, func(parent map[string]any, key string) { delete(parent, key) })
}

func sortAt(tree map[string]any, path []string) {
	at(tree, path, func(parent map[string]any, key string) {
		l, ok := parent[key].([]any)
		if !ok {
			return
		}
		slices.SortStableFunc(l, func(a, b any) int { return strings.Compare(show(a), show(b)) })
	})
}

// reporter collects go-cmp's differences as Changes with readable paths.
type reporter struct {
	path    cmp.Path
	changes []Change
}

func (r *reporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *reporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }

func (r *reporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	vx, vy := r.path.Last().Values()
	r.changes = append(r.changes, Change{Path: pathString(r.path), Old: value(vx), New: value(vy)})
}

func value(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	return v.Interface()
}

// pathString writes a go-cmp path over a JSON tree as
// "NetworkSettings.Networks[st-1-front].Aliases[0]".
func pathString(p cmp.Path) string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case cmp.MapIndex:
			k := fmt.Sprint(s.Key().Interface())
			if b.Len() > 0 && (strings.ContainsAny(k, "./:-") || strings.HasSuffix(b.String(), "Env") || strings.HasSuffix(b.String(), "Labels") || strings.HasSuffix(b.String(), "Networks")) {
				fmt.Fprintf(&b, "[%s]", k)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case cmp.SliceIndex:
			x, y := s.SplitKeys()
			switch {
			case x == y:
				fmt.Fprintf(&b, "[%d]", x)
			case x >= 0:
				fmt.Fprintf(&b, "[%d]", x)
			default:
				fmt.Fprintf(&b, "[%d]", y)
			}
		}
	}
	return b.String()
}
