// Package ticker runs a function at a fixed interval, in a goroutine of
// its own, until it is stopped.
package ticker

import (
	"sync"
	"time"
)

// Every calls f every interval until the returned stop is called. stop
// returns once f is not running and will not run again; calling it again
// does nothing.
func Every(interval time.Duration, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}
