package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestCIRecipe parses the workflow in docs/ci.md as YAML and checks every
// seatrial command in its steps against the CLI's own command tree: the
// subcommand exists, its flags are known and their values parse, its
// arguments are accepted. The recipe cannot name a flag the tool lacks.
func TestCIRecipe(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "docs", "ci.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlocks(string(data))
	if len(blocks) == 0 {
		t.Fatal("docs/ci.md has no ```yaml block")
	}
	var seen []string
	for i, block := range blocks {
		var doc any
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("docs/ci.md yaml block %d does not parse: %v", i+1, err)
		}
		for _, script := range runScripts(doc) {
			for _, args := range seatrialCommands(script) {
				path, err := checkCommand(args)
				if err != nil {
					t.Errorf("docs/ci.md: `seatrial %s`: %v", strings.Join(args, " "), err)
					continue
				}
				seen = append(seen, path)
			}
		}
	}
	// The recipe's steps: fixture images, the suite, the shards joined.
	for _, want := range []string{"seatrial images build", "seatrial run", "seatrial junit-merge"} {
		if !slices.Contains(seen, want) {
			t.Errorf("docs/ci.md runs no `%s` (commands found: %v)", want, seen)
		}
	}
}

// TestCIRecipeCheckCatchesDrift: the check of TestCIRecipe rejects what
// the CLI would reject, so a drifted recipe fails it.
func TestCIRecipeCheckCatchesDrift(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--no-such-flag"},
		{"run", "--timeout", "soon"},
		{"imagez", "build"},
		{"images", "build", "extra"},
	} {
		if _, err := checkCommand(args); err == nil {
			t.Errorf("`seatrial %s` passed the check; the CLI rejects it", strings.Join(args, " "))
		}
	}
	script := "sudo -E env \"PATH=$PATH\" go run github.com/seatrial-dev/seatrial/cmd/seatrial@${V} images build && seatrial run --shard ${{ matrix.shard }}/3 | tee log"
	got := seatrialCommands(script)
	want := [][]string{{"images", "build"}, {"run", "--shard", "1/3"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("seatrialCommands(%q) = %q, want %q", script, got, want)
	}
}

var yamlFence = regexp.MustCompile("(?ms)^```yaml\\n(.*?)^```")

// yamlBlocks returns the contents of the ```yaml fences of a markdown text.
func yamlBlocks(md string) []string {
	var out []string
	for _, m := range yamlFence.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// runScripts returns every `run:` value of a workflow (any depth).
func runScripts(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "run" {
				out = append(out, s)
				continue
			}
			out = append(out, runScripts(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, runScripts(x)...)
		}
	}
	return out
}

// seatrialModule is how a workflow names the CLI without installing it.
var seatrialModule = regexp.MustCompile(`^github\.com/seatrial-dev/seatrial/cmd/seatrial(@\S+)?$`)

// seatrialCommands returns the arguments of each seatrial command in a
// shell script: a command whose first word is `seatrial`, or one that
// runs github.com/seatrial-dev/seatrial/cmd/seatrial[@VERSION] (after go
// run, sudo, env...). GitHub expressions and shell variables become sample
// values: ${{ matrix.shard }} is 1, anything else x.
func seatrialCommands(script string) [][]string {
	script = regexp.MustCompile(`\$\{\{\s*matrix\.shard\s*\}\}`).ReplaceAllString(script, "1")
	script = regexp.MustCompile(`\$\{\{[^}]*\}\}`).ReplaceAllString(script, "x")
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(script, "\n") {
		for _, cmd := range splitShell(line) {
			for i, w := range cmd {
				if (i == 0 && w == "seatrial") || seatrialModule.MatchString(w) {
					out = append(out, cmd[i+1:])
					break
				}
			}
		}
	}
	return out
}

// splitShell splits a line into simple commands at &&, ||, ; and |, each a
// list of words; quotes group words, $VAR and ${VAR} outside single quotes
// become x. Enough for a CI step, not a shell.
func splitShell(line string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	varName := regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)`)
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'' && c != '\'':
			w.WriteByte(c)
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote, inWord = c, true
		case c == '$' && varName.MatchString(line[i:]):
			i += len(varName.FindString(line[i:])) - 1
			w.WriteString("x")
			inWord = true
		case quote == 0 && c == '#' && !inWord:
			endCmd()
			return cmds
		case quote == 0 && (c == ' ' || c == '\t'):
			endWord()
		case quote == 0 && (c == ';' || c == '|' || c == '&'):
			endCmd()
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// checkCommand parses args (the words after `seatrial`) with a fresh
// command tree, as the CLI would before running anything: the subcommand,
// its flags and their values, its arguments. It returns the command's path.
func checkCommand(args []string) (string, error) {
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return "", err
	}
	if cmd == root {
		return "", fmt.Errorf("no subcommand")
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return "", err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return "", err
	}
	return cmd.CommandPath(), nil
}
