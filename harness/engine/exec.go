package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// ExecResult is what a command run in a container left behind.
type ExecResult struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// Execer is the part of the engine client Exec needs (the monitor runs it
// against fakes too).
type Execer interface {
	ExecCreate(ctx context.Context, id string, options client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecAttach(ctx context.Context, execID string, options client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecInspect(ctx context.Context, execID string, options client.ExecInspectOptions) (client.ExecInspectResult, error)
}

// Exec runs cmd in a running container and waits for it. A non-zero exit
// code is not an error; failing to run the command is.
func Exec(ctx context.Context, cli Execer, containerID string, cmd ...string) (ExecResult, error) {
	created, err := cli.ExecCreate(ctx, containerID, client.ExecCreateOptions{
		Cmd:          cmd,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec %q in %.12s: %w", strings.Join(cmd, " "), containerID, err)
	}
	att, err := cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("attach to exec %q in %.12s: %w", strings.Join(cmd, " "), containerID, err)
	}
	defer att.Close()
	// Close the connection when ctx ends, or the copy below would block
	// on a command that never exits.
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	var stdout, stderr bytes.Buffer
	// Without a TTY the engine multiplexes stdout and stderr on one stream.
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		if ctx.Err() != nil {
			return ExecResult{}, fmt.Errorf("exec %q in %.12s: %w", strings.Join(cmd, " "), containerID, ctx.Err())
		}
		return ExecResult{}, fmt.Errorf("read output of %q in %.12s: %w", strings.Join(cmd, " "), containerID, err)
	}
	insp, err := cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return ExecResult{}, fmt.Errorf("inspect exec %q in %.12s: %w", strings.Join(cmd, " "), containerID, err)
	}
	return ExecResult{ExitCode: insp.ExitCode, Stdout: stdout.String(), Stderr: stderr.String()}, nil
}
