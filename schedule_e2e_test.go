package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConfigAndScriptSchedulesPost(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "tick.sh", "#!/bin/sh\n# @cron @every 1s #alerts\necho \"tick as $WIREBOT_USER in $WIREBOT_CHANNEL via $WIREBOT_TRIGGER\"\n")
	writeScript(t, dir, "report.sh", "#!/bin/sh\n# @respond ^report (\\w+)$\n# @allow ops\necho \"report $1 as $WIREBOT_USER in $WIREBOT_CHANNEL\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("groups: {ops: [alice]}\nschedules:\n  - {name: morning, cron: \"@every 1s\", channel: \"#ops\", command: report daily}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	// The scheduler may run an @allow ops command: an operator configured it.
	p.expectWithin(`^report daily as scheduler in ops$`, 5*time.Second)
	p.expectWithin(`^tick as scheduler in alerts via cron$`, 5*time.Second)
	p.send("schedule list")
	p.expect(`^config:morning: "@every 1s" report daily in #ops by scheduler, next \d{4}-`)
	p.close()
	out, _, _ := runOnce(t, dir, baseEnv(), "", "check")
	if !regexp.MustCompile(`(?m)^tick\.sh +cron +@every 1s #alerts +- +-$`).MatchString(out) {
		t.Errorf("check does not show the @cron line:\n%s", out)
	}
}

func TestChatScheduleAddListRemoveAndRestart(t *testing.T) {
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	writeScript(t, dir, "mark.sh", "#!/bin/sh\n# @respond ^mark (\\w+)$\necho \"$1 $WIREBOT_USER $WIREBOT_CHANNEL\" >> "+marks+"\necho \"marked $1 for $WIREBOT_USER in $WIREBOT_CHANNEL\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("chat_schedules: {min_interval: 1s}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("/user alice", "/channel ops", `schedule add "@every 1s" mark a`)
	id := p.expect(`^Scheduled (S[A-Z0-9]{5}): "mark a" at "@every 1s" in ops, as alice; next run `)[1]
	p.expect(`^marked a for alice in ops$`)
	p.send("schedule list")
	p.expect(`^` + id + `: "@every 1s" mark a in #ops by alice, next `)
	p.send("/user bob", "schedule remove "+id)
	p.expect(`^Sorry bob, schedule ` + id + ` belongs to alice; only they or an admin may remove it\.$`)
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// It survives a restart and fires after it.
	os.Remove(marks)
	p = startBot(t, dir, baseEnv())
	p.expectWithin(`^marked a for alice in ops$`, 5*time.Second)
	p.send("/user alice", "schedule remove "+id)
	p.expect(`^Removed schedule ` + id + ` \("@every 1s" mark a\)\.$`)
	// A removed schedule stops.
	time.Sleep(300 * time.Millisecond)
	before, _ := os.ReadFile(marks)
	time.Sleep(2500 * time.Millisecond)
	after, _ := os.ReadFile(marks)
	if string(after) != string(before) {
		t.Fatalf("removed schedule still runs: %q then %q", before, after)
	}
	p.send("schedule list")
	p.expect(`^No schedules\.`)
	p.close()
}

func TestScheduleOwnerWhoLostAccessIsRefused(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "secret.sh", "#!/bin/sh\n# @respond ^secret$\n# @allow ops\necho the secret\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("admins: [root]\ngroups: {ops: [alice]}\nchat_schedules: {min_interval: 1s}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("/user carol", `schedule add "@every 1s" secret`)
	p.expect(`^Sorry carol, secret.sh is only for members of ops, so you cannot schedule it\.$`)
	p.send("/user alice", `schedule add "@every 1s" secret`)
	p.expect(`^Scheduled S`)
	p.expectWithin(`^the secret$`, 5*time.Second)
	p.send("/user root", "group remove ops alice")
	p.expect(`^Removed alice from ops\.$`)
	p.expectWithin(`^Sorry alice, secret.sh is only for members of ops\.$`, 5*time.Second)
	p.close()
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 100\n")
	if !strings.Contains(out, "alice in shell: secret.sh \"secret\" -> refused") || !strings.Contains(out, "[cron]") {
		t.Errorf("the refused scheduled run is not in history:\n%s", out)
	}
}

func TestOverlappingRunIsSkipped(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	writeScript(t, dir, "slow.sh", "#!/bin/sh\n# @cron @every 1s #ops\necho start >> "+log+"\nsleep 2.5\necho end >> "+log+"\n")
	p := startBot(t, dir, baseEnv())
	time.Sleep(6 * time.Second)
	p.close()
	data, _ := os.ReadFile(log)
	lines := strings.Fields(string(data))
	running := 0
	for _, l := range lines {
		if l == "start" {
			running++
		} else {
			running--
		}
		if running > 1 {
			t.Fatalf("runs overlapped: %q", lines)
		}
	}
	if strings.Count(string(data), "start") < 2 {
		t.Fatalf("too few runs to tell: %q", lines)
	}
	if !strings.Contains(p.stderr.String(), "schedule skipped: its previous run is still going") {
		t.Error("the skipped tick is not logged")
	}
}

func TestBadSpecsNamed(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "x.sh", "#!/bin/sh\n# @respond ^x$\necho x\n")
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("schedules:\n  - {name: n, cron: \"*/5 * * *\", channel: ops, command: x}\n"), 0o600)
	_, stderr, code := runOnce(t, dir, baseEnv(), "", "check", "--config", "bad.yaml")
	if code != 2 || !strings.Contains(stderr, `schedules[0].cron: bad spec "*/5 * * *"`) {
		t.Fatalf("config: exit %d, %q", code, stderr)
	}
	writeScript(t, dir, "badcron.sh", "#!/bin/sh\n# @cron every day #ops\necho\n")
	out, _, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 1 || !strings.Contains(out, `scripts/badcron.sh:2: @cron: bad spec "every day"`) {
		t.Fatalf("header: exit %d, %q", code, out)
	}
	out, _, _ = runOnce(t, dir, baseEnv(), `schedule add "* * * * * * *" x`+"\n")
	if !strings.Contains(out, `Sorry, bad schedule "* * * * * * *"`) {
		t.Fatalf("chat: %q", out)
	}
}

func TestEmptyScheduledOutputPostsNothing(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	writeScript(t, dir, "quiet.sh", "#!/bin/sh\n# @cron @every 1s #ops\necho run >> "+runs+"\n")
	p := startBot(t, dir, baseEnv())
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(runs)
		if strings.Count(string(data), "run") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("quiet.sh did not run twice")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.send("ping")
	if l := p.expect(`.*`)[0]; l != "PONG" {
		t.Fatalf("a silent scheduled script posted %q", l)
	}
	p.close()
}

func TestSlackSchedulePostsToItsChannel(t *testing.T) {
	fs, p, _ := slackBot(t, "schedules:\n  - {name: hourly, cron: \"@every 1s\", channel: \"#ops\", command: echo from config}\n")
	post := nextPost(t, fs)
	if post.Channel != "#ops" || post.Text != "from config" {
		t.Fatalf("scheduled post %+v", post)
	}
	stopBot(t, p)
}
