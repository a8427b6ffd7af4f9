package ticker

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestEveryStops: f runs while ticking, and never after stop returns.
func TestEveryStops(t *testing.T) {
	var n atomic.Int64
	stop := Every(time.Millisecond, func() { n.Add(1) })
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	stop()
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	if got := n.Load(); got != after {
		t.Fatalf("f ran %d more times after stop returned", got-after)
	}
	stop() // a second stop is harmless
}
