// Package etcdstore keeps the bot's state in etcd, under one key prefix,
// so that several instances share it; one of them leads (see Elect) and
// every write is fenced on its leadership.
package etcdstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/wirebot/wirebot/bot"
)

// ErrNotLeader means a write was refused: this instance does not hold
// the leadership its writes are fenced on (any more).
var ErrNotLeader = errors.New("not the leader: write refused")

// Options reach an etcd cluster.
type Options struct {
	Endpoints []string
	Prefix    string
	Username  string
	Password  string
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// TLS, when set, is used for https:// endpoints.
	TLS *tls.Config
}

// maxOps is how many writes go in one etcd transaction: etcd refuses more
// than --max-txn-ops (128 by default).
const maxOps = 128

// pageSize is how many keys one range read fetches.
const pageSize = 256

// KV is a bot.KV on etcd. Updates from this process run one at a time
// (those that arrive meanwhile share the next commit); writes from other
// processes are kept out by the fence, so reads need no conflict checks.
type KV struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration

	fmu    sync.Mutex
	fence  *fence // nil: unfenced (no elections in use)
	fenced bool   // once set, a write without a fence is refused

	wmu   sync.Mutex // the one committer
	qmu   sync.Mutex
	queue []*call
}

type fence struct {
	key string
	rev int64
}

type call struct {
	fn   func(bot.Tx) error
	err  error
	done chan struct{}
}

// Dial connects to etcd; it fails when no endpoint answers within the
// timeout.
func Dial(ctx context.Context, o Options) (*KV, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		Username:    o.Username,
		Password:    o.Password,
		DialTimeout: o.Timeout,
		TLS:         o.TLS,
		Logger:      zap.NewNop(),
		// Notice a dead connection well within a lease.
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(o.Endpoints, ","), err)
	}
	kv := &KV{cli: cli, prefix: o.Prefix, timeout: o.Timeout}
	// Reach a member now rather than at the first command.
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := cli.Get(rctx, o.Prefix+"%ping", clientv3.WithSerializable()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("reach etcd %s: %w", strings.Join(o.Endpoints, ","), err)
	}
	return kv, nil
}

// Client is the etcd client, for elections.
func (kv *KV) Client() *clientv3.Client { return kv.cli }

// Prefix is where this store's keys live.
func (kv *KV) Prefix() string { return kv.prefix }

// Close disconnects.
func (kv *KV) Close() error { return kv.cli.Close() }

// SetFence makes every write from now on conditional on key still having
// create revision rev (a leadership key: it goes when its lease does).
// A zero key leaves writes with no fence to pass: all are refused.
func (kv *KV) SetFence(key string, rev int64) {
	kv.fmu.Lock()
	defer kv.fmu.Unlock()
	kv.fenced = true
	if key == "" {
		kv.fence = nil
		return
	}
	kv.fence = &fence{key: key, rev: rev}
}

func (kv *KV) currentFence() (*fence, bool) {
	kv.fmu.Lock()
	defer kv.fmu.Unlock()
	return kv.fence, kv.fenced
}

// bucketKey is where bucket's keys start: the prefix, the bucket name
// escaped (so it holds no '/'), '/'.
func (kv *KV) bucketKey(bucket string) string {
	return kv.prefix + url.QueryEscape(bucket) + "/"
}

// seqKey holds a bucket's sequence. QueryEscape never writes "%s", so
// no bucket can be named into it.
func (kv *KV) seqKey(bucket string) string {
	return kv.prefix + "%seq/" + url.QueryEscape(bucket)
}

func (kv *KV) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), kv.timeout)
}

// View runs fn on a consistent snapshot (one revision).
func (kv *KV) View(fn func(bot.Tx) error) error {
	return fn(&tx{kv: kv})
}

// Update runs fn and commits its writes in one fenced transaction (split
// in chunks of maxOps writes when there are more), with the Updates that
// arrived while the previous commit was under way.
func (kv *KV) Update(fn func(bot.Tx) error) error {
	c := &call{fn: fn, done: make(chan struct{})}
	kv.qmu.Lock()
	kv.queue = append(kv.queue, c)
	kv.qmu.Unlock()
	kv.wmu.Lock()
	kv.qmu.Lock()
	calls := kv.queue
	kv.queue = nil
	kv.qmu.Unlock()
	if len(calls) > 0 {
		kv.run(calls)
		for _, c := range calls {
			close(c.done)
		}
	}
	kv.wmu.Unlock()
	<-c.done
	return c.err
}

func (kv *KV) run(calls []*call) {
	batch := newWrites()
	var ok []*call
	for _, c := range calls {
		t := &tx{kv: kv, w: batch.child()}
		if err := c.fn(t); err != nil {
			c.err = err
			continue
		}
		batch.merge(t.w)
		ok = append(ok, c)
	}
	err := kv.commit(batch)
	for _, c := range ok {
		c.err = err
	}
}

func (kv *KV) commit(w *writes) error {
	if w.empty() {
		return nil
	}
	f, fenced := kv.currentFence()
	if fenced && f == nil {
		return ErrNotLeader
	}
	var ops []clientv3.Op
	for _, k := range w.sortedKeys() {
		if v := w.kv[k]; v == nil {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(v)))
		}
	}
	for b, n := range w.seq {
		ops = append(ops, clientv3.OpPut(kv.seqKey(b), strconv.FormatUint(n, 10)))
	}
	for len(ops) > 0 {
		n := min(len(ops), maxOps)
		ctx, cancel := kv.ctx()
		resp, err := kv.cli.Txn(ctx).If(cmps(f)...).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("etcd write: %w", err)
		}
		if !resp.Succeeded {
			return ErrNotLeader
		}
		ops = ops[n:]
	}
	return nil
}

func cmps(f *fence) []clientv3.Cmp {
	if f == nil {
		return nil
	}
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)}
}

// writes are a transaction's changes: full etcd key -> value (nil:
// deleted), and sequences by bucket.
type writes struct {
	parent *writes
	kv     map[string][]byte
	seq    map[string]uint64
}

func newWrites() *writes { return &writes{kv: map[string][]byte{}, seq: map[string]uint64{}} }

func (w *writes) child() *writes {
	c := newWrites()
	c.parent = w
	return c
}

func (w *writes) get(k string) ([]byte, bool) {
	for ; w != nil; w = w.parent {
		if v, ok := w.kv[k]; ok {
			return v, true
		}
	}
	return nil, false
}

func (w *writes) getSeq(b string) (uint64, bool) {
	for ; w != nil; w = w.parent {
		if n, ok := w.seq[b]; ok {
			return n, true
		}
	}
	return 0, false
}

// under lists the changed keys starting with p, in every layer.
func (w *writes) under(p string) map[string][]byte {
	out := map[string][]byte{}
	var layers []*writes
	for l := w; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	for i := len(layers) - 1; i >= 0; i-- {
		for k, v := range layers[i].kv {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

func (w *writes) merge(c *writes) {
	for k, v := range c.kv {
		w.kv[k] = v
	}
	for b, n := range c.seq {
		w.seq[b] = n
	}
}

func (w *writes) empty() bool { return len(w.kv) == 0 && len(w.seq) == 0 }

func (w *writes) sortedKeys() []string {
	keys := make([]string, 0, len(w.kv))
	for k := range w.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tx reads etcd at one revision (fixed by its first read) through its
// own writes; w is nil in a View.
type tx struct {
	kv  *KV
	w   *writes
	rev int64
}

func (t *tx) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	ctx, cancel := t.kv.ctx()
	defer cancel()
	resp, err := t.kv.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("etcd read: %w", err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

func (t *tx) Get(bucket, key string) ([]byte, error) {
	k := t.kv.bucketKey(bucket) + key
	if v, ok := t.w.get(k); ok {
		return bytes.Clone(v), nil
	}
	resp, err := t.get(k)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	v := resp.Kvs[0].Value
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (t *tx) write(bucket, key string, val []byte) error {
	if t.w == nil {
		return errors.New("write in a read-only transaction")
	}
	t.w.kv[t.kv.bucketKey(bucket)+key] = val
	return nil
}

func (t *tx) Put(bucket, key string, val []byte) error {
	if key == "" {
		return errors.New("empty key")
	}
	return t.write(bucket, key, append([]byte{}, val...))
}

func (t *tx) Delete(bucket, key string) error { return t.write(bucket, key, nil) }

func (t *tx) ForEach(bucket, prefix string, reverse bool, fn func(string, []byte) error) error {
	base := t.kv.bucketKey(bucket)
	start := base + prefix
	end := clientv3.GetPrefixRangeEnd(start)
	var changed map[string][]byte
	if t.w != nil {
		changed = t.w.under(start)
	}
	// Keys from etcd, page by page, merged with this transaction's writes.
	var pending []string // changed keys not yet given, in walk order
	for k := range changed {
		pending = append(pending, k)
	}
	slices.Sort(pending)
	if reverse {
		slices.Reverse(pending)
	}
	before := func(a, b string) bool {
		if reverse {
			return a > b
		}
		return a < b
	}
	emit := func(k string, v []byte) (bool, error) {
		if v == nil {
			return true, nil
		}
		if err := fn(strings.TrimPrefix(k, base), bytes.Clone(v)); err != nil {
			if errors.Is(err, bot.ErrStop) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}
	lo, hi := start, end
	for {
		order := clientv3.SortAscend
		if reverse {
			order = clientv3.SortDescend
		}
		resp, err := t.get(lo, clientv3.WithRange(hi), clientv3.WithLimit(pageSize), clientv3.WithSort(clientv3.SortByKey, order))
		if err != nil {
			return err
		}
		for _, e := range resp.Kvs {
			k := string(e.Key)
			for len(pending) > 0 && before(pending[0], k) {
				more, err := emit(pending[0], changed[pending[0]])
				if !more || err != nil {
					return err
				}
				pending = pending[1:]
			}
			v := e.Value
			if cv, ok := changed[k]; ok {
				v = cv
				pending = slices.DeleteFunc(pending, func(p string) bool { return p == k })
			} else if v == nil {
				v = []byte{}
			}
			more, err := emit(k, v)
			if !more || err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		last := string(resp.Kvs[len(resp.Kvs)-1].Key)
		if reverse {
			hi = last
		} else {
			lo = last + "\x00"
		}
	}
	for _, k := range pending {
		more, err := emit(k, changed[k])
		if !more || err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) NextSequence(bucket string) (uint64, error) {
	if t.w == nil {
		return 0, errors.New("write in a read-only transaction")
	}
	n, ok := t.w.getSeq(bucket)
	if !ok {
		resp, err := t.get(t.kv.seqKey(bucket))
		if err != nil {
			return 0, err
		}
		if len(resp.Kvs) > 0 {
			if n, err = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64); err != nil {
				return 0, fmt.Errorf("sequence of %s: %w", bucket, err)
			}
		}
	}
	n++
	t.w.seq[bucket] = n
	return n, nil
}
