package bot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Script key/values live in kv, one nested bucket per
// namespace (a script's file name, or GlobalNamespace).
var (
	bucketKV        = []byte("kv")
	bucketFacts     = []byte("facts")
	bucketSchedules = []byte("schedules")
	bucketApprovals = []byte("approvals")
	bucketGroups    = []byte("groups")
	bucketAudit     = []byte("audit")
	allBuckets      = [][]byte{bucketKV, bucketFacts, bucketSchedules, bucketApprovals, bucketGroups, bucketAudit}
)

// GlobalNamespace is the key/value namespace every script shares.
const GlobalNamespace = "global"

// lockWait is how long Open waits for another process's lock on the file.
const lockWait = 2 * time.Second

// ErrLocked means another process holds the data file.
var ErrLocked = errors.New("locked by another process")

// ErrNotFound means a key is not in the store.
var ErrNotFound = errors.New("not found")

// ErrCorrupt means the data file is damaged: bbolt cannot open it, it
// fails its consistency check, or a read or write hit a bad page.
var ErrCorrupt = errors.New("damaged")

// corruptAdvice is what to do about a damaged data file.
const corruptAdvice = "restore it from a backup, or move it aside to start with an empty store"

// Store is the bot's state in one bbolt file. Every write is committed
// (fsync) before its method returns; writes made at the same time share a
// commit.
type Store struct {
	db   *bolt.DB
	keep int
}

// OpenStore opens (creating, mode 0600) the data file. It fails with
// ErrLocked within a few seconds when another wirebot holds the file.
func OpenStore(path string, auditKeep int) (*Store, error) {
	db, err := openBolt(path)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open data_file %s: %w (is another wirebot running on it?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open data_file %s: %w: %s", path, err, corruptAdvice)
	}
	s := &Store{db: db, keep: auditKeep}
	if err := s.check(); err != nil {
		db.Close()
		return nil, fmt.Errorf("check data_file %s: %w: %s", path, err, corruptAdvice)
	}
	// Writes from one run at a time should not wait for company long.
	db.MaxBatchDelay = 2 * time.Millisecond
	err = s.update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare data_file %s: %w: %s", path, err, corruptAdvice)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict data_file %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the file, turning bbolt's panics on a damaged file
// ("invalid freelist page") into ErrCorrupt.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w (%v)", ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if err != nil && !errors.Is(err, bolterrors.ErrTimeout) {
		err = fmt.Errorf("%w (%w)", ErrCorrupt, err)
	}
	return db, err
}

// check walks every page (bbolt's Tx.Check) and reports the first problem.
func (s *Store) check() error {
	return s.view(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("%w (%s)", ErrCorrupt, strings.TrimPrefix(first.Error(), "panic: "))
		}
		return nil
	})
}

// recovered turns a panic from bbolt, which it raises on a damaged page,
// into an error of the store call that met it.
func recovered(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("data_file %w (%v): %s", ErrCorrupt, r, corruptAdvice)
	}
}

func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer recovered(&err)
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer recovered(&err)
	return s.db.Update(fn)
}

func (s *Store) batch(fn func(*bolt.Tx) error) (err error) {
	defer recovered(&err)
	return s.db.Batch(fn)
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// nsBucket returns the nested bucket of a namespace, creating it when
// create is set; nil when it does not exist.
func nsBucket(tx *bolt.Tx, ns string, create bool) (*bolt.Bucket, error) {
	kv := tx.Bucket(bucketKV)
	if create {
		return kv.CreateBucketIfNotExists([]byte(ns))
	}
	return kv.Bucket([]byte(ns)), nil
}

// Get returns the value of key in namespace ns, or ErrNotFound.
func (s *Store) Get(ns, key string) (string, error) {
	var val string
	err := s.view(func(tx *bolt.Tx) error {
		b, _ := nsBucket(tx, ns, false)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		val = string(v) // copied: v is valid only inside the transaction
		return nil
	})
	return val, err
}

// Set stores key=val in namespace ns.
func (s *Store) Set(ns, key, val string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return s.batch(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ns, true)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(val))
	})
}

// ErrNotNumber means Incr found a value that is not an integer.
var ErrNotNumber = errors.New("value is not an integer")

// Incr adds delta to the integer value of key (a missing key counts as 0)
// and returns the new value, in one transaction: concurrent runs never lose
// a count.
func (s *Store) Incr(ns, key string, delta int64) (int64, error) {
	if key == "" {
		return 0, errors.New("empty key")
	}
	var n int64
	err := s.batch(func(tx *bolt.Tx) error {
		b, err := nsBucket(tx, ns, true)
		if err != nil {
			return err
		}
		n = 0
		if v := b.Get([]byte(key)); v != nil {
			if n, err = strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64); err != nil {
				return fmt.Errorf("%s=%q: %w", key, v, ErrNotNumber)
			}
		}
		n += delta
		return b.Put([]byte(key), []byte(strconv.FormatInt(n, 10)))
	})
	return n, err
}

// Delete removes key from namespace ns, reporting whether it was there.
func (s *Store) Delete(ns, key string) (bool, error) {
	found := false
	err := s.batch(func(tx *bolt.Tx) error {
		found = false // Batch may run fn again
		b, _ := nsBucket(tx, ns, false)
		if b == nil || b.Get([]byte(key)) == nil {
			return nil
		}
		found = true
		return b.Delete([]byte(key))
	})
	return found, err
}

// Keys lists the keys of namespace ns that start with prefix, sorted.
func (s *Store) Keys(ns, prefix string) ([]string, error) {
	var keys []string
	err := s.view(func(tx *bolt.Tx) error {
		b, _ := nsBucket(tx, ns, false)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		return nil
	})
	return keys, err
}

// Fact is something the bot was told to remember.
type Fact struct {
	Key   string    `json:"key"`
	Value string    `json:"value"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

func factKey(k string) []byte { return []byte(strings.ToLower(strings.Join(strings.Fields(k), " "))) }

// Remember stores a fact; keys are case-insensitive.
func (s *Store) Remember(f Fact) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFacts).Put(factKey(f.Key), data)
	})
}

// Fact returns the fact stored under key, or ErrNotFound.
func (s *Store) Fact(key string) (Fact, error) {
	var f Fact
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketFacts).Get(factKey(key))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &f)
	})
	return f, err
}

// Forget removes a fact, reporting whether it was there.
func (s *Store) Forget(key string) (bool, error) {
	found := false
	err := s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFacts)
		found = b.Get(factKey(key)) != nil
		if !found {
			return nil
		}
		return b.Delete(factKey(key))
	})
	return found, err
}

// Facts lists every fact, by key.
func (s *Store) Facts() ([]Fact, error) {
	var out []Fact
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFacts).ForEach(func(_, v []byte) error {
			var f Fact
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			out = append(out, f)
			return nil
		})
	})
	return out, err
}

// AuditEntry is one run in the audit log.
type AuditEntry struct {
	ID       uint64        `json:"id"`
	Time     time.Time     `json:"time"`
	User     string        `json:"user"`
	UserID   string        `json:"user_id"`
	Channel  string        `json:"channel"`
	Trigger  string        `json:"trigger"`
	Command  string        `json:"command"` // the script or built-in run
	Text     string        `json:"text"`    // the command text that asked for it
	Args     []string      `json:"args"`
	Approver string        `json:"approver,omitempty"`
	Outcome  string        `json:"outcome"` // ok, failed, timeout, refused, error
	Exit     int           `json:"exit"`
	Duration time.Duration `json:"duration"`
	Chain    string        `json:"chain,omitempty"`
	// ApprovalID ties the entry to an approval request.
	ApprovalID string `json:"approval_id,omitempty"`
	// Note is free text: a denial's reason.
	Note string `json:"note,omitempty"`
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// AppendAudit writes entries in one commit and drops the oldest beyond the
// retention limit.
func (s *Store) AppendAudit(entries ...AuditEntry) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		for i := range entries {
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			entries[i].ID = id
			data, err := json.Marshal(entries[i])
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(id), data); err != nil {
				return err
			}
		}
		if s.keep <= 0 {
			return nil
		}
		cutoff := int64(b.Sequence()) - int64(s.keep)
		if cutoff <= 0 {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= uint64(cutoff); k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// History returns up to n audit entries, newest first, that keep accepts
// (nil keeps all).
func (s *Store) History(n int, keep func(*AuditEntry) bool) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if keep == nil || keep(&e) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// AuditCount is how many entries the audit log holds.
func (s *Store) AuditCount() int {
	n := 0
	_ = s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAudit).Stats().KeyN
		return nil
	})
	return n
}

// putJSON stores v under key in bucket.
func (s *Store) putJSON(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), data)
	})
}

// takeJSON loads key of bucket into v and deletes it in one transaction,
// so that of two callers racing for the same record only one gets it.
// ok decides, from the record, whether to take it.
func (s *Store) takeJSON(bucket []byte, key string, v any, ok func() error) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		data := b.Get([]byte(key))
		if data == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
		if err := ok(); err != nil {
			return err
		}
		return b.Delete([]byte(key))
	})
}

func (s *Store) deleteKey(bucket []byte, key string) (bool, error) {
	found := false
	err := s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		found = b.Get([]byte(key)) != nil
		if !found {
			return nil
		}
		return b.Delete([]byte(key))
	})
	return found, err
}

// eachJSON calls fn with every record of bucket, by key. The data is a
// copy, valid after the transaction.
func (s *Store) eachJSON(bucket []byte, fn func(key string, data []byte) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			return fn(string(k), bytes.Clone(v))
		})
	})
}
