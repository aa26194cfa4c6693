package xmpp

import (
	"errors"
	"strings"
	"testing"
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
