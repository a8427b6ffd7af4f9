package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seatrial-dev/seatrial/metricclient"
	"github.com/seatrial-dev/seatrial/metricclient/server"
)

// metricsFlags are the settings of `seatrial metrics`.
type metricsFlags struct {
	raw, all bool
	addr     string
}

// bind declares the flags that fill f.
func (f *metricsFlags) bind(fl *pflag.FlagSet) {
	fl.BoolVar(&f.raw, "raw", false, "print the sandbox's series in the Prometheus text format")
	fl.BoolVar(&f.all, "all", false, "show every series in the table: also Go runtime and process series, histogram buckets, quantiles and seatrial's metadata")
	fl.StringVar(&f.addr, "addr", server.DefaultAddr, "the metrics server's address (host:port, or a unix socket path)")
}

func newMetricsCmd() *cobra.Command {
	return flagged("metrics", oneSandbox("the one whose metrics to show"), func(cmd *cobra.Command, args []string, f metricsFlags) error {
		return runMetrics(cmd.Context(), args[0], f, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func runMetrics(ctx context.Context, id string, f metricsFlags, stdout, stderr io.Writer) error {
	cli, err := connect(ctx)
	if err != nil {
		return err
	}
	// Only to check the id: an unknown sandbox is bad input, not an empty
	// table.
	_, err = openSandbox(ctx, cli, id)
	cli.Close()
	if err != nil {
		return err
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to start the metrics server: %w", err)
	}
	mc := metricclient.NewMetricClient(f.addr, metricclient.WithServerBinary(exe), metricclient.WithServerOutput(io.Discard, stderr))
	defer mc.Close()
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
	herr := mc.HealthCheck(hctx)
	hcancel()
	if herr != nil {
		fmt.Fprintf(stderr, "no metrics server answers at %s; starting one for this read\n", f.addr)
		if err := mc.SpawnServer(ctx); err != nil {
			return fmt.Errorf("start the metrics server at %s: %w (another program may hold the address: try --addr)", f.addr, err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := mc.ShutdownServer(sctx); err != nil {
				fmt.Fprintf(stderr, "seatrial metrics: stop the metrics server: %v\n", err)
			}
		}()
	}
	// Engine figures read now, not from a cache: a person asks after
	// something happened. Only this sandbox's targets are read.
	md, err := mc.GetMetrics(ctx, map[string]string{"max_staleness": "0s", "sandbox": id})
	if err != nil {
		return err
	}
	if f.raw {
		printRaw(stdout, md.String(), id)
		return nil
	}
	series, err := sandboxSeries(md, id, f.all)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("the metrics server at %s serves no series for sandbox %s", f.addr, id)
	}
	printSeries(stdout, series)
	return nil
}

// sandboxSeries returns the sandbox's series, sorted by source, node,
// name and labels.
func sandboxSeries(md metricclient.MetricData, id string, all bool) ([]metricclient.Series, error) {
	names, err := md.Names()
	if err != nil {
		return nil, fmt.Errorf("parse the scrape: %w", err)
	}
	var out []metricclient.Series
	for _, n := range names {
		if !all && boring(n) {
			continue
		}
		ss, err := md.All(n)
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			if s.Labels[metricclient.LabelSandbox] == id && (all || s.Labels["quantile"] == "") {
				out = append(out, s)
			}
		}
	}
	rank := map[string]string{"updater": "0", "registry": "1", "engine": "2"}
	key := func(s metricclient.Series) string {
		return rank[s.Labels[metricclient.LabelSource]] + s.Labels[metricclient.LabelSource] + "\x00" + s.Labels[metricclient.LabelNode] + "\x00" + s.String()
	}
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out, nil
}

func printSeries(w io.Writer, series []metricclient.Series) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tNODE\tMETRIC\tLABELS\tVALUE")
	for _, s := range series {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			switch k {
			case metricclient.LabelSandbox, metricclient.LabelSource, metricclient.LabelNode, metricclient.LabelCluster,
				// Long and in the raw text; the table stays readable.
				"container_id", "image_id":
				continue
			}
			ls = append(ls, k+"="+s.Labels[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(s.Labels[metricclient.LabelSource]), dash(s.Labels[metricclient.LabelNode]),
			s.Name, clipLabels(strings.Join(ls, ",")), strconv.FormatFloat(s.Value, 'g', 6, 64))
	}
	tw.Flush()
}

// clipLabels keeps the table's label column readable; --raw has them all.
func clipLabels(s string) string {
	const max = 90
	if s == "" {
		return "-"
	}
	if len(s) > max {
		return s[:max-3] + "..."
	}
	return s
}

// boring says which series the table leaves out unless --all: the Go
// runtime's and the process's own, histogram buckets and sums, the
// registry's storage, proxy and size figures, seatrial's metadata.
func boring(name string) bool {
	for _, p := range []string{"go_", "process_", "promhttp_", "registry_proxy_", "registry_storage_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range []string{"_bucket", "_sum", "_in_flight_requests", "_size_bytes_count"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return name == metricclient.SandboxMetadataMetric
}

// printRaw writes the exposition's lines of one sandbox, with the HELP
// and TYPE lines of the families that have any.
func printRaw(w io.Writer, text, id string) {
	want := `sandbox="` + id + `"`
	var meta []string // HELP/TYPE lines of the current family
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			if len(meta) > 0 && familyOf(meta[len(meta)-1]) != familyOf(line) {
				meta = meta[:0]
			}
			meta = append(meta, line)
			continue
		}
		if strings.Contains(line, want) {
			for _, m := range meta {
				fmt.Fprintln(w, m)
			}
			meta = meta[:0]
			fmt.Fprintln(w, line)
		}
	}
}

func familyOf(metaLine string) string {
	f := strings.Fields(metaLine)
	if len(f) < 3 {
		return ""
	}
	return f[2]
}
