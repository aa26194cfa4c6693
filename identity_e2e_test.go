package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// The attacks of issue 10, each refused by the one Same rule.

// identityIRCBot runs the bot on ngircd with groups ops: members and a
// deploy script that needs approval by ops.
func identityIRCBot(t *testing.T, srv *ngircd, extra string) (*botProc, string) {
	t.Helper()
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @approve ops\necho \"deployed $1 for $WIREBOT_USER\"\n")
	cfg := fmt.Sprintf("adapter: irc\nirc: {server: %q, nick: wirebot, channels: [\"#ops\"]}\n%s", srv.addr(), extra)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	return startBot(t, dir, baseEnv()), dir
}

var approveIDRE = regexp.MustCompile("`approve ([A-Z0-9]+)`")

// identityAsk says text in #ops as u and returns the approval id.
func identityAsk(t *testing.T, u *ircUser, text string) string {
	t.Helper()
	u.say("#ops", text)
	return approveIDRE.FindStringSubmatch(multiIRCReply(t, u, "#ops", approveIDRE.String()))[1]
}

// identityRenick changes u's nick and waits for the server to confirm it.
func identityRenick(t *testing.T, u *ircUser, nick string) {
	t.Helper()
	u.raw("NICK " + nick)
	u.wait(" NICK ", 10*time.Second)
	u.nick = nick
}

func TestIdentityIRCNickCaseCannotSelfApprove(t *testing.T) {
	srv := startNgircd(t)
	alice := connectUser(t, srv.addr(), "alice", "#ops")
	bob := connectUser(t, srv.addr(), "bob", "#ops")
	p, _ := identityIRCBot(t, srv, "groups: {ops: [alice, bob]}\n")
	alice.waitPresent("#ops", "wirebot", 15*time.Second)
	id := identityAsk(t, alice, "!deploy web")
	identityRenick(t, alice, "ALICE")
	alice.say("#ops", "!approve "+id)
	if got := alice.message("wirebot", "#ops"); !strings.Contains(got, "cannot approve your own request") {
		t.Fatalf("ALICE approving alice's request: %q", got)
	}
	bob.say("#ops", "!approve "+id)
	multiIRCReply(t, bob, "#ops", "^deployed web for alice$")
	stopBot(t, p)
}

// ngircd refuses non-ASCII nicks, so the look-alike is tried where a user
// may be named anything: ſ (U+017F) folds to s under Unicode case folding.
func TestIdentityLookalikeIsNotAMember(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @approve ops\necho \"deployed $1 for $WIREBOT_USER\"\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("groups: {ops: [sam, bob]}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("/user sam", "deploy web")
	id := p.expect("`approve ([A-Z0-9]+)`")[1]
	p.send("/user ſam", "approve "+id)
	p.expect(`only members of ops may approve ` + id)
	p.send("/user SAM", "approve "+id)
	p.expect(`only members of ops may approve ` + id)
	p.send("/user bob", "approve "+id)
	p.expect(`^deployed web for sam$`)
	p.close()
}

func TestIdentityIRCNickSchedulerAndWebhookGetNothing(t *testing.T) {
	srv := startNgircd(t)
	admin := connectUser(t, srv.addr(), "root", "#ops")
	dir := t.TempDir()
	writeScript(t, dir, "fetch.sh", "#!/bin/sh\n# @respond ^fetch (\\S+)$\necho \"fetched with $1\"\n")
	writeScript(t, dir, "hooked.sh", "#!/bin/sh\n# @respond ^hooked$\n# @allow hooks\necho \"hooked as $WIREBOT_PRINCIPAL\"\n")
	cfg := fmt.Sprintf(`adapter: irc
irc: {server: %q, nick: wirebot, channels: ["#ops"]}
http: {listen: "127.0.0.1:0"}
admins: [root]
groups: {hooks: ["wirebot:webhook"]}
schedules: [{name: nightly, cron: "@every 1s", channel: "#ops", command: "fetch --token=s3cr3t"}]
webhooks: [{name: deploy, secret: hooksecret, channel: "#ops", command: "hooked"}]
`, srv.addr())
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv())
	admin.waitPresent("#ops", "wirebot", 15*time.Second)
	multiIRCReply(t, admin, "#ops", "^fetched with --token=s3cr3t$")
	base := httpAddr(t, p)
	if code, _ := do(t, "POST", base+"/hooks/deploy", "{}", "Authorization", "Bearer hooksecret"); code != 202 {
		t.Fatalf("hook: %d", code)
	}
	multiIRCReply(t, admin, "#ops", "^hooked as wirebot:webhook$")

	for _, nick := range []string{"scheduler", "webhook"} {
		u := connectUser(t, srv.addr(), nick)
		u.say("wirebot", "history 50")
		got := u.message("wirebot", nick)
		if strings.Contains(got, "s3cr3t") || strings.Contains(got, "fetch") || strings.Contains(got, "hooked") {
			t.Errorf("%s reads the bot's runs: %q", nick, got)
		}
		if got != "No runs yet." {
			t.Errorf("%s's history: %q", nick, got)
		}
		u.say("wirebot", "hooked")
		if got := u.message("wirebot", nick); !strings.Contains(got, "only for members of hooks") {
			t.Errorf("%s runs what only webhooks may: %q", nick, got)
		}
	}
	// The admin sees every run, each with its principal.
	admin.say("wirebot", "history 50")
	multiIRCReply(t, admin, "root", `\[wirebot:scheduler\]$`)
	stopBot(t, p)
}

func TestIdentitySlackUserNameIsNotAnID(t *testing.T) {
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	fs.Users["U0MAL"] = "u024be7lh"
	fs.Users["U024BE7LH"] = "dora"
	dir := t.TempDir()
	writeScript(t, dir, "secret.sh", "#!/bin/sh\n# @respond ^secret$\n# @allow ops\necho the secret\n")
	cfg := "adapter: slack\nslack: {bot_token: xoxb-test-token, app_token: xapp-test-token, api_url: " + fs.APIURL() + "}\ngroups: {ops: [U024BE7LH]}\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv())
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatalf("no connection\n%s", p.stderr.String())
	}
	fs.Message("U0MAL", "D1", "secret", "")
	expectPost(t, fs, "D1", "", "Sorry u024be7lh, secret.sh is only for members of ops.")
	fs.Message("U024BE7LH", "D1", "secret", "")
	expectPost(t, fs, "D1", "", "the secret")
	stopBot(t, p)
}
