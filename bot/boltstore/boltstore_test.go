package boltstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/storetest"
)

func TestBoltKV(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bot.KV {
		kv, err := OpenKV(filepath.Join(t.TempDir(), "w.db"))
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestBoltKeepsWhatWasCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("ns", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, 10); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get("ns", "k"); err != nil || v != "v" {
		t.Fatalf("after reopen: %q %v", v, err)
	}
}

// Once bbolt has met damage (a panic inside a transaction), every later
// call fails at once with the advice instead of touching the file again,
// where a lock the panic left held would hang it.
func TestDamageMetOnceFailsEveryLaterCall(t *testing.T) {
	kv, err := OpenKV(filepath.Join(t.TempDir(), "wirebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Update(func(tx bot.Tx) error { return tx.Put("kv/x", "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	err = kv.Update(func(bot.Tx) error { panic("invalid page type: 0: 10") })
	if !errors.Is(err, bot.ErrCorrupt) {
		t.Fatalf("panic in a write: %v, want ErrCorrupt", err)
	}
	calls := map[string]func() error{
		"view":   func() error { return kv.View(func(bot.Tx) error { return nil }) },
		"update": func() error { return kv.Update(func(bot.Tx) error { return nil }) },
		"close":  kv.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, bot.ErrCorrupt) || !strings.Contains(err.Error(), "backup") {
			t.Errorf("%s after damage: %v, want ErrCorrupt with the advice", name, err)
		}
	}
}

// The audit log is appended to and trimmed at the front: its pages are
// packed, not left half empty as bbolt splits them by default (a full
// log of 10,000 runs was an 8 MB file mapped whole, now 4 MB).
func TestAuditLogPagesPacked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		batch := make([]bot.AuditEntry, 512)
		for i := range batch {
			batch[i] = bot.AuditEntry{User: "tester", Channel: "ops", Trigger: "chat", Command: "ping", Text: "ping", Outcome: "ok"}
		}
		if err := s.AppendAudit(batch...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	kv, err := OpenKV(path)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	var st bolt.BucketStats
	if err := kv.db.View(func(tx *bolt.Tx) error {
		st = tx.Bucket([]byte("audit")).Stats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.KeyN != 10000 {
		t.Fatalf("%d entries kept, want 10000", st.KeyN)
	}
	if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
		t.Errorf("audit leaf pages %.0f%% full (%d of %d bytes), want at least 80%%", 100*fill, st.LeafInuse, st.LeafAlloc)
	}
}
