package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	goxmpp "github.com/xmppo/go-xmpp"
)

// limitsProxy sits between the bot and a prosody without TLS and adds a
// XEP-0478 limit to the stream features prosody sends (prosody 0.12 does
// not advertise one), keeping what the bot sends so that the test can
// measure its stanzas.
type limitsProxy struct {
	ln   net.Listener
	inj  []byte
	mu   sync.Mutex
	sent bytes.Buffer // all the bot sent
}

func startLimitsProxy(t *testing.T, upstream string, maxBytes int) *limitsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &limitsProxy{ln: ln, inj: fmt.Appendf(nil, "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>%d</max-bytes></limits>", maxBytes)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.mu.Lock()
						p.sent.Write(buf[:n])
						p.mu.Unlock()
						if _, werr := u.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				u.Close()
			}()
			go func() { p.inject(c, u); c.Close() }()
		}
	}()
	return p
}

// inject copies the server's stream to the client, with the limit put in
// each <stream:features>. A tail that may be the start of the closing tag
// is held back until the next read.
func (p *limitsProxy) inject(dst io.Writer, src io.Reader) {
	tag := []byte("</stream:features>")
	var pending []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		pending = append(pending, buf[:n]...)
		pending = bytes.ReplaceAll(pending, tag, append(append([]byte{}, p.inj...), tag...))
		hold := 0
		for k := len(tag) - 1; k > 0; k-- {
			if bytes.HasSuffix(pending, tag[:k]) {
				hold = k
				break
			}
		}
		if _, werr := dst.Write(pending[:len(pending)-hold]); werr != nil {
			return
		}
		pending = append([]byte{}, pending[len(pending)-hold:]...)
		if err != nil {
			return
		}
	}
}

func (p *limitsProxy) addr() string { return p.ln.Addr().String() }

// messages are the message stanzas the bot sent, as it wrote them.
func (p *limitsProxy) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return regexp.MustCompile(`(?s)<message .*?</message>`).FindAllString(p.sent.String(), -1)
}

// A server that takes 16 KiB stanzas at most (prosody's
// c2s_stanza_size_limit) and says so (XEP-0478): replies of 20,000 and
// 150,000 characters full of <&>, which escaping makes four times as long,
// arrive whole and in order, cut at line ends, every stanza under the
// limit, and prosody never closes the bot's stream for a stanza too big.
func TestXMPPStanzaLimit(t *testing.T) {
	const limit = 16 << 10
	srv := startProsodyConf(t, nil, fmt.Sprintf("c2s_stanza_size_limit = %d", limit))
	srv.register("wirebot", "botpass")
	srv.register("alice", "alicepass")
	srv.register("bob", "bobpass")
	proxy := startLimitsProxy(t, srv.addr(), limit)
	alice := connectXMPPUser(t, srv, "alice", "alicepass")

	dir := t.TempDir()
	// Line i is "%05d " and thirty "<&>": 97 characters with its newline.
	writeScript(t, dir, "big.sh", "#!/bin/sh\n# @respond ^big (\\d+)$\n"+
		`awk -v n="$1" 'BEGIN { for (i = 0; i * 97 < n; i++) { printf "%05d ", i; for (j = 0; j < 30; j++) printf "<&>"; printf "\n" } }'`+"\n")
	cfg := fmt.Sprintf("adapter: xmpp\nxmpp: {jid: \"wirebot@%s\", password: botpass, server: %q, tls: none, nick: wirebot}\n"+
		"http: {listen: \"127.0.0.1:0\"}\nscripts: {max_output: 1000000}\n", prosodyDomain, proxy.addr())
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBot(t, dir, baseEnv())
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	if want := fmt.Sprintf("stanza_limit=%d stanza_limit_from=server", limit); !strings.Contains(p.stderr.String(), want) {
		t.Fatalf("the bot did not take the advertised limit (%s):\n%s", want, p.stderr.String())
	}

	for _, n := range []int{20000, 150000} {
		var b strings.Builder
		for i := 0; i*97 < n; i++ {
			fmt.Fprintf(&b, "%05d %s\n", i, strings.Repeat("<&>", 30))
		}
		want := strings.TrimSuffix(b.String(), "\n")
		before := len(proxy.messages())
		t0 := time.Now()
		alice.private(fmt.Sprintf("big %d", n))
		var parts []string
		got := 0
		for got < len(want) {
			m, _ := alice.next(30 * time.Second)
			if m.Type != "chat" {
				t.Fatalf("big %d: a %q message: %.80q", n, m.Type, m.Text)
			}
			parts = append(parts, m.Text)
			got += len(m.Text) + 1
		}
		if joined := strings.Join(parts, "\n"); joined != want {
			t.Fatalf("big %d: %d parts make %d characters, want %d, in order", n, len(parts), len(joined), len(want))
		}
		for i, part := range parts {
			if !strings.HasSuffix(part, "<&>") || !regexp.MustCompile(`^\d{5} `).MatchString(part) {
				t.Fatalf("big %d: part %d not cut at line ends: %.20q...%.20q", n, i, part, part[max(0, len(part)-20):])
			}
		}
		sent := proxy.messages()[before:]
		if len(sent) != len(parts) {
			t.Fatalf("big %d: the bot wrote %d message stanzas, alice got %d", n, len(sent), len(parts))
		}
		largest := 0
		for i, s := range sent {
			if len(s) > limit {
				t.Fatalf("big %d: stanza %d is %d bytes, over the %d limit", n, i, len(s), limit)
			}
			largest = max(largest, len(s))
		}
		if n == 150000 && len(parts) < 30 {
			t.Fatalf("big %d: only %d parts: the escaping was not counted", n, len(parts))
		}
		t.Logf("big %d: %d parts, largest stanza %d bytes (limit %d), in %s", n, len(parts), largest, limit, time.Since(t0))
	}
	stopBot(t, p)
	if log := p.stderr.String(); strings.Contains(log, "disconnected") || strings.Count(log, "xmpp: connected") != 1 {
		t.Fatalf("the bot's stream did not hold:\n%s", log)
	}

	// The limit is real: a client sending a stanza over it is cut off.
	// (Prosody checks what is left unparsed after each read, so a stanza
	// only a little over the limit may pass: the measure above is exact.)
	bob := connectXMPPUser(t, srv, "bob", "bobpass")
	bob.c.Send(goxmpp.Chat{Remote: "alice@" + prosodyDomain, Type: "chat", Text: strings.Repeat("x", 3*limit)})
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-bob.in:
			if !ok {
				return
			}
		case <-deadline:
			plog, _ := os.ReadFile(filepath.Join(srv.dir, "prosody.log"))
			t.Fatalf("prosody took a stanza over c2s_stanza_size_limit: the test proves nothing\n%s", plog)
		}
	}
}
