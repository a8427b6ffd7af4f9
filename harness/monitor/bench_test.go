package monitor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// BenchmarkWatcherDelay measures the delay between the time the engine
// stamps on an event and its delivery to a Watcher subscriber, over the
// start and die events of a labelled container started and killed b.N
// times. It reports the median and the 90th percentile.
//
//	go test ./harness/monitor -run '^$' -bench WatcherDelay -benchtime 50x
func BenchmarkWatcherDelay(b *testing.B) {
	cli := connect(b)
	sb := newSandboxID(b)
	img := nodeImage(b, cli)
	w := startWatcher(b, cli, sb, nil)
	sub := w.Subscribe()
	id, _ := runContainer(b, cli, nodeSpec{sandbox: sb, node: "bench", image: img, sleeper: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// next returns the delay of the next event of the given kind for the
	// container.
	next := func(kind EventKind) time.Duration {
		for {
			select {
			case ev := <-sub:
				if ev.Kind == kind && ev.ContainerID == id {
					return time.Since(ev.Time)
				}
			case <-ctx.Done():
				b.Fatalf("no %s event", kind)
			}
		}
	}
	next(EventContainerStart)
	var delays []time.Duration
	b.ResetTimer()
	for range b.N {
		if _, err := cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			b.Fatal(err)
		}
		delays = append(delays, next(EventContainerDie))
		if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			b.Fatal(err)
		}
		delays = append(delays, next(EventContainerStart))
	}
	b.StopTimer()
	slices.Sort(delays)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(delays[len(delays)/2]), "ms/event-delay-p50")
	b.ReportMetric(ms(delays[len(delays)*9/10]), "ms/event-delay-p90")
	b.ReportMetric(0, "ns/op")
}
