package bot

import (
	"context"
	"fmt"
	"testing"
)

type benchAdapter struct{ name string }

func (a benchAdapter) Name() string                    { return a.name }
func (benchAdapter) Run(context.Context, Inbox) error  { return nil }
func (benchAdapter) Send(context.Context, Reply) error { return nil }

func benchIdentityBot(b *testing.B, people bool) *Bot {
	cfg := Defaults()
	if people {
		cfg.People = map[string][]string{}
		cfg.Groups = map[string][]string{}
		for i := range 500 {
			cfg.People[fmt.Sprintf("p%03d", i)] = []string{fmt.Sprintf("shell:p%03d", i), fmt.Sprintf("slack:U0P%03d", i), fmt.Sprintf("irc:p%03d", i)}
		}
		for g := range 50 {
			for j := range 20 {
				cfg.Groups[fmt.Sprintf("g%02d", g)] = append(cfg.Groups[fmt.Sprintf("g%02d", g)], fmt.Sprintf("p%03d", (g*10+j)%500))
			}
		}
	}
	bot := New(cfg, Options{Adapters: []Adapter{benchAdapter{"shell"}, benchAdapter{"slack"}, benchAdapter{"irc"}}})
	re, _ := CompilePattern(`^ping$`)
	pong := HandlerFunc(func(ctx context.Context, w ResponseWriter, _ *Request) error { return w.Reply(ctx, "PONG") })
	bot.Register(&Route{Kind: Respond, Pattern: re, Command: &Command{Name: "ping", Source: "builtin", Handler: pong, Inline: true}})
	return bot
}

// BenchmarkReceivePing is one addressed ping through Receive (stamping the
// principal and person, routing, the middleware) with three adapters; the
// identity sub-benchmark has 500 people and 50 groups.
func BenchmarkReceivePing(b *testing.B) {
	for _, people := range []bool{false, true} {
		b.Run(fmt.Sprintf("people=%v", people), func(b *testing.B) {
			bot := benchIdentityBot(b, people)
			m := Message{Text: "ping", User: User{ID: "p042", Name: "p042"}, Channel: Channel{ID: "shell", Name: "shell", Direct: true}, Adapter: "shell"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				bot.Receive(ctx, m)
			}
		})
	}
}

// TestAccessChecksDoNotAllocate: membership and Same on a resolved user
// allocate nothing, with 500 people and 50 groups.
func TestAccessChecksDoNotAllocate(t *testing.T) {
	cfg := Defaults()
	cfg.People = map[string][]string{}
	cfg.Groups = map[string][]string{}
	for i := range 500 {
		cfg.People[fmt.Sprintf("p%03d", i)] = []string{fmt.Sprintf("slack:U0P%03d", i), fmt.Sprintf("irc:p%03d", i)}
	}
	for g := range 50 {
		for j := range 20 {
			cfg.Groups[fmt.Sprintf("g%02d", g)] = append(cfg.Groups[fmt.Sprintf("g%02d", g)], fmt.Sprintf("p%03d", (g*10+j)%500))
		}
	}
	bot := New(cfg, Options{Adapters: []Adapter{benchAdapter{"slack"}, benchAdapter{"irc"}}})
	u := bot.Directory().Resolve(User{ID: "p042", Name: "p042", Principal: Principal{"irc", "p042"}})
	v := bot.Directory().Resolve(User{ID: "U0P042", Name: "x", Principal: Principal{"slack", "U0P042"}})
	groups := []string{"g49", "g04"}
	n := testing.AllocsPerRun(100, func() {
		if !bot.Access().Allowed(u, groups) || !bot.Directory().Same(u, v) {
			t.Fatal("wrong answer")
		}
	})
	if n != 0 {
		t.Fatalf("access checks allocate %v times", n)
	}
}
