package leakcheck

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// Visible reads what anyone on the machine, or anyone who may list the
// engine's containers, sees of a running sandbox: every process's command
// line (ps -eo args), and each of the sandbox's containers' path,
// arguments, entrypoint, command, labels and log; by where it was read.
// A container's environment is left out: it is where an updater is given
// its registry credentials (its profile's registry_auth), as users give
// them, and reading it takes the engine's full access.
func Visible(ctx context.Context, cli *client.Client, sandboxID string) (map[string]string, error) {
	out := map[string]string{}
	ps, err := exec.CommandContext(ctx, "ps", "-eo", "args").Output()
	if err != nil {
		return nil, fmt.Errorf("ps -eo args: %w", err)
	}
	out["the process listing (ps -eo args)"] = string(ps)
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labels.Sandbox+"="+sandboxID)})
	if err != nil {
		return nil, err
	}
	for _, c := range list.Items {
		name := strings.TrimPrefix(c.Names[0], "/")
		insp, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		b.WriteString(insp.Container.Path + " " + strings.Join(insp.Container.Args, " ") + "\n")
		tty := false
		if cfg := insp.Container.Config; cfg != nil {
			tty = cfg.Tty
			b.WriteString(strings.Join(cfg.Entrypoint, " ") + " " + strings.Join(cfg.Cmd, " ") + "\n")
			for k, v := range cfg.Labels {
				b.WriteString(k + "=" + v + "\n")
			}
		}
		out["the arguments, command and labels of container "+name] = b.String()
		logs, err := containerLog(ctx, cli, c.ID, tty)
		if err != nil {
			return nil, fmt.Errorf("the log of %s: %w", name, err)
		}
		out["the log of container "+name] = logs
	}
	return out, nil
}

// containerLog is a container's log: demultiplexed, or for a container
// with a TTY (a node: systemd's console) the one raw stream it is.
func containerLog(ctx context.Context, cli *client.Client, id string, tty bool) (string, error) {
	if !tty {
		return engine.Logs(ctx, cli, id)
	}
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}
