package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// SetupError means this machine lacks something an image needs that
// seatrial cannot provide itself (debootstrap, and no root to install it).
// Ensure returns it before any image is built; its message says the one
// command to run. The CLI exits 2 on it, as on bad input: nothing failed,
// the machine needs a step first.
type SetupError struct {
	// Command is what to run to fix it, e.g. "sudo apt-get install debootstrap".
	Command string
	msg     string
}

func (e *SetupError) Error() string { return e.msg }

// hostFacts is what the debootstrap decision depends on, gathered by
// lookHost and given as inputs so the decision can be tested for every
// machine (root or not, apt or not) on any one.
type hostFacts struct {
	debootstrap bool // debootstrap is on PATH
	root        bool // the effective user is root
	aptGet      bool // apt-get is on PATH
}

// debootstrapStep is what Ensure does about debootstrap before building.
type debootstrapStep int

const (
	debootstrapReady   debootstrapStep = iota // installed and runnable
	debootstrapInstall                        // absent; root with apt: install it
)

// installDebootstrap is the command a user runs when seatrial cannot
// install debootstrap itself.
const installDebootstrap = "sudo apt-get install debootstrap"

// decideDebootstrap says what to do about debootstrap on a machine with the
// given facts: go ahead, install it (as root with apt-get, which is what a
// CI runner or a fresh container is), or a SetupError naming the command
// to run. debootstrap itself needs root (it chroots and makes device
// nodes), so a non-root user is told so even when it is installed.
func decideDebootstrap(f hostFacts) (debootstrapStep, error) {
	switch {
	case f.debootstrap && f.root:
		return debootstrapReady, nil
	case f.debootstrap:
		return 0, &SetupError{Command: "sudo seatrial images build",
			msg: "the node image's root filesystem is made by debootstrap, which needs root (it chroots): run `sudo seatrial images build` once (or `sudo make images`); later runs use the cached root filesystem"}
	case f.root && f.aptGet:
		return debootstrapInstall, nil
	case f.aptGet:
		return 0, &SetupError{Command: installDebootstrap,
			msg: "the node image needs debootstrap, which is not installed: run `" + installDebootstrap + "`, then this command again as root"}
	default:
		return 0, &SetupError{Command: "install debootstrap",
			msg: "the node image needs debootstrap, which is not installed and there is no apt-get to install it: install your distribution's debootstrap package (on Debian or Ubuntu: `" + installDebootstrap + "`), then run this command again as root"}
	}
}

// lookHost gathers the facts decideDebootstrap needs.
func lookHost() hostFacts {
	_, dbErr := exec.LookPath("debootstrap")
	_, aptErr := exec.LookPath("apt-get")
	return hostFacts{debootstrap: dbErr == nil, root: os.Geteuid() == 0, aptGet: aptErr == nil}
}

// needsDebootstrap reports whether ensuring the wanted images will run
// debootstrap: the node image is wanted, not ready, and its root
// filesystem is not in the cache.
func (b *builder) needsDebootstrap(ctx context.Context, want map[string]bool) (bool, error) {
	if !want[Node] {
		return false, nil
	}
	h, err := b.inputs(Node)
	if errors.Is(err, errNoSource) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ok, err := b.present(ctx, b.planned(Node, h), h); err != nil || ok {
		return false, err
	}
	archive, err := b.rootfsArchive()
	if err != nil {
		return false, err
	}
	_, err = os.Stat(archive)
	return err != nil, nil
}

// preflight makes sure, before any image is built, that debootstrap can
// run if it will have to: installing it with apt-get when root, else
// failing at once with the command to run (rather than after minutes of
// other builds).
func (b *builder) preflight(ctx context.Context, want map[string]bool) error {
	need, err := b.needsDebootstrap(ctx, want)
	if err != nil || !need {
		return err
	}
	step, err := decideDebootstrap(lookHost())
	if err != nil {
		return err
	}
	if step == debootstrapInstall {
		return aptInstall(ctx, b.progressf, "debootstrap")
	}
	return nil
}

// aptInstall installs pkg with apt-get, saying so with say. When the package
// is unknown (a fresh container has no package lists), it runs
// apt-get update once and tries again.
func aptInstall(ctx context.Context, say func(format string, args ...any), pkg string) error {
	say("installing %s (the node image needs it): apt-get install -y %s", pkg, pkg)
	install := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", pkg)
		// No question may wait for an answer nobody gives.
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		say("apt-get install %s failed; updating the package lists and trying again: apt-get update", pkg)
		if upd, uerr := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); uerr != nil {
			return fmt.Errorf("apt-get update (to install %s): %w\n%s", pkg, uerr, lastLines(string(upd), 10))
		}
		if out, err = install(); err != nil {
			return fmt.Errorf("apt-get install -y %s: %w\n%s", pkg, err, lastLines(string(out), 10))
		}
	}
	if _, err := exec.LookPath(pkg); err != nil {
		return fmt.Errorf("apt-get installed %s, yet it is not on PATH (%s): %w", pkg, os.Getenv("PATH"), err)
	}
	say("installed %s", pkg)
	return nil
}

// lastLines returns the last n lines of s, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
