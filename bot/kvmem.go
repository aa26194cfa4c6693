package bot

import (
	"bytes"
	"slices"
	"strings"
	"sync"
)

// memKV is a KV in memory, for tests: it keeps nothing across processes.
type memKV struct {
	mu   sync.RWMutex
	data map[string]map[string][]byte
	seq  map[string]uint64
}

// NewMemKV returns an empty KV in memory.
func NewMemKV() KV {
	return &memKV{data: map[string]map[string][]byte{}, seq: map[string]uint64{}}
}

func (m *memKV) View(fn func(Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{m: m})
}

func (m *memKV) Update(fn func(Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &memTx{m: m, writes: map[string]map[string][]byte{}, seq: map[string]uint64{}}
	if err := fn(tx); err != nil {
		return err
	}
	for b, kv := range tx.writes {
		if m.data[b] == nil {
			m.data[b] = map[string][]byte{}
		}
		for k, v := range kv {
			if v == nil {
				delete(m.data[b], k)
			} else {
				m.data[b][k] = v
			}
		}
	}
	for b, n := range tx.seq {
		m.seq[b] = n
	}
	return nil
}

func (m *memKV) Close() error { return nil }

// memTx reads through its own writes (nil: deleted) to the committed data.
type memTx struct {
	m      *memKV
	writes map[string]map[string][]byte // nil in a View
	seq    map[string]uint64
}

func (t *memTx) Get(bucket, key string) ([]byte, error) {
	if v, ok := t.writes[bucket][key]; ok {
		return bytes.Clone(v), nil
	}
	return bytes.Clone(t.m.data[bucket][key]), nil
}

func (t *memTx) put(bucket, key string, val []byte) error {
	if t.writes == nil {
		return errReadOnly
	}
	if t.writes[bucket] == nil {
		t.writes[bucket] = map[string][]byte{}
	}
	t.writes[bucket][key] = val
	return nil
}

func (t *memTx) Put(bucket, key string, val []byte) error {
	if key == "" {
		return errEmptyKey
	}
	return t.put(bucket, key, append([]byte{}, val...))
}

func (t *memTx) Delete(bucket, key string) error { return t.put(bucket, key, nil) }

func (t *memTx) ForEach(bucket, prefix string, reverse bool, fn func(string, []byte) error) error {
	seen := map[string][]byte{}
	for k, v := range t.m.data[bucket] {
		seen[k] = v
	}
	for k, v := range t.writes[bucket] {
		seen[k] = v
	}
	keys := make([]string, 0, len(seen))
	for k, v := range seen {
		if v != nil && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if err := fn(k, bytes.Clone(seen[k])); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t *memTx) NextSequence(bucket string) (uint64, error) {
	if t.writes == nil {
		return 0, errReadOnly
	}
	n, ok := t.seq[bucket]
	if !ok {
		n = t.m.seq[bucket]
	}
	n++
	t.seq[bucket] = n
	return n, nil
}
