package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The node's Debian root filesystem.
const (
	debianSuite   = "bookworm"
	debianVariant = "minbase"
	defaultMirror = "http://deb.debian.org/debian"
	// rootfsRecipe names how the root filesystem is cleaned and archived;
	// change it when that changes, so cached archives are remade.
	rootfsRecipe = "rootfs-v1"
)

// Files in fixtures/node.
const (
	nodePackagesFile = "packages.txt"
	nodeMaskFile     = "masked-units.txt"
	nodeGenMaskFile  = "masked-generators.txt"
	nodeUnitFile     = "seatrial-app.service"
	// nodeSystemConf is a drop-in of systemd's manager settings; the
	// file says why each is there.
	nodeSystemConf = "system.conf"
)

// nodeDir is fixtures/node.
func (b *builder) nodeDir() string { return filepath.Join(b.root, "fixtures", "node") }

// mirror returns the Debian mirror to debootstrap from.
func (b *builder) mirror() string {
	if b.opts.mirror != "" {
		return b.opts.mirror
	}
	if m := aptMirror("/etc/apt", debianSuite); m != "" {
		return m
	}
	return defaultMirror
}

// rootfsKey is the cache key of the root filesystem layer: the package
// list, suite, variant, mirror and cleaning recipe. It does not include the
// app or the units, so a new app needs no new debootstrap.
func (b *builder) rootfsKey() (string, error) {
	pkgs, err := b.nodePackages()
	if err != nil {
		return "", err
	}
	h := newInputHash("node-rootfs")
	h.field("recipe", rootfsRecipe)
	h.field("suite", debianSuite)
	h.field("variant", debianVariant)
	h.field("mirror", b.mirror())
	h.field("arch", b.tc.goarch)
	h.field("packages", strings.Join(pkgs, ","))
	return h.sum(), nil
}

// nodePackages reads fixtures/node/packages.txt.
func (b *builder) nodePackages() ([]string, error) {
	return readList(filepath.Join(b.nodeDir(), nodePackagesFile))
}

// readList reads a file of one item a line; # starts a comment.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("node image inputs: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

func (b *builder) buildNode(ctx context.Context, h, tmp string) (v1.Image, error) {
	rootfs, err := b.rootfsLayer(ctx)
	if err != nil {
		return nil, err
	}
	app, err := b.ensure(ctx, App)
	if err != nil {
		return nil, err
	}
	appImg, err := app.Image()
	if err != nil {
		return nil, err
	}
	appBin, err := extractFile(appImg, "app")
	if err != nil {
		return nil, fmt.Errorf("app binary from %s: %w", app.Ref, err)
	}
	unit, err := os.ReadFile(filepath.Join(b.nodeDir(), nodeUnitFile))
	if err != nil {
		return nil, fmt.Errorf("node image: %w", err)
	}
	systemConf, err := os.ReadFile(filepath.Join(b.nodeDir(), nodeSystemConf))
	if err != nil {
		return nil, fmt.Errorf("node image: %w", err)
	}
	masked, err := readList(filepath.Join(b.nodeDir(), nodeMaskFile))
	if err != nil {
		return nil, err
	}
	maskedGens, err := readList(filepath.Join(b.nodeDir(), nodeGenMaskFile))
	if err != nil {
		return nil, err
	}

	// The app layer: binary, unit, the unit's enablement, the manager's
	// settings and the masks.
	// `systemctl enable` would need a running systemd or a chroot, so the
	// symlinks it would make are written directly.
	files := []layerFile{
		{name: "etc/", mode: 0o755},
		{name: "etc/systemd/", mode: 0o755},
		{name: "etc/systemd/system.conf.d/", mode: 0o755},
		{name: "etc/systemd/system.conf.d/seatrial-node.conf", mode: 0o644, data: systemConf},
		{name: "etc/systemd/system/", mode: 0o755},
		{name: "etc/systemd/system/" + nodeUnitFile, mode: 0o644, data: unit},
		{name: "etc/systemd/system/multi-user.target.wants/", mode: 0o755},
		{name: "etc/systemd/system/multi-user.target.wants/" + nodeUnitFile, link: "/etc/systemd/system/" + nodeUnitFile},
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: "usr/local/bin/", mode: 0o755},
		{name: "usr/local/bin/seatrial-app", mode: 0o755, data: appBin},
	}
	for _, u := range masked {
		// A unit linked to /dev/null is masked: systemd never starts it.
		files = append(files, layerFile{name: "etc/systemd/system/" + u, link: "/dev/null"})
	}
	files = append(files, layerFile{name: "etc/systemd/system-generators/", mode: 0o755})
	for _, g := range maskedGens {
		// A generator in /etc linked to /dev/null hides the one of the
		// same name in /lib: systemd does not run it.
		files = append(files, layerFile{name: "etc/systemd/system-generators/" + g, link: "/dev/null"})
	}
	appLayer, err := newLayer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: rootfs, History: v1.History{
			CreatedBy: fmt.Sprintf("seatrial: debootstrap --variant=%s --include=%s %s", debianVariant, b.packagesFlag(), debianSuite),
			Created:   v1.Time{Time: layerTime},
		}},
		mutate.Addendum{Layer: appLayer, History: v1.History{
			CreatedBy: "seatrial: seatrial-app.service, masked units and generators",
			Created:   v1.Time{Time: layerTime},
		}},
	)
	if err != nil {
		return nil, err
	}
	return b.configureWithApp(img, Node, h, v1.Config{
		// systemd as PID 1, as kind and sind nodes run.
		Entrypoint: []string{"/sbin/init"},
		// container=docker tells systemd it runs in a container: it skips
		// what a container cannot do and does not ask for a TTY.
		Env: []string{"container=docker"},
		// SIGRTMIN+3 asks systemd for an orderly halt; SIGTERM (docker's
		// default) only makes it re-execute itself.
		StopSignal: "SIGRTMIN+3",
		// Healthy exactly when systemd says "running": boot finished, no
		// unit failed (so the app unit, Type=notify, serves).
		Healthcheck: healthcheck(3*time.Second, 10*time.Second, "/bin/systemctl", "is-system-running", "--quiet"),
	})
}

// packagesFlag is the --include value, for the layer's history.
func (b *builder) packagesFlag() string {
	p, _ := b.nodePackages()
	return strings.Join(p, ",")
}

// rootfsLayer returns the root filesystem layer, from the cache or made by
// debootstrap (≈ 1 minute). Called under the node image's lock.
func (b *builder) rootfsLayer(ctx context.Context) (v1.Layer, error) {
	archive, err := b.rootfsArchive()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(archive); err != nil {
		if err := b.debootstrap(ctx, filepath.Dir(archive), archive); err != nil {
			return nil, err
		}
	} else {
		b.progressf("building node image: root filesystem from cache %s", archive)
	}
	l, err := tarball.LayerFromFile(archive)
	if err != nil {
		return nil, fmt.Errorf("root filesystem layer %s: %w", archive, err)
	}
	return l, nil
}

// rootfsArchive is where the cache keeps the root filesystem layer.
func (b *builder) rootfsArchive() (string, error) {
	key, err := b.rootfsKey()
	if err != nil {
		return "", err
	}
	return filepath.Join(b.cache, "node-rootfs", key[:tagLen]+".tar.gz"), nil
}

// debootstrap makes the root filesystem archive at archive. Ensure's
// preflight has made sure debootstrap can run; the check is repeated here
// for a machine that changed since (and for callers of build alone).
func (b *builder) debootstrap(ctx context.Context, dir, archive string) error {
	step, err := decideDebootstrap(lookHost())
	if err != nil {
		return err
	}
	if step == debootstrapInstall {
		if err := aptInstall(ctx, b.progressf, "debootstrap"); err != nil {
			return err
		}
	}
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	pkgs, err := b.nodePackages()
	if err != nil {
		return err
	}
	tmp, err := freshTemp(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	target := filepath.Join(tmp, "rootfs")
	logPath := filepath.Join(dir, "debootstrap.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()

	args := []string{"--variant=" + debianVariant, "--include=" + strings.Join(pkgs, ","), debianSuite, target, b.mirror()}
	b.progressf("building node image: debootstrap %s (about a minute; log in %s)", strings.Join(args, " "), logPath)
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s: %w (see %s)\n%s", strings.Join(args, " "), err, logPath, tailFile(logPath, 20))
	}
	b.progressf("building node image: debootstrap done in %s", time.Since(start).Round(time.Second))

	if err := cleanRootfs(target); err != nil {
		return err
	}
	// Keep the installed package list beside the archive: what the layer
	// holds, readable without unpacking it.
	if out, err := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(target, "var/lib/dpkg"),
		"-W", "-f=${Package} ${Version}\n").Output(); err == nil {
		_ = os.WriteFile(strings.TrimSuffix(archive, ".tar.gz")+".packages", out, 0o644)
	}

	b.progressf("building node image: archiving the root filesystem")
	part := filepath.Join(tmp, "rootfs.tar.gz")
	if err := writeRootfsArchive(target, part); err != nil {
		return err
	}
	if err := os.Rename(part, archive); err != nil {
		return fmt.Errorf("move root filesystem archive into place: %w", err)
	}
	return nil
}

// cleanRootfs removes what makes two debootstraps differ and what a node
// must not share: package lists and downloaded .debs (only needed to
// install), logs, the ldconfig aux cache, and the machine id (left empty,
// so systemd makes one per container and marks it transient).
func cleanRootfs(root string) error {
	globs := []string{
		"var/lib/apt/lists/*",
		"var/cache/apt/archives/*.deb",
		"var/cache/apt/*.bin",
		"var/log/*",
		"var/cache/ldconfig/aux-cache",
		"var/lib/dbus/machine-id",
		"var/cache/debconf/*-old",
		"var/lib/dpkg/*-old",
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if filepath.Base(m) == "partial" || filepath.Base(m) == "lock" {
				continue // directories apt expects to exist
			}
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("clean root filesystem: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
		return fmt.Errorf("clean root filesystem: %w", err)
	}
	return nil
}

// writeRootfsArchive writes root as a gzipped tar: entries sorted by name,
// numeric owners only, layerTime as every mtime, and a gzip header with no
// name or time (like gzip -n), so equal trees give equal archives. The
// contents of dev, proc and sys are left out: the engine mounts its own.
func writeRootfsArchive(root, archive string) error {
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	// WalkDir visits entries in lexical order: the archive is sorted.
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if parent, _, _ := strings.Cut(rel, "/"); strings.Contains(rel, "/") && (parent == "dev" || parent == "proc" || parent == "sys") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.ModTime = layerTime
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatUnknown
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if first, ok := links[k]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.Size = 0
			} else {
				links[k] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive root filesystem: %w", err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// aptMirror returns the URI apt uses for suite, from one-line
// (sources.list, *.list) or deb822 (*.sources) files under etcApt, or "".
func aptMirror(etcApt, suite string) string {
	files := []string{filepath.Join(etcApt, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", "*"))
	files = append(files, more...)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m string
		if strings.HasSuffix(p, ".sources") {
			m = deb822Mirror(string(data), suite)
		} else {
			m = oneLineMirror(string(data), suite)
		}
		if m != "" {
			return m
		}
	}
	return ""
}

// oneLineMirror parses "deb [options] URI SUITE COMPONENTS..." lines.
func oneLineMirror(data, suite string) string {
	for _, line := range strings.Split(data, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && f[1] == suite {
			return strings.TrimSuffix(f[0], "/")
		}
	}
	return ""
}

// deb822Mirror parses deb822 stanzas (Types/URIs/Suites fields).
func deb822Mirror(data, suite string) string {
	for _, stanza := range strings.Split(data, "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if !containsField(fields["types"], "deb") || !containsField(fields["suites"], suite) {
			continue
		}
		if uris := strings.Fields(fields["uris"]); len(uris) > 0 {
			return strings.TrimSuffix(uris[0], "/")
		}
	}
	return ""
}

func containsField(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f == want {
			return true
		}
	}
	return false
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLines(string(bytes.TrimSpace(data)), n)
}
