package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// exampleFiles are the profile files the repository ships as examples.
func exampleFiles(t *testing.T) []string {
	files, err := filepath.Glob("../../examples/profiles/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no example profiles found")
	return files
}

func TestExampleProfilesLoad(t *testing.T) {
	for _, f := range exampleFiles(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, CheckSchema(b), f)
		_, err = Load(f)
		require.NoError(t, err, f)
	}
}

// TestContributingExamplesLoad: the JSON profiles CONTRIBUTING.md shows
// (fenced blocks with a "name" key) are valid, so the docs cannot rot.
func TestContributingExamplesLoad(t *testing.T) {
	b, err := os.ReadFile("../../CONTRIBUTING.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(b, -1)
	n := 0
	for _, m := range blocks {
		if !strings.Contains(string(m[1]), `"trigger"`) {
			continue
		}
		n++
		_, err := Parse(m[1])
		require.NoError(t, err, "CONTRIBUTING.md profile:\n%s", m[1])
	}
	require.NotZero(t, n, "CONTRIBUTING.md shows no profile")
}

// TestSchemaAndStructAgree: every JSON key of Profile (nested) is in the
// schema, and every key of the schema is a field of Profile.
func TestSchemaAndStructAgree(t *testing.T) {
	var sch map[string]any
	require.NoError(t, json.Unmarshal(SchemaJSON, &sch))
	defs, _ := sch["$defs"].(map[string]any)
	var walk func(path string, typ reflect.Type, node map[string]any)
	walk = func(path string, typ reflect.Type, node map[string]any) {
		if ref, ok := node["$ref"].(string); ok {
			node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
			if items, ok := node["items"].(map[string]any); ok {
				node = items
			} else if ap, ok := node["additionalProperties"].(map[string]any); ok {
				node = ap
			}
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		props, _ := node["properties"].(map[string]any)
		require.Equal(t, false, node["additionalProperties"], "%s: the schema must refuse unknown keys", path)
		var inStruct, inSchema []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			inStruct = append(inStruct, key)
			sub, ok := props[key].(map[string]any)
			if ok {
				walk(path+"."+key, f.Type, sub)
			}
		}
		for k := range props {
			inSchema = append(inSchema, k)
		}
		sort.Strings(inStruct)
		sort.Strings(inSchema)
		require.Equal(t, inStruct, inSchema, "%s: JSON keys of %s vs the schema's properties", path, typ)
		if req, ok := node["required"].([]any); ok {
			for _, r := range req {
				require.Contains(t, inStruct, r, "%s: required key", path)
			}
		}
	}
	walk("profile", reflect.TypeFor[Profile](), sch)
}

// TestSchemaErrorsNameTheField: a profile file's mistakes are reported by
// the field's path.
func TestSchemaErrorsNameTheField(t *testing.T) {
	p := Reference()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	m["trigger"].(map[string]any)["method"] = "FETCH"
	m["trigger"].(map[string]any)["ok_statuses"] = []any{200, 1000}
	m["api"].(map[string]any)["port"] = 0
	delete(m["metrics"].(map[string]any), "registry_down")
	m["capabilities"] = []any{"scope", "teleport"}
	m["known_failures"] = []any{map[string]any{"scenario": "FullScan", "reason": "r", "link": "example.com", "match": "x"}}
	m["metrics_lint_known"] = []any{map[string]any{"metric": "9lives", "text": ""}, map[string]any{"metric": "x", "text": "t", "why": "w"}}
	b, err = json.Marshal(m)
	require.NoError(t, err)
	err = CheckSchema(b)
	require.Error(t, err)
	for _, field := range []string{"trigger.method:", "trigger.ok_statuses[1]:", "api.port:", "metrics: missing property 'registry_down'", "capabilities[1]:", "known_failures[0].scenario:", "known_failures[0].link:", "metrics_lint_known[0].metric:", "metrics_lint_known[0].text:", "metrics_lint_known[1]: additional properties 'why'"} {
		require.ErrorContains(t, err, field)
	}
}

func TestFieldName(t *testing.T) {
	require.Equal(t, "profile", fieldName(nil))
	require.Equal(t, "trigger.ok_statuses[0]", fieldName([]string{"trigger", "ok_statuses", "0"}))
	require.Equal(t, "env.A/B", fieldName([]string{"env", "A/B"}))
}
