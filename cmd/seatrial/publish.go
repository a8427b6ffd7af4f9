package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/images"
)

// publishFlags are the settings of `seatrial publish`.
type publishFlags struct {
	behaviour, version, tag string
	asJSON                  bool
}

// bind declares the flags that fill f.
func (f *publishFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&f.behaviour, "behaviour", string(appconfig.Healthy), "what the version does: healthy, unhealthy, crash or unit-fails")
	fl.StringVar(&f.version, "version", "", "the version's name (default: v-<UTC time>, so every publish is new)")
	fl.StringVar(&f.tag, "tag", "stable", "the tag to publish under (the nodes run node:stable)")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
}

func newPublishCmd() *cobra.Command {
	return flagged("publish", nil, func(cmd *cobra.Command, args []string, f publishFlags) error {
		return runPublish(cmd.Context(), args, f, cmd.OutOrStdout())
	})
}

func runPublish(ctx context.Context, pos []string, f publishFlags, stdout io.Writer) error {
	if len(pos) != 2 {
		return badInput("want a sandbox id and an image (node or app), got %q", pos)
	}
	id, fixture := pos[0], pos[1]
	if fixture != images.Node && fixture != images.App {
		return badInput("image %q: only node and app carry a version", fixture)
	}
	cfg := appconfig.Config{Version: f.version, Behaviour: appconfig.Behaviour(f.behaviour)}
	if cfg.Version == "" {
		cfg.Version = "v-" + time.Now().UTC().Format("20060102-150405")
	}
	if !cfg.Behaviour.Valid() {
		return badInput("unknown behaviour %q: want one of %s", f.behaviour, behaviours())
	}
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	// Cheap when cached: the images' input hashes are checked, nothing is
	// built. Publish needs the fixture's layers from the cache.
	set, err := images.Ensure(ctx, cli, images.Only(fixture))
	if err != nil {
		return err
	}
	sb, err := openSandbox(ctx, cli, id, harness.WithImages(set))
	if err != nil {
		return err
	}
	pub, err := sb.Publish(ctx, fixture, f.tag, cfg)
	if err != nil {
		return err
	}
	if f.asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{
			"ref": pub.Ref, "digest": pub.Digest, "version": cfg.Version, "behaviour": string(cfg.Behaviour),
		})
	}
	_, err = fmt.Fprintf(stdout, "published %s (%s, %s)\ndigest %s\n", pub.Ref, cfg.Version, cfg.Behaviour, pub.Digest)
	return err
}

func behaviours() string {
	var bs []string
	for _, b := range appconfig.Behaviours() {
		bs = append(bs, string(b))
	}
	return strings.Join(bs, ", ")
}
