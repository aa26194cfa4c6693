package main

// The adapter conformance suite: one table of end-to-end cases that every
// adapter runs against its real server (shell: pipes; IRC: ngircd; Slack:
// internal/fakeslack; XMPP: prosody; Matrix: Dendrite).
//
// To add a network, write one confNetwork implementation (and its
// confClient) and add a row to confNetworks. The suite starts the server
// (Setup), starts the bot with the network's config plus the suite's own
// (name, alias, scripts, http), hands the bot to Attach, waits for
// /healthz, and runs every case in order on that one bot. Timings (first
// reply when idle, the 20,000-character reply) are logged with t.Logf as
// "conformance NETWORK: ..." lines: go test -v -run TestConformance.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// confNetwork is one chat network under the suite.
type confNetwork interface {
	// Setup starts the network's server (skipping the test, or failing it
	// in CI, when the server is not installed) and returns the bot's
	// config for it: at least `adapter: NAME` and its section. The bot's
	// name is wirebot and its alias "!".
	Setup(t *testing.T) string
	// Attach is given the running bot before any client is made.
	Attach(t *testing.T, p *botProc)
	// Client connects a user called name (a fresh account or nick per
	// call) who is in the suite's channel together with the bot.
	Client(t *testing.T, name string) confClient
	// Outages reports whether the network has a server to stop; the cases
	// that need an outage are skipped for one without (shell).
	Outages() bool
	// Down stops the server, so that the bot loses its connection, and
	// Up starts it again at the same address with the same accounts.
	Down(t *testing.T)
	Up(t *testing.T)
}

// confClient is a user on a network.
type confClient interface {
	// Say posts text in the suite's channel.
	Say(t *testing.T, text string)
	// Mention posts text addressed with the network's own mention of the
	// bot (Slack's <@U…>, Matrix's pill, "wirebot: " on IRC and XMPP).
	Mention(t *testing.T, text string)
	// Private sends text to the bot in a one-to-one conversation.
	Private(t *testing.T, text string)
	// Next is the next message from the bot this user sees, as its plain
	// text (line breaks as "\n"; code-block fences a network adds taken
	// off), or a failure after d.
	Next(t *testing.T, d time.Duration) confMsg
	// Rejoin connects the user again after the server came back (and
	// into the channel), when the outage cut the user off.
	Rejoin(t *testing.T)
}

// confMsg is one message from the bot.
type confMsg struct {
	Text    string
	Private bool // in the one-to-one conversation, not the channel
}

// confBotSpeaker is an optional ability of a network whose test client can
// post as the bot itself and as another bot, when the server does not
// echo the bot's own messages back to it by itself.
type confBotSpeaker interface {
	SayAsSelf(t *testing.T, text string)
	SayAsOtherBot(t *testing.T, text string)
}

// confNetworks is the table: one row per adapter.
var confNetworks = []struct {
	name string
	new  func() confNetwork
	skip string // why the row does not run yet; "" when it does
}{
	{"shell", func() confNetwork { return &confShell{} }, ""},
	{"irc", func() confNetwork { return &confIRC{} }, ""},
	{"slack", func() confNetwork { return &confSlack{} }, ""},
	{"xmpp", func() confNetwork { return &confXMPP{} }, ""},
	{"matrix", func() confNetwork { return &confMatrix{} }, ""},
}

// confBig is the 20,000-character reply: 20 numbered lines of 999
// characters, so that order and wholeness can both be checked.
func confBig() string {
	var b strings.Builder
	for i := 1; i <= 20; i++ {
		line := fmt.Sprintf("%04d", i)
		for len(line) < 999 {
			line += "abcdefghij"
		}
		b.WriteString(line[:999])
		b.WriteByte('\n')
	}
	return b.String()
}

func confScripts(t *testing.T, dir, flags string) {
	t.Helper()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s\\n' \"$1\"\n")
	writeScript(t, dir, "three.sh", "#!/bin/sh\n# @respond ^three$\nprintf 'one\\ntwo\\nthree\\n'\n")
	writeScript(t, dir, "big.sh", "#!/bin/sh\n# @respond ^big$\n"+
		`awk 'BEGIN{for(i=1;i<=20;i++){s=sprintf("%04d",i); while(length(s)<999) s=s "abcdefghij"; print substr(s,1,999)}}'`+"\n")
	writeScript(t, dir, "later.sh", fmt.Sprintf("#!/bin/sh\n# @respond ^later$\ntouch %[1]s/started\nwhile [ ! -e %[1]s/go ]; do sleep 0.05; done\necho later done\ntouch %[1]s/done\n", flags))
}

// confNoSpace drops all white space: long lines may be split by a network
// anywhere, so wholeness and order are checked on the characters.
func confNoSpace(s string) string { return strings.Join(strings.Fields(s), "") }

func TestConformance(t *testing.T) {
	for _, row := range confNetworks {
		t.Run(row.name, func(t *testing.T) {
			if row.skip != "" {
				t.Skip(row.skip)
			}
			net := row.new()
			cfg := net.Setup(t)
			dir := t.TempDir()
			flags := t.TempDir()
			confScripts(t, dir, flags)
			cfg += "name: wirebot\nalias: \"!\"\nhttp: {listen: \"127.0.0.1:0\"}\n"
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startBot(t, dir, baseEnv())
			base := httpAddr(t, p)
			net.Attach(t, p)
			waitHealthz(t, base, 200, 30*time.Second)
			alice := net.Client(t, "alice")
			confRun(t, row.name, net, alice, p, base, flags)
		})
	}
}

// confExpect waits for the next message from the bot and checks it.
func confExpect(t *testing.T, c confClient, private bool, text string) time.Time {
	t.Helper()
	m := c.Next(t, 20*time.Second)
	if m.Text != text || m.Private != private {
		t.Fatalf("got %+v, want %q (private %v)", m, text, private)
	}
	return time.Now()
}

// confMarker says an addressed "echo" and waits for its answer: proof that
// nothing came before it that should not have.
func confMarker(t *testing.T, c confClient, word string) {
	t.Helper()
	c.Say(t, "!echo "+word)
	confExpect(t, c, false, word)
}

func confRun(t *testing.T, name string, net confNetwork, c confClient, p *botProc, base, flags string) {
	t.Run("first reply when idle", func(t *testing.T) {
		start := time.Now()
		c.Say(t, "!echo first")
		d := confExpect(t, c, false, "first").Sub(start)
		t.Logf("conformance %s: first reply when idle in %s", name, d.Round(time.Millisecond))
		if d > 5*time.Second { // the target is 1 s; the bound leaves room for a loaded machine
			t.Errorf("first reply took %s (target 1 s)", d)
		}
	})
	t.Run("addressing", func(t *testing.T) {
		for _, form := range []string{"wirebot ping", "wirebot: ping", "@wirebot ping", "!ping", "WIREBOT, ping"} {
			c.Say(t, form)
			if m := c.Next(t, 20*time.Second); m.Text != "PONG" || m.Private {
				t.Fatalf("%q: got %+v, want PONG in the channel", form, m)
			}
		}
		c.Mention(t, "ping")
		if m := c.Next(t, 20*time.Second); m.Text != "PONG" || m.Private {
			t.Fatalf("mention: got %+v, want PONG in the channel", m)
		}
	})
	t.Run("unaddressed ignored", func(t *testing.T) {
		if name == "shell" {
			t.Skip("every shell line is addressed")
		}
		c.Say(t, "ping")
		c.Say(t, "echo not for the bot")
		confMarker(t, c, "after-unaddressed")
	})
	t.Run("private message", func(t *testing.T) {
		c.Private(t, "echo in private")
		confExpect(t, c, true, "in private")
		c.Private(t, "ping") // addressed without a name
		confExpect(t, c, true, "PONG")
	})
	t.Run("three lines", func(t *testing.T) {
		c.Say(t, "!three")
		var lines []string
		for len(lines) < 3 {
			m := c.Next(t, 20*time.Second)
			lines = append(lines, strings.Split(m.Text, "\n")...)
		}
		if strings.Join(lines, "|") != "one|two|three" {
			t.Fatalf("got %q", lines)
		}
	})
	t.Run("20000 characters", func(t *testing.T) {
		want := confNoSpace(confBig())
		start := time.Now()
		c.Say(t, "!big")
		var got strings.Builder
		parts := 0
		for got.Len() < len(want) {
			m := c.Next(t, 120*time.Second)
			got.WriteString(confNoSpace(m.Text))
			parts++
			if !strings.HasPrefix(want, got.String()) {
				t.Fatalf("part %d does not continue the reply in order: %.60q...", parts, confNoSpace(m.Text))
			}
		}
		if got.String() != want {
			t.Fatalf("reply of %d characters, want %d", got.Len(), len(want))
		}
		t.Logf("conformance %s: 20,000-character reply whole in %s (%d messages)", name, time.Since(start).Round(time.Millisecond), parts)
	})
	t.Run("own and other bots ignored", func(t *testing.T) {
		// The reply "!echo loop" would be answered "loop" if the bot
		// heard itself (on networks that echo the bot's own messages).
		c.Say(t, "!echo !echo loop")
		confExpect(t, c, false, "!echo loop")
		if s, ok := net.(confBotSpeaker); ok {
			s.SayAsSelf(t, "!echo self")
			s.SayAsOtherBot(t, "!echo other bot")
		}
		confMarker(t, c, "after-bots")
	})
	t.Run("reply while down, reconnect, healthz", func(t *testing.T) {
		if !net.Outages() {
			t.Skip("no server to stop")
		}
		c.Say(t, "!later")
		confWaitFile(t, filepath.Join(flags, "started"))
		net.Down(t)
		waitHealthz(t, base, 503, 30*time.Second)
		if err := os.WriteFile(filepath.Join(flags, "go"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		confWaitFile(t, filepath.Join(flags, "done")) // the reply is made while the server is down
		net.Up(t)
		c.Rejoin(t)
		confExpect(t, c, false, "later done")
		waitHealthz(t, base, 200, 30*time.Second)
		confMarker(t, c, "back")
		// A second restart: rejoined again, answering again.
		net.Down(t)
		waitHealthz(t, base, 503, 30*time.Second)
		net.Up(t)
		c.Rejoin(t)
		waitHealthz(t, base, 200, 60*time.Second)
		confMarker(t, c, "back again")
		if got := metricValue(t, base, "wirebot_adapter_reconnects_total"); got != "2" {
			t.Errorf("wirebot_adapter_reconnects_total %q after two outages, want 2", got)
		}
	})
	stopBot(t, p)
}

func confWaitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- shell: the bot's own stdin and stdout ---

type confShell struct{ p *botProc }

func (n *confShell) Setup(t *testing.T) string       { return "adapter: shell\n" }
func (n *confShell) Attach(t *testing.T, p *botProc) { n.p = p }
func (n *confShell) Outages() bool                   { return false }
func (n *confShell) Down(t *testing.T)               {}
func (n *confShell) Up(t *testing.T)                 {}
func (n *confShell) Client(t *testing.T, name string) confClient {
	n.p.send("/user " + name)
	return &confShellClient{p: n.p}
}

// confShellClient: the shell is one conversation; a reply counts as
// private when the last thing said was.
type confShellClient struct {
	p       *botProc
	private bool
}

func (c *confShellClient) Say(t *testing.T, text string) { c.private = false; c.p.send(text) }
func (c *confShellClient) Mention(t *testing.T, text string) {
	c.private = false
	c.p.send("@wirebot " + text)
}
func (c *confShellClient) Private(t *testing.T, text string) { c.private = true; c.p.send(text) }
func (c *confShellClient) Rejoin(t *testing.T)               {}
func (c *confShellClient) Next(t *testing.T, d time.Duration) confMsg {
	t.Helper()
	return confMsg{Text: c.p.expectWithin(`.*`, d)[0], Private: c.private}
}

// --- IRC: a real ngircd ---

type confIRC struct {
	srv *ngircd
	bin string
}

func (n *confIRC) Setup(t *testing.T) string {
	n.srv = startNgircd(t)
	n.bin = n.srv.cmd.Path
	return fmt.Sprintf("adapter: irc\nirc: {server: %q, nick: wirebot, channels: [\"#ops\"]}\n", n.srv.addr())
}
func (n *confIRC) Attach(t *testing.T, p *botProc) {}
func (n *confIRC) Outages() bool                   { return true }
func (n *confIRC) Down(t *testing.T)               { n.srv.stop() }
func (n *confIRC) Up(t *testing.T)                 { n.srv.start(n.bin) }
func (n *confIRC) Client(t *testing.T, name string) confClient {
	c := &confIRCClient{n: n, nick: name}
	c.Rejoin(t)
	// ngircd holds back a client's lines for a while after JOIN and
	// NAMES; a PONG means that is over and the user is idle.
	c.u.raw("PING :settled")
	c.u.wait("settled", 30*time.Second)
	return c
}

type confIRCClient struct {
	n    *confIRC
	nick string
	u    *ircUser
}

func (c *confIRCClient) Rejoin(t *testing.T) {
	c.u = connectUser(t, c.n.srv.addr(), c.nick, "#ops")
	c.u.t = t
	c.u.waitPresent("#ops", "wirebot", 60*time.Second)
}
func (c *confIRCClient) Say(t *testing.T, text string) { c.u.t = t; c.u.say("#ops", text) }
func (c *confIRCClient) Mention(t *testing.T, text string) {
	c.u.t = t
	c.u.say("#ops", "wirebot: "+text)
}
func (c *confIRCClient) Private(t *testing.T, text string) { c.u.t = t; c.u.say("wirebot", text) }
func (c *confIRCClient) Next(t *testing.T, d time.Duration) confMsg {
	t.Helper()
	c.u.t = t
	for {
		l := c.u.wait(":wirebot!", d)
		_, rest, ok := strings.Cut(l, " PRIVMSG ")
		if !ok {
			continue
		}
		target, text, _ := strings.Cut(rest, " :")
		return confMsg{Text: text, Private: !strings.HasPrefix(target, "#")}
	}
}

// --- Slack: internal/fakeslack ---

type confSlack struct{ fs *fakeslack.Server }

func (n *confSlack) Setup(t *testing.T) string {
	n.fs = fakeslack.New()
	t.Cleanup(n.fs.Close)
	return "adapter: slack\nslack: {bot_token: xoxb-test-token, app_token: xapp-test-token, api_url: " + n.fs.APIURL() + "}\n"
}
func (n *confSlack) Attach(t *testing.T, p *botProc) {
	if !n.fs.WaitConnected(20 * time.Second) {
		t.Fatal("bot did not connect to the fake Slack")
	}
}

// Down cuts the socket and refuses new ones (the Web API stays up, as in
// a Socket Mode outage).
func (n *confSlack) Outages() bool     { return true }
func (n *confSlack) Down(t *testing.T) { n.fs.Refuse(1 << 30); n.fs.Drop() }
func (n *confSlack) Up(t *testing.T)   { n.fs.Refuse(0) }
func (n *confSlack) Client(t *testing.T, name string) confClient {
	for id, u := range n.fs.Users {
		if u == name {
			return &confSlackClient{fs: n.fs, id: id}
		}
	}
	t.Fatalf("the fake Slack has no user %s", name)
	return nil
}
func (n *confSlack) SayAsSelf(t *testing.T, text string) {
	n.fs.Message(n.fs.BotUserID, "C1", text, "")
}
func (n *confSlack) SayAsOtherBot(t *testing.T, text string) {
	n.fs.Event(map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "BOTHER", "channel": "C1", "text": text})
}

type confSlackClient struct {
	fs *fakeslack.Server
	id string
}

func (c *confSlackClient) Say(t *testing.T, text string)     { c.fs.Message(c.id, "C1", text, "") }
func (c *confSlackClient) Mention(t *testing.T, text string) { c.fs.Mention(c.id, "C1", text) }
func (c *confSlackClient) Private(t *testing.T, text string) { c.fs.Message(c.id, "D1", text, "") }
func (c *confSlackClient) Rejoin(t *testing.T)               {}
func (c *confSlackClient) Next(t *testing.T, d time.Duration) confMsg {
	t.Helper()
	p, ok := c.fs.Next(d)
	if !ok {
		t.Fatalf("no post within %s", d)
	}
	text := p.Text
	if s, ok := strings.CutPrefix(text, "```\n"); ok {
		text = strings.TrimSuffix(s, "\n```")
	}
	return confMsg{Text: text, Private: strings.HasPrefix(p.Channel, "D")}
}

// --- XMPP: a real prosody ---

type confXMPP struct {
	srv    *prosodyServer
	downAt time.Time
}

func (n *confXMPP) Setup(t *testing.T) string {
	n.srv = startProsody(t)
	n.srv.register("wirebot", "botpass")
	return xmppBotConfig(n.srv)
}
func (n *confXMPP) Attach(t *testing.T, p *botProc) {}
func (n *confXMPP) Outages() bool                   { return true }
func (n *confXMPP) Down(t *testing.T)               { n.downAt = time.Now(); n.srv.stop() }
func (n *confXMPP) Up(t *testing.T)                 { n.srv.start() }
func (n *confXMPP) Client(t *testing.T, name string) confClient {
	n.srv.register(name, name+"pass")
	c := &confXMPPClient{n: n, name: name}
	c.u = connectXMPPUser(t, n.srv, name, name+"pass", prosodyRoom)
	return c
}

type confXMPPClient struct {
	n    *confXMPP
	name string
	u    *xmppUser
}

func (c *confXMPPClient) Rejoin(t *testing.T) {
	seen := c.u.seen
	c.u = connectXMPPUser(t, c.n.srv, c.name, c.name+"pass")
	c.u.seen = seen
	c.u.rejoin(c.n.downAt.Add(-2 * time.Second))
}
func (c *confXMPPClient) Say(t *testing.T, text string)     { c.u.t = t; c.u.say(text) }
func (c *confXMPPClient) Mention(t *testing.T, text string) { c.u.t = t; c.u.say("wirebot: " + text) }
func (c *confXMPPClient) Private(t *testing.T, text string) { c.u.t = t; c.u.private(text) }
func (c *confXMPPClient) Next(t *testing.T, d time.Duration) confMsg {
	t.Helper()
	c.u.t = t
	m, _ := c.u.next(d)
	return confMsg{Text: m.Text, Private: m.Type != "groupchat"}
}
