package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/storetest"
	"github.com/wirebot/wirebot/internal/etcdtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startTestEtcd(t *testing.T) *etcdtest.Server { return etcdtest.Start(t) }

var testPrefixes atomic.Int64

func dialTest(t *testing.T, e *etcdtest.Server, prefix string) *KV {
	t.Helper()
	kv, err := Dial(context.Background(), Options{Endpoints: []string{e.Endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestEtcdKV(t *testing.T) {
	e := startTestEtcd(t)
	storetest.Run(t, func(t *testing.T) bot.KV {
		// Each test its own prefix; a second store nearby must not leak in.
		n := testPrefixes.Add(1)
		other := dialTest(t, e, fmt.Sprintf("/t%d", n))
		defer other.Close()
		if err := other.Update(func(tx bot.Tx) error { return tx.Put("x", "zz", []byte("other prefix")) }); err != nil {
			t.Fatal(err)
		}
		return dialTest(t, e, fmt.Sprintf("/t%d/", n))
	})
}

// More writes than etcd takes in one transaction still commit.
func TestEtcdBigUpdate(t *testing.T) {
	e := startTestEtcd(t)
	kv := dialTest(t, e, "/big/")
	defer kv.Close()
	s, err := bot.NewStore(kv, 300)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]bot.AuditEntry, 700)
	for i := range entries {
		entries[i].Command = fmt.Sprint(i)
	}
	if err := s.AppendAudit(entries...); err != nil {
		t.Fatal(err)
	}
	if n := s.AuditCount(); n != 300 {
		t.Fatalf("kept %d, want 300", n)
	}
	h, err := s.History(1000, nil)
	if err != nil || len(h) != 300 || h[0].Command != "699" || h[299].Command != "400" {
		t.Fatalf("history: %d entries, %v", len(h), err)
	}
}

func TestEtcdUnreachable(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	_, err := Dial(context.Background(), Options{Endpoints: []string{addr}, Prefix: "/x/", Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dial of nothing: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s to give up", took)
	}
}

// A deposed leader writes nothing: once its leadership key is gone (its
// lease revoked or run out), every write it tries is refused, and the
// new leader's go through.
func TestEtcdFencedWrites(t *testing.T) {
	e := startTestEtcd(t)
	a, b := dialTest(t, e, "/fence/"), dialTest(t, e, "/fence/")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	put := func(kv *KV, v string) error {
		return kv.Update(func(tx bot.Tx) error { return tx.Put("x", "k", []byte(v)) })
	}
	a.SetFence("", 0)
	if err := put(a, "before"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write without leadership: %v", err)
	}
	ta, err := a.Campaign(ctx, "a", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a.SetFence(ta.Key, ta.Rev)
	if err := put(a, "a leads"); err != nil {
		t.Fatalf("leader's write: %v", err)
	}
	if leader, _ := b.Leader(ctx); leader != "a" {
		t.Fatalf("leader %q, want a", leader)
	}
	// b waits for the lead; a loses it (its lease revoked behind its back).
	won := make(chan *Term, 1)
	go func() {
		tb, err := b.Campaign(ctx, "b", 2*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- tb
	}()
	if _, err := a.cli.Revoke(ctx, ta.lease); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ta.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a's term did not end when its lease went")
	}
	tb := <-won
	if tb == nil {
		t.FailNow()
	}
	b.SetFence(tb.Key, tb.Rev)
	if err := put(a, "a again"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("deposed leader's write: %v", err)
	}
	if err := put(b, "b leads"); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	var got []byte
	b.View(func(tx bot.Tx) error { got, err = tx.Get("x", "k"); return err })
	if string(got) != "b leads" {
		t.Fatalf("k = %q", got)
	}
	tb.Resign()
	ta.Resign()
}
