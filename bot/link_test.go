package bot

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// dmAdapter records direct messages.
type dmAdapter struct {
	name string
	mu   sync.Mutex
	dms  []string
}

func (a *dmAdapter) Name() string                    { return a.name }
func (*dmAdapter) Run(context.Context, Inbox) error  { return nil }
func (*dmAdapter) Send(context.Context, Reply) error { return nil }
func (a *dmAdapter) SendDirect(_ context.Context, p Principal, text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dms = append(a.dms, p.String()+" "+text)
	return nil
}

func TestLinkCodes(t *testing.T) {
	st, err := NewStore(NewMemKV(), 100)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.People = map[string][]string{"alice": {"slack:U1"}}
	slack, irc := &dmAdapter{name: "slack"}, &dmAdapter{name: "irc"}
	b := New(cfg, Options{Adapters: []Adapter{slack, irc}, Store: st})
	t.Cleanup(b.audit.Close)
	ctx := context.Background()
	u := b.dir.Resolve(User{ID: "alice", Name: "alice", Principal: Principal{"irc", "alice"}})
	var le *LinkError
	if _, err := b.LinkStart(ctx, u, "nobody"); !errors.As(err, &le) {
		t.Fatalf("link to nobody: %v", err)
	}
	start := func() string {
		t.Helper()
		sent, err := b.LinkStart(ctx, u, "alice")
		if err != nil || len(sent) != 1 || sent[0] != (Principal{"slack", "U1"}) {
			t.Fatalf("LinkStart = %v, %v", sent, err)
		}
		slack.mu.Lock()
		defer slack.mu.Unlock()
		dm := slack.dms[len(slack.dms)-1]
		i := strings.Index(dm, "link ")
		return dm[i+5 : i+11]
	}
	code := start()
	wrong := "000000"
	if code == wrong {
		wrong = "999999"
	}
	if _, err := b.LinkFinish(u, wrong); !errors.As(err, &le) {
		t.Fatalf("wrong code: %v", err)
	}
	// Expired: nothing links, even with the right code.
	b.links.mu.Lock()
	b.links.pending[u.Principal].expires = time.Now().Add(-time.Second)
	b.links.mu.Unlock()
	if _, err := b.LinkFinish(u, code); !errors.As(err, &le) || !strings.Contains(le.Msg, "expired") {
		t.Fatalf("expired code: %v", err)
	}
	if p := b.dir.PersonOf(u); p != "" {
		t.Fatalf("an expired code linked %s", p)
	}
	// Five wrong tries end it.
	code = start()
	for i := 0; i < linkTries; i++ {
		_, _ = b.LinkFinish(u, wrong)
	}
	if _, err := b.LinkFinish(u, code); !errors.As(err, &le) {
		t.Fatalf("the right code after %d wrong ones: %v", linkTries, err)
	}
	code = start()
	if person, err := b.LinkFinish(u, code); err != nil || person != "alice" {
		t.Fatalf("LinkFinish = %q, %v", person, err)
	}
	if p := b.dir.PersonOf(u); p != "alice" {
		t.Fatalf("person %q after the link", p)
	}
	// A new bot on the same store has the link.
	b2 := New(cfg, Options{Adapters: []Adapter{slack, irc}, Store: st})
	t.Cleanup(b2.audit.Close)
	if p := b2.dir.PersonOf(u); p != "alice" {
		t.Fatalf("person %q after a restart", p)
	}
}
