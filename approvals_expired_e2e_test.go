package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/boltstore"
)

// putStoredApproval writes a request into the data file before the bot
// starts.
func putStoredApproval(t *testing.T, dir string, a bot.Approval) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "wirebot.db"), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutApproval(a); err != nil {
		t.Fatal(err)
	}
}

func TestLateApproveOfExpiredRequest(t *testing.T) {
	dir := t.TempDir()
	// Expired an hour ago; with approvals.ttl 1h the sweeper's first pass is
	// 30 s away, so the approval below finds it still in the store.
	putStoredApproval(t, dir, bot.Approval{ID: "EXPRD2", Target: "deploy.sh", Kind: bot.Respond, Trigger: bot.TriggerChat,
		Command: "deploy web to prod", Text: "deploy web to prod", Requester: bot.User{ID: "alice", Name: "alice"},
		Channel: bot.Channel{ID: "ops", Name: "ops"}, Thread: "", Adapter: "shell", Groups: []string{"ops"},
		Created: time.Now().Add(-2 * time.Hour), Expires: time.Now().Add(-time.Hour)})
	p := securityBot(t, dir, "")
	p.send("/user bob", "/channel elsewhere", "approve exprd2", "ping")
	lines := strings.Join(p.until("PONG"), "\n")
	// The approver is told it expired, and where the requester was told.
	if !regexp.MustCompile(`(?m)^Request EXPRD2 expired at \d\d:\d\d:\d\d without approval, so it will not run; alice was told in ops\. Ask again if it is still needed\.$`).MatchString(lines) {
		t.Errorf("the approver's answer:\n%s", lines)
	}
	// The requester is told where they asked.
	if !regexp.MustCompile(`(?m)^Request EXPRD2 \("deploy web to prod", asked by alice\) expired without approval; bob tried to approve it too late\.$`).MatchString(lines) {
		t.Errorf("the requester is not told:\n%s", lines)
	}
	if strings.Contains(lines, "deployed") {
		t.Fatalf("the expired request ran:\n%s", lines)
	}
	p.send("approve EXPRD2")
	p.expect(`^There is no pending request EXPRD2`)
	p.send("/user root", "history 5", "ping")
	hist := strings.Join(p.until("PONG"), "\n")
	for _, want := range []string{`alice in ops: deploy.sh "deploy web to prod" -> expired [request EXPRD2]`, `bob in elsewhere: approve "approve exprd2" -> expired`} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if strings.Contains(hist, `approve "approve exprd2" -> refused`) {
		t.Errorf("the late approval is audited as refused:\n%s", hist)
	}
	p.close()
}
