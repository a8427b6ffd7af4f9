package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// GoBuild builds the Go package pkg (a directory such as ".", or an import
// path) with this test's toolchain into dir/name and returns the binary's
// path; env entries are added to the environment (CGO_ENABLED=0 for a
// static binary). The error carries the go command's output. Built once
// into the build cache, later runs only link it.
func GoBuild(dir, name, pkg string, env ...string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// MainWithProgram is the body of a TestMain whose tests run a Go program:
// it builds pkg (see GoBuild) into a temporary directory, sets *bin to the
// binary, runs the tests and removes the directory. It returns the exit
// code; a failed build is said on standard error, and is 1.
func MainWithProgram(m *testing.M, name, pkg string, bin *string) int {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = GoBuild(dir, name, pkg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
