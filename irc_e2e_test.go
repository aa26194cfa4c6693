package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ngircd runs a real IRC server on a free loopback port.
type ngircd struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startNgircd(t testing.TB) *ngircd { return startNgircdPass(t, "") }

func startNgircdPass(t testing.TB, password string) *ngircd {
	t.Helper()
	bin, err := exec.LookPath("ngircd")
	if err != nil {
		bin = "/usr/sbin/ngircd"
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("ngircd is not installed (apt-get install ngircd); .ci/run installs it")
			}
			t.Skip("ngircd is not installed: apt-get install ngircd to run the IRC tests (CI always runs them)")
		}
	}
	s := &ngircd{t: t, dir: t.TempDir(), port: freePort(t)}
	// PAM, DNS and Ident lookups are on by default: off for tests.
	conf := fmt.Sprintf(`[Global]
	Name = irc.test
	Info = wirebot test server
	Listen = 127.0.0.1
	Ports = %d
	MotdPhrase = test
	PidFile = %s/ngircd.pid
	Password = %s
[Limits]
	PingTimeout = 120
	PongTimeout = 20
	MaxNickLength = 30
[Options]
	PAM = no
	DNS = no
	Ident = no
	RequireAuthPing = no
[Channel]
	Name = #ops
	Modes = +n
`, s.port, s.dir, password)
	if err := os.WriteFile(filepath.Join(s.dir, "ngircd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start(bin)
	t.Cleanup(s.stop)
	return s
}

func (s *ngircd) start(bin string) {
	s.cmd = exec.Command(bin, "-n", "-f", filepath.Join(s.dir, "ngircd.conf"))
	s.cmd.Stdout, s.cmd.Stderr = nil, nil
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", s.addr())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("ngircd did not listen on %s", s.addr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *ngircd) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *ngircd) restart() {
	bin := s.cmd.Path
	s.stop()
	s.start(bin)
}

func (s *ngircd) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// ircUser is a person on the test server.
type ircUser struct {
	t     *testing.T
	nick  string
	conn  net.Conn
	lines chan string
}

func connectUser(t *testing.T, addr, nick string, channels ...string) *ircUser {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u := &ircUser{t: t, nick: nick, conn: c, lines: make(chan string, 1000)}
	t.Cleanup(func() { c.Close() })
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "PING ") {
				fmt.Fprintf(c, "PONG %s\r\n", strings.TrimPrefix(l, "PING "))
				continue
			}
			u.lines <- l
		}
		close(u.lines)
	}()
	if pass := os.Getenv("WIREBOT_TEST_IRC_PASS"); pass != "" {
		u.raw("PASS " + pass)
	}
	u.raw("NICK " + nick)
	u.raw("USER " + nick + " 0 * :" + nick)
	u.wait(" 001 ", 10*time.Second)
	for _, ch := range channels {
		u.raw("JOIN " + ch)
		u.wait(" 366 ", 10*time.Second)
	}
	return u
}

func (u *ircUser) raw(line string) { fmt.Fprintf(u.conn, "%s\r\n", line) }

func (u *ircUser) say(target, text string) { u.raw("PRIVMSG " + target + " :" + text) }

// wait returns the first line containing s.
func (u *ircUser) wait(s string, d time.Duration) string {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-u.lines:
			if !ok {
				u.t.Fatalf("%s: connection closed waiting for %q", u.nick, s)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-timer.C:
			u.t.Fatalf("%s: no line with %q within %s", u.nick, s, d)
		}
	}
}

// waitPresent waits until nick is in channel, whether it joined before or
// after this user did.
func (u *ircUser) waitPresent(channel, nick string, d time.Duration) {
	u.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		u.raw("NAMES " + channel)
		for {
			l := u.wait(" ", time.Until(deadline)+time.Second)
			if strings.Contains(l, " 353 ") { // RPL_NAMREPLY: ... :alice @wirebot
				names := l[strings.LastIndex(l, ":")+1:]
				for _, n := range strings.Fields(names) {
					if strings.TrimLeft(n, "@+%~&") == nick {
						return
					}
				}
			}
			if strings.HasPrefix(l, ":"+nick+"!") && strings.Contains(l, " JOIN ") {
				return
			}
			if strings.Contains(l, " 366 ") {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	u.t.Fatalf("%s never appeared in %s", nick, channel)
}

// message waits for a PRIVMSG from nick to target and returns its text.
func (u *ircUser) message(from, target string) string {
	u.t.Helper()
	l := u.wait(":"+from+"!", 15*time.Second)
	for !strings.Contains(l, " PRIVMSG "+target+" :") {
		l = u.wait(":"+from+"!", 15*time.Second)
	}
	return l[strings.Index(l, " PRIVMSG "+target+" :")+len(" PRIVMSG "+target+" :"):]
}

func ircBot(t *testing.T, srv *ngircd) (*botProc, string) { return ircBotPass(t, srv, "") }

func ircBotPass(t *testing.T, srv *ngircd, password string) (*botProc, string) {
	t.Helper()
	dir := t.TempDir()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s (%s in %s)\\n' \"$1\" \"$WIREBOT_USER\" \"$WIREBOT_CHANNEL\"\n")
	writeScript(t, dir, "long.sh", "#!/bin/sh\n# @respond ^long$\nprintf 'A%.0s' $(seq 1 1200); echo\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo \"line $i\"; done\n")
	writeScript(t, dir, "coffee.sh", "#!/bin/sh\n# @hear \\bcoffee\\b\necho coffee heard\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf("adapter: irc\nirc: {server: %q, nick: wirebot, password: %q, channels: [\"#ops\"]}\nhttp: {listen: \"127.0.0.1:0\"}\n", srv.addr(), password)), 0o600)
	p := startBot(t, dir, baseEnv())
	return p, dir
}

func TestIRCChannelPrivateAndHear(t *testing.T) {
	srv := startNgircd(t)
	alice := connectUser(t, srv.addr(), "alice", "#ops")
	p, _ := ircBot(t, srv)
	alice.waitPresent("#ops", "wirebot", 15*time.Second)
	alice.say("#ops", "wirebot: ping")
	if got := alice.message("wirebot", "#ops"); got != "PONG" {
		t.Fatalf("channel reply %q", got)
	}
	alice.say("#ops", "!echo $(id) & more")
	if got := alice.message("wirebot", "#ops"); got != "$(id) & more (alice in ops)" {
		t.Fatalf("alias reply %q", got)
	}
	alice.say("wirebot", "echo in private")
	if got := alice.message("wirebot", "alice"); got != "in private (alice in alice)" {
		t.Fatalf("private reply %q", got)
	}
	alice.say("#ops", "who wants coffee")
	if got := alice.message("wirebot", "#ops"); got != "coffee heard" {
		t.Fatalf("hear reply %q", got)
	}
	stopBot(t, p)
}

func TestIRCLongReplySplitAndPaced(t *testing.T) {
	srv := startNgircd(t)
	alice := connectUser(t, srv.addr(), "alice", "#ops")
	p, _ := ircBot(t, srv)
	alice.waitPresent("#ops", "wirebot", 15*time.Second)
	alice.say("#ops", "wirebot: long")
	var as string
	for len(as) < 1200 {
		part := alice.message("wirebot", "#ops")
		if strings.Trim(part, "A") != "" {
			t.Fatalf("unexpected part %q after %d A's", part, len(as))
		}
		as += part
	}
	if len(as) != 1200 {
		t.Fatalf("long line arrived as %d characters, want 1200", len(as))
	}
	for i := 1; i <= 12; i++ {
		if got := alice.message("wirebot", "#ops"); got != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d: %q", i, got)
		}
	}
	// Still connected: the server did not kick it for flooding.
	alice.say("#ops", "wirebot: ping")
	if got := alice.message("wirebot", "#ops"); got != "PONG" {
		t.Fatalf("after the long reply: %q", got)
	}
	stopBot(t, p)
}

func TestIRCReconnectsAndRejoins(t *testing.T) {
	srv := startNgircd(t)
	p, _ := ircBot(t, srv)
	base := httpAddr(t, p)
	deadline := time.Now().Add(15 * time.Second)
	for code, _ := do(t, "GET", base+"/healthz", ""); code != 200; code, _ = do(t, "GET", base+"/healthz", "") {
		if time.Now().After(deadline) {
			t.Fatal("bot never connected")
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.restart()
	alice := connectUser(t, srv.addr(), "alice", "#ops")
	alice.waitPresent("#ops", "wirebot", 30*time.Second) // rejoined
	alice.say("#ops", "wirebot: echo back")
	if got := alice.message("wirebot", "#ops"); got != "back (alice in ops)" {
		t.Fatalf("after reconnect: %q", got)
	}
	if _, body := do(t, "GET", base+"/metrics", ""); !strings.Contains(body, "wirebot_adapter_reconnects_total 1") {
		t.Errorf("reconnect not counted")
	}
	stopBot(t, p)
}

func TestIRCServerPassword(t *testing.T) {
	srv := startNgircdPass(t, "letmein")
	t.Setenv("WIREBOT_TEST_IRC_PASS", "letmein")
	p, _ := ircBotPass(t, srv, "letmein")
	alice := connectUser(t, srv.addr(), "alice", "#ops")
	alice.waitPresent("#ops", "wirebot", 15*time.Second)
	alice.say("#ops", "wirebot: ping")
	if got := alice.message("wirebot", "#ops"); got != "PONG" {
		t.Fatalf("reply %q", got)
	}
	stopBot(t, p)
	if strings.Contains(p.stderr.String(), "letmein") {
		t.Fatal("the IRC password appeared in the log")
	}
}
