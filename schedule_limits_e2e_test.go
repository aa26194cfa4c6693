package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/boltstore"
)

const scheduleLimitsConfig = "admins: [root]\ngroups: {ops: [alice]}\n" +
	"chains:\n  - {name: grant, respond: '^grant (?P<who>\\S+)$', steps: [\"whoami\", \"group add ops {who}\"]}\n"

func scheduleLimitsBot(t *testing.T, dir, extra string) *botProc {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(scheduleLimitsConfig+extra), 0o600)
	return startBot(t, dir, baseEnv())
}

// countSchedules asks schedule list and counts the chat schedules (S...).
func countSchedules(p *botProc) int {
	p.t.Helper()
	p.send("schedule list", "ping")
	n := 0
	for _, l := range p.until("PONG") {
		if strings.HasPrefix(l, "S") && strings.Contains(l, ": \"") {
			n++
		}
	}
	return n
}

func TestScheduleCannotScheduleBuiltinsThatManage(t *testing.T) {
	dir := t.TempDir()
	p := scheduleLimitsBot(t, dir, "")
	// An admin is exempt from min_interval, so only the breeding rule stops this.
	p.send("/user root", "/channel ops", `schedule add "* * * * * *" schedule add "* * * * * *" ping`)
	p.expect(`^Sorry, schedule cannot be scheduled: built-ins that manage schedules, groups, links, silences or approvals never run on a schedule\.$`)
	for _, cmd := range []string{"schedule remove S12345", "schedule list", "group add ops bob", "approve ABCDEF", "deny ABCDEF", `schedule add "@every 1h" ping`} {
		p.send(`schedule add "@every 1h" ` + cmd)
		p.expect(`^Sorry, (schedule|group|approve|deny) cannot be scheduled: `)
	}
	// Nor as a chain's step.
	p.send(`schedule add "@every 1h" grant mallory`)
	p.expect(`^Sorry, group cannot be scheduled: `)
	if n := countSchedules(p); n != 0 {
		t.Fatalf("%d schedules were made", n)
	}
	// What is not on the list may still be scheduled.
	p.send(`schedule add "@every 1h" ping`)
	p.expect(`^Scheduled S[A-Z0-9]{5}: "ping"`)
	p.close()
}

func TestScheduleAtMostMaxPerUser(t *testing.T) {
	dir := t.TempDir()
	p := scheduleLimitsBot(t, dir, "")
	p.send("/user alice")
	for i := range 20 {
		p.send(fmt.Sprintf(`schedule add "@every %dh" ping`, i+1))
		p.expect(`^Scheduled S[A-Z0-9]{5}: "ping" at "@every ` + fmt.Sprint(i+1) + `h"`)
	}
	p.send(`schedule add "@every 99h" ping`)
	p.expect(`^Sorry alice, you have 20 schedules already, the most one person may have \(chat_schedules\.max_per_user\)\. Remove one first \(schedule list, schedule remove ID\)\.$`)
	// Admins count too.
	p.send("/user root")
	for i := range 20 {
		p.send(fmt.Sprintf(`schedule add "@every %ds" ping`, i+1))
		p.expect(`^Scheduled S`)
	}
	p.send(`schedule add "@every 99h" ping`)
	p.expect(`^Sorry root, you have 20 schedules already`)
	// Someone else is not held back by them.
	p.send("/user bob", `schedule add "@every 1h" ping`)
	id := p.expect(`^Scheduled (S[A-Z0-9]{5}): "ping"`)[1]
	p.send("schedule remove " + id)
	p.expect(`^Removed schedule ` + id)
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The count holds across a restart, and removing one makes room.
	p = scheduleLimitsBot(t, dir, "")
	p.send("/user alice", `schedule add "@every 99h" ping`)
	p.expect(`^Sorry alice, you have 20 schedules already`)
	p.send("schedule list")
	id = p.expect(`^(S[A-Z0-9]{5}): "@every \d+h" ping in #shell by alice`)[1]
	p.send("schedule remove "+id, `schedule add "@every 99h" ping`)
	p.expect(`^Removed schedule ` + id)
	p.expect(`^Scheduled S[A-Z0-9]{5}: "ping" at "@every 99h"`)
	p.close()
}

func TestScheduleMinInterval(t *testing.T) {
	dir := t.TempDir()
	p := scheduleLimitsBot(t, dir, "")
	p.send("/user alice")
	for _, spec := range []string{"* * * * * *", "@every 30s", "*/10 * * * * *", "0,30 * * * * *", "@every 59s"} {
		p.send(`schedule add "` + spec + `" ping`)
		p.expect(`^Sorry alice, "` + regexpQuote(spec) + `" runs every [0-9ms]+; schedules may not run more often than every 1m \(chat_schedules\.min_interval\) unless an admin makes them\.$`)
	}
	for _, spec := range []string{"@every 1m", "* * * * *", "0 * * * * *", "@hourly"} {
		p.send(`schedule add "` + spec + `" ping`)
		p.expect(`^Scheduled S[A-Z0-9]{5}: "ping" at "` + regexpQuote(spec) + `"`)
	}
	// Admins are excepted: root's schedule runs every second.
	p.send("/user root", "/channel ops", `schedule add "@every 1s" ping`)
	p.expect(`^Scheduled S[A-Z0-9]{5}: "ping" at "@every 1s" in ops, as root`)
	p.expectWithin(`^PONG$`, 5*time.Second)
	p.expectWithin(`^PONG$`, 5*time.Second)
	p.close()

	// Both limits are config keys.
	dir = t.TempDir()
	p = scheduleLimitsBot(t, dir, "chat_schedules: {max_per_user: 2, min_interval: 5s}\n")
	p.send("/user alice", `schedule add "@every 4s" ping`)
	p.expect(`^Sorry alice, "@every 4s" runs every 4s; schedules may not run more often than every 5s \(chat_schedules\.min_interval\)`)
	p.send(`schedule add "@every 5s" ping`, `schedule add "@every 1h" ping`, `schedule add "@every 2h" ping`)
	p.expect(`^Scheduled S`)
	p.expect(`^Scheduled S`)
	p.expect(`^Sorry alice, you have 2 schedules already`)
	p.close()

	_, stderr, code := runOnce(t, dir, baseEnv("WIREBOT_CHAT_SCHEDULES_MIN_INTERVAL=-1s", "WIREBOT_CHAT_SCHEDULES_MAX_PER_USER=-2"), "", "check")
	if code != 2 || !strings.Contains(stderr, "chat_schedules.min_interval") || !strings.Contains(stderr, "chat_schedules.max_per_user") {
		t.Fatalf("bad limits: exit %d, %q", code, stderr)
	}
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `+`, `\+`, `?`, `\?`, `(`, `\(`, `)`, `\)`, `.`, `\.`, `[`, `\[`, `]`, `\]`, `|`, `\|`, `^`, `\^`, `$`, `\$`)
	return r.Replace(s)
}

// putStoredSchedule writes a chat schedule into the data file before the
// bot starts, as an older wirebot would have left it.
func putStoredSchedule(t *testing.T, dir string, cs bot.ChatSchedule) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "wirebot.db"), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutChatSchedule(cs); err != nil {
		t.Fatal(err)
	}
}

func TestStoredBreedingScheduleDoesNotBreed(t *testing.T) {
	dir := t.TempDir()
	ops := bot.Channel{ID: "ops", Name: "ops"}
	// root is an admin, so min_interval does not stop it: the tick must.
	putStoredSchedule(t, dir, bot.ChatSchedule{ID: "SBRED1", Spec: "* * * * * *", Command: `schedule add "* * * * * *" ping`,
		Channel: ops, Owner: bot.User{ID: "root", Name: "root"}, Adapter: "shell", Created: time.Now()})
	// alice is not: her every-second schedule is held back at the tick.
	putStoredSchedule(t, dir, bot.ChatSchedule{ID: "SBRED2", Spec: "* * * * * *", Command: `group add ops mallory`,
		Channel: ops, Owner: bot.User{ID: "alice", Name: "alice"}, Adapter: "shell", Created: time.Now()})
	// A chain with such a step, stored from before, stops at that step.
	putStoredSchedule(t, dir, bot.ChatSchedule{ID: "SBRED3", Spec: "* * * * * *", Command: `grant mallory`,
		Channel: ops, Owner: bot.User{ID: "root", Name: "root"}, Adapter: "shell", Created: time.Now()})
	p := scheduleLimitsBot(t, dir, "")
	p.expectWithin(`^Schedule SBRED3: group cannot run on a schedule`, 5*time.Second)
	p.expectWithin(`^grant step 2/2 \(group add ops mallory\): refused after .*; grant stopped\.$`, 5*time.Second)
	for range 3 {
		p.expectWithin(`^Schedule SBRED1: schedule cannot run on a schedule \(it manages schedules, groups, links, silences or approvals\); remove it with: schedule remove SBRED1$`, 5*time.Second)
	}
	p.send("/user root")
	if n := countSchedules(p); n != 3 {
		t.Fatalf("%d chat schedules, want the 3 stored", n)
	}
	p.send("group list")
	p.expect(`^admins: root$`)
	p.expect(`^ops: alice$`)
	p.close()
	if !strings.Contains(p.stderr.String(), "SBRED2") {
		t.Errorf("the held-back schedule is not logged:\n%s", p.stderr.String())
	}
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 50\n")
	if !strings.Contains(out, `root in ops: schedule "schedule add \"* * * * * *\" ping" -> refused`) || !strings.Contains(out, "[cron]") {
		t.Errorf("the refused ticks are not audited:\n%s", out)
	}
}
