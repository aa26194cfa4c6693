package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// nopAdapter is an adapter that says nothing.
type nopAdapter struct{}

func (nopAdapter) Name() string                      { return "shell" }
func (nopAdapter) Run(context.Context, Inbox) error  { return nil }
func (nopAdapter) Send(context.Context, Reply) error { return nil }

func silenceBot(t testing.TB, st *Store) *Bot {
	t.Helper()
	cfg := Defaults()
	cfg.Admins = []string{"root"}
	cfg.Groups = map[string][]string{"ops": {"alice"}}
	cfg.Webhooks = []Webhook{{Name: "alerts", Secret: "s", Channel: Channels{"#ops"}, Allow: []string{"ops"}}, {Name: "other", Secret: "s"}}
	b := New(cfg, Options{Adapter: nopAdapter{}, Store: st})
	t.Cleanup(func() {
		if b.audit != nil {
			b.audit.Close()
		}
	})
	if err := b.loadSilences(); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSilenced(t *testing.T) {
	st, err := NewStore(NewMemKV(), 100)
	if err != nil {
		t.Fatal(err)
	}
	b := silenceBot(t, st)
	alice, carol, root := User{ID: "alice", Name: "alice"}, User{ID: "carol", Name: "carol"}, User{ID: "root", Name: "root"}
	ops := Channel{ID: "ops", Name: "ops"}
	disk := map[string]any{"alert": "disk", "labels": map[string]any{"severity": "critical"}}
	cpu := map[string]any{"alert": "cpu", "labels": map[string]any{"severity": "warning"}}
	now := time.Now()

	if _, ok := b.Silenced("alerts", disk, now); ok {
		t.Fatal("silenced with no silence")
	}
	var se *SilenceError
	for _, tc := range []struct {
		who        User
		hook, want string
	}{
		{carol, "alerts", "only admins and members of ops may silence alerts"},
		{alice, "other", "only admins may silence other"},
		{alice, "nope", "There is no webhook nope"},
	} {
		if _, err := b.Silence(tc.who, ops, tc.hook, 0, "", ""); !errors.As(err, &se) || !strings.Contains(se.Msg, tc.want) {
			t.Errorf("%s silences %s: %v, want %q", tc.who.Name, tc.hook, err, tc.want)
		}
	}
	if _, err := b.Silence(alice, ops, "alerts", 0, `alert ==`, ""); !errors.As(err, &se) || !strings.Contains(se.Msg, "at column") {
		t.Errorf("bad where: %v", err)
	}

	s, err := b.Silence(alice, ops, "alerts", 0, `labels.severity == "critical" && alert in ["disk", "mem"]`, "maintenance")
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Until.Sub(s.Created); d != DefaultSilence {
		t.Errorf("default duration %s", d)
	}
	if id, ok := b.Silenced("alerts", disk, now); !ok || id != s.ID {
		t.Errorf("disk not silenced: %q %v", id, ok)
	}
	for name, env := range map[string]map[string]any{"cpu": cpu, "nothing": {}, "nil": nil} {
		if _, ok := b.Silenced("alerts", env, now); ok {
			t.Errorf("%s silenced", name)
		}
	}
	if _, ok := b.Silenced("other", disk, now); ok {
		t.Error("another hook silenced")
	}
	if _, ok := b.Silenced("alerts", disk, s.Until); ok {
		t.Error("silenced after its end")
	}

	// Without where, everything of the hook; admins may silence any hook.
	all, err := b.Silence(root, ops, "other", 2*time.Minute, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Silenced("other", cpu, now); !ok {
		t.Error("other not silenced")
	}

	// Kept in the store: a new bot on it has them.
	b2 := silenceBot(t, st)
	if got := b2.Silences(now); len(got) != 2 || got[0].ID != all.ID || got[1].ID != s.ID {
		t.Fatalf("after a restart: %+v", got)
	}
	if _, ok := b2.Silenced("alerts", disk, now); !ok {
		t.Error("the silence did not survive a restart")
	}
	if _, err := b2.Unsilence(carol, s.ID); !errors.As(err, &se) {
		t.Errorf("carol ended alice's silence: %v", err)
	}
	if _, err := b2.Unsilence(alice, strings.ToLower(s.ID)); err != nil {
		t.Fatal(err)
	}
	if _, ok := b2.Silenced("alerts", disk, now); ok {
		t.Error("still silenced after unsilence")
	}
	if _, err := b2.Unsilence(alice, s.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unsilence: %v", err)
	}
	// Silences that are over are forgotten, in the store too.
	b2.Silences(now.Add(time.Hour))
	if kept, _ := st.Silences(); len(kept) != 0 {
		t.Errorf("over but kept: %+v", kept)
	}
}

func BenchmarkSilenced(b *testing.B) {
	st, _ := NewStore(NewMemKV(), 100)
	bt := silenceBot(b, st)
	_, _ = bt.Silence(User{ID: "root", Name: "root"}, Channel{}, "alerts", 0, `labels.severity == "critical"`, "")
	env := map[string]any{"alert": "cpu", "labels": map[string]any{"severity": "warning"}}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		bt.Silenced("alerts", env, now)
	}
}
