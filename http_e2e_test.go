package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// httpAddr waits for the bot to log where its HTTP server listens.
func httpAddr(t testing.TB, p *botProc) string {
	t.Helper()
	re := regexp.MustCompile(`msg="http listening" addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no http address in the log:\n%s", p.stderr.String())
	return ""
}

func do(t *testing.T, method, url string, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestHealthzAndMetrics(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "fail.sh", "#!/bin/sh\n# @respond ^fail$\nexit 2\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("http: {listen: \"127.0.0.1:0\"}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)
	if code, body := do(t, "GET", base+"/healthz", ""); code != 200 || !strings.Contains(body, "shell") {
		t.Fatalf("healthz under shell: %d %q", code, body)
	}
	p.send("ping", "ping", "fail")
	p.expect("^PONG$")
	p.expect("^PONG$")
	p.expect(`^fail.sh failed`)
	time.Sleep(100 * time.Millisecond)
	_, body := do(t, "GET", base+"/metrics", "")
	for _, want := range []string{
		"wirebot_messages_total 3",
		`wirebot_runs_total{command="ping",outcome="ok"} 2`,
		`wirebot_runs_total{command="fail.sh",outcome="failed"} 1`,
		`wirebot_run_duration_seconds_count{command="fail.sh"} 1`,
		"wirebot_queue_depth 0",
		"wirebot_adapter_reconnects_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	p.close()
}

func TestWebhooks(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "alert.sh", "#!/bin/sh\n# @webhook alerts\nprintf 'alert as %s in %s: ' \"$WIREBOT_USER\" \"$WIREBOT_CHANNEL\"; cat; echo\n")
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s by %s\\n' \"$1\" \"$WIREBOT_USER\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: alerts, secret: s3cret, channel: "#ops", command: "echo hook fired", dedupe: 2s}
`), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)

	if code, _ := do(t, "POST", base+"/hooks/nope", "{}", "Authorization", "Bearer s3cret"); code != 404 {
		t.Errorf("unknown hook: %d", code)
	}
	if code, _ := do(t, "POST", base+"/hooks/alerts", "{}"); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, _ := do(t, "POST", base+"/hooks/alerts", "{}", "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("wrong bearer: %d", code)
	}
	if code, _ := do(t, "POST", base+"/hooks/alerts", "{}", "X-Hub-Signature-256", sign("wrong", "{}")); code != 401 {
		t.Errorf("wrong signature: %d", code)
	}
	big := strings.Repeat("x", 1<<20+1)
	if code, _ := do(t, "POST", base+"/hooks/alerts", big, "Authorization", "Bearer s3cret"); code != 413 {
		t.Errorf("over 1 MiB: %d", code)
	}

	body := `{"alert":"disk full"}`
	if code, _ := do(t, "POST", base+"/hooks/alerts", body, "X-Hub-Signature-256", sign("s3cret", body)); code != 202 {
		t.Fatalf("signed hook: %d", code)
	}
	got := []string{p.expect(`^alert as .*|^hook fired by .*`)[0], p.expect(`^alert as .*|^hook fired by .*`)[0]}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, `alert as webhook in ops: {"alert":"disk full"}`) || !strings.Contains(joined, "hook fired by webhook") {
		t.Fatalf("hook runs: %q", got)
	}
	// The same payload within dedupe: 2xx, nothing runs.
	if code, _ := do(t, "POST", base+"/hooks/alerts", body, "Authorization", "Bearer s3cret"); code/100 != 2 {
		t.Fatalf("duplicate: %d", code)
	}
	// A 1 MiB body is accepted whole.
	exact := strings.Repeat("y", 1<<20)
	if code, _ := do(t, "POST", base+"/hooks/alerts", exact, "Authorization", "Bearer s3cret"); code != 202 {
		t.Fatalf("1 MiB body: %d", code)
	}
	p.send("ping")
	for _, l := range p.until("PONG") {
		if strings.Contains(l, "disk full") {
			t.Fatalf("duplicate payload ran: %q", l)
		}
	}
	p.close()
	out, _, _ := runOnce(t, dir, baseEnv(), "", "check")
	if strings.Contains(out, "@webhook alerts has no webhooks") {
		t.Error("check warns about a hook that has an entry")
	}
}

func TestSlackHealthzAndReconnectMetric(t *testing.T) {
	fs, p, _ := slackBot(t, "http: {listen: \"127.0.0.1:0\"}\n")
	base := httpAddr(t, p)
	// The fake sees the socket before the adapter has its hello: wait for
	// the adapter to count itself connected.
	waitHealthz(t, base, 200, 20*time.Second)
	fs.Drop()
	if !fs.WaitConnected(20 * time.Second) {
		t.Fatal("no reconnect")
	}
	fs.Message("U1", "D1", "ping", "")
	expectPost(t, fs, "D1", "", "PONG")
	if _, body := do(t, "GET", base+"/metrics", ""); !strings.Contains(body, "wirebot_adapter_reconnects_total 1") {
		t.Errorf("reconnect not counted:\n%s", body)
	}
	fs.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := do(t, "GET", base+"/healthz", "")
		if code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz still %d with Slack gone", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopBot(t, p)
}
