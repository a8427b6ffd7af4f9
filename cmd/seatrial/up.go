package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/metricclient/server"
)

// upInfo is what up prints, as text or JSON.
type upInfo struct {
	Sandbox     string     `json:"sandbox"`
	Profile     string     `json:"profile"`
	Cluster     string     `json:"cluster"`
	Nodes       []nodeInfo `json:"nodes"`
	UpdaterAPI  string     `json:"updater_api"`
	TokenFile   string     `json:"token_file"`
	Registry    string     `json:"registry"`
	RegistryURL string     `json:"registry_url"`
	RegistryCA  string     `json:"registry_ca,omitempty"` // the CA's file, over TLS
	// RegistryAuth is basic or token when the registry wants
	// credentials; RegistryCredentials is their file (0600), never
	// their content.
	RegistryAuth        string   `json:"registry_auth,omitempty"`
	RegistryCredentials string   `json:"registry_credentials,omitempty"`
	RegistryMetrics     string   `json:"registry_metrics"`
	MetricsServer       string   `json:"metrics_server"`
	Next                []string `json:"next"`
}

type nodeInfo struct {
	Name      string `json:"name"`
	Container string `json:"container"`
}

// upFlags are the settings of `seatrial up`.
type upFlags struct {
	profile, name         string
	nodes                 int
	asJSON, wait, verbose bool
	engineProxy           bool   // --engine-proxy
	plainHTTP             bool   // --plain-http
	faultProxy            bool   // --fault-proxy
	registryAuth          string // --registry-auth
}

// bind declares the flags that fill f.
func (f *upFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&f.profile, "profile", harness.DefaultProfile, "updater profile: watchtower-1.7.1, reference, or a profile file ending in .json")
	fl.IntVar(&f.nodes, "nodes", 2, "nodes in the cluster: a controller and N-1 workers")
	fl.StringVar(&f.name, "name", "", "sandbox id (letters, digits, '-', '_'); default a random st-XXXXXXXXXX")
	fl.BoolVar(&f.asJSON, "json", false, "print what was made as JSON")
	fl.BoolVar(&f.engineProxy, "engine-proxy", false, "put the engine proxy between the updater and the engine (for seatrial fault --engine)")
	fl.BoolVar(&f.faultProxy, "fault-proxy", false, "put the registry fault proxy in front of the registry (for seatrial fault)")
	fl.BoolVar(&f.plainHTTP, "plain-http", false, "the registry speaks plain HTTP instead of TLS with the sandbox's own CA (for an updater that cannot be given a CA)")
	fl.StringVar(&f.registryAuth, "registry-auth", "", "the registry wants credentials, made for the sandbox and given to the updater as its profile's registry_auth says: basic (htpasswd) or token (bearer tokens from the sandbox's token issuer)")
	fl.BoolVar(&f.wait, "wait", false, "stay in the foreground; Ctrl-C removes the sandbox")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every step of the harness (container creation, readiness waits)")
}

func newUpCmd() *cobra.Command {
	return flagged("up", noArgs, func(cmd *cobra.Command, args []string, f upFlags) error {
		return runUp(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func runUp(ctx context.Context, f upFlags, stdout, stderr io.Writer) error {
	profile, err := harness.ProfileByName(f.profile)
	if err != nil {
		return badInput("%v", err)
	}
	if f.nodes < 1 || f.nodes > 16 {
		return badInput("--nodes %d: want 1 to 16", f.nodes)
	}
	if a := f.registryAuth; a != "" {
		if !slices.Contains(harness.RegistryAuthModes(), a) {
			return badInput("--registry-auth %q: want one of %s", a, strings.Join(harness.RegistryAuthModes(), ", "))
		}
		if profile.RegistryAuth.Mode == "" {
			return badInput("--registry-auth %s: updater profile %s has no registry_auth, so it cannot be given the registry's credentials", a, profile.Name)
		}
	}
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if f.name != "" {
		sbs, err := harness.ListSandboxes(ctx, cli)
		if err != nil {
			return err
		}
		for _, s := range sbs {
			if s.ID == f.name {
				return badInput("a sandbox called %s exists already: pick another --name, or remove it with `seatrial down %s`", f.name, f.name)
			}
		}
	}

	var progress io.Writer = io.Discard
	if f.verbose {
		progress = stderr
	}
	set, err := images.Ensure(ctx, cli, images.WithProgress(progress))
	if err != nil {
		return interrupted(ctx, fmt.Errorf("fixture images: %w", err))
	}
	opts := []harness.Option{
		harness.WithClient(cli),
		harness.WithImages(set),
		// A person's sandbox outlives this process: prune leaves it.
		harness.WithOwnerKind(labels.OwnerPerson),
		// The namespace publishes the profile's API port when it is
		// made; an updater that cannot bear churn gets the engine proxy.
		harness.WithUpdaterProfile(profile),
	}
	if f.engineProxy {
		opts = append(opts, harness.WithEngineProxy())
	}
	if f.plainHTTP {
		opts = append(opts, harness.WithPlainHTTPRegistry())
	}
	if f.faultProxy {
		opts = append(opts, harness.WithFaultProxy())
	}
	if f.registryAuth != "" {
		opts = append(opts, harness.WithRegistryAuth(f.registryAuth))
	}
	if f.verbose {
		opts = append(opts, harness.WithLog(stderr))
	} else {
		// testcontainers-go prints a banner through its process-wide
		// logger when it first connects, whatever the sandbox's own log
		// is; in a CLI that is noise unless -v.
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	if f.name != "" {
		opts = append(opts, harness.WithID(f.name))
	}
	fmt.Fprintln(stderr, "creating the sandbox: network, registry")
	sb, err := harness.NewSandbox(ctx, opts...) // removes what it made if it fails
	if err != nil {
		return interrupted(ctx, err)
	}
	info, err := bringUp(ctx, sb, profile, f.nodes-1, stderr)
	if err != nil {
		removeOnFailure(sb, stderr)
		return interrupted(ctx, err)
	}
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			return err
		}
	} else {
		printUp(stdout, info)
	}
	if !f.wait {
		return nil
	}
	fmt.Fprintf(stderr, "sandbox %s is up; Ctrl-C removes it\n", sb.ID())
	<-ctx.Done()
	fmt.Fprintf(stderr, "removing sandbox %s\n", sb.ID())
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	r, err := sb.Remove(rctx)
	printRemoved(stderr, r)
	return err
}

// bringUp starts the cluster and the updater in a new sandbox.
func bringUp(ctx context.Context, sb *harness.Sandbox, profile harness.Profile, workers int, stderr io.Writer) (upInfo, error) {
	fmt.Fprintf(stderr, "sandbox %s: starting %d systemd node(s) from node:stable v1\n", sb.ID(), workers+1)
	c, err := sb.StartCluster(ctx, harness.ClusterSpec{Workers: workers})
	if err != nil {
		return upInfo{}, err
	}
	fmt.Fprintf(stderr, "sandbox %s: starting updater %s\n", sb.ID(), profile.Name)
	u, err := sb.StartUpdater(ctx, profile, harness.UpdaterOptions{})
	if err != nil {
		return upInfo{}, err
	}
	id := sb.ID()
	info := upInfo{
		Sandbox:         id,
		Profile:         profile.Name,
		Cluster:         c.Name(),
		UpdaterAPI:      u.APIURL(),
		TokenFile:       u.TokenFile(),
		Registry:        sb.RegistryAddr(),
		RegistryURL:     sb.RegistryURL(),
		RegistryCA:      sb.RegistryCAFile(),
		RegistryAuth:    sb.RegistryAuth(),
		RegistryMetrics: sb.RegistryMetricsURL(),
		MetricsServer:   server.DefaultAddr,
		Next: []string{
			"seatrial watch " + id,
			"seatrial publish " + id + " node --behaviour healthy --version v2",
			"seatrial scan " + id,
			"seatrial metrics " + id,
			fmt.Sprintf("curl -H \"%s: %s\" %s%s", profile.API.Token.Header, profile.API.Token.Value(fmt.Sprintf("$(cat %s)", u.TokenFile())), u.APIURL(), profile.API.MetricsPath),
			"seatrial down " + id,
		},
	}
	if info.RegistryAuth != "" {
		info.RegistryCredentials = sb.RegistryCredentialsFile()
	}
	for _, n := range c.Nodes() {
		info.Nodes = append(info.Nodes, nodeInfo{Name: n.Name(), Container: n.ContainerName()})
	}
	return info, nil
}

func printUp(w io.Writer, info upInfo) {
	fmt.Fprintf(w, "sandbox %s is up (updater profile %s)\n", info.Sandbox, info.Profile)
	for i, n := range info.Nodes {
		label := ""
		if i == 0 {
			label = "nodes:"
		}
		fmt.Fprintf(w, "  %-16s %s (container %s)\n", label, n.Name, n.Container)
	}
	fmt.Fprintf(w, "  %-16s %s (token in %s)\n", "updater API:", info.UpdaterAPI, info.TokenFile)
	ca := "plain HTTP"
	if info.RegistryCA != "" {
		ca = "https, CA in " + info.RegistryCA
	}
	if info.RegistryAuth != "" {
		ca += ", " + info.RegistryAuth + " auth, credentials in " + info.RegistryCredentials
	}
	fmt.Fprintf(w, "  %-16s %s (%s; metrics %s)\n", "registry:", info.Registry, ca, info.RegistryMetrics)
	fmt.Fprintf(w, "  %-16s %s (`seatrial metrics` starts one there if none runs)\n", "metrics server:", info.MetricsServer)
	fmt.Fprintf(w, "\nTry next:\n")
	for _, c := range info.Next {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

// removeOnFailure removes a sandbox whose bring-up failed, with a context
// of its own: the command's may have ended (Ctrl-C).
func removeOnFailure(sb *harness.Sandbox, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := sb.Remove(ctx); err != nil {
		fmt.Fprintf(stderr, "seatrial: removing sandbox %s after the failure: %v\n", sb.ID(), err)
	}
}

// interrupted replaces an error caused by Ctrl-C with a line saying so.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; nothing was left behind")
	}
	return err
}

func printRemoved(w io.Writer, r harness.Removed) {
	fmt.Fprintf(w, "removed sandbox %s: %d containers, %d images, %d networks\n", r.Sandbox, len(r.Containers), len(r.Images), len(r.Networks))
	for _, c := range r.Containers {
		fmt.Fprintf(w, "  container %s\n", c)
	}
	for _, i := range r.Images {
		fmt.Fprintf(w, "  image     %s\n", i)
	}
	for _, n := range r.Networks {
		fmt.Fprintf(w, "  network   %s\n", n)
	}
}
