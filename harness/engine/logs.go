package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Logs returns a container's stdout and stderr, demultiplexed (for a
// container without a TTY).
func Logs(ctx context.Context, cli *client.Client, id string) (string, error) {
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("logs of %.12s: %w", id, err)
	}
	defer rc.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return out.String(), fmt.Errorf("read logs of %.12s: %w", id, err)
	}
	return out.String(), nil
}
