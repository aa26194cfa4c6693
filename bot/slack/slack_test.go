package slack

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/internal/fakeslack"
)

type inbox chan bot.Message

func (in inbox) Receive(_ context.Context, m bot.Message) { in <- m }

func waitMessage(t *testing.T, in inbox, text string) bot.Message {
	t.Helper()
	for {
		select {
		case m := <-in:
			if m.Text == text {
				return m
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message %q", text)
		}
	}
}

// Reconnects leave nothing behind: after several dropped sockets and
// disconnect requests, stopping the adapter ends every goroutine it began.
func TestReconnectsLeakNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	fs := fakeslack.New()
	a := New(Options{BotToken: "xoxb-t", AppToken: "xapp-t", APIURL: fs.APIURL(), PaceEvery: time.Millisecond})
	in := make(inbox, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, in) }()
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatal("no connection")
	}
	for i := range 3 {
		if i%2 == 0 {
			fs.Drop()
		} else {
			fs.Disconnect()
		}
		if !fs.WaitConnected(20 * time.Second) {
			t.Fatalf("no reconnect %d", i)
		}
		fs.Message("U1", "D1", "hello", "")
		m := waitMessage(t, in, "hello")
		if m.User.Name != "alice" || !m.Channel.Direct {
			t.Fatalf("message %+v", m)
		}
	}
	if err := a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: "C1", Name: "ops"}, Text: "bye"}); err != nil {
		t.Fatal(err)
	}
	if p, ok := fs.Next(5 * time.Second); !ok || p.Text != "bye" || p.Channel != "C1" {
		t.Fatalf("post %+v", p)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	fs.Close()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
