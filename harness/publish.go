package harness

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/images"
)

// Published is an image version pushed to a sandbox's registry.
type Published struct {
	Ref    string // "localhost:P/node:stable"
	Digest string // "sha256:..."
	Config appconfig.Config
}

// Publish pushes a version of a fixture image ("app" or "node") to the
// sandbox's registry under repo:tag: the fixture image with one more
// layer holding cfg (version and behaviour). No image is built: the base
// layers are the cached fixture's, and the registry already has them after
// the first push, so a new version costs one small layer.
func (sb *Sandbox) Publish(ctx context.Context, fixture, tag string, cfg appconfig.Config) (Published, error) {
	if fixture != "app" && fixture != "node" {
		return Published{}, fmt.Errorf("publish %q: only the app and node fixtures carry a version (want app or node)", fixture)
	}
	if err := cfg.Validate(); err != nil {
		return Published{}, fmt.Errorf("publish %s:%s: %w", fixture, tag, err)
	}
	built, err := sb.images.Get(fixture)
	if err != nil {
		return Published{}, err
	}
	base, err := built.Image()
	if err != nil {
		return Published{}, fmt.Errorf("read %s image: %w", fixture, err)
	}
	img, err := images.WithConfig(base, cfg)
	if err != nil {
		return Published{}, fmt.Errorf("add version layer to %s: %w", fixture, err)
	}
	refStr := sb.Ref(fixture, tag)
	// Pushed from here: to localhost:P, or to the remote engine's host:P
	// (the same registry; the engine pulls it as localhost:P; the
	// certificate names both). go-containerregistry tries https first
	// and then http for a localhost registry: over TLS it must trust the
	// sandbox's CA.
	ref, err := name.ParseReference(sb.pushRef(refStr), sb.registry.nameOptions()...)
	if err != nil {
		return Published{}, fmt.Errorf("parse %s: %w", refStr, err)
	}
	tr, err := sb.registry.Transport()
	if err != nil {
		return Published{}, fmt.Errorf("push %s: %w", refStr, err)
	}
	defer tr.CloseIdleConnections()
	auth, err := sb.pushAuth()
	if err != nil {
		return Published{}, fmt.Errorf("push %s: %w", refStr, err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(tr), remote.WithAuth(auth)); err != nil {
		return Published{}, fmt.Errorf("push %s: %w", refStr, err)
	}
	d, err := img.Digest()
	if err != nil {
		return Published{}, fmt.Errorf("digest of %s: %w", refStr, err)
	}
	sb.mu.Lock()
	if sb.published == nil {
		sb.published = map[string]bool{}
	}
	sb.published[fixture+":"+tag] = true
	sb.mu.Unlock()
	sb.logf("published %s@%s (%s, %s)", refStr, d, cfg.Version, cfg.Behaviour)
	return Published{Ref: refStr, Digest: d.String(), Config: cfg}, nil
}

// Ref is the reference of repo:tag in the sandbox's registry.
func (sb *Sandbox) Ref(repo, tag string) string {
	return sb.desc.Registry.Addr + "/" + repo + ":" + tag
}

// Pull makes the engine pull ref (from the sandbox's registry) and waits
// for the pull to finish.
func (sb *Sandbox) Pull(ctx context.Context, ref string) error {
	auth := ""
	if strings.HasPrefix(ref, sb.desc.Registry.Addr+"/") {
		var err error
		if auth, err = sb.engineAuth(); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	return pullImage(ctx, sb.cli, ref, auth)
}

// pullImage pulls ref; auth, if set, is the X-Registry-Auth the engine
// logs in to the registry with.
func pullImage(ctx context.Context, cli *client.Client, ref, auth string) error {
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	// The engine reports a failed pull inside the progress stream, not as
	// an HTTP error; Wait reads the stream to its end and returns it.
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// pushRef is ref (localhost:P/repo:tag) as this machine reaches the
// sandbox's registry: the same unless the engine is remote, then at the
// engine's host.
func (sb *Sandbox) pushRef(ref string) string {
	r := sb.env().reach()
	rest, ok := strings.CutPrefix(ref, "localhost:")
	if !ok || !r.Remote() {
		return ref
	}
	port, path, _ := strings.Cut(rest, "/")
	return r.Dial(port) + "/" + path
}
