package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTemp(t testing.TB, keep int) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "w.db"), keep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreKV(t *testing.T) {
	s := openTemp(t, 10)
	if _, err := s.Get("ns", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := s.Set("ns", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get("ns", "k"); err != nil || v != "v" {
		t.Fatalf("get: %q %v", v, err)
	}
	if _, err := s.Get("other", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatal("namespaces leak")
	}
	s.Set("ns", "ka", "1")
	s.Set("ns", "b", "2")
	keys, _ := s.Keys("ns", "k")
	if fmt.Sprint(keys) != "[k ka]" {
		t.Fatalf("keys %q", keys)
	}
	if found, _ := s.Delete("ns", "k"); !found {
		t.Fatal("delete did not find k")
	}
	if found, _ := s.Delete("ns", "k"); found {
		t.Fatal("deleted twice")
	}
	s.Set("ns", "word", "x")
	if _, err := s.Incr("ns", "word", 1); !errors.Is(err, ErrNotNumber) {
		t.Fatalf("incr of a word: %v", err)
	}
}

func TestStoreIncrIsAtomic(t *testing.T) {
	s := openTemp(t, 10)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := s.Incr("ns", "n", 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if v, _ := s.Get("ns", "n"); v != "50" {
		t.Fatalf("n = %s, want 50", v)
	}
}

func TestAuditRetention(t *testing.T) {
	s := openTemp(t, 5)
	for i := range 12 {
		if err := s.AppendAudit(AuditEntry{Command: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.AuditCount(); n != 5 {
		t.Fatalf("kept %d entries, want 5", n)
	}
	h, _ := s.History(3, nil)
	if len(h) != 3 || h[0].Command != "11" || h[2].Command != "9" {
		t.Fatalf("history newest first: %+v", h)
	}
}

func TestAuditWriterSync(t *testing.T) {
	s := openTemp(t, 0)
	a := newAuditWriter(s, slog.New(slog.DiscardHandler))
	for i := range 1000 {
		a.Record(AuditEntry{Command: fmt.Sprint(i)})
	}
	a.Sync(context.Background())
	if n := s.AuditCount(); n != 1000 {
		t.Fatalf("after Sync %d entries, want 1000", n)
	}
	a.Close()
}

// BenchmarkAuditRecord measures sustained audit throughput: runs recorded
// and committed per second.
func BenchmarkAuditRecord(b *testing.B) {
	s := openTemp(b, 10000)
	a := newAuditWriter(s, slog.New(slog.DiscardHandler))
	e := AuditEntry{Time: time.Now(), User: "alice", UserID: "U1", Channel: "ops", Trigger: "chat",
		Command: "deploy.sh", Text: "deploy web to prod", Args: []string{"web", "prod"}, Outcome: "ok", Duration: time.Millisecond}
	start := time.Now()
	for b.Loop() {
		a.Record(e)
	}
	a.Sync(context.Background())
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
	a.Close()
}
