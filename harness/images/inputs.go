package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// inputs returns the hash of everything an image is made from. It reads a
// few small files and no network, so a cached Ensure stays fast.
func (b *builder) inputs(imgName string) (string, error) {
	b.mu.Lock()
	h0, ok := b.hashes[imgName]
	b.mu.Unlock()
	if ok {
		return h0, nil
	}
	h := newInputHash(imgName)
	h.field("recipe", b.recipe)
	h.field("go", b.tc.goVersion)
	h.field("target", "linux/"+b.tc.goarch)
	switch imgName {
	case Watchtower:
		// A module of its own, so not in seatrial's module zip: absent
		// when the sources are a released seatrial in the module cache.
		if _, err := os.Stat(filepath.Join(b.root, "fixtures", "watchtower", "go.mod")); os.IsNotExist(err) {
			return "", fmt.Errorf("%w: fixtures/watchtower (its own module) is not in %s, a released seatrial's module holds no nested module; build the watchtower image in a checkout, or use an updater profile with an image", errNoSource, b.root)
		}
		if err := h.files(filepath.Join(b.root, "fixtures", "watchtower"), "go.mod", "go.sum"); err != nil {
			return "", err
		}
	case Registry, RefUpdater, EngineProxy, FaultProxy, TokenIssuer, App:
		if _, err := os.Stat(filepath.Join(b.root, goPackageDir(imgName))); os.IsNotExist(err) {
			return "", fmt.Errorf("%w: %s does not exist", errNoSource, goPackageDir(imgName))
		}
		if err := h.files(b.root, "go.mod", "go.sum"); err != nil {
			return "", err
		}
		if err := h.localPackages(b.root, goPackageDir(imgName)); err != nil {
			return "", err
		}
	case Node:
		appHash, err := b.inputs(App)
		if err != nil {
			return "", fmt.Errorf("node needs the app: %w", err)
		}
		h.field("app", appHash)
		rk, err := b.rootfsKey()
		if err != nil {
			return "", err
		}
		h.field("rootfs", rk)
		nodeDir := filepath.Join(b.root, "fixtures", "node")
		d, err := hashDirFiles(nodeDir)
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", nodeDir, err)
		}
		h.field("fixtures/node", d)
	default:
		return "", fmt.Errorf("no image called %q", imgName)
	}
	sum := h.sum()
	b.mu.Lock()
	b.hashes[imgName] = sum
	b.mu.Unlock()
	return sum, nil
}

// goPackageDir is the module-relative directory of a local image program.
func goPackageDir(imgName string) string {
	return filepath.Join("fixtures", imgName)
}

// inputHash is a sha256 over length-prefixed named fields, so no two input
// sets can collide by concatenation.
type inputHash struct{ h hash.Hash }

func newInputHash(kind string) *inputHash {
	h := &inputHash{h: sha256.New()}
	h.field("seatrial-image", kind)
	return h
}

func (h *inputHash) field(name, value string) {
	fmt.Fprintf(h.h, "%d:%s=%d:", len(name), name, len(value))
	io.WriteString(h.h, value)
	io.WriteString(h.h, "\n")
}

// files adds dir/name for each name (content and name).
func (h *inputHash) files(dir string, names ...string) error {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("image inputs: %w", err)
		}
		h.field("file:"+n, string(b))
	}
	return nil
}

func (h *inputHash) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

// localPackages adds the files of the package in rel (module-relative) and
// of every package of this module it imports, transitively. Third-party
// code is pinned by go.sum, which is hashed separately; the standard
// library by the Go version. Imports are read with go/parser in
// ImportsOnly mode, ignoring build tags (a superset is safe), which is
// much faster than `go list -deps`.
func (h *inputHash) localPackages(root, rel string) error {
	seen := map[string]bool{}
	queue := []string{filepath.ToSlash(rel)}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		imports, err := packageImports(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			return err
		}
		for _, imp := range imports {
			if sub, ok := strings.CutPrefix(imp, modulePath+"/"); ok {
				queue = append(queue, sub)
			}
		}
	}
	dirs := sortedKeys(seen)
	for _, d := range dirs {
		sum, err := hashDirFiles(filepath.Join(root, filepath.FromSlash(d)))
		if err != nil {
			return err
		}
		h.field("pkg:"+d, sum)
	}
	return nil
}

// packageImports returns the imports of the non-test Go files in dir.
func packageImports(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image inputs: read package: %w", err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ImportsOnly)
		if err != nil {
			return nil, fmt.Errorf("image inputs: %w", err)
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// hashDirFiles hashes the names and contents of the regular files directly
// in dir (not subdirectories), leaving out _test.go files: tests do not go
// into images. Embedded files, config files and the like are included.
func hashDirFiles(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), "_test.go") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := newInputHash("dir")
	if err := h.files(dir, names...); err != nil {
		return "", err
	}
	return h.sum(), nil
}
