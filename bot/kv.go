package bot

import "errors"

// KV is the transactional key/value storage a Store is built on: a bbolt
// file (bot/boltstore), etcd (bot/etcdstore), or memory (NewMemKV).
//
// Keys live in buckets, named by strings such as "facts" or "kv/global";
// a bucket is made by its first Put. Values handed out are copies, valid
// after the transaction.
type KV interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and returns once its
	// writes are committed (durable), or with the error that kept them
	// from it; an error from fn discards them. Concurrent Updates may
	// share one commit, so fn may run more than once: it must set what it
	// reports afresh on each run.
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is one transaction of a KV. It is not safe for concurrent use.
type Tx interface {
	// Get returns a copy of the value of key, or nil when there is none.
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, val []byte) error
	// Delete removes key; a missing key is no error.
	Delete(bucket, key string) error
	// ForEach calls fn for every key of bucket that starts with prefix, in
	// byte order (descending when reverse is set), with a copy of its
	// value. fn returning ErrStop ends the walk without error. fn must not
	// write to bucket.
	ForEach(bucket, prefix string, reverse bool, fn func(key string, val []byte) error) error
	// NextSequence returns the next number of the bucket's own counter,
	// starting at 1.
	NextSequence(bucket string) (uint64, error)
}

// ErrStop ends a Tx.ForEach early.
var ErrStop = errors.New("stop")

// BucketPreparer is a KV that wants to know every top-level bucket at
// open (bbolt creates them up front).
type BucketPreparer interface {
	PrepareBuckets(names []string) error
}
