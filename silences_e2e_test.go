package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const silencesConfig = `admins: [root]
groups: {ops: [alice], dev: [carol]}
http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: alerts, secret: s3cret, channel: "#ops", allow: ops}
  - {name: other, secret: s3cret, channel: "#ops"}
`

func silencesBot(t *testing.T, dir string) (*botProc, string) {
	t.Helper()
	marks := filepath.Join(dir, "marks")
	writeScript(t, dir, "alert.sh", "#!/bin/sh\n# @webhook alerts\n# @webhook other\nbody=$(cat)\necho \"$body\" >> "+marks+"\necho \"alert: $body\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(silencesConfig), 0o600)
	p := startBot(t, dir, baseEnv())
	return p, httpAddr(t, p)
}

// postHook posts a signed body and returns the answer's body.
func postHook(t *testing.T, base, hook, body string) string {
	t.Helper()
	code, answer := do(t, "POST", base+"/hooks/"+hook, body, "X-Hub-Signature-256", sign("s3cret", body))
	if code != 202 {
		t.Fatalf("POST /hooks/%s %s: %d %q", hook, body, code, answer)
	}
	return answer
}

func marks(t *testing.T, dir string) string {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, "marks"))
	return string(data)
}

func TestSilencesFromChat(t *testing.T) {
	dir := t.TempDir()
	p, base := silencesBot(t, dir)

	// Who may silence what.
	p.send("/user carol", "silence alerts")
	p.expect(`^Sorry carol, only admins and members of ops may silence alerts\.$`)
	p.send("/user alice", "silence other")
	p.expect(`^Sorry alice, only admins may silence other\.$`)
	p.send("silence nope")
	p.expect(`^There is no webhook nope`)
	p.send(`silence alerts where alert ==`)
	p.expect(`^Sorry, bad where expression alert ==: at column \d+: `)
	p.send("silence alerts for soon")
	p.expect(`^Sorry, "soon" is not a duration such as 30m, 2h or 1d\.$`)
	p.send(`schedule add "@every 1h" silence alerts`)
	p.expect(`^Sorry, silence cannot be scheduled: `)

	p.send(`silence alerts for 2h where alert == "disk" && level >= 2 -- planned maintenance`)
	id := p.expect(`^Silenced alerts for 2h, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d where alert == "disk" && level >= 2 \(planned maintenance\); id ([A-Z0-9]{6})\. End it with: unsilence ([A-Z0-9]{6})$`)[1]
	p.send("silences")
	p.expect(`^` + id + `: alerts until .* \((1h59m\d+s|2h) left\) where alert == "disk" && level >= 2 \(planned maintenance\), by alice$`)

	// A silenced event answers 202 and runs nothing; others still run.
	if a := postHook(t, base, "alerts", `{"alert":"disk","level":3}`); !strings.Contains(a, "silenced by "+id) {
		t.Errorf("silenced answer %q", a)
	}
	postHook(t, base, "alerts", `{"alert":"cpu","level":3}`)
	p.expect(`^alert: \{"alert":"cpu","level":3\}$`)
	postHook(t, base, "alerts", `{"alert":"disk","level":1}`)
	p.expect(`^alert: \{"alert":"disk","level":1\}$`)
	if m := marks(t, dir); strings.Contains(m, `"disk","level":3`) || strings.Count(m, "\n") != 2 {
		t.Fatalf("the silenced event ran:\n%s", m)
	}
	_, metrics := do(t, "GET", base+"/metrics", "")
	if !strings.Contains(metrics, `wirebot_webhooks_total{hook="alerts",result="silenced"} 1`) {
		t.Errorf("silenced event not counted:\n%s", metrics)
	}
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// A restart keeps the silence.
	p, base = silencesBot(t, dir)
	p.send("silences")
	p.expect(`^` + id + `: alerts until `)
	if a := postHook(t, base, "alerts", `{"alert":"disk","level":5}`); !strings.Contains(a, "silenced by "+id) {
		t.Errorf("after a restart: %q", a)
	}
	// Only those who may silence the hook may end it.
	p.send("/user carol", "unsilence "+id)
	p.expect(`^Sorry carol, only admins and members of ops may end silences of alerts\.$`)
	p.send("/user alice", "unsilence "+strings.ToLower(id))
	p.expect(`^Unsilenced ` + id + `: alerts is no longer muted where alert == "disk" && level >= 2 \(planned maintenance\)\.$`)
	p.send("unsilence " + id)
	p.expect(`^There is no silence ` + id)
	p.send("silences")
	p.expect(`^No silences\.`)
	postHook(t, base, "alerts", `{"alert":"disk","level":4}`)
	p.expect(`^alert: \{"alert":"disk","level":4\}$`)
	if strings.Contains(marks(t, dir), `"level":5`) {
		t.Fatal("the event silenced after the restart ran")
	}

	// An admin silences any hook; with no where, all of it; for ends it.
	p.send("/user root", "silence other for 5s")
	p.expect(`^Silenced other for 5s, until `)
	if a := postHook(t, base, "other", `{"n":1}`); !strings.Contains(a, "silenced by") {
		t.Errorf("other not silenced: %q", a)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(postHook(t, base, "other", `{"n":2}`), "silenced by") {
		if time.Now().After(deadline) {
			t.Fatal("the silence did not end")
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.expect(`^alert: \{"n":2\}$`)
	p.close()

	// Made, ended and muted events are all in the audit log.
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 100\n")
	for _, want := range []string{
		`alice in shell: silence "silence alerts for 2h where alert == \"disk\" && level >= 2 -- planned maintenance" -> ok`,
		`alice in shell: unsilence "unsilence ` + strings.ToLower(id) + `" -> ok`,
		`carol in shell: silence "silence alerts" -> refused`,
		`webhook in ops: alerts -> silenced [silence ` + id + `] [webhook]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
}
