package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/etcdtest"
	"github.com/wirebot/wirebot/internal/fakeslack"
)

const haLeaseTTL = 3 * time.Second

// haSetup writes scripts and a config for bots sharing one etcd prefix
// on the fake Slack.
func haSetup(t *testing.T, etcd *etcdtest.Server, fs *fakeslack.Server) string {
	t.Helper()
	dir := t.TempDir()
	writeScript(t, dir, "tick.sh", "#!/bin/sh\n# @respond ^tick$\ndate +%s.%N >> "+filepath.Join(dir, "ticks.txt")+"\n")
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy$\n# @approve ops\necho deployed >> "+filepath.Join(dir, "deploys.txt")+"\necho deployed\n")
	writeScript(t, dir, "slow.sh", "#!/bin/sh\n# @respond ^slow$\ntouch "+filepath.Join(dir, "slow.started")+"\nsleep 120\n")
	writeScript(t, dir, "brain.sh", "#!/bin/sh\n# @respond ^b(set|get) (\\S+) ?(.*)$\nif [ \"$1\" = set ]; then wirebot brain set \"$2\" \"$3\" && echo \"stored $2\"; else echo \"value [$(wirebot brain get \"$2\")]\"; fi\n")
	cfg := "adapter: slack\nslack:\n  bot_token: xoxb-test-token\n  app_token: xapp-test-token\n  api_url: " + fs.APIURL() +
		"\nadmins: [alice]\ngroups:\n  ops: [bob]\nshutdown_grace: 2s\nstore:\n  backend: etcd\n  etcd:\n    endpoints: [" + etcd.Endpoint +
		"]\n    prefix: /ha-test/\n    lease_ttl: " + haLeaseTTL.String() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func haFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// haGet returns the status and body of GET or POST url.
func haHTTP(method, url string) (int, string, http.Header) {
	req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// haPosts reads the fake Slack's posts, keeping those no wait has
// matched yet: replies may come in any order (an interrupted run's report
// and a PONG, say).
type haPosts struct {
	fs      *fakeslack.Server
	backlog []fakeslack.Post
}

// wait returns the submatches of the first post in channel matching re,
// waiting up to d for it.
func (h *haPosts) wait(t *testing.T, channel, re string, d time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for i, p := range h.backlog {
		if m := rx.FindStringSubmatch(p.Text); m != nil && p.Channel == channel {
			h.backlog = slices.Delete(h.backlog, i, i+1)
			return m
		}
	}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			var seen []string
			for _, p := range h.backlog {
				seen = append(seen, p.Channel+": "+p.Text)
			}
			t.Fatalf("no post in %s matching %q within %s; saw %q", channel, re, d, seen)
		}
		p, ok := h.fs.Next(left)
		if !ok {
			continue
		}
		if m := rx.FindStringSubmatch(p.Text); m != nil && p.Channel == channel {
			return m
		}
		h.backlog = append(h.backlog, p)
	}
}

func haWaitFor(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func haLines(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

func TestHAFailoverOnEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	dir := haSetup(t, etcd, fs)
	hp := &haPosts{fs: fs}
	listenA, listenB := haFreeAddr(t), haFreeAddr(t)
	start := func(listen string) *botProc {
		return startBot(t, dir, baseEnv("WIREBOT_HTTP_LISTEN="+listen))
	}
	a := start(listenA)
	if !fs.WaitConnected(20 * time.Second) {
		t.Fatalf("the first bot did not connect\n%s", a.stderr.String())
	}
	b := start(listenB)
	// b stands by: off chat, /healthz 503 standby, hooks 503 Retry-After.
	haWaitFor(t, "standby answers /healthz", 20*time.Second, func() bool {
		code, body, _ := haHTTP("GET", "http://"+listenB+"/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "standby")
	})
	if code, body, h := haHTTP("POST", "http://"+listenB+"/hooks/deploy"); code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("hook on a standby: %d %q Retry-After %q", code, body, h.Get("Retry-After"))
	}
	if code, _, _ := haHTTP("GET", "http://"+listenA+"/healthz"); code != http.StatusOK {
		t.Fatalf("leader /healthz %d", code)
	}
	if n := fs.Live.Load(); n != 1 {
		t.Fatalf("%d Socket Mode connections with a leader and a standby, want 1", n)
	}
	fs.Message("U1", "C1", "!ping", "")
	hp.wait(t, "C1", "^PONG$", 10*time.Second)
	fs.Message("U1", "C1", "!status", "")
	hp.wait(t, "C1", "role leader, leader .* pid "+strconv.Itoa(a.cmd.Process.Pid)+"$", 10*time.Second)

	// State made before the failover.
	fs.Message("U1", "C1", "!bset color blue", "")
	hp.wait(t, "C1", "^stored color$", 10*time.Second)
	fs.Message("U1", "C1", "!remember the window is friday", "")
	hp.wait(t, "C1", "OK", 10*time.Second)
	fs.Message("U1", "C1", `!schedule add "@every 1s" tick`, "")
	sched := hp.wait(t, "C1", `^Scheduled ([A-Za-z0-9]+):`, 10*time.Second)
	ticksFrom := time.Now()
	fs.Message("U1", "C1", "!deploy", "")
	id := hp.wait(t, "C1", "`approve ([A-Za-z0-9]+)`", 10*time.Second)[1]
	fs.Message("U1", "C1", "!slow", "")
	haWaitFor(t, "slow.sh starts", 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "slow.started"))
		return err == nil
	})
	haWaitFor(t, "ticks before the failover", 20*time.Second, func() bool {
		return len(haLines(t, filepath.Join(dir, "ticks.txt"))) >= 4
	})

	// kill -9 of the leader: b leads, connects and answers.
	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	if !fs.WaitConnected(haLeaseTTL + 15*time.Second) {
		t.Fatalf("the standby did not take over\n%s", b.stderr.String())
	}
	fs.Message("U1", "C1", "!ping", "")
	hp.wait(t, "C1", "^PONG$", 10*time.Second)
	failover := time.Since(killed)
	t.Logf("failover: kill -9 of the leader to PONG from the standby: %s (lease_ttl %s, limit %s)",
		failover.Round(time.Millisecond), haLeaseTTL, haLeaseTTL+2*time.Second)
	if failover > haLeaseTTL+2*time.Second {
		t.Errorf("failover took %s, over lease_ttl + 2s", failover)
	}
	hp.wait(t, "C1", "slow.sh .*was interrupted", 20*time.Second)
	if n := fs.Live.Load(); n != 1 {
		t.Fatalf("%d Socket Mode connections after the failover, want 1", n)
	}

	// What was acknowledged before is all there.
	fs.Message("U1", "C1", "!bget color", "")
	hp.wait(t, "C1", `^value \[blue\]$`, 10*time.Second)
	fs.Message("U1", "C1", "!what is the window", "")
	hp.wait(t, "C1", "friday", 10*time.Second)
	fs.Message("U1", "C1", "!schedule list", "")
	hp.wait(t, "C1", regexp.QuoteMeta(sched[1]), 10*time.Second)
	fs.Message("U2", "C1", "!approve "+id, "")
	hp.wait(t, "C1", "^deployed$", 20*time.Second)
	fs.Message("U2", "C1", "!approve "+id, "")
	hp.wait(t, "C1", "^There is no pending request "+id, 10*time.Second)
	fs.Message("U1", "C1", "!history 20", "")
	hp.wait(t, "C1", "slow.sh.*-> interrupted", 10*time.Second)
	if n := len(haLines(t, filepath.Join(dir, "deploys.txt"))); n != 1 {
		t.Fatalf("the approved deploy ran %d times, want 1", n)
	}

	// Ticks over ~20 s with the failover in the middle: none twice.
	haWaitFor(t, "ticks after the failover", 40*time.Second, func() bool {
		return time.Since(ticksFrom) > 20*time.Second && len(haLines(t, filepath.Join(dir, "ticks.txt"))) >= 10
	})
	var ticks []float64
	for _, l := range haLines(t, filepath.Join(dir, "ticks.txt")) {
		f, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatalf("ticks.txt: %q", l)
		}
		ticks = append(ticks, f)
	}
	slices.Sort(ticks)
	after := 0
	for i, tk := range ticks {
		if tk > float64(killed.UnixNano())/1e9 {
			after++
		}
		if i > 0 && tk-ticks[i-1] < 0.5 {
			t.Errorf("two runs %.3fs apart: one tick ran twice (%.3f, %.3f)", tk-ticks[i-1], ticks[i-1], tk)
		}
	}
	t.Logf("%d ticks over %s, %d after the failover", len(ticks), time.Since(ticksFrom).Round(time.Second), after)
	if after < 3 {
		t.Fatalf("only %d ticks after the failover", after)
	}

	// etcd stops under the leader: it leaves Slack within lease_ttl.
	a = start(listenA) // a standby again
	haWaitFor(t, "the restarted bot stands by", 20*time.Second, func() bool {
		code, body, _ := haHTTP("GET", "http://"+listenA+"/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "standby")
	})
	stopped := time.Now()
	etcd.Stop()
	gone := haWaitFor(t, "the leader leaves Slack with etcd gone", 20*time.Second, func() bool { return fs.Live.Load() == 0 })
	t.Logf("etcd stopped: the leader left Slack after %s (lease_ttl %s)", gone.Round(time.Millisecond), haLeaseTTL)
	if gone > haLeaseTTL {
		t.Errorf("the leader stayed on Slack %s after etcd stopped, over lease_ttl", gone)
	}
	_ = stopped

	// etcd back: one leader again, one answer per message.
	etcd.Start()
	if !fs.WaitConnected(30 * time.Second) {
		t.Fatalf("no leader after etcd came back\na:\n%s\nb:\n%s", a.stderr.String(), b.stderr.String())
	}
	fs.Message("U1", "C1", "!ping", "")
	hp.wait(t, "C1", "^PONG$", 10*time.Second)
	if p, ok := fs.Next(2 * time.Second); ok && p.Text == "PONG" {
		t.Errorf("a second PONG for one ping: two leaders")
	}
	if n := fs.Live.Load(); n != 1 {
		t.Fatalf("%d Socket Mode connections after etcd came back, want 1", n)
	}
	for _, p := range []*botProc{a, b} {
		stopBot(t, p)
	}
}

func TestCheckReachesEtcd(t *testing.T) {
	etcd := etcdtest.Start(t)
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "#!/bin/sh\n# @respond ^ok$\necho ok\n")
	env := func(endpoint string) []string {
		return baseEnv("WIREBOT_STORE_BACKEND=etcd", "WIREBOT_STORE_ETCD_ENDPOINTS="+endpoint, "WIREBOT_STORE_ETCD_PREFIX=/check/")
	}
	out, stderr, code := runOnce(t, dir, env(etcd.Endpoint), "", "check")
	if code != 0 || !strings.Contains(out, "etcd "+etcd.Endpoint+" reachable") {
		t.Fatalf("check with etcd up: exit %d\n%s\n%s", code, out, stderr)
	}
	dead := haFreeAddr(t)
	start := time.Now()
	out, stderr, code = runOnce(t, dir, env(dead), "", "check")
	if code != 1 || !strings.Contains(stderr, "store.etcd.endpoints") || !strings.Contains(stderr, dead) {
		t.Fatalf("check with etcd unreachable: exit %d\n%s\n%s", code, out, stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("check took %s to give up on etcd", took)
	}
	// The bot itself exits 1 naming the endpoint.
	_, stderr, code = runOnce(t, dir, env(dead), "ping\n")
	if code != 1 || !strings.Contains(stderr, dead) {
		t.Fatalf("bot with etcd unreachable: exit %d\n%s", code, stderr)
	}
}

func TestEtcdOverTLS(t *testing.T) {
	etcd := etcdtest.StartTLS(t)
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "#!/bin/sh\n# @respond ^ok$\necho ok\n")
	env := baseEnv("WIREBOT_STORE_BACKEND=etcd", "WIREBOT_STORE_ETCD_ENDPOINTS=https://"+etcd.Endpoint, "WIREBOT_STORE_ETCD_PREFIX=/tls/")
	tlsEnv := append(env[:len(env):len(env)], "WIREBOT_STORE_ETCD_TLS_CA="+etcd.CAFile,
		"WIREBOT_STORE_ETCD_TLS_CERT="+etcd.CertFile, "WIREBOT_STORE_ETCD_TLS_KEY="+etcd.KeyFile)
	out, stderr, code := runOnce(t, dir, tlsEnv, "", "check")
	if code != 0 || !strings.Contains(out, "reachable") {
		t.Fatalf("check over TLS: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = runOnce(t, dir, tlsEnv, "ok\n")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("bot over TLS: exit %d\n%s\n%s", code, out, stderr)
	}
	// Without the client certificate etcd refuses us.
	if _, stderr, code := runOnce(t, dir, append(env, "WIREBOT_STORE_ETCD_TLS_CA="+etcd.CAFile), "", "check"); code != 1 {
		t.Fatalf("check without a client certificate: exit %d\n%s", code, stderr)
	}
}

// etcd with auth on: the bot logs in with store.etcd.username and a
// password from store.etcd.password_file, and never shows the password.
func TestEtcdAuthWithPasswordFile(t *testing.T) {
	etcd := etcdtest.Start(t)
	const password = "s3cret-etcd-pw"
	etcd.EnableAuth(t, "root", password)
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "#!/bin/sh\n# @respond ^ok$\necho ok\n")
	pwFile := filepath.Join(dir, "etcd-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := baseEnv("WIREBOT_STORE_BACKEND=etcd", "WIREBOT_STORE_ETCD_ENDPOINTS="+etcd.Endpoint, "WIREBOT_STORE_ETCD_PREFIX=/auth/",
		"WIREBOT_STORE_ETCD_USERNAME=root")
	out, stderr, code := runOnce(t, dir, append(env, "WIREBOT_STORE_ETCD_PASSWORD_FILE="+pwFile), "ok\n")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("bot with etcd auth: exit %d\n%s\n%s", code, out, stderr)
	}
	out, stderr, code = runOnce(t, dir, append(env, "WIREBOT_STORE_ETCD_PASSWORD=wrong-"+password), "ok\n")
	if code != 1 || strings.Contains(out+stderr, password) {
		t.Fatalf("bot with a wrong etcd password: exit %d\n%s\n%s", code, out, stderr)
	}
}
