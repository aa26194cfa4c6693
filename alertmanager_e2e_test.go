package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// amFreePort is a loopback port nobody listens on right now.
func amFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// amStart starts the real Alertmanager on loopback, sending to hookURL
// with a bearer token, with short group and repeat intervals. It returns
// its API base URL.
func amStart(t *testing.T, hookURL string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
		}
		t.Skip("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: wirebot
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 6s
receivers:
  - name: wirebot
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config:
          authorization: {type: bearer, credentials: s3cret}
`, hookURL)
	os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600)
	port := amFreePort(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// amAlerts posts alerts through Alertmanager's v2 API.
func amAlerts(t *testing.T, base string, alerts []map[string]any) {
	t.Helper()
	data, _ := json.Marshal(alerts)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alerts: %d", resp.StatusCode)
	}
}

func amDiskAlerts(n int, ends time.Time) []map[string]any {
	var out []map[string]any
	for i := range n {
		a := map[string]any{
			"labels":      map[string]string{"alertname": "DiskFull", "severity": "critical", "instance": fmt.Sprintf("host-%02d", i)},
			"annotations": map[string]string{"summary": "Disk almost full"},
		}
		if !ends.IsZero() {
			a["endsAt"] = ends.UTC().Format(time.RFC3339)
		}
		out = append(out, a)
	}
	return out
}

// TestAlertmanagerThreads: with the real Alertmanager, 50 alerts of one
// group make one top-level post; its reminder and its resolution go to
// that post's thread, across a restart of the bot; a when on severity
// keeps warnings out.
func TestAlertmanagerThreads(t *testing.T) {
	port := amFreePort(t)
	hooks := fmt.Sprintf(`http: {listen: "127.0.0.1:%d"}
webhooks:
  - {name: am, secret: s3cret, channel: "#ops", format: alertmanager, when: 'commonLabels.severity == "critical"'}
`, port)
	fs, p, dir := slackBot(t, hooks)
	am := amStart(t, fmt.Sprintf("http://127.0.0.1:%d/hooks/am", port))
	amAlerts(t, am, append(amDiskAlerts(50, time.Time{}), map[string]any{
		"labels": map[string]string{"alertname": "CPUHigh", "severity": "warning", "instance": "host-01"}}))

	next := func(what string) fakeslack.Post {
		t.Helper()
		post, ok := fs.Next(30 * time.Second)
		if !ok {
			t.Fatalf("no post within 30 s waiting for %s", what)
		}
		t.Logf("chat: thread=%q %s", post.Thread, post.Text)
		if strings.Contains(post.Text, "CPUHigh") {
			t.Fatalf("a warning was posted: %+v", post)
		}
		return post
	}
	first := next("the first notification")
	if first.Thread != "" || !strings.Contains(first.Text, "[FIRING:50] alertname=DiskFull") {
		t.Fatalf("first post %+v, want a top-level [FIRING:50]", first)
	}
	reminder := next("a reminder")
	if reminder.Thread != first.TS || !strings.Contains(reminder.Text, "FIRING:50") {
		t.Fatalf("reminder %+v, want it in thread %s", reminder, first.TS)
	}

	// The warning group came (and was filtered out) by now or soon.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, metrics := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "")
		if strings.Contains(metrics, `wirebot_webhooks_total{hook="am",result="filtered"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the warning group was not counted as filtered")
		}
	}

	// Restart the bot: the group's thread is in the store.
	stopBot(t, p)
	p = startBot(t, dir, baseEnv())
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatal("no reconnect after restart")
	}
	after := next("a reminder after the restart")
	if after.Thread != first.TS {
		t.Fatalf("after restart %+v, want thread %s", after, first.TS)
	}

	amAlerts(t, am, amDiskAlerts(50, time.Now().Add(-time.Second)))
	for {
		post := next("the resolution")
		if post.Thread != first.TS {
			t.Fatalf("post %+v outside thread %s", post, first.TS)
		}
		if strings.Contains(post.Text, "[RESOLVED]") {
			break
		}
	}
	stopBot(t, p)
}
