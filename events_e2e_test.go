package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// evStartBot starts a bot whose config is http + the given webhooks YAML.
func evStartBot(t *testing.T, dir, webhooks string) (*botProc, string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("http: {listen: \"127.0.0.1:0\"}\nwebhooks:\n"+webhooks), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBot(t, dir, baseEnv())
	return p, httpAddr(t, p)
}

func TestEventsGitHub(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "gh.sh", "#!/bin/sh\n# @webhook gh\necho \"script saw $WIREBOT_HOOK $WIREBOT_EVENT $WIREBOT_HEADER_X_GITHUB_EVENT auth=$WIREBOT_HEADER_AUTHORIZATION\"\n")
	p, base := evStartBot(t, dir, `  - name: gh
    secret: "It's a Secret to Everybody"
    channel: "#dev"
    format: github
    message: '{{if eq .event "push"}}{{.repository.full_name}}: {{.pusher.name}} pushed {{len .commits}} commits to {{.ref}}{{else}}{{.repository.full_name}}: PR #{{.number}} {{.action}}: {{.pull_request.title}}{{end}}'
`)
	// GitHub's documented vector is accepted (not JSON: 400 after the signature passed).
	if code, body := do(t, "POST", base+"/hooks/gh", "Hello, World!", "X-Hub-Signature-256",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "X-GitHub-Event", "push"); code != 400 || !strings.Contains(body, "github body") {
		t.Errorf("documented vector: %d %q, want the signature accepted and the body refused as not JSON", code, body)
	}
	ping := `{"zen":"Keep it logically awesome.","hook_id":1}`
	if code, _ := do(t, "POST", base+"/hooks/gh", ping, "X-Hub-Signature-256", sign("It's a Secret to Everybody", ping), "X-GitHub-Event", "ping"); code != 200 {
		t.Errorf("ping: %d, want 200", code)
	}
	push := `{"ref":"refs/heads/main","repository":{"full_name":"acme/web"},"pusher":{"name":"ann"},"commits":[{"id":"a"},{"id":"b"}]}`
	form := "payload=" + url.QueryEscape(push)
	if code, body := do(t, "POST", base+"/hooks/gh", form, "X-Hub-Signature-256", sign("It's a Secret to Everybody", form),
		"X-GitHub-Event", "push", "Content-Type", "application/x-www-form-urlencoded"); code != 202 {
		t.Fatalf("form-encoded push: %d %s", code, body)
	}
	p.expect(`acme/web: ann pushed 2 commits to refs/heads/main$`)
	p.expect(`script saw gh push push auth=$`)
	pr := `{"action":"opened","number":7,"pull_request":{"title":"Fix it"},"repository":{"full_name":"acme/web"}}`
	do(t, "POST", base+"/hooks/gh", pr, "X-Hub-Signature-256", sign("It's a Secret to Everybody", pr), "X-GitHub-Event", "pull_request", "Authorization", "token x")
	p.expect(`acme/web: PR #7 opened: Fix it$`)
	p.send("ping")
	for _, l := range p.until("PONG") {
		if strings.Contains(l, "zen") || strings.Contains(l, "Keep it") {
			t.Errorf("ping posted or ran something: %q", l)
		}
	}
	p.close()
}

func TestEventsThrottle(t *testing.T) {
	dir := t.TempDir()
	p, base := evStartBot(t, dir, `  - {name: mon, secret: s3cret, channel: "#ops", format: json, key: "{{.service}}", throttle: 10s,
     when: 'status == "down"', message: "{{upper .service}} is down ({{.n}})"}
`)
	for i := 1; i <= 20; i++ {
		body := fmt.Sprintf(`{"service":"web","status":"down","n":%d}`, i)
		if code, _ := do(t, "POST", base+"/hooks/mon", body, "Authorization", "Bearer s3cret"); code != 202 {
			t.Fatalf("event %d: %d", i, code)
		}
		time.Sleep(100 * time.Millisecond) // 20 events over 2 s, as the issue says: pacing, not synchronisation
	}
	if code, _ := do(t, "POST", base+"/hooks/mon", `{"service":"web","status":"up"}`, "Authorization", "Bearer s3cret"); code != 202 {
		t.Fatalf("filtered: %d", code)
	}
	p.expect(`WEB is down \(1\)$`)
	l := p.expectWithin(`.*(?:WEB is down|and \d+ more).*`, 20*time.Second)[0]
	if !strings.Contains(l, "and 19 more since ") || !strings.Contains(l, "WEB is down (20)") {
		t.Fatalf("second post %q, want the 19 held back summed up", l)
	}
	_, metrics := do(t, "GET", base+"/metrics", "")
	for _, want := range []string{`wirebot_webhooks_total{hook="mon",result="throttled"} 19`, `wirebot_webhooks_total{hook="mon",result="filtered"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	p.close()
}

func TestEventsCheckNamesPosition(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	for _, tc := range []struct{ hook, want string }{
		{`{name: a, secret: s, channel: "#x", format: json, when: 'status == "down" &&'}`, `webhooks[0].when: `},
		{`{name: a, secret: s, channel: "#x", message: "{{.a"}`, `webhooks[0].message: template: message:1:`},
		{`{name: a, secret: s, channel: "#x", format: yaml}`, `webhooks[0].format: `},
		{`{name: a, secret: s, channel: "#x", max_body: 99999999999}`, `webhooks[0].max_body`},
	} {
		os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("webhooks:\n  - "+tc.hook+"\n"), 0o600)
		_, stderr, code := runOnce(t, dir, baseEnv(), "", "check")
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", tc.hook, code, stderr, tc.want)
		}
		if strings.Contains(tc.hook, "when") && !strings.Contains(stderr, "(1:") {
			t.Errorf("when error without line:column: %q", stderr)
		}
	}
}

// amBody is an Alertmanager webhook body for group DiskFull.
func amBody(status string, n int) string {
	var alerts []string
	for i := range n {
		alerts = append(alerts, fmt.Sprintf(`{"status":%q,"labels":{"alertname":"DiskFull","instance":"h%d"},"annotations":{"summary":"Disk full"}}`, status, i))
	}
	return fmt.Sprintf(`{"version":"4","status":%q,"receiver":"wirebot","groupKey":"{}:{alertname=\"DiskFull\"}","groupLabels":{"alertname":"DiskFull"},`+
		`"commonLabels":{"alertname":"DiskFull","severity":"critical"},"commonAnnotations":{"summary":"Disk full"},"alerts":[%s]}`, status, strings.Join(alerts, ","))
}

// TestEventsAlertmanagerReplyLinesWithoutThreads: on an adapter without
// threads (the shell), later notifications of a group are reply lines
// naming it; identical reminders are not dropped; after the resolution a
// new firing starts over at the top level; a restart keeps the group.
func TestEventsAlertmanagerReplyLinesWithoutThreads(t *testing.T) {
	dir := t.TempDir()
	hook := `  - {name: am, secret: s3cret, channel: "#ops", format: alertmanager}
`
	p, base := evStartBot(t, dir, hook)
	post := func(body string) {
		t.Helper()
		if code, answer := do(t, "POST", base+"/hooks/am", body, "Authorization", "bearer s3cret"); code != 202 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	post(amBody("firing", 3))
	p.expect(`^\[FIRING:3\] alertname=DiskFull - Disk full$`)
	post(amBody("firing", 3)) // a reminder: byte-identical, not a duplicate
	p.expect(`^↳ \[alertname=DiskFull\] \[FIRING:3\] alertname=DiskFull - Disk full$`)
	p.close()
	p = startBot(t, dir, baseEnv())
	base = httpAddr(t, p)
	post(amBody("resolved", 3))
	p.expect(`^↳ \[alertname=DiskFull\] \[RESOLVED\] alertname=DiskFull - Disk full$`)
	post(amBody("firing", 1))
	p.expect(`^\[FIRING:1\] alertname=DiskFull - Disk full$`)
	p.close()
}

// TestEventsApprovedHookKeepsEventEnv: a webhook script that needs
// approval still sees WIREBOT_HOOK and WIREBOT_EVENT when approved.
func TestEventsApprovedHookKeepsEventEnv(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "gh.sh", "#!/bin/sh\n# @webhook gh\n# @approve admins\necho \"approved run: $WIREBOT_HOOK $WIREBOT_EVENT\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`http: {listen: "127.0.0.1:0"}
admins: [root]
webhooks:
  - {name: gh, secret: s3cret, channel: "#dev", format: github}
`), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)
	body := `{"ref":"refs/heads/main"}`
	if code, _ := do(t, "POST", base+"/hooks/gh", body, "X-Hub-Signature-256", sign("s3cret", body), "X-GitHub-Event", "push"); code != 202 {
		t.Fatalf("push: %d", code)
	}
	id := p.expect("`approve ([A-Z0-9]{6})`")[1]
	p.send("/user root", "approve "+id)
	p.expect(`^approved run: gh push$`)
	p.close()
}
