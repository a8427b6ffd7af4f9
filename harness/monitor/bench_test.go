package monitor

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/labels"
)

// BenchmarkWatcherDelay measures the delay between the time the engine
// stamps on an event and its delivery to a Watcher subscriber, over the
// start and die events of a labelled container started and killed b.N
// times. It reports the median and the 90th percentile, and the median
// delay of the same events on a bare client.Events stream beside it (the
// engine's and the client's own share of the delay).
//
//	go test ./harness/monitor -run '^$' -bench WatcherDelay -benchtime 50x
func BenchmarkWatcherDelay(b *testing.B) {
	cli := connect(b)
	sb := newSandboxID(b)
	img := nodeImage(b, cli)
	w := startWatcher(b, cli, sb, nil)
	sub := w.Subscribe()

	rawCtx, rawCancel := context.WithCancel(b.Context())
	defer rawCancel()
	raw := cli.Events(rawCtx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("label", labels.Sandbox+"="+sb).Add("event", "start", "die")})
	var rawMu sync.Mutex
	var rawDelays []time.Duration
	go func() {
		for {
			select {
			case m := <-raw.Messages:
				d := time.Since(time.Unix(0, m.TimeNano))
				rawMu.Lock()
				rawDelays = append(rawDelays, d)
				rawMu.Unlock()
			case <-raw.Err:
				return
			}
		}
	}()
	id, _ := runContainer(b, cli, nodeSpec{sandbox: sb, node: "bench", image: img, sleeper: true})
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()

	// A reader takes every event as it comes, as a subscriber that is
	// waiting would, and stamps its delay; the loop below only waits for
	// it. (Timing inside the loop would count the time an event waits in
	// the buffer while ContainerKill is still returning.)
	type arrival struct {
		kind  EventKind
		delay time.Duration
	}
	arrivals := make(chan arrival, 16)
	go func() {
		for ev := range sub {
			if ev.ContainerID == id && (ev.Kind == EventContainerStart || ev.Kind == EventContainerDie) {
				arrivals <- arrival{ev.Kind, time.Since(ev.Time)}
			}
		}
	}()
	next := func(kind EventKind) time.Duration {
		for {
			select {
			case a := <-arrivals:
				if a.kind == kind {
					return a.delay
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
	rawMu.Lock()
	slices.Sort(rawDelays)
	if len(rawDelays) > 0 {
		b.ReportMetric(ms(rawDelays[len(rawDelays)/2]), "ms/raw-client-delay-p50")
	}
	rawMu.Unlock()
	b.ReportMetric(0, "ns/op")
}
