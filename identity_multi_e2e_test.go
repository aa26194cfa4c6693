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

// One bot on the fake Slack and a real ngircd at once.

type multiNet struct {
	fs  *fakeslack.Server
	srv *ngircd
	dir string
	p   *botProc
}

func multiConfig(fs *fakeslack.Server, srv *ngircd, extra string) string {
	return fmt.Sprintf(`adapters: [slack, irc]
slack: {bot_token: xoxb-test-token, app_token: xapp-test-token, api_url: %s}
irc: {server: %q, nick: wirebot, channels: ["#ops"]}
http: {listen: "127.0.0.1:0"}
people: {alice: [slack:U1, irc:alice], bob: [slack:U2, irc:bob], carol: [slack:U3]}
groups: {ops: [alice, bob]}
%s`, fs.APIURL(), srv.addr(), extra)
}

func startMultiNet(t *testing.T, extra string) *multiNet {
	t.Helper()
	m := &multiNet{fs: fakeslack.New(), srv: startNgircd(t), dir: t.TempDir()}
	t.Cleanup(m.fs.Close)
	writeScript(t, m.dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @approve ops\necho \"deployed $1 for $WIREBOT_PERSON as $WIREBOT_PRINCIPAL\"\n")
	writeScript(t, m.dir, "announce.sh", "#!/bin/sh\n# @respond ^announce$\nwirebot say --channel irc:#ops \"hello irc from $WIREBOT_PRINCIPAL\"\nwirebot say --channel slack:#ops \"hello slack\"\n")
	os.WriteFile(filepath.Join(m.dir, "config.yaml"), []byte(multiConfig(m.fs, m.srv, extra)), 0o600)
	m.start(t)
	return m
}

func (m *multiNet) start(t *testing.T) {
	t.Helper()
	m.p = startBot(t, m.dir, baseEnv())
	if !m.fs.WaitConnected(15 * time.Second) {
		t.Fatalf("no Slack connection\n%s", m.p.stderr.String())
	}
}

// slackPost waits for a post in channel whose text matches re.
func multiSlackPost(t *testing.T, fs *fakeslack.Server, channel, re string) fakeslack.Post {
	t.Helper()
	rx := regexp.MustCompile(re)
	var seen []string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p, ok := fs.Next(time.Until(deadline))
		if !ok {
			break
		}
		if p.Channel == channel && rx.MatchString(p.Text) {
			return p
		}
		seen = append(seen, p.Channel+": "+p.Text)
	}
	t.Fatalf("no Slack post in %s matching %q; saw %q", channel, re, seen)
	return fakeslack.Post{}
}

// ircReply waits for a message from the bot to target matching re.
func multiIRCReply(t *testing.T, u *ircUser, target, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		got := u.message("wirebot", target)
		if rx.MatchString(got) {
			return got
		}
		seen = append(seen, got)
	}
	t.Fatalf("%s: no message from wirebot to %s matching %q within 30s; saw %q", u.nick, target, re, seen)
	return ""
}

func TestMultiNetworkApprovalAcrossNetworks(t *testing.T) {
	m := startMultiNet(t, "")
	alice := connectUser(t, m.srv.addr(), "alice", "#ops")
	bob := connectUser(t, m.srv.addr(), "bob", "#ops")
	alice.waitPresent("#ops", "wirebot", 15*time.Second)

	// ping on both networks.
	m.fs.Message("U1", "C1", "!ping", "")
	multiSlackPost(t, m.fs, "C1", "^PONG$")
	alice.say("#ops", "!ping")
	multiIRCReply(t, alice, "#ops", "^PONG$")
	base := httpAddr(t, m.p)
	waitHealthz(t, base, 200, 20*time.Second)
	alice.say("wirebot", "status")
	multiIRCReply(t, alice, "alice", `adapter slack, irc`)

	// alice asks on Slack, in a thread.
	m.fs.Message("U1", "C1", "!deploy web", "1700000000.000100")
	ask := multiSlackPost(t, m.fs, "C1", "`approve [A-Z0-9]+`")
	if ask.Thread != "1700000000.000100" {
		t.Fatalf("request not in alice's thread: %+v", ask)
	}
	id := regexp.MustCompile("`approve ([A-Z0-9]+)`").FindStringSubmatch(ask.Text)[1]

	// pending, asked on IRC, names her principal and person.
	bob.say("wirebot", "pending")
	multiIRCReply(t, bob, "bob", id+`: alice asked "deploy web" .*\[slack:U1, person alice, on slack\]$`)

	// alice, the same person on IRC, cannot approve it.
	alice.say("#ops", "!approve "+id)
	multiIRCReply(t, alice, "#ops", "cannot approve your own request")

	// bob on IRC can; the run happens in alice's Slack thread.
	bob.say("#ops", "!approve "+id)
	multiIRCReply(t, bob, "#ops", "^Approved "+id)
	run := multiSlackPost(t, m.fs, "C1", `^deployed web for alice as slack:U1$`)
	if run.Thread != "1700000000.000100" {
		t.Fatalf("run not in alice's thread: %+v", run)
	}

	// history shows both people.
	m.fs.Message("U1", "D1", "history", "")
	h := multiSlackPost(t, m.fs, "D1", `deploy\.sh`)
	for _, want := range []string{"person alice", "approved by bob (person bob, irc:bob)"} {
		if !strings.Contains(h.Text, want) {
			t.Errorf("history lacks %q:\n%s", want, h.Text)
		}
	}
	stopBot(t, m.p)
}

func TestMultiNetworkScheduleToBoth(t *testing.T) {
	m := startMultiNet(t, `schedules: [{name: both, cron: "@every 1s", channel: [slack:#ops, irc:#ops], command: ping}]`+"\n")
	dave := connectUser(t, m.srv.addr(), "dave", "#ops")
	multiSlackPost(t, m.fs, "#ops", "^PONG$")
	multiIRCReply(t, dave, "#ops", "^PONG$")
	// wirebot say --channel takes ADAPTER:CHANNEL too.
	m.fs.Message("U1", "C1", "!announce", "")
	multiIRCReply(t, dave, "#ops", "^hello irc from slack:U1$")
	multiSlackPost(t, m.fs, "C1", "^hello slack$") // C1 is #ops: the run's own channel
	stopBot(t, m.p)
}

func TestMultiNetworkBareGroupEntryIsACheckError(t *testing.T) {
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "scripts"), 0o755)
	cfg := fmt.Sprintf("adapters: [slack, irc]\nslack: {bot_token: xoxb-t, app_token: xapp-t, api_url: %s}\ngroups: {ops: [bob, irc:alice]}\n", fs.APIURL())
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	_, stderr, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 2 || !strings.Contains(stderr, `groups.ops: "bob" is neither a person`) {
		t.Fatalf("check: exit %d, stderr %s", code, stderr)
	}
	// With one adapter the bare entry is that adapter's user, and check
	// shows who each group is.
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("people: {alice: [shell:alice, irc:alice]}\ngroups: {ops: [bob, alice]}\n"), 0o600)
	out, stderr, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 0 || !strings.Contains(out, "ops     alice (shell:alice, irc:alice), bob (shell id or user name)") {
		t.Fatalf("check: exit %d, out %s, stderr %s", code, out, stderr)
	}
}

var linkCodeRE = regexp.MustCompile(`say there: link (\d{6})`)

func TestMultiNetworkLinkByCode(t *testing.T) {
	m := startMultiNet(t, "")
	carol := connectUser(t, m.srv.addr(), "carol", "#ops")
	carol.waitPresent("#ops", "wirebot", 15*time.Second)

	// A code for nobody links nothing.
	carol.say("wirebot", "link 123456")
	multiIRCReply(t, carol, "carol", "no link waiting")

	carol.say("wirebot", "link carol")
	multiIRCReply(t, carol, "carol", `A code went to slack:U3 by direct message`)
	dm := multiSlackPost(t, m.fs, "DU3", `say there: link \d{6}`)
	code := linkCodeRE.FindStringSubmatch(dm.Text)[1]
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	carol.say("wirebot", "link "+wrong)
	multiIRCReply(t, carol, "carol", "wrong; nothing was linked")
	carol.say("wirebot", "whoami")
	multiIRCReply(t, carol, "carol", `Principal irc:carol, no person`)

	carol.say("wirebot", "link "+code)
	multiIRCReply(t, carol, "carol", `^Linked: irc:carol is carol now\.$`)
	carol.say("wirebot", "whoami")
	multiIRCReply(t, carol, "carol", `Principal irc:carol, person carol \(also slack:U3; linked in chat: irc:carol\)`)
	// The code is single use.
	carol.say("wirebot", "link "+code)
	multiIRCReply(t, carol, "carol", "no link waiting")

	// A restart keeps the link.
	stopBot(t, m.p)
	m.start(t)
	carol.waitPresent("#ops", "wirebot", 15*time.Second)
	carol.say("wirebot", "whoami")
	multiIRCReply(t, carol, "carol", `person carol`)

	// Only the person or an admin unlinks.
	dave := connectUser(t, m.srv.addr(), "dave")
	dave.say("wirebot", "unlink irc:carol")
	multiIRCReply(t, dave, "dave", "only carol or an admin may unlink")
	m.fs.Message("U3", "D3", "unlink irc:carol", "")
	multiSlackPost(t, m.fs, "D3", `^Unlinked irc:carol from carol\.$`)
	carol.say("wirebot", "whoami")
	multiIRCReply(t, carol, "carol", `no person`)
	stopBot(t, m.p)
}
