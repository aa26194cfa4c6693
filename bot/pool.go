package bot

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Pool bounds how many runs go at once. Runs beyond the bound wait in a
// first-in, first-out queue; none is dropped.
type Pool struct {
	sem     *semaphore.Weighted
	running atomic.Int64
	waiting atomic.Int64
}

// NewPool makes a pool of n slots.
func NewPool(n int) *Pool {
	return &Pool{sem: semaphore.NewWeighted(int64(max(n, 1)))}
}

// Acquire waits for a slot or for ctx to be done.
func (p *Pool) Acquire(ctx context.Context) error {
	p.waiting.Add(1)
	err := p.sem.Acquire(ctx, 1)
	p.waiting.Add(-1)
	if err != nil {
		return err
	}
	p.running.Add(1)
	return nil
}

// Release frees a slot taken by Acquire.
func (p *Pool) Release() {
	p.running.Add(-1)
	p.sem.Release(1)
}

// Stats reports runs going and runs waiting.
func (p *Pool) Stats() (running, queued int) {
	return int(p.running.Load()), int(p.waiting.Load())
}
