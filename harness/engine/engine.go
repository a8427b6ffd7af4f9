// Package engine connects to the Docker engine drydock runs on.
package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST and friends, else the local socket), with the API version
// negotiated down to what the engine speaks, and checks that the engine
// answers.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("no Docker engine answers at %s (is the daemon running, and may this user use its socket?): %w", cli.DaemonHost(), err)
	}
	return cli, nil
}
