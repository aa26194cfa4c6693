package xmpp

import (
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
