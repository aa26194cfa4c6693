package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for localhost and its key
// into dir, and returns the pool that trusts it.
func selfSigned(t *testing.T, dir string) (cert, key string, roots *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost", "conference.localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "localhost.crt"), filepath.Join(dir, "localhost.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(c)
	return cert, key, roots
}

// A prosody that requires encryption, with a certificate the bot trusts
// through SSL_CERT_FILE: tls: starttls and tls: direct log in and answer;
// tls: none is refused with an error that says what to change. The bot
// tries SCRAM first; prosody 0.12 refuses go-xmpp's channel binding, so it
// logs in with PLAIN inside the TLS, says so once, and keeps to PLAIN when
// it reconnects. A wrong password fails saying so, with backoff.
func TestXMPPTLSModes(t *testing.T) {
	start := time.Now()
	cert, key, roots := selfSigned(t, t.TempDir())
	tc := &prosodyTLS{cert: cert, key: key, directPort: freePort(t), roots: roots}
	srv := startProsodyTLS(t, tc)
	srv.register("wirebot", "botpass")
	srv.register("alice", "alicepass")
	alice := connectXMPPUser(t, srv, "alice", "alicepass", prosodyRoom) // over STARTTLS

	env := baseEnv("SSL_CERT_FILE=" + cert)
	botWith := func(mode, server, password string) *botProc {
		t.Helper()
		dir := t.TempDir()
		cfg := fmt.Sprintf("adapter: xmpp\nxmpp: {jid: \"wirebot@%s\", password: %s, server: %q, tls: %s, rooms: [%q], nick: wirebot}\nhttp: {listen: \"127.0.0.1:0\"}\n",
			prosodyDomain, password, server, mode, prosodyRoom)
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
		return startBot(t, dir, env)
	}
	bot := func(mode, server string) *botProc { t.Helper(); return botWith(mode, server, "botpass") }
	for _, c := range []struct{ mode, server string }{
		{"starttls", srv.addr()},
		{"direct", fmt.Sprintf("127.0.0.1:%d", tc.directPort)},
	} {
		t0 := time.Now()
		p := bot(c.mode, c.server)
		waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
		alice.private("ping")
		if m, _ := alice.next(20 * time.Second); m.Text != "PONG" || m.Type != "chat" {
			t.Fatalf("tls: %s: private ping answered %+v", c.mode, m)
		}
		alice.say("!ping")
		if m, _ := alice.next(20 * time.Second); m.Text != "PONG" || m.Type != "groupchat" {
			t.Fatalf("tls: %s: room ping answered %+v", c.mode, m)
		}
		if c.mode == "direct" {
			// Reconnect: the choice of PLAIN is kept, not found again.
			srv.stop()
			srv.start()
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(p.stderr.String(), "connection=2") {
				if time.Now().After(deadline) {
					t.Fatalf("tls: direct: no reconnect within 30s after prosody restarted:\n%s", p.stderr.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		stopBot(t, p)
		log := p.stderr.String()
		if strings.Contains(log, "botpass") {
			t.Fatalf("tls: %s: the password appeared in the log", c.mode)
		}
		// Which mechanism, and why, said once at info.
		var said []string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "xmpp: logged in") {
				said = append(said, l)
			}
		}
		if len(said) != 1 || !strings.Contains(said[0], "level=INFO") || !strings.Contains(said[0], "mechanism=PLAIN") ||
			!strings.Contains(said[0], "channel binding") || !strings.Contains(said[0], "tls="+c.mode) {
			t.Fatalf("tls: %s: want one info line saying PLAIN was used after SCRAM's channel binding was refused, got %q\n%s", c.mode, said, log)
		}
		if n := strings.Count(log, "SCRAM refused"); n != 1 {
			t.Fatalf("tls: %s: SCRAM tried and refused %d times, want once (the choice kept for reconnects):\n%s", c.mode, n, log)
		}
		t.Logf("tls: %s: %s", c.mode, said[0])
		t.Logf("tls: %s: logged in and answered in %s", c.mode, time.Since(t0))
	}

	// A wrong password: not connected, the log names the account and says
	// the server refused the credentials, and the attempts back off.
	p := botWith("starttls", srv.addr(), "wrongpass")
	base := httpAddr(t, p)
	want := "log in as wirebot@localhost: the server refused the credentials"
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("wrong password: no %q within 20s:\n%s", want, p.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(4 * time.Second)
	if code, body := do(t, "GET", base+"/healthz", ""); code != 503 || !strings.Contains(body, "xmpp") {
		t.Errorf("wrong password: /healthz %d %q, want 503 naming xmpp", code, body)
	}
	stopBot(t, p)
	log := p.stderr.String()
	// Backoff 1 s, 2 s, 4 s: three attempts at most in the 4-5 s watched.
	if n := strings.Count(log, want); n < 1 || n > 3 {
		t.Errorf("wrong password: %d failed logins in about 4s, want 1-3 (backoff):\n%s", n, log)
	}
	if strings.Contains(log, "wrongpass") || strings.Contains(log, "xmpp: connected") {
		t.Errorf("wrong password: the password in the log, or connected anyway:\n%s", log)
	}

	// tls: none against a server that requires encryption: not connected,
	// and the log says why and what to set.
	p = bot("none", srv.addr())
	base = httpAddr(t, p)
	want = "requires encryption"
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("tls: none: no error saying the server %s within 20s", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := do(t, "GET", base+"/healthz", ""); code != 503 || !strings.Contains(body, "xmpp") {
		t.Errorf("tls: none: /healthz %d %q, want 503 naming xmpp", code, body)
	}
	stopBot(t, p)
	log = p.stderr.String()
	for _, s := range []string{"xmpp.tls", "starttls", "direct"} {
		if !strings.Contains(log, s) {
			t.Errorf("tls: none: the error does not name %q:\n%s", s, log)
		}
	}
	if strings.Contains(log, "xmpp: connected") {
		t.Errorf("tls: none: connected anyway:\n%s", log)
	}
	t.Logf("whole test %s", time.Since(start))
}
