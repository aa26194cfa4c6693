package bot

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bucket names. Script key/values live in kv, one nested bucket per
// namespace (a script's file name, or GlobalNamespace): "kv/NAME".
var (
	bucketKV        = []byte("kv")
	bucketFacts     = []byte("facts")
	bucketSchedules = []byte("schedules")
	bucketApprovals = []byte("approvals")
	bucketGroups    = []byte("groups")
	bucketAudit     = []byte("audit")
	bucketSilences  = []byte("silences")
	bucketLinks     = []byte("links")
	allBuckets      = [][]byte{bucketKV, bucketFacts, bucketSchedules, bucketApprovals, bucketGroups, bucketAudit, bucketSilences, bucketRuns, bucketTicks, bucketLinks}
)

// GlobalNamespace is the key/value namespace every script shares.
const GlobalNamespace = "global"

// ErrLocked means another process holds the data file.
var ErrLocked = errors.New("locked by another process")

// ErrNotFound means a key is not in the store.
var ErrNotFound = errors.New("not found")

// ErrCorrupt means the stored data is damaged: the file cannot be opened,
// fails its consistency check, or a read or write hit a bad page.
var ErrCorrupt = errors.New("damaged")

// CorruptAdvice is what to do about a damaged data file.
const CorruptAdvice = "restore it from a backup, or move it aside to start with an empty store"

var (
	errEmptyKey = errors.New("empty key")
	errReadOnly = errors.New("write in a read-only transaction")
)

// Store is the bot's state, on a KV. Every write is committed before its
// method returns; writes made at the same time may share a commit.
type Store struct {
	kv   KV
	keep int
}

// NewStore makes a Store on kv that keeps the newest auditKeep audit
// entries (0: all).
func NewStore(kv KV, auditKeep int) (*Store, error) {
	if p, ok := kv.(BucketPreparer); ok {
		names := make([]string, len(allBuckets))
		for i, b := range allBuckets {
			names[i] = string(b)
		}
		if err := p.PrepareBuckets(names); err != nil {
			return nil, err
		}
	}
	return &Store{kv: kv, keep: auditKeep}, nil
}

// KV returns the storage under the store.
func (s *Store) KV() KV { return s.kv }

// Close closes the storage.
func (s *Store) Close() error { return s.kv.Close() }

func (s *Store) view(fn func(Tx) error) error   { return s.kv.View(fn) }
func (s *Store) update(fn func(Tx) error) error { return s.kv.Update(fn) }

func nsBucket(ns string) string { return string(bucketKV) + "/" + ns }

// Get returns the value of key in namespace ns, or ErrNotFound.
func (s *Store) Get(ns, key string) (string, error) {
	var val string
	err := s.view(func(tx Tx) error {
		v, err := tx.Get(nsBucket(ns), key)
		if err != nil {
			return err
		}
		if v == nil {
			return ErrNotFound
		}
		val = string(v)
		return nil
	})
	return val, err
}

// Set stores key=val in namespace ns.
func (s *Store) Set(ns, key, val string) error {
	if key == "" {
		return errEmptyKey
	}
	return s.update(func(tx Tx) error {
		return tx.Put(nsBucket(ns), key, []byte(val))
	})
}

// ErrNotNumber means Incr found a value that is not an integer.
var ErrNotNumber = errors.New("value is not an integer")

// ErrOverflow means Incr would go past the range of int64; the value is
// left as it was.
var ErrOverflow = errors.New("incr would overflow a 64-bit integer")

// Incr adds delta to the integer value of key (a missing key counts as 0)
// and returns the new value, in one transaction: concurrent runs never lose
// a count.
func (s *Store) Incr(ns, key string, delta int64) (int64, error) {
	if key == "" {
		return 0, errEmptyKey
	}
	var n int64
	err := s.update(func(tx Tx) error {
		v, err := tx.Get(nsBucket(ns), key)
		if err != nil {
			return err
		}
		n = 0
		if v != nil {
			if n, err = strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64); err != nil {
				return fmt.Errorf("incr %s: %w", key, ErrNotNumber) // never the value: it may be large
			}
		}
		if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
			return fmt.Errorf("incr %s by %d: %w", key, delta, ErrOverflow)
		}
		n += delta
		return tx.Put(nsBucket(ns), key, []byte(strconv.FormatInt(n, 10)))
	})
	return n, err
}

// Delete removes key from namespace ns, reporting whether it was there.
func (s *Store) Delete(ns, key string) (bool, error) {
	return s.deleteKey([]byte(nsBucket(ns)), key)
}

// Keys lists the keys of namespace ns that start with prefix, sorted.
func (s *Store) Keys(ns, prefix string) ([]string, error) {
	var keys []string
	err := s.view(func(tx Tx) error {
		keys = keys[:0]
		return tx.ForEach(nsBucket(ns), prefix, false, func(k string, _ []byte) error {
			keys = append(keys, k)
			return nil
		})
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

func factKey(k string) string { return strings.ToLower(strings.Join(strings.Fields(k), " ")) }

// Remember stores a fact; keys are case-insensitive.
func (s *Store) Remember(f Fact) error {
	return s.putJSON(bucketFacts, factKey(f.Key), f)
}

// Fact returns the fact stored under key, or ErrNotFound.
func (s *Store) Fact(key string) (Fact, error) {
	var f Fact
	err := s.getJSON(bucketFacts, factKey(key), &f)
	return f, err
}

// Forget removes a fact, reporting whether it was there.
func (s *Store) Forget(key string) (bool, error) {
	return s.deleteKey(bucketFacts, factKey(key))
}

// Facts lists every fact, by key.
func (s *Store) Facts() ([]Fact, error) {
	var out []Fact
	err := s.eachJSON(bucketFacts, func(_ string, v []byte) error {
		var f Fact
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// AuditEntry is one run in the audit log.
type AuditEntry struct {
	ID     uint64    `json:"id"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	UserID string    `json:"user_id"`
	// Principal and Person say who ran it (entries from before principals
	// existed have neither; see AuditEntry.Who).
	Principal Principal     `json:"principal"`
	Person    string        `json:"person,omitempty"`
	Adapter   string        `json:"adapter,omitempty"`
	Channel   string        `json:"channel"`
	Trigger   string        `json:"trigger"`
	Command   string        `json:"command"` // the script or built-in run
	Text      string        `json:"text"`    // the command text that asked for it
	Args      []string      `json:"args"`
	Approver  string        `json:"approver,omitempty"`
	Outcome   string        `json:"outcome"` // ok, failed, timeout, refused, error
	Exit      int           `json:"exit"`
	Duration  time.Duration `json:"duration"`
	Chain     string        `json:"chain,omitempty"`
	// ApprovalID ties the entry to an approval request.
	ApprovalID string `json:"approval_id,omitempty"`
	// Note is free text: a denial's reason.
	Note string `json:"note,omitempty"`
}

// seqKey is an audit key: the entry's number, big-endian, so that byte
// order is number order.
func seqKey(n uint64) string {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return string(k[:])
}

func seqOf(k string) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64([]byte(k))
}

// AppendAudit writes entries in one commit and drops the oldest beyond the
// retention limit.
func (s *Store) AppendAudit(entries ...AuditEntry) error {
	audit := string(bucketAudit)
	return s.update(func(tx Tx) error {
		var last uint64
		for i := range entries {
			id, err := tx.NextSequence(audit)
			if err != nil {
				return err
			}
			entries[i].ID, last = id, id
			data, err := json.Marshal(entries[i])
			if err != nil {
				return err
			}
			if err := tx.Put(audit, seqKey(id), data); err != nil {
				return err
			}
		}
		if s.keep <= 0 || last <= uint64(s.keep) {
			return nil
		}
		cutoff := last - uint64(s.keep)
		var old []string
		err := tx.ForEach(audit, "", false, func(k string, _ []byte) error {
			if seqOf(k) > cutoff {
				return ErrStop
			}
			old = append(old, k)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.Delete(audit, k); err != nil {
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
	err := s.view(func(tx Tx) error {
		out = out[:0]
		if n <= 0 {
			return nil
		}
		return tx.ForEach(string(bucketAudit), "", true, func(k string, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit entry %d: %w", seqOf(k), err)
			}
			if keep == nil || keep(&e) {
				out = append(out, e)
			}
			if len(out) >= n {
				return ErrStop
			}
			return nil
		})
	})
	return out, err
}

// AuditCount is how many entries the audit log holds.
func (s *Store) AuditCount() int {
	n := 0
	_ = s.view(func(tx Tx) error {
		n = 0
		return tx.ForEach(string(bucketAudit), "", false, func(string, []byte) error {
			n++
			return nil
		})
	})
	return n
}

// putJSON stores v under key in bucket.
func (s *Store) putJSON(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.update(func(tx Tx) error {
		return tx.Put(string(bucket), key, data)
	})
}

// getJSON loads key of bucket into v, or returns ErrNotFound.
func (s *Store) getJSON(bucket []byte, key string, v any) error {
	return s.view(func(tx Tx) error {
		data, err := tx.Get(string(bucket), key)
		if err != nil {
			return err
		}
		if data == nil {
			return ErrNotFound
		}
		return json.Unmarshal(data, v)
	})
}

// takeJSON loads key of bucket into v and deletes it in one transaction,
// so that of two callers racing for the same record only one gets it.
// ok decides, from the record, whether to take it.
func (s *Store) takeJSON(bucket []byte, key string, v any, ok func() error) error {
	return s.update(func(tx Tx) error {
		data, err := tx.Get(string(bucket), key)
		if err != nil {
			return err
		}
		if data == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
		if err := ok(); err != nil {
			return err
		}
		return tx.Delete(string(bucket), key)
	})
}

// deleteKey removes key from bucket, reporting whether it was there.
func (s *Store) deleteKey(bucket []byte, key string) (bool, error) {
	found := false
	err := s.update(func(tx Tx) error {
		v, err := tx.Get(string(bucket), key)
		if err != nil {
			return err
		}
		found = v != nil
		if !found {
			return nil
		}
		return tx.Delete(string(bucket), key)
	})
	return found, err
}

// eachJSON calls fn with every record of bucket, by key. The data is a
// copy, valid after the transaction.
func (s *Store) eachJSON(bucket []byte, fn func(key string, data []byte) error) error {
	return s.view(func(tx Tx) error {
		return tx.ForEach(string(bucket), "", false, fn)
	})
}
