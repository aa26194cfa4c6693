package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Term is one spell of leadership. Its Context ends when the leadership
// is lost (the lease could not be renewed in time), or when Resign or the
// context Campaign was given ends it.
type Term struct {
	// Key and Rev are the leadership key and its create revision: what
	// writes are fenced on.
	Key string
	Rev int64

	ctx     context.Context
	cancel  context.CancelFunc
	session *concurrency.Session
	lease   clientv3.LeaseID
	kv      *KV
	done    chan struct{}
}

// Context ends with the term.
func (t *Term) Context() context.Context { return t.ctx }

// Resign gives the leadership up (so a standby need not wait for the
// lease to run out) and closes the session.
func (t *Term) Resign() {
	t.cancel()
	<-t.done
	t.session.Orphan()
	// Revoking the lease deletes the leadership key at once.
	ctx, cancel := t.kv.ctx()
	defer cancel()
	_, _ = t.kv.cli.Revoke(ctx, t.lease)
}

// electionKey is the election's prefix: "%l" is never an escaped bucket.
func (kv *KV) electionKey() string { return kv.prefix + "%leader" }

// Campaign blocks until this instance leads the election of the store's
// prefix, with name as its value, on a lease of ttl. It returns with an
// error when ctx ends or etcd fails; the caller tries again.
func (kv *KV) Campaign(ctx context.Context, name string, ttl time.Duration) (*Term, error) {
	secs := int64(math.Ceil(ttl.Seconds()))
	gctx, cancel := kv.ctx()
	lease, err := kv.cli.Grant(gctx, secs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	// Our own keep-alive stream, beside the session's, tells when the
	// lease was last renewed: the term must end before etcd can let the
	// lease go and a standby take over.
	tctx, tcancel := context.WithCancel(context.Background())
	acks, err := kv.cli.KeepAlive(tctx, lease.ID)
	if err != nil {
		tcancel()
		return nil, fmt.Errorf("etcd keep-alive: %w", err)
	}
	session, err := concurrency.NewSession(kv.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(tctx))
	if err != nil {
		tcancel()
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	t := &Term{session: session, lease: lease.ID, kv: kv, done: make(chan struct{})}
	t.ctx, t.cancel = tctx, tcancel
	go func() {
		defer close(t.done)
		defer tcancel()
		last := time.Now()
		// A third of the TTL: the client renews every ttl/3, so one late
		// renewal is tolerated, and what is left (up to ttl/3 with the
		// 100 ms tick) is time to stop intake and leave chat before the
		// lease can lapse. With ttl/5 the leader left Slack 2.4 s into a
		// 3 s TTL, too close under a loaded CI.
		margin := ttl / 3
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-session.Done():
				return
			case a, ok := <-acks:
				if !ok || a.TTL <= 0 {
					return
				}
				last = time.Now()
			case now := <-tick.C:
				if now.Sub(last) > ttl-margin {
					return
				}
			}
		}
	}()
	e := concurrency.NewElection(session, kv.electionKey())
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		select {
		case <-tctx.Done():
			ccancel()
		case <-cctx.Done():
		}
	}()
	if err := e.Campaign(cctx, name); err != nil {
		t.Resign()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("etcd election: %w", err)
	}
	t.Key, t.Rev = e.Key(), e.Rev()
	if tctx.Err() != nil {
		t.Resign()
		return nil, errors.New("etcd lease lost while campaigning")
	}
	return t, nil
}

// Leader is the value (name) of the current leader, "" when none leads.
func (kv *KV) Leader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, kv.timeout)
	defer cancel()
	resp, err := kv.cli.Get(ctx, kv.electionKey()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("etcd leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
