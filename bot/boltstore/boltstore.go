// Package boltstore keeps the bot's state in one bbolt file: the default
// store, for one bot on one machine.
package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebot/wirebot/bot"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// lockWait is how long Open waits for another process's lock on the file.
const lockWait = 2 * time.Second

// Writes from one run at a time should not wait for company long.
const (
	maxBatchDelay = 2 * time.Millisecond
	maxBatchSize  = 1000
)

// KV is a bot.KV on a bbolt file. Every Update is fsynced before it
// returns; concurrent Updates share a commit.
type KV struct {
	db   *bolt.DB
	path string

	mu      sync.Mutex
	pending *batch

	// broken is set once bbolt has met a damaged page. From then on every
	// call fails at once with the advice: a panic inside bbolt can leave
	// its locks held (its own rollback may panic again on the same page),
	// so touching the file again could hang, and writing more into a
	// damaged file could spread the damage.
	broken atomic.Bool
}

// errBroken is what every call answers once the file was found damaged.
func (kv *KV) errBroken() error {
	return fmt.Errorf("data_file %s %w (found damaged earlier): %s", kv.path, bot.ErrCorrupt, bot.CorruptAdvice)
}

// Open opens (creating, mode 0600) the data file as the bot's store. It
// fails with bot.ErrLocked within a few seconds when another wirebot
// holds the file, and with bot.ErrCorrupt when the file is damaged.
func Open(path string, auditKeep int) (*bot.Store, error) {
	kv, err := OpenKV(path)
	if err != nil {
		return nil, err
	}
	s, err := bot.NewStore(kv, auditKeep)
	if err != nil {
		kv.Close()
		return nil, fmt.Errorf("prepare data_file %s: %w: %s", path, err, bot.CorruptAdvice)
	}
	return s, nil
}

// OpenKV opens the file and checks its consistency.
func OpenKV(path string) (*KV, error) {
	db, err := openBolt(path)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open data_file %s: %w (is another wirebot running on it?)", path, bot.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open data_file %s: %w: %s", path, err, bot.CorruptAdvice)
	}
	kv := &KV{db: db, path: path}
	if err := kv.check(); err != nil {
		db.Close()
		return nil, fmt.Errorf("check data_file %s: %w: %s", path, err, bot.CorruptAdvice)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict data_file %s: %w", path, err)
	}
	return kv, nil
}

// openBolt opens the file, turning bbolt's panics on a damaged file
// ("invalid freelist page") into bot.ErrCorrupt.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w (%v)", bot.ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if err != nil && !errors.Is(err, bolterrors.ErrTimeout) {
		err = fmt.Errorf("%w (%w)", bot.ErrCorrupt, err)
	}
	return db, err
}

// check walks every page (bbolt's Tx.Check) and reports the first problem.
func (kv *KV) check() error {
	return kv.viewBolt(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("%w (%s)", bot.ErrCorrupt, strings.TrimPrefix(first.Error(), "panic: "))
		}
		return nil
	})
}

// recovered turns a panic from bbolt, which it raises on a damaged page,
// into an error of the call that met it.
func (kv *KV) recovered(err *error) {
	if r := recover(); r != nil {
		kv.broken.Store(true)
		*err = fmt.Errorf("data_file %s %w (%v): %s", kv.path, bot.ErrCorrupt, r, bot.CorruptAdvice)
	}
}

// PrepareBuckets creates the top-level buckets, so that a file written
// by this version reads the same as one written before.
func (kv *KV) PrepareBuckets(names []string) (err error) {
	if kv.broken.Load() {
		return kv.errBroken()
	}
	defer kv.recovered(&err)
	return kv.db.Update(func(tx *bolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// View runs fn in a read-only transaction.
func (kv *KV) View(fn func(bot.Tx) error) error {
	return kv.viewBolt(func(btx *bolt.Tx) error { return fn(&tx{btx: btx}) })
}

func (kv *KV) viewBolt(fn func(*bolt.Tx) error) (err error) {
	if kv.broken.Load() {
		return kv.errBroken()
	}
	defer kv.recovered(&err)
	return kv.view(fn)
}

// view runs fn in bbolt's View; a panic inside fn (a damaged page met by
// a read) marks the store broken like one inside bbolt itself.
func (kv *KV) view(fn func(*bolt.Tx) error) error {
	return kv.db.View(func(btx *bolt.Tx) error {
		err := safelyBolt(fn, btx)
		if errors.Is(err, bot.ErrCorrupt) {
			kv.broken.Store(true)
		}
		return err
	})
}

// Close closes the file. A store found damaged is not closed through
// bbolt, whose locks a panic may have left held: the process's exit
// releases the file.
func (kv *KV) Close() error {
	if kv.broken.Load() {
		return kv.errBroken()
	}
	return kv.db.Close()
}

// A batch is Updates that arrived together and commit together. The
// first caller runs it, in its own goroutine, so a panic from bbolt
// reaches a recover (bbolt's DB.Batch may commit on a timer goroutine).
type batch struct {
	calls []*call
	full  chan struct{}
	done  chan struct{}
}

type call struct {
	fn  func(bot.Tx) error
	err error
}

// Update runs fn in a read-write transaction, in one commit with the
// Updates that arrive within a couple of milliseconds.
func (kv *KV) Update(fn func(bot.Tx) error) error {
	c := &call{fn: fn}
	kv.mu.Lock()
	b := kv.pending
	lead := b == nil
	if lead {
		b = &batch{full: make(chan struct{}), done: make(chan struct{})}
		kv.pending = b
	}
	b.calls = append(b.calls, c)
	if len(b.calls) >= maxBatchSize {
		kv.pending = nil
		close(b.full)
	}
	kv.mu.Unlock()
	if !lead {
		<-b.done
		return c.err
	}
	t := time.NewTimer(maxBatchDelay)
	select {
	case <-t.C:
	case <-b.full:
		t.Stop()
	}
	kv.mu.Lock()
	if kv.pending == b {
		kv.pending = nil
	}
	kv.mu.Unlock()
	kv.run(b.calls)
	close(b.done)
	return c.err
}

// run commits calls in one transaction. A call whose fn fails is taken
// out and run alone afterwards, so its error is its own and the others'
// writes are not lost with it.
func (kv *KV) run(calls []*call) {
	var solo []*call
	for len(calls) > 0 {
		failed := -1
		err := kv.commit(func(btx *bolt.Tx) error {
			t := &tx{btx: btx}
			for i, c := range calls {
				if err := safely(c.fn, t); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			solo = append(solo, calls[failed])
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.err = err
		}
		break
	}
	for _, c := range solo {
		c.err = kv.commit(func(btx *bolt.Tx) error { return safely(c.fn, &tx{btx: btx}) })
	}
}

// commit runs fn in one bbolt read-write transaction.
func (kv *KV) commit(fn func(*bolt.Tx) error) (err error) {
	if kv.broken.Load() {
		return kv.errBroken()
	}
	defer kv.recovered(&err)
	err = kv.db.Update(fn)
	if errors.Is(err, bot.ErrCorrupt) {
		kv.broken.Store(true)
	}
	return err
}

func safelyBolt(fn func(*bolt.Tx) error, btx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v)", bot.ErrCorrupt, r)
		}
	}()
	return fn(btx)
}

func safely(fn func(bot.Tx) error, t bot.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v)", bot.ErrCorrupt, r)
		}
	}()
	return fn(t)
}

// tx is a bbolt transaction seen as a bot.Tx. A bucket "a/b" is bucket b
// nested in a.
type tx struct {
	btx *bolt.Tx
}

func (t *tx) bucket(name string, create bool) (*bolt.Bucket, error) {
	top, sub, nested := strings.Cut(name, "/")
	var b *bolt.Bucket
	var err error
	if create {
		if b, err = t.btx.CreateBucketIfNotExists([]byte(top)); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", top, err)
		}
	} else if b = t.btx.Bucket([]byte(top)); b == nil {
		return nil, nil
	}
	if !nested {
		return b, nil
	}
	if create {
		return b.CreateBucketIfNotExists([]byte(sub))
	}
	return b.Bucket([]byte(sub)), nil
}

func (t *tx) Get(bucket, key string) ([]byte, error) {
	b, err := t.bucket(bucket, false)
	if b == nil || err != nil {
		return nil, err
	}
	return bytes.Clone(b.Get([]byte(key))), nil // bbolt's value lives only as long as the transaction
}

func (t *tx) Put(bucket, key string, val []byte) error {
	if key == "" {
		return errors.New("empty key")
	}
	b, err := t.bucket(bucket, true)
	if err != nil {
		return err
	}
	if val == nil {
		val = []byte{}
	}
	return b.Put([]byte(key), val)
}

func (t *tx) Delete(bucket, key string) error {
	b, err := t.bucket(bucket, false)
	if b == nil || err != nil {
		return err
	}
	return b.Delete([]byte(key))
}

func (t *tx) ForEach(bucket, prefix string, reverse bool, fn func(string, []byte) error) error {
	b, err := t.bucket(bucket, false)
	if b == nil || err != nil {
		return err
	}
	c := b.Cursor()
	p := []byte(prefix)
	var k, v []byte
	if !reverse {
		k, v = c.Seek(p)
	} else {
		k, v = lastWithPrefix(c, p)
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = step(c, reverse) {
		if v == nil && b.Bucket(k) != nil {
			continue // a nested bucket, not a key
		}
		if err := fn(string(k), bytes.Clone(v)); err != nil {
			if errors.Is(err, bot.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func step(c *bolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

// lastWithPrefix puts c on the last key starting with p.
func lastWithPrefix(c *bolt.Cursor, p []byte) ([]byte, []byte) {
	if len(p) == 0 {
		return c.Last()
	}
	// The first key past every key with prefix p, then one back.
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			end = end[:i+1]
			if k, _ := c.Seek(end); k == nil {
				return c.Last()
			}
			return c.Prev()
		}
	}
	return c.Last()
}

func (t *tx) NextSequence(bucket string) (uint64, error) {
	b, err := t.bucket(bucket, true)
	if err != nil {
		return 0, err
	}
	// A bucket given sequence-numbered keys is appended to (the audit
	// log): pages split at bbolt's default half-full were left half
	// empty for good, twice the file and twice the pages mapped.
	b.FillPercent = appendFill
	return b.NextSequence()
}

// appendFill is how full bbolt packs the pages of an append-only bucket.
const appendFill = 0.9
