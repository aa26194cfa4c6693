package bot

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		in   string
		cm   CaseMapping
		want Principal
		bad  bool
	}{
		{in: "slack:U024BE7LH", want: Principal{"slack", "U024BE7LH"}},
		{in: "slack:u024be7lh", want: Principal{"slack", "u024be7lh"}}, // exact: not the id above
		{in: "irc:Alice", want: Principal{"irc", "alice"}},
		{in: "irc:ALICE[]\\~", want: Principal{"irc", "alice{}|^"}},
		{in: "irc:ALICE[]\\~", cm: CaseASCII, want: Principal{"irc", "alice[]\\~"}},
		{in: "irc:ALICE[]\\~", cm: CaseStrictRFC1459, want: Principal{"irc", "alice{}|~"}},
		{in: "irc:ſam", want: Principal{"irc", "ſam"}}, // no Unicode folding
		{in: "irc:SAM", want: Principal{"irc", "sam"}},
		{in: "xmpp:Alice@Example.ORG/phone", want: Principal{"xmpp", "alice@example.org"}},
		{in: "matrix:@Alice:example.org", want: Principal{"matrix", "@Alice:example.org"}},
		{in: "shell:Alice", want: Principal{"shell", "Alice"}},
		{in: "wirebot:scheduler", want: SchedulerPrincipal},
		{in: "wirebot:webhook", want: WebhookPrincipal},
		{in: "alice", bad: true},
		{in: "", bad: true},
		{in: "slack:", bad: true},
		{in: "telegram:123", bad: true},
		{in: "SLACK:U1", bad: true},
		{in: "irc:al ice", bad: true},
		{in: "irc:al\x00ice", bad: true},
		{in: "shell:\xff", bad: true},
		{in: "xmpp:/res", bad: true},
	}
	for _, tt := range tests {
		got, err := ParsePrincipal(tt.in, tt.cm)
		if tt.bad {
			if err == nil || !errors.Is(err, ErrNotPrincipal) {
				t.Errorf("ParsePrincipal(%q) = %v, %v; want ErrNotPrincipal", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePrincipal(%q, %v) = %#v, %v; want %#v", tt.in, tt.cm, got, err, tt.want)
		}
		if again, err := ParsePrincipal(got.String(), tt.cm); err != nil || again != got {
			t.Errorf("ParsePrincipal(%q) again = %#v, %v; want %#v", got.String(), again, err, got)
		}
	}
}

func TestPrincipalJSON(t *testing.T) {
	u := User{ID: "U1", Name: "alice", Principal: Principal{"slack", "U1"}, Person: "alice"}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"U1","name":"alice","principal":"slack:U1","person":"alice"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back User
	if err := json.Unmarshal(b, &back); err != nil || back != u {
		t.Fatalf("round trip = %#v, %v", back, err)
	}
	// Records written before principals existed have none.
	var old User
	if err := json.Unmarshal([]byte(`{"id":"U1","name":"alice"}`), &old); err != nil || !old.Principal.IsZero() {
		t.Fatalf("old record = %#v, %v", old, err)
	}
	if err := json.Unmarshal([]byte(`{"principal":"nope"}`), &old); err == nil {
		t.Fatal("a bad principal decoded")
	}
}

func TestFoldAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = CaseRFC1459.Fold("alice") }); n != 0 {
		t.Fatalf("folding a folded nick allocates %v times", n)
	}
}

func testDirectory(t *testing.T, adapters []string, people map[string][]string) *Directory {
	t.Helper()
	d, err := NewDirectory(adapters, people)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func user(adapter, id, name string) User {
	return User{ID: id, Name: name, Principal: Principal{adapter, id}}
}

func TestSame(t *testing.T) {
	d := testDirectory(t, []string{"slack", "irc"}, map[string][]string{
		"alice": {"slack:U024BE7LH", "irc:Alice"},
		"bob":   {"slack:bob", "irc:bob"},
	})
	aliceSlack := user("slack", "U024BE7LH", "alice")
	aliceIRC := user("irc", "alice", "alice")
	bobSlack := user("slack", "U0BOB", "bob") // matched by unique user name
	bobIRC := user("irc", "bob", "Bob")
	mallory := user("irc", "ALICE", "ALICE") // not normalised: not alice
	lookalike := user("irc", "ſam", "ſam")
	sam := user("irc", "sam", "sam")
	nameClash := user("slack", "U0MAL", "u024be7lh")
	tests := []struct {
		a, b User
		want bool
	}{
		{aliceSlack, aliceSlack, true},
		{aliceSlack, aliceIRC, true},
		{aliceIRC, aliceSlack, true},
		{bobSlack, bobIRC, true},
		{aliceSlack, bobIRC, false},
		{aliceIRC, mallory, false},
		{sam, lookalike, false},
		{aliceSlack, nameClash, false},
		{user("irc", "scheduler", "scheduler"), User{Principal: SchedulerPrincipal}, false},
		{User{Principal: WebhookPrincipal}, User{Principal: WebhookPrincipal}, true},
		{User{}, User{}, false},
		{User{ID: "x", Name: "x"}, User{ID: "x", Name: "x"}, true}, // no principal: the first adapter's
		{User{ID: "x", Name: "x"}, user("irc", "x", "x"), false},
	}
	for _, tt := range tests {
		if got := d.Same(tt.a, tt.b); got != tt.want {
			t.Errorf("Same(%v %q, %v %q) = %v, want %v", tt.a.Principal, tt.a.Name, tt.b.Principal, tt.b.Name, got, tt.want)
		}
	}
	if p := d.PersonOf(user("wirebot", "alice", "alice")); p != "" {
		t.Errorf("a reserved principal is person %q", p)
	}
}

func TestDirectoryCaseMapping(t *testing.T) {
	d := testDirectory(t, []string{"irc"}, map[string][]string{"al": {"irc:Al[1]"}})
	if p := d.PersonOf(user("irc", CaseRFC1459.Fold("AL{1}"), "AL{1}")); p != "al" {
		t.Fatalf("rfc1459: person %q", p)
	}
	d.SetCaseMapping(CaseASCII)
	if p := d.PersonOf(user("irc", CaseASCII.Fold("AL{1}"), "AL{1}")); p != "" {
		t.Fatalf("ascii: {1} is not [1], yet person %q", p)
	}
	if p := d.PersonOf(user("irc", CaseASCII.Fold("AL[1]"), "AL[1]")); p != "al" {
		t.Fatalf("ascii: person %q", p)
	}
}

func TestDirectoryErrors(t *testing.T) {
	for _, people := range []map[string][]string{
		{"alice": {"U024BE7LH"}},
		{"alice": {"telegram:1"}},
		{"alice": {"irc:alice"}, "al": {"irc:ALICE"}},
		{"a b": {"irc:x"}},
		{"admins": {"irc:x"}},
	} {
		_, err := NewDirectory([]string{"irc"}, people)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, "people") {
			t.Errorf("NewDirectory(%v) = %v; want a people config error", people, err)
		}
	}
}

func TestMembers(t *testing.T) {
	one := testDirectory(t, []string{"slack"}, map[string][]string{"alice": {"slack:U024BE7LH"}})
	two := testDirectory(t, []string{"slack", "irc"}, map[string][]string{"alice": {"slack:U024BE7LH", "irc:alice"}})
	ircOnly := testDirectory(t, []string{"irc"}, nil)
	id := user("slack", "U024BE7LH", "alice")
	impostor := user("slack", "U0MAL", "u024be7lh")
	named := user("slack", "U0SAM", "sam")
	tests := []struct {
		d      *Directory
		entry  string
		u      User
		want   bool
		bad    bool
		legacy bool
	}{
		{d: one, entry: "U024BE7LH", u: id, want: true},
		{d: one, entry: "U024BE7LH", u: impostor, want: false},
		{d: one, entry: "u024be7lh", u: id, want: false},
		{d: one, entry: "sam", u: named, want: true},
		{d: one, entry: "@sam", u: named, want: true},
		{d: one, entry: "Sam", u: named, want: false},
		{d: one, entry: "alice", u: id, want: true},
		{d: one, entry: "slack:sam", u: named, want: true},
		{d: one, entry: "slack:U0SAM", u: named, want: true},
		{d: one, entry: "irc:sam", u: named, want: false},
		{d: two, entry: "alice", u: user("irc", "alice", "alice"), want: true},
		{d: two, entry: "irc:alice", u: id, want: true},
		{d: two, entry: "slack:U024BE7LH", u: user("irc", "alice", "alice"), want: true},
		{d: two, entry: "irc:alice", u: named, want: false},
		{d: two, entry: "irc:sam", u: named, want: false},
		{d: two, entry: "sam", bad: true},
		{d: two, entry: "sam", legacy: true, u: named, want: true},
		{d: two, entry: "sam", legacy: true, u: user("irc", "sam", "sam"), want: false},
		{d: ircOnly, entry: "Sam", u: user("irc", "sam", "SAM"), want: true},
		{d: ircOnly, entry: "sam", u: user("irc", "ſam", "ſam"), want: false},
		{d: ircOnly, entry: "scheduler", u: User{Principal: SchedulerPrincipal, Name: "scheduler"}, want: false},
		{d: ircOnly, entry: "wirebot:webhook", u: User{Principal: WebhookPrincipal, Name: "webhook"}, want: true},
		{d: ircOnly, entry: "wirebot:webhook", u: user("irc", "webhook", "webhook"), want: false},
	}
	for _, tt := range tests {
		m, err := tt.d.ParseMember(tt.entry, tt.legacy)
		if tt.bad {
			var be *ErrBareMember
			if !errors.As(err, &be) || be.Entry != tt.entry {
				t.Errorf("ParseMember(%q) = %v, %v; want ErrBareMember", tt.entry, m, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMember(%q): %v", tt.entry, err)
			continue
		}
		if got := tt.d.Matches(m, tt.d.Resolve(tt.u)); got != tt.want {
			t.Errorf("Matches(%q, %v %q) = %v, want %v", tt.entry, tt.u.Principal, tt.u.Name, got, tt.want)
		}
	}
}

func FuzzPrincipal(f *testing.F) {
	for _, s := range []string{"slack:U024BE7LH", "irc:ALICE[]\\~", "xmpp:A@B/c", "matrix:@a:b", "shell:x", "wirebot:scheduler", "irc:ſam", ":", "irc:", "x"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, cmb uint8) {
		cm := CaseMapping(cmb % 3)
		p, err := ParsePrincipal(s, cm)
		if err != nil {
			return
		}
		if p.IsZero() || p.ID == "" || !utf8.ValidString(p.ID) {
			t.Fatalf("ParsePrincipal(%q) = %#v", s, p)
		}
		again, err := ParsePrincipal(p.String(), cm)
		if err != nil || again != p {
			t.Fatalf("not stable: %q -> %#v -> %#v, %v", s, p, again, err)
		}
		if p.Adapter == "irc" && cm.Fold(p.ID) != p.ID {
			t.Fatalf("irc id %q not folded", p.ID)
		}
		var back Principal
		b, _ := p.MarshalText()
		if cm == CaseRFC1459 {
			if err := back.UnmarshalText(b); err != nil || back != p {
				t.Fatalf("text round trip %q: %#v, %v", b, back, err)
			}
		}
		// Same never confuses two principals that differ.
		d := &Directory{byID: map[Principal]string{}, byName: map[Principal]string{}}
		u := User{Principal: p}
		other := User{Principal: Principal{Adapter: p.Adapter, ID: p.ID + "x"}}
		if !d.Same(u, u) || d.Same(u, other) {
			t.Fatalf("Same broken for %#v", p)
		}
	})
}
