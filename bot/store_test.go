package bot

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

func openTemp(t testing.TB, keep int) *Store {
	t.Helper()
	s, err := NewStore(NewMemKV(), keep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
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
