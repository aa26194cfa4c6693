package main

import (
	"strings"
	"testing"
	"time"
)

// metricValue reads one sample of /metrics, "" when it is absent.
func metricValue(t *testing.T, base, name string) string {
	t.Helper()
	_, body := do(t, "GET", base+"/metrics", "")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// waitHealthz waits until /healthz answers code.
func waitHealthz(t *testing.T, base string, code int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, _ := do(t, "GET", base+"/healthz", "")
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d after %s, want %d", got, d, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogCount waits until the log has at least n lines containing s.
func waitLogCount(t *testing.T, p *botProc, s string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(p.stderr.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d log lines with %q within %s", n, s, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// One IRC outage with several failed attempts is one reconnection.
func TestIRCOutageCountsOneReconnect(t *testing.T) {
	srv := startNgircd(t)
	p, _ := ircBot(t, srv)
	base := httpAddr(t, p)
	waitHealthz(t, base, 200, 15*time.Second)
	bin := srv.cmd.Path
	srv.stop()
	waitHealthz(t, base, 503, 15*time.Second)
	// The drop, then at least two failed attempts (after 1 s and 2 s).
	waitLogCount(t, p, "irc: disconnected, reconnecting", 3, 20*time.Second)
	srv.start(bin)
	waitHealthz(t, base, 200, 30*time.Second)
	if got := metricValue(t, base, "wirebot_adapter_reconnects_total"); got != "1" {
		t.Fatalf("after one outage: wirebot_adapter_reconnects_total %q, want 1", got)
	}
	srv.restart()
	waitHealthz(t, base, 503, 15*time.Second)
	waitHealthz(t, base, 200, 30*time.Second)
	if got := metricValue(t, base, "wirebot_adapter_reconnects_total"); got != "2" {
		t.Fatalf("after two outages: wirebot_adapter_reconnects_total %q, want 2", got)
	}
	stopBot(t, p)
}

// The same for Slack: attempts refused during an outage are not reconnections.
func TestSlackOutageCountsOneReconnect(t *testing.T) {
	fs, p, _ := slackBot(t, "http: {listen: \"127.0.0.1:0\"}\n")
	base := httpAddr(t, p)
	waitHealthz(t, base, 200, 15*time.Second)
	fs.Refuse(3)
	fs.Drop()
	if !fs.WaitConnected(30 * time.Second) {
		t.Fatal("no reconnect")
	}
	waitHealthz(t, base, 200, 15*time.Second)
	if fs.Calls("apps.connections.open") < 5 {
		t.Fatalf("apps.connections.open called %d times: the refused attempts were not made", fs.Calls("apps.connections.open"))
	}
	if got := metricValue(t, base, "wirebot_adapter_reconnects_total"); got != "1" {
		t.Fatalf("wirebot_adapter_reconnects_total %q, want 1", got)
	}
	stopBot(t, p)
}
