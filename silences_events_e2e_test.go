package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A silence mutes a hook's own posts (format, when, message: no script),
// where sees the parsed event, a restart keeps the silence, unsilence lifts it.
func TestSilenceMutesHookPosts(t *testing.T) {
	dir := t.TempDir()
	config := `admins: [root]
groups: {oncall: [alice]}
http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: mon, secret: s3cret, channel: "#ops", format: json, allow: oncall,
     when: 'status == "down"', message: "{{upper .service}} is down ({{.n}})"}
`
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600)
	start := func() (*botProc, string) {
		p := startBot(t, dir, baseEnv())
		return p, httpAddr(t, p)
	}
	post := func(base, body string) string {
		t.Helper()
		code, answer := do(t, "POST", base+"/hooks/mon", body, "Authorization", "Bearer s3cret")
		if code != 202 {
			t.Fatalf("POST %s: %d %q", body, code, answer)
		}
		return answer
	}
	// next is the next line the bot writes: nothing silenced comes before it.
	next := func(p *botProc, want string) {
		t.Helper()
		if l := p.expect(`.*`)[0]; l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	p, base := start()
	p.send("/user alice", `silence mon for 1h where service == "db" && headers["X-Env"] != "prod" -- migration`)
	id := p.expect(`^Silenced mon for 1h, until .* where service == "db" .*; id ([A-Z0-9]{6})\.`)[1]
	if a := post(base, `{"service":"db","status":"down","n":1}`); !strings.Contains(a, "silenced by "+id) {
		t.Errorf("db event: %q", a)
	}
	post(base, `{"service":"web","status":"down","n":2}`)
	next(p, "WEB is down (2)")
	if code, _ := do(t, "POST", base+"/hooks/mon", `{"service":"db","status":"down","n":3}`, "Authorization", "Bearer s3cret", "X-Env", "prod"); code != 202 {
		t.Fatalf("prod db event: %d", code)
	}
	next(p, "DB is down (3)") // the silence's where is false for prod: it posts
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	p, base = start()
	if a := post(base, `{"service":"db","status":"down","n":4}`); !strings.Contains(a, "silenced by "+id) {
		t.Errorf("after a restart: %q", a)
	}
	p.send("/user alice", "unsilence "+id)
	p.expect(`^Unsilenced ` + id + `: mon is no longer muted`)
	post(base, `{"service":"db","status":"down","n":5}`)
	next(p, "DB is down (5)")
	_, metrics := do(t, "GET", base+"/metrics", "")
	if !strings.Contains(metrics, `wirebot_webhooks_total{hook="mon",result="silenced"} 1`) {
		t.Errorf("silenced event not counted:\n%s", metrics)
	}
	_, rest := p.close()
	for _, l := range rest {
		if strings.Contains(l, "(1)") || strings.Contains(l, "(4)") {
			t.Fatalf("a silenced event posted: %q", l)
		}
	}
}
