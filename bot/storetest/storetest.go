// Package storetest is the test suite every bot.KV passes: bbolt, etcd
// and memory run the same tests.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// Run runs the suite; open makes a fresh, empty KV that the test closes.
func Run(t *testing.T, open func(t *testing.T) bot.KV) {
	store := func(t *testing.T, keep int) *bot.Store {
		kv := open(t)
		s, err := bot.NewStore(kv, keep)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("KV", func(t *testing.T) { testKV(t, store(t, 10)) })
	t.Run("IncrIsAtomic", func(t *testing.T) { testIncr(t, store(t, 10)) })
	t.Run("Facts", func(t *testing.T) { testFacts(t, store(t, 10)) })
	t.Run("AuditRetention", func(t *testing.T) { testAudit(t, store(t, 5)) })
	t.Run("SchedulesApprovalsSilences", func(t *testing.T) { testRecords(t, store(t, 10)) })
	t.Run("Tx", func(t *testing.T) { testTx(t, open(t)) })
	t.Run("FailedUpdateChangesNothing", func(t *testing.T) { testFailed(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrent(t, open(t)) })
}

func testKV(t *testing.T, s *bot.Store) {
	if _, err := s.Get("ns", "k"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := s.Set("ns", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get("ns", "k"); err != nil || v != "v" {
		t.Fatalf("get: %q %v", v, err)
	}
	if _, err := s.Get("other", "k"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatal("namespaces leak")
	}
	if err := s.Set("ns", "", "v"); err == nil {
		t.Fatal("an empty key was stored")
	}
	must(t, s.Set("ns", "ka", "1"))
	must(t, s.Set("ns", "b", "2"))
	must(t, s.Set("ns", "empty", ""))
	must(t, s.Set("ns2", "kz", "other namespace"))
	if v, err := s.Get("ns", "empty"); err != nil || v != "" {
		t.Fatalf("empty value: %q %v", v, err)
	}
	keys, _ := s.Keys("ns", "k")
	if fmt.Sprint(keys) != "[k ka]" {
		t.Fatalf("keys %q", keys)
	}
	keys, _ = s.Keys("ns", "")
	if fmt.Sprint(keys) != "[b empty k ka]" {
		t.Fatalf("all keys %q", keys)
	}
	if keys, _ := s.Keys("nothing", ""); len(keys) != 0 {
		t.Fatalf("keys of an empty namespace: %q", keys)
	}
	if found, _ := s.Delete("ns", "k"); !found {
		t.Fatal("delete did not find k")
	}
	if found, _ := s.Delete("ns", "k"); found {
		t.Fatal("deleted twice")
	}
	if _, err := s.Get("ns", "k"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	must(t, s.Set("ns", "word", "x"))
	if _, err := s.Incr("ns", "word", 1); !errors.Is(err, bot.ErrNotNumber) {
		t.Fatalf("incr of a word: %v", err)
	}
	if n, err := s.Incr("ns", "n", -3); err != nil || n != -3 {
		t.Fatalf("incr of a new key: %d %v", n, err)
	}
}

func testIncr(t *testing.T, s *bot.Store) {
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

func testFacts(t *testing.T, s *bot.Store) {
	must(t, s.Remember(bot.Fact{Key: "The  Window", Value: "friday", By: "alice"}))
	must(t, s.Remember(bot.Fact{Key: "another", Value: "x"}))
	f, err := s.Fact("the window")
	if err != nil || f.Value != "friday" || f.By != "alice" {
		t.Fatalf("fact: %+v %v", f, err)
	}
	all, _ := s.Facts()
	if len(all) != 2 || all[0].Key != "another" {
		t.Fatalf("facts: %+v", all)
	}
	if found, _ := s.Forget("THE WINDOW"); !found {
		t.Fatal("forget did not find it")
	}
	if _, err := s.Fact("the window"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("forgotten fact: %v", err)
	}
}

// testRecords round-trips chat schedules, approval requests (a webhook's
// body among them) and silences.
func testRecords(t *testing.T, s *bot.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	must(t, s.PutChatSchedule(bot.ChatSchedule{ID: "S1", Spec: "@every 1h", Command: "ping", Owner: bot.User{ID: "alice", Name: "alice"}}))
	must(t, s.PutChatSchedule(bot.ChatSchedule{ID: "S2", Spec: "@daily", Command: "status"}))
	if found, err := s.DeleteChatSchedule("S2"); err != nil || !found {
		t.Fatalf("delete schedule: %v %v", found, err)
	}
	if cs, err := s.ChatSchedules(); err != nil || len(cs) != 1 || cs[0].Owner.Name != "alice" || cs[0].Command != "ping" {
		t.Fatalf("schedules: %+v %v", cs, err)
	}
	body := []byte("{\"alert\":\"disk\"}\x00\xff")
	must(t, s.PutApproval(bot.Approval{ID: "A1", Target: "alert.sh", Hook: "alerts", Stdin: body, As: bot.AsWebhook, Expires: now}))
	if list, err := s.Approvals(); err != nil || len(list) != 1 || string(list[0].Stdin) != string(body) || list[0].As != bot.AsWebhook || !list[0].Expires.Equal(now) {
		t.Fatalf("approvals: %+v %v", list, err)
	}
	must(t, s.PutSilence(bot.Silence{ID: "Q1", Hook: "alerts", Where: `alert == "disk"`, Until: now}))
	if list, err := s.Silences(); err != nil || len(list) != 1 || list[0].Where != `alert == "disk"` || !list[0].Until.Equal(now) {
		t.Fatalf("silences: %+v %v", list, err)
	}
	if found, err := s.DeleteSilence("Q1"); err != nil || !found {
		t.Fatalf("delete silence: %v %v", found, err)
	}
	if list, _ := s.Silences(); len(list) != 0 {
		t.Fatalf("deleted silence still there: %+v", list)
	}
}

func testAudit(t *testing.T, s *bot.Store) {
	for i := range 12 {
		must(t, s.AppendAudit(bot.AuditEntry{Command: fmt.Sprint(i)}))
	}
	batch := []bot.AuditEntry{{Command: "12"}, {Command: "13"}}
	must(t, s.AppendAudit(batch...))
	if batch[0].ID != 13 || batch[1].ID != 14 {
		t.Fatalf("ids %d %d, want 13 14", batch[0].ID, batch[1].ID)
	}
	if n := s.AuditCount(); n != 5 {
		t.Fatalf("kept %d entries, want 5", n)
	}
	h, _ := s.History(3, nil)
	if len(h) != 3 || h[0].Command != "13" || h[2].Command != "11" {
		t.Fatalf("history newest first: %+v", h)
	}
	h, _ = s.History(10, func(e *bot.AuditEntry) bool { return e.Command != "12" })
	if len(h) != 4 || h[0].Command != "13" || h[1].Command != "11" {
		t.Fatalf("filtered history: %+v", h)
	}
}

func testTx(t *testing.T, kv bot.KV) {
	defer kv.Close()
	must(t, kv.Update(func(tx bot.Tx) error {
		for _, k := range []string{"a", "b1", "b2", "b3", "c", "b"} {
			if err := tx.Put("x", k, []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := tx.Put("x/sub", "b9", []byte("nested")); err != nil {
			return err
		}
		// Reads see the transaction's own writes.
		if v, _ := tx.Get("x", "b2"); string(v) != "vb2" {
			return fmt.Errorf("own write not seen: %q", v)
		}
		return tx.Delete("x", "b3")
	}))
	walk := func(bucket, prefix string, reverse bool, stopAt int) []string {
		var got []string
		must(t, kv.View(func(tx bot.Tx) error {
			got = got[:0]
			return tx.ForEach(bucket, prefix, reverse, func(k string, v []byte) error {
				if string(v) != "v"+k {
					return fmt.Errorf("%s=%q", k, v)
				}
				v[0] = 'X' // a copy: changing it changes nothing stored
				got = append(got, k)
				if len(got) == stopAt {
					return bot.ErrStop
				}
				return nil
			})
		}))
		return got
	}
	for _, c := range []struct {
		prefix  string
		reverse bool
		stop    int
		want    []string
	}{
		{"", false, 0, []string{"a", "b", "b1", "b2", "c"}},
		{"b", false, 0, []string{"b", "b1", "b2"}},
		{"b", true, 0, []string{"b2", "b1", "b"}},
		{"", true, 2, []string{"c", "b2"}},
		{"z", true, 0, nil},
		{"\xff", true, 0, nil},
	} {
		if got := walk("x", c.prefix, c.reverse, c.stop); !slices.Equal(got, c.want) {
			t.Errorf("ForEach(%q, reverse %v): %q, want %q", c.prefix, c.reverse, got, c.want)
		}
	}
	if got := walk("missing", "", false, 0); got != nil {
		t.Errorf("ForEach of a missing bucket: %q", got)
	}
	must(t, kv.View(func(tx bot.Tx) error {
		if v, _ := tx.Get("x/sub", "b9"); string(v) != "nested" {
			return fmt.Errorf("nested bucket: %q", v)
		}
		if v, _ := tx.Get("x", "b3"); v != nil {
			return fmt.Errorf("deleted key: %q", v)
		}
		if v, _ := tx.Get("nothing", "a"); v != nil {
			return fmt.Errorf("missing bucket: %q", v)
		}
		return nil
	}))
	var seqs []uint64
	for range 3 {
		must(t, kv.Update(func(tx bot.Tx) error {
			n, err := tx.NextSequence("x")
			if err != nil {
				return err
			}
			m, err := tx.NextSequence("other")
			if err != nil {
				return err
			}
			seqs = append(seqs, n, m)
			return nil
		}))
	}
	if fmt.Sprint(seqs) != "[1 1 2 2 3 3]" {
		t.Errorf("sequences %v", seqs)
	}
}

func testFailed(t *testing.T, kv bot.KV) {
	defer kv.Close()
	boom := errors.New("boom")
	err := kv.Update(func(tx bot.Tx) error {
		if err := tx.Put("x", "k", []byte("v")); err != nil {
			return err
		}
		if _, err := tx.NextSequence("x"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	must(t, kv.Update(func(tx bot.Tx) error {
		if v, _ := tx.Get("x", "k"); v != nil {
			return fmt.Errorf("a failed Update's write was kept: %q", v)
		}
		n, err := tx.NextSequence("x")
		if err == nil && n != 1 {
			return fmt.Errorf("a failed Update's sequence was kept: %d", n)
		}
		return err
	}))
}

// Concurrent Updates, some failing, each get their own result and lose
// nobody else's writes.
func testConcurrent(t *testing.T, kv bot.KV) {
	defer kv.Close()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			errs[i] = kv.Update(func(tx bot.Tx) error {
				if err := tx.Put("c", fmt.Sprintf("k%02d", i), []byte("v")); err != nil {
					return err
				}
				if i%4 == 0 {
					return fmt.Errorf("fail %d", i)
				}
				return nil
			})
		})
	}
	wg.Wait()
	var got []string
	must(t, kv.View(func(tx bot.Tx) error {
		return tx.ForEach("c", "", false, func(k string, _ []byte) error {
			got = append(got, k)
			return nil
		})
	}))
	var want []string
	for i, err := range errs {
		if i%4 == 0 {
			if err == nil || err.Error() != fmt.Sprintf("fail %d", i) {
				t.Errorf("Update %d returned %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Update %d returned %v", i, err)
		}
		want = append(want, fmt.Sprintf("k%02d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stored %q\nwant %q", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
