package scenarios

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/internal/behaviour"
	"github.com/seatrial-dev/seatrial/metricclient"
)

// suite is what every scenario shares: one engine client, one image set,
// one metrics server for the whole run (spawned in TestMain, as gVisor's
// metric tests do), and the profiles under test. It is built once in
// TestMain and read-only afterwards.
type suite struct {
	cli      *client.Client
	images   *images.Set
	metrics  *metricclient.MetricClient
	profiles []harness.Profile
	// absent says why a profile's scenarios are skipped: its updater
	// image is not on the engine and may not be pulled.
	absent    map[string]string
	artifacts string // root for failure artifacts; "" means per-test temp dir
	// behaviourDir is where each world writes its behaviour record
	// (behaviour.DirEnv; "" writes none), and worlds counts each test
	// run's worlds (a *atomic.Int32 per testing.TB) to number them.
	behaviourDir string
	worlds       sync.Map
	// slots bounds the worlds alive at once on this host (hostSlots);
	// holding has the tests that hold one (holdSlot).
	slots    hostSlots
	holding  sync.Map
	tmp      string // holds the metrics server's socket
	cleanups []func()
}

// the suite, set once by TestMain before any test runs.
var s *suite

func TestMain(m *testing.M) {
	flag.Parse()
	// Listing the scenarios (go test -list, as `seatrial run` does to
	// resolve the names it is given) needs no engine, images or metrics
	// server.
	// Under -short every scenario skips (they all need an engine), so
	// neither does the suite's setup run.
	if flag.Lookup("test.list").Value.String() != "" || testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := setParallel(); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		return 1
	}
	// testcontainers-go's settings are the test binary's: Ryuk off, and its
	// process-wide lines dropped (each sandbox's go to its test's log).
	if err := harness.SetupTestcontainers(io.Discard); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var err error
	s, err = setup(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios: setup:", err)
		return 1
	}
	defer s.teardown()
	return m.Run()
}

func setup(ctx context.Context) (_ *suite, err error) {
	st := &suite{artifacts: os.Getenv("SEATRIAL_ARTIFACTS"), behaviourDir: os.Getenv(behaviour.DirEnv)}
	defer func() {
		if err != nil {
			st.teardown()
		}
	}()
	if st.profiles, err = profilesUnderTest(); err != nil {
		return nil, err
	}
	if st.cli, err = engine.Connect(ctx); err != nil {
		return nil, err
	}
	if st.slots, err = newHostSlots(harness.StateRoot()); err != nil {
		return nil, err
	}
	removed, err := harness.Prune(ctx, st.cli)
	for _, r := range removed {
		fmt.Fprintf(os.Stderr, "scenarios: pruned the leftovers of %s\n", r)
	}
	if err != nil {
		return nil, fmt.Errorf("prune leftovers of earlier runs: %w", err)
	}
	if st.images, err = images.Ensure(ctx, st.cli, images.WithProgress(os.Stderr)); err != nil {
		return nil, err
	}
	// The updater under test is the one image that may be pulled, and
	// only when the user asks; otherwise its scenarios are skipped.
	pull := os.Getenv(harness.PullUpdaterEnv) == "1"
	st.absent = map[string]string{}
	for _, p := range st.profiles {
		err := harness.EnsureUpdaterImage(ctx, st.cli, p, pull)
		if errors.Is(err, harness.ErrUpdaterImageAbsent) {
			st.absent[p.Name] = err.Error()
		} else if err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "seatrial-scenarios-")
	if err != nil {
		return nil, err
	}
	st.tmp = dir
	// The seatrial binary of this checkout (the test runs in the module).
	bin, cleanup, err := metricclient.BuildServerBinary(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("build the metrics server: %w", err)
	}
	st.cleanups = append(st.cleanups, cleanup)
	// A unix socket in our temp dir: no port to clash with anything.
	st.metrics = metricclient.NewMetricClient(filepath.Join(dir, "metrics.sock"),
		metricclient.WithServerBinary(bin), metricclient.WithServerOutput(os.Stderr, os.Stderr))
	if err := st.metrics.SpawnServer(ctx); err != nil {
		return nil, fmt.Errorf("spawn the metrics server: %w", err)
	}
	return st, nil
}

func (st *suite) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if st.metrics != nil {
		if err := st.metrics.ShutdownServer(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "scenarios: stop the metrics server:", err)
		}
		st.metrics.Close()
	}
	for _, c := range st.cleanups {
		c()
	}
	if st.tmp != "" {
		os.RemoveAll(st.tmp)
	}
	if st.cli != nil {
		st.cli.Close()
	}
}

// profilesUnderTest reads SEATRIAL_PROFILES and SEATRIAL_UPDATER_IMAGE.
func profilesUnderTest() ([]harness.Profile, error) {
	names := os.Getenv("SEATRIAL_PROFILES")
	if names == "" {
		names = harness.DefaultProfile + ",reference"
	}
	var out []harness.Profile
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		p, err := harness.ProfileByName(n)
		if err != nil {
			return nil, fmt.Errorf("SEATRIAL_PROFILES: %w", err)
		}
		out = append(out, p)
	}
	if p, ok, err := harness.ProfileFromEnv(os.Getenv); err != nil {
		return nil, err
	} else if ok {
		out = append(out, p)
	}
	return out, nil
}

// setParallel runs two worlds per core at once, unless -parallel was
// given. A world spends much of its time waiting (a node's units coming
// up, an updater's stop timeouts), so one per core leaves the machine
// idle. Measured on 2 cores, the whole suite: 271 s at 2 (CPU 70% busy),
// 215 s at 4 (91%). How many worlds live at once on the host is bounded
// apart, by its inotify limit (hostSlots).
func setParallel() error {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if set {
		return nil
	}
	return flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
}
