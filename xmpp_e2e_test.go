package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goxmpp "github.com/xmppo/go-xmpp"
)

// prosodyServer runs a real prosody (Debian's) on a free loopback port,
// with its config and data in a temporary directory. It runs as root
// here, hence run_as_root and no posix module.
type prosodyServer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	tls  *prosodyTLS // nil: no TLS at all
}

// prosodyTLS makes prosody require encryption, with a certificate for
// localhost, STARTTLS on the c2s port and direct TLS on directPort.
type prosodyTLS struct {
	cert, key  string // PEM files
	directPort int
	roots      *x509.CertPool // what the test's users trust
}

const prosodyDomain = "localhost"
const prosodyRoom = "ops@conference.localhost"

func startProsody(t *testing.T) *prosodyServer { return startProsodyTLS(t, nil) }

func startProsodyTLS(t *testing.T, tc *prosodyTLS) *prosodyServer {
	t.Helper()
	return startProsodyConf(t, tc, "")
}

// startProsodyConf starts prosody with extra lines in its global section.
func startProsodyConf(t *testing.T, tc *prosodyTLS, extra string) *prosodyServer {
	t.Helper()
	if _, err := exec.LookPath("prosody"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prosody is not installed (apt-get install prosody); .ci/run installs it")
		}
		t.Skip("prosody is not installed: apt-get install prosody to run the XMPP tests (CI always runs them)")
	}
	s := &prosodyServer{t: t, dir: t.TempDir(), port: freePort(t), tls: tc}
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	tlsModule, security := "", "c2s_require_encryption = false\nallow_unencrypted_plain_auth = true"
	if tc != nil {
		tlsModule = `; "tls"`
		security = fmt.Sprintf("c2s_require_encryption = true\nallow_unencrypted_plain_auth = false\n"+
			"ssl = { certificate = %q; key = %q }\nc2s_direct_tls_ports = { %d }", tc.cert, tc.key, tc.directPort)
	}
	conf := fmt.Sprintf(`run_as_root = true
pidfile = %[1]q
data_path = %[2]q
log = { { levels = { min = "info" }, to = "file", filename = %[3]q } }
interfaces = { "127.0.0.1" }
c2s_ports = { %[4]d }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "presence"; "message"; "iq"%[6]s }
modules_disabled = { "s2s"; "posix" }
%[7]s
%[8]s
authentication = "internal_plain"
storage = "internal"
VirtualHost %[5]q
Component "conference.localhost" "muc"
  muc_room_locking = false
  muc_room_default_public_jids = true
  restrict_room_creation = false
`, filepath.Join(s.dir, "prosody.pid"), filepath.Join(s.dir, "data"), filepath.Join(s.dir, "prosody.log"), s.port, prosodyDomain, tlsModule, security, extra)
	if err := os.WriteFile(s.config(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *prosodyServer) config() string { return filepath.Join(s.dir, "prosody.cfg.lua") }
func (s *prosodyServer) addr() string   { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// register creates an account.
func (s *prosodyServer) register(user, password string) {
	s.t.Helper()
	out, err := exec.Command("prosodyctl", "--config", s.config(), "register", user, prosodyDomain, password).CombinedOutput()
	if err != nil {
		s.t.Fatalf("prosodyctl register %s: %v\n%s", user, err, out)
	}
}

func (s *prosodyServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("prosody", "--config", s.config(), "-F")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	cmd, done := s.cmd, s.done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", s.addr())
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "prosody.log"))
			s.t.Fatalf("prosody exited at start\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("prosody did not listen on %s", s.addr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *prosodyServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
		s.cmd = nil
	}
}

// xmppUser is a person on the test server, on the same XMPP library.
type xmppUser struct {
	t    *testing.T
	jid  string
	nick string
	c    *goxmpp.Client
	in   chan goxmpp.Chat
	wg   sync.WaitGroup
	seen map[string]bool // ids of the bot's messages already returned
}

func connectXMPPUser(t *testing.T, srv *prosodyServer, user, password string, rooms ...string) *xmppUser {
	t.Helper()
	u := &xmppUser{t: t, jid: user + "@" + prosodyDomain, nick: user, in: make(chan goxmpp.Chat, 1000), seen: map[string]bool{}}
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := goxmpp.Options{Host: srv.addr(), User: u.jid, Password: password, Resource: "test",
			NoTLS: true, InsecureAllowUnencryptedAuth: true, Mechanism: "PLAIN", Session: true, DialTimeout: 5 * time.Second}
		if srv.tls != nil {
			o.InsecureAllowUnencryptedAuth, o.StartTLS = false, true
			o.TLSConfig = &tls.Config{ServerName: prosodyDomain, RootCAs: srv.tls.roots, MinVersion: tls.VersionTLS12}
		}
		u.c, err = o.NewClient()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log in as %s: %v", u.jid, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer close(u.in)
		for {
			st, err := u.c.Recv()
			if err != nil {
				return
			}
			if m, ok := st.(goxmpp.Chat); ok && m.Text != "" {
				u.in <- m
			}
		}
	}()
	t.Cleanup(func() {
		// go-xmpp's Close reads the stream: end it first, and close
		// once the reader is done.
		u.c.SendOrg("</stream:stream>")
		done := make(chan struct{})
		go func() { u.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		u.c.Close()
		<-done
	})
	for _, r := range rooms {
		if _, err := u.c.JoinMUCNoHistory(r, u.nick); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func (u *xmppUser) say(text string) {
	u.c.Send(goxmpp.Chat{Remote: prosodyRoom, Type: "groupchat", Text: text})
}

func (u *xmppUser) private(text string) {
	u.c.Send(goxmpp.Chat{Remote: "wirebot@" + prosodyDomain, Type: "chat", Text: text})
}

// next is the next message from the bot (in the room, or to u directly).
func (u *xmppUser) next(d time.Duration) (goxmpp.Chat, bool) {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-u.in:
			if !ok {
				u.t.Fatalf("%s: connection closed", u.jid)
			}
			if m.Remote == prosodyRoom+"/wirebot" || strings.HasPrefix(m.Remote, "wirebot@"+prosodyDomain) {
				if m.ID != "" && u.seen[m.ID] {
					continue // replayed as history after a rejoin: seen already
				}
				if m.ID != "" {
					u.seen[m.ID] = true
				}
				return m, true
			}
		case <-timer.C:
			u.t.Fatalf("%s: nothing from the bot within %s", u.jid, d)
			return goxmpp.Chat{}, false
		}
	}
}

// rejoin joins the room asking for what was said since, so that what the
// bot said before this user was back is not missed.
func (u *xmppUser) rejoin(since time.Time) {
	u.t.Helper()
	if _, err := u.c.JoinMUC(prosodyRoom, u.nick, goxmpp.SinceHistory, 0, &since); err != nil {
		u.t.Fatal(err)
	}
}

// xmppBotConfig is the bot's config for srv (account wirebot, password botpass).
func xmppBotConfig(srv *prosodyServer) string {
	return fmt.Sprintf("adapter: xmpp\nxmpp: {jid: \"wirebot@%s\", password: botpass, server: %q, tls: none, rooms: [%q], nick: wirebot}\n",
		prosodyDomain, srv.addr(), prosodyRoom)
}

// In a non-anonymous room the occupant is its real JID; history replayed
// on join is not answered; the password never shows in the log.
func TestXMPPRoomIdentityAndHistory(t *testing.T) {
	srv := startProsody(t)
	srv.register("wirebot", "botpass")
	srv.register("alice", "alicepass")
	alice := connectXMPPUser(t, srv, "alice", "alicepass", prosodyRoom)
	// Said before the bot joins: replayed to it as history, never answered.
	alice.say("!echo from history")
	dir := t.TempDir()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s\\n' \"$1\"\n")
	writeScript(t, dir, "who.sh", "#!/bin/sh\n# @respond ^who$\n# @allow ops\necho \"$WIREBOT_USER_ID\"\n")
	cfg := xmppBotConfig(srv) + "http: {listen: \"127.0.0.1:0\"}\ngroups: {ops: [\"xmpp:alice@localhost\"]}\n"
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBot(t, dir, baseEnv())
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	alice.say("!who")
	if m, _ := alice.next(20 * time.Second); m.Text != "alice@localhost" {
		t.Fatalf("who: %q (history answered, or the real JID not used?)", m.Text)
	}
	alice.private("who")
	if m, _ := alice.next(20 * time.Second); m.Text != "alice@localhost" || m.Type != "chat" {
		t.Fatalf("private who: %+v", m)
	}
	stopBot(t, p)
	if strings.Contains(p.stderr.String(), "botpass") {
		t.Fatal("the XMPP password appeared in the log")
	}
}
