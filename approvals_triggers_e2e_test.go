package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitLog waits until the bot's log holds n lines matching re.
func waitLog(t *testing.T, p *botProc, re string, n int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for len(rx.FindAllString(p.stderr.String(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d log lines match %q:\n%s", n, re, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pendingIDs lists the ids that `pending` shows.
func pendingIDs(p *botProc) []string {
	p.t.Helper()
	p.send("pending", "ping")
	var ids []string
	for _, l := range p.until("PONG") {
		if m := regexp.MustCompile(`^([A-Z0-9]{6}): `).FindStringSubmatch(l); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

func TestConfigScheduleNeedingApprovalAsksOnceAndRunsAsScheduler(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "report.sh", "#!/bin/sh\n# @respond ^report (\\w+)$\n# @allow ops\n# @approve ops\necho \"report $1 as $WIREBOT_USER in $WIREBOT_CHANNEL via $WIREBOT_TRIGGER\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("log: {level: debug}\nadmins: [root]\ngroups: {ops: [alice, bob]}\n"+
		"schedules:\n  - {name: morning, cron: \"@every 1s\", channel: \"#ops\", command: report daily}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	id := p.expectWithin("^scheduler asked to run \"report daily\" \\(report.sh\\) for schedule config:morning, which needs approval by ops\\. .*`approve ([A-Z0-9]{6})`", 5*time.Second)[1]
	// Later ticks wait for the same request rather than asking again.
	waitLog(t, p, `msg="still waiting for approval" id=config:morning`, 2)
	if ids := pendingIDs(p); len(ids) != 1 || ids[0] != id {
		t.Fatalf("pending %v, want only %s", ids, id)
	}
	p.send("/user bob", "approve "+id)
	p.expect(`^Approved ` + id + `: running "report daily" \(report.sh\) for scheduler\.$`)
	// The approved run is the scheduler's, @allow passed, in the schedule's channel.
	p.expect(`^report daily as scheduler in ops via cron$`)
	p.close()
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 20\n")
	if !regexp.MustCompile(`scheduler in ops: report.sh "report daily" -> ok \(exit 0\) in \S+, approved by bob \[request ` + id + `\] \[cron\]`).MatchString(out) {
		t.Errorf("the approved scheduled run is not in history:\n%s", out)
	}
}

func TestCronScriptNeedingApprovalRunsOnceApproved(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "hookapp.sh", "#!/bin/sh\n# @cron @every 1s #ops\n# @approve ops\necho \"hookapp as $WIREBOT_USER in $WIREBOT_CHANNEL via $WIREBOT_TRIGGER\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("log: {level: debug}\ngroups: {ops: [alice, bob]}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	id := p.expectWithin("^scheduler asked to run hookapp.sh for schedule script:hookapp.sh:1, which needs approval by ops\\. .*`approve ([A-Z0-9]{6})`", 5*time.Second)[1]
	waitLog(t, p, `msg="still waiting for approval" id=script:hookapp.sh:1`, 2)
	if ids := pendingIDs(p); len(ids) != 1 {
		t.Fatalf("pending %v, want one", ids)
	}
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// It survives a restart, and is approved after it.
	p = startBot(t, dir, baseEnv())
	p.send("/user alice", "approve "+id)
	p.expect(`^Approved ` + id + `: running hookapp.sh for scheduler\.$`)
	p.expect(`^hookapp as scheduler in ops via cron$`)
	p.close()
}

func TestWebhookNeedingApprovalKeepsItsBody(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "alert.sh", "#!/bin/sh\n# @webhook alerts\n# @approve ops\nprintf 'alert as %s in %s via %s: ' \"$WIREBOT_USER\" \"$WIREBOT_CHANNEL\" \"$WIREBOT_TRIGGER\"; cat; echo\n")
	writeScript(t, dir, "restart.sh", "#!/bin/sh\n# @respond ^restart (\\S+)$\n# @approve ops\necho \"restarted $1 as $WIREBOT_USER in $WIREBOT_CHANNEL via $WIREBOT_TRIGGER\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`log: {level: debug}
admins: [root]
groups: {ops: [alice, bob]}
http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: alerts, secret: s3cret, channel: "#ops", command: "restart web"}
`), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)
	first := `{"alert":"disk full"}`
	if code, _ := do(t, "POST", base+"/hooks/alerts", first, "X-Hub-Signature-256", sign("s3cret", first)); code != 202 {
		t.Fatalf("signed hook: %d", code)
	}
	asks := map[string]string{}
	for range 2 {
		m := p.expect("^webhook asked to run (alert.sh|\"restart web\" \\(restart.sh\\)) for webhook alerts, which needs approval by ops\\. .*`approve ([A-Z0-9]{6})`")
		asks[m[1]] = m[2]
	}
	// More events while both wait: no new request, nothing runs.
	for _, body := range []string{`{"alert":"cpu"}`, `{"alert":"mem"}`} {
		if code, _ := do(t, "POST", base+"/hooks/alerts", body, "Authorization", "Bearer s3cret"); code != 202 {
			t.Fatalf("hook: %d", code)
		}
	}
	waitLog(t, p, `msg="still waiting for approval" id=alerts`, 4)
	if ids := pendingIDs(p); len(ids) != 2 {
		t.Fatalf("pending %v, want two", ids)
	}
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The body waits in the store across a restart.
	p = startBot(t, dir, baseEnv())
	p.send("/user bob", "approve "+asks["alert.sh"])
	p.expect(`^Approved ` + asks["alert.sh"] + `: running alert.sh for webhook\.$`)
	p.expect(`^alert as webhook in ops via webhook: \{"alert":"disk full"\}$`)
	p.send("approve " + asks[`"restart web" (restart.sh)`])
	p.expect(`^Approved ` + asks[`"restart web" (restart.sh)`] + `: running "restart web" \(restart.sh\) for webhook\.$`)
	p.expect(`^restarted web as webhook in ops via webhook$`)
	p.close()
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 20\n")
	for _, want := range []string{"webhook in ops: alert.sh -> ok (exit 0)", "approved by bob [request " + asks["alert.sh"] + "] [webhook]"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "-> pending") != 2 {
		t.Errorf("the waiting events are audited as new requests:\n%s", out)
	}
}
