package server

import (
	"sync"
	"time"
)

// Cache holds engine answers (inspect, stats, image) for a caller-given
// staleness, after the Datadog agent's container metrics provider (seed
// 002): the caller of Get says how old an answer it will accept, so one
// scrape right after another costs the engine nothing, and a scenario that
// needs fresh figures asks with a validity of 0. Errors are cached too, so a
// container that vanished is not asked about again within the validity.
type Cache struct {
	mu         sync.Mutex
	entries    map[string]cacheEntry
	gcInterval time.Duration
	lastGC     time.Time
}

type cacheEntry struct {
	at    time.Time
	value any
	err   error
}

// NewCache returns an empty cache that drops entries older than gcInterval
// when something is stored.
func NewCache(gcInterval time.Duration) *Cache {
	return &Cache{entries: map[string]cacheEntry{}, gcInterval: gcInterval}
}

// Get returns the value (and error) stored for key if it was stored no more
// than cacheValidity before currentTime. A validity of 0 never finds
// anything.
func (c *Cache) Get(currentTime time.Time, key string, cacheValidity time.Duration) (any, bool, error) {
	if cacheValidity <= 0 {
		return nil, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || currentTime.Sub(e.at) > cacheValidity {
		return nil, false, nil
	}
	return e.value, true, e.err
}

// Store records value and err for key as of currentTime.
func (c *Cache) Store(currentTime time.Time, key string, value any, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[key] = cacheEntry{at: currentTime, value: value, err: err}
	if currentTime.Sub(c.lastGC) < c.gcInterval {
		return
	}
	c.lastGC = currentTime
	for k, e := range c.entries {
		if currentTime.Sub(e.at) > c.gcInterval {
			delete(c.entries, k)
		}
	}
}

// Len returns the number of entries, for tests.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
