package etcdstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/storetest"
)

// testEtcd is a real etcd on loopback, in a temp dir, for one test.
type testEtcd struct {
	Endpoint string
	cmd      *exec.Cmd
	dir      string
	client   string
	peer     string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startTestEtcd starts /usr/bin/etcd (Debian's etcd-server). Missing, it
// skips the test, or fails it in CI.
func startTestEtcd(t *testing.T) *testEtcd {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd is not installed (apt-get install etcd-server)")
		}
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	e := &testEtcd{dir: t.TempDir(), client: freeAddr(t), peer: freeAddr(t)}
	e.Endpoint = e.client
	e.start(t)
	t.Cleanup(func() { e.stop() })
	return e
}

func (e *testEtcd) start(t *testing.T) {
	t.Helper()
	e.cmd = exec.Command("etcd", "--name", "t", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", "http://"+e.client, "--advertise-client-urls", "http://"+e.client,
		"--listen-peer-urls", "http://"+e.peer, "--initial-advertise-peer-urls", "http://"+e.peer,
		"--initial-cluster", "t=http://"+e.peer, "--log-level", "error", "--logger", "zap")
	logf, err := os.OpenFile(filepath.Join(e.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.client}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Put(ctx, "/ready", "1")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(e.dir, "etcd.log"))
			t.Fatalf("etcd did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *testEtcd) stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Kill()
		e.cmd.Wait()
		e.cmd = nil
	}
}

var testPrefixes atomic.Int64

func dialTest(t *testing.T, e *testEtcd, prefix string) *KV {
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
