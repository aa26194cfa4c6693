package xmpp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitAtLineEnds(t *testing.T) {
	text := strings.Repeat("0123456789abcdef\n", 100) + strings.Repeat("é", 200)
	parts := split(text, 300)
	for i, p := range parts {
		if len(p) > 300 {
			t.Fatalf("part %d of %d bytes", i, len(p))
		}
	}
	if got := strings.Join(parts, "\n"); strings.ReplaceAll(got, "\n", "") != strings.ReplaceAll(text, "\n", "") {
		t.Fatal("parts do not make the text")
	}
	if !strings.HasSuffix(parts[0], "f") {
		t.Fatalf("first part not cut at a line end: %q", parts[0][len(parts[0])-5:])
	}
}

func TestBareAndOccupant(t *testing.T) {
	a := New(Options{JID: "Bot@Example.org/x", Rooms: []string{"Ops@Conference.Example.org"}})
	if a.self != "bot@example.org" || !a.isRoom("ops@conference.example.org/alice") {
		t.Fatalf("self %q, rooms %v", a.self, a.opts.Rooms)
	}
	u := a.occupant("ops@conference.example.org", "eve smith/x")
	if u.ID != "occupant:ops@conference.example.org|eve%20smith%2Fx" || strings.ContainsAny(u.ID, " /") {
		t.Fatalf("anonymous occupant id %q", u.ID)
	}
}

// Which failed logins are retried with PLAIN, and what a refusal of the
// credentials says.
func TestLoginErrors(t *testing.T) {
	a := New(Options{JID: "bot@example.org"})
	for _, c := range []struct {
		err     string
		cb      bool
		refused bool
	}{
		{"auth failure: Invalid channel binding value.", true, false},
		{"auth failure: malformed-request", true, false},
		{"SCRAM mechanism with channel-binding were offered, but no known channel-binding type was available and SSDP not enabled", true, false},
		{"SCRAM-SHA-256-PLUS: no keying material", true, false},
		{"auth failure: not-authorized", false, true},
		{"auth failure: The response provided by the client doesn't match the one we calculated.", false, true},
		{"dial tcp 127.0.0.1:5222: connect: connection refused", false, false},
		{"no viable authentication method available: [SCRAM-SHA-1]", false, false},
	} {
		err := errors.New(c.err)
		if got := channelBindingRefused(err); got != c.cb {
			t.Errorf("%q: channel binding refused %v, want %v", c.err, got, c.cb)
		}
		if c.cb {
			continue
		}
		msg := a.loginError(err).Error()
		if !strings.HasPrefix(msg, "log in as bot@example.org: ") || !strings.HasSuffix(msg, c.err) {
			t.Errorf("%q: %q does not name the account and the cause", c.err, msg)
		}
		if got := strings.Contains(msg, "the server refused the credentials"); got != c.refused {
			t.Errorf("%q: %q says refused credentials: %v, want %v", c.err, msg, got, c.refused)
		}
	}
}

// The budget counts the body as go-xmpp writes it, escaped: a reply full
// of <&> is cut into parts whose stanzas stay under the limit.
func TestSplitCountsEscapedBytes(t *testing.T) {
	sample := "a<b&c>d\"e'f\tg\nh\ri\x01jé€😀\uFFFE"
	want := len(xmlEscape(strings.NewReplacer("\x01", "\uFFFD").Replace(sample)))
	got := 0
	for i := 0; i < len(sample); {
		r, n := utf8.DecodeRuneInString(sample[i:])
		got += escapedLen(r, n)
		i += n
	}
	if got != want {
		t.Fatalf("escaped length counted %d, xml.EscapeText writes %d", got, want)
	}

	var b strings.Builder
	for i := 0; b.Len() < 150000; i++ {
		fmt.Fprintf(&b, "%05d %s\n", i, strings.Repeat("<&>", 30))
	}
	text := strings.TrimRight(b.String(), "\n")
	const limit = 16 << 10
	target := "ops@conference.example.org"
	budget := bodyBudget(limit, target, "groupchat")
	parts := split(text, budget)
	for i, p := range parts {
		stanza := fmt.Sprintf("<message to='%s' type='groupchat' id='%s' xml:lang='en'><body>%s</body><origin-id xmlns='urn:xmpp:sid:0' id='%s'/></message>\n",
			target, "01890a5d-ac96-774b-bcce-b302099a8057", xmlEscape(p), "01890a5d-ac96-774b-bcce-b302099a8057")
		if len(stanza) > limit-stanzaSlack {
			t.Fatalf("part %d: stanza of %d bytes, over %d", i, len(stanza), limit-stanzaSlack)
		}
		if len(stanza) < limit/2 {
			t.Fatalf("part %d: stanza of only %d bytes", i, len(stanza))
		}
		if !strings.HasSuffix(p, "<&>") || (i > 0 && !strings.HasPrefix(p, fmt.Sprintf("%05d ", strings.Count(strings.Join(parts[:i], "\n"), "\n")+1))) {
			t.Fatalf("part %d not cut at a line end: %q...%q", i, p[:10], p[len(p)-10:])
		}
	}
	if strings.Join(parts, "\n") != text || len(parts) < 30 {
		t.Fatalf("%d parts do not make the text", len(parts))
	}
}
