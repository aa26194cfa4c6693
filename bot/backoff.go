package bot

import (
	"sync"
	"time"
)

// Backoff is how long an adapter waits before its next connection attempt:
// Min after the first failure, doubling after each further one up to Max,
// and back to Min once a connection has held for Hold. Up and Down may be
// called from different goroutines.
type Backoff struct {
	Min, Max, Hold time.Duration

	mu      sync.Mutex
	next    time.Duration
	upSince time.Time
}

// NewBackoff is the adapters' usual backoff: 1 s, doubling to 2 min,
// starting over after a connection has held for a minute.
func NewBackoff() *Backoff {
	return &Backoff{Min: time.Second, Max: 2 * time.Minute, Hold: time.Minute}
}

// Up records that a connection was made at now.
func (b *Backoff) Up(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.upSince = now
}

// Down records that a connection was lost, or an attempt failed, at now,
// and returns how long to wait before the next attempt.
func (b *Backoff) Down(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == 0 || (!b.upSince.IsZero() && now.Sub(b.upSince) >= b.Hold) {
		b.next = b.Min
	}
	b.upSince = time.Time{}
	wait := b.next
	b.next = min(b.next*2, b.Max)
	return wait
}
