package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// One bot on a real prosody, Dendrite and ngircd at once (issue 11): a
// person linked across Matrix and IRC approves a request made on XMPP.

// xmppNext waits for a message from the bot to u matching re.
func xmppNext(t *testing.T, u *xmppUser, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case m, ok := <-u.in:
			if !ok {
				t.Fatalf("%s: connection closed; saw %q", u.jid, seen)
			}
			if m.Remote != prosodyRoom+"/wirebot" && !strings.HasPrefix(m.Remote, "wirebot@"+prosodyDomain) {
				continue
			}
			if rx.MatchString(m.Text) {
				return m.Text
			}
			seen = append(seen, m.Text)
		case <-timer.C:
			t.Fatalf("%s: no message from the bot matching %q within 30s; saw %q", u.jid, re, seen)
		}
	}
}

// ircSaid waits for a message from the bot to target, as u sees it,
// matching re.
func ircSaid(t *testing.T, u *ircUser, target, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	prefix := " PRIVMSG " + target + " :"
	var seen []string
	for {
		select {
		case l, ok := <-u.lines:
			if !ok {
				t.Fatalf("%s: connection closed; saw %q", u.nick, seen)
			}
			i := strings.Index(l, prefix)
			if !strings.HasPrefix(l, ":wirebot!") || i < 0 {
				continue
			}
			text := l[i+len(prefix):]
			if rx.MatchString(text) {
				return text
			}
			seen = append(seen, text)
		case <-timer.C:
			t.Fatalf("%s: no message from the bot to %s matching %q within 30s; saw %q", u.nick, target, re, seen)
		}
	}
}

func TestMultiNetworkXMPPRequestApprovedFromMatrixAndIRC(t *testing.T) {
	start := time.Now()
	pros := startProsody(t)
	pros.register("wirebot", "botpass")
	pros.register("bob", "bobpass")
	den := startDendrite(t, nil)
	irc := startNgircd(t)

	bob := connectXMPPUser(t, pros, "bob", "bobpass", prosodyRoom)
	annMX := den.user("ann")
	ops := annMX.createRoom("ops", nil, false, nil)
	mxPassword, _ := den.registerBot()
	annIRC := connectUser(t, irc.addr(), "ann", "#ops")
	mallory := connectUser(t, irc.addr(), "mallory", "#ops")

	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @approve ops\n"+
		"echo \"$1 $WIREBOT_ADAPTER\" >> \"$RUNS\"\necho \"deployed $1 for $WIREBOT_PERSON as $WIREBOT_PRINCIPAL\"\n")
	// oncall names ann by her IRC principal only: her Matrix principal is
	// the same person, so it is in oncall too.
	writeScript(t, dir, "restart.sh", "#!/bin/sh\n# @respond ^restart (\\S+)$\n# @approve oncall\n"+
		"echo \"$1 $WIREBOT_ADAPTER\" >> \"$RUNS\"\necho \"restarted $1\"\n")
	cfg := fmt.Sprintf(`adapters: [xmpp, matrix, irc]
xmpp: {jid: "wirebot@%s", password: botpass, server: %q, tls: none, rooms: [%q], nick: wirebot}
matrix: {homeserver: %q, user_id: %q, password: %q, rooms: ["#ops:localhost"]}
irc: {server: %q, nick: wirebot, channels: ["#ops"]}
http: {listen: "127.0.0.1:0"}
scripts: {env: {RUNS: %q}}
people: {ann: ["matrix:@ann:localhost", "irc:ann"], bob: ["xmpp:bob@localhost"]}
groups: {ops: [ann], oncall: ["irc:ann"]}
`, prosodyDomain, pros.addr(), prosodyRoom, den.url(), mxBot, mxPassword, irc.addr(), runs)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBot(t, dir, baseEnv())
	waitHealthz(t, httpAddr(t, p), 200, 60*time.Second)
	annMX.waitMember(ops, mxBot)
	annIRC.waitPresent("#ops", "wirebot", 15*time.Second)
	t.Logf("three servers and the bot up after %s", time.Since(start))

	// bob asks in the XMPP room.
	bob.say("!deploy web")
	ask := xmppNext(t, bob, "`approve [A-Z0-9]+`")
	id := regexp.MustCompile("`approve ([A-Z0-9]+)`").FindStringSubmatch(ask)[1]

	// A stranger on IRC, linked to no one, cannot approve it.
	mallory.say("#ops", "!approve "+id)
	ircSaid(t, mallory, "#ops", "only members of ops may approve "+id)

	// ann approves from Matrix; the run happens once, in bob's XMPP room.
	annMX.say(ops, "!approve "+id)
	if m := annMX.next(ops, mxBot, 20*time.Second); !strings.HasPrefix(m.content.Body, "Approved "+id+": running \"deploy web\" (deploy.sh) for bob@localhost.") {
		t.Fatalf("matrix: approve answered %q", m.content.Body)
	}
	xmppNext(t, bob, `^@ann:localhost \(person ann, matrix:@ann:localhost\) approved `+id+
		`: running "deploy web" \(deploy\.sh\) for bob@localhost \(person bob, xmpp:bob@localhost\)\.$`)
	xmppNext(t, bob, `^deployed web for bob as xmpp:bob@localhost$`)

	// ann again, from IRC: she is the same person, and it is not pending.
	annIRC.say("#ops", "!approve "+id)
	ircSaid(t, annIRC, "#ops", "no pending request "+id)

	// A second request, approved by ann from both networks at once: one
	// approval wins, the other finds nothing pending.
	bob.say("!deploy api")
	ask = xmppNext(t, bob, "`approve [A-Z0-9]+`")
	id2 := regexp.MustCompile("`approve ([A-Z0-9]+)`").FindStringSubmatch(ask)[1]
	annIRC.say("#ops", "!approve "+id2)
	annMX.say(ops, "!approve "+id2)
	ircGot := ircSaid(t, annIRC, "#ops", id2)
	mxGot := annMX.next(ops, mxBot, 20*time.Second).content.Body
	approved, none := 0, 0
	for _, got := range []string{ircGot, mxGot} {
		switch {
		case strings.HasPrefix(got, "Approved "+id2+": running \"deploy api\" (deploy.sh) for bob@localhost."):
			approved++
		case strings.Contains(got, "no pending request "+id2):
			none++
		}
	}
	if approved != 1 || none != 1 {
		t.Fatalf("two approvals at once: irc %q, matrix %q; want one approved and one not pending", ircGot, mxGot)
	}
	xmppNext(t, bob, `^deployed api for bob as xmpp:bob@localhost$`)

	// A group that names ann's IRC principal takes her approval from Matrix.
	bob.say("!restart db")
	ask = xmppNext(t, bob, "`approve [A-Z0-9]+`")
	id3 := regexp.MustCompile("`approve ([A-Z0-9]+)`").FindStringSubmatch(ask)[1]
	annMX.say(ops, "!approve "+id3)
	if m := annMX.next(ops, mxBot, 20*time.Second); !strings.HasPrefix(m.content.Body, "Approved "+id3+": running \"restart db\"") {
		t.Fatalf("matrix: approve of a request for oncall (irc:ann) answered %q", m.content.Body)
	}
	xmppNext(t, bob, `^restarted db$`)

	// Exactly one run of each, on XMPP; nothing leaked to Matrix or IRC.
	bob.say("!ping")
	xmppNext(t, bob, "^PONG$")
	annMX.say(ops, "!ping")
	if m := annMX.next(ops, mxBot, 20*time.Second); m.content.Body != "PONG" {
		t.Fatalf("matrix: after the approvals the bot said %q", m.content.Body)
	}
	annIRC.say("#ops", "!ping")
	if got := annIRC.message("wirebot", "#ops"); got != "PONG" {
		t.Fatalf("irc: after the approvals the bot said %q", got)
	}
	got, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "web xmpp\napi xmpp\ndb xmpp\n" {
		t.Fatalf("runs: %q, want web, api and db, once each, on xmpp", got)
	}

	// history names the requester and the approver with their principals.
	bob.private("history")
	h := xmppNext(t, bob, `deploy\.sh`)
	for _, want := range []string{`deploy.sh "deploy web" -> ok (exit 0)`, "approved by @ann:localhost (person ann, matrix:@ann:localhost) [request " + id + "] [xmpp:bob@localhost, person bob]"} {
		if !strings.Contains(h, want) {
			t.Errorf("history lacks %q: %s", want, h)
		}
	}
	stopBot(t, p)
	t.Logf("whole test %s", time.Since(start))
}
