package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// --- Matrix: a real Dendrite (see matrix_e2e_test.go) ---

type confMatrix struct {
	srv   *dendrite
	token string // the bot's
	ops   id.RoomID

	mu       sync.Mutex
	asTheBot map[id.EventID]bool // what the test posted with the bot's account: not replies
}

func (n *confMatrix) Setup(t *testing.T) string {
	n.srv = startDendrite(t, nil)
	n.asTheBot = map[id.EventID]bool{}
	owner := n.srv.user("roomowner")
	n.ops = owner.createRoom("ops", nil, false, nil)
	_, n.token = n.srv.registerBot()
	// The conformance client is alice, who invites the bot to her direct
	// room: she may use it.
	return fmt.Sprintf("adapter: matrix\nmatrix: {homeserver: %q, access_token: %q, rooms: [\"#ops:localhost\"]}\n%s", n.srv.url(), n.token, aliceMayInvite)
}

func (n *confMatrix) Attach(t *testing.T, p *botProc) {}
func (n *confMatrix) Outages() bool                   { return true }
func (n *confMatrix) Down(t *testing.T)               { n.srv.stop() }
func (n *confMatrix) Up(t *testing.T)                 { n.srv.start() }

func (n *confMatrix) Client(t *testing.T, name string) confClient {
	u := n.srv.user(name)
	if _, err := u.cli.JoinRoom(context.Background(), string(n.ops), nil); err != nil {
		t.Fatal(err)
	}
	u.waitMember(n.ops, mxBot)
	dm := u.createRoom("", []id.UserID{mxBot}, true, nil)
	u.waitMember(dm, mxBot)
	return &confMatrixClient{n: n, u: u, ops: n.ops, dm: dm}
}

// SayAsSelf posts with the bot's own account; SayAsOtherBot as another
// bot does, an m.notice.
func (n *confMatrix) SayAsSelf(t *testing.T, text string) {
	cli, err := mautrix.NewClient(n.srv.url(), mxBot, n.token)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.SendMessageEvent(context.Background(), n.ops, event.EventMessage, map[string]any{"msgtype": "m.text", "body": text})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.asTheBot[resp.EventID] = true
	n.mu.Unlock()
}

func (n *confMatrix) SayAsOtherBot(t *testing.T, text string) {
	other := n.srv.user("otherbot")
	if _, err := other.cli.JoinRoom(context.Background(), string(n.ops), nil); err != nil {
		t.Fatal(err)
	}
	other.send(n.ops, map[string]any{"msgtype": "m.notice", "body": text})
}

type confMatrixClient struct {
	n       *confMatrix
	u       *mxUser
	ops, dm id.RoomID
}

func (c *confMatrixClient) Say(t *testing.T, text string) { c.u.t = t; c.u.say(c.ops, text) }

// Mention is a pill, as Element sends it: the display text in the body.
func (c *confMatrixClient) Mention(t *testing.T, text string) {
	c.u.t = t
	c.u.send(c.ops, map[string]any{"msgtype": "m.text", "body": "Wire Bot: " + text, "format": "org.matrix.custom.html",
		"formatted_body": `<a href="https://matrix.to/#/@wirebot:localhost">Wire Bot</a>: ` + text})
}

func (c *confMatrixClient) Private(t *testing.T, text string) { c.u.t = t; c.u.say(c.dm, text) }

// Rejoin: the client's sync loop picks up again by itself.
func (c *confMatrixClient) Rejoin(t *testing.T) {}

func (c *confMatrixClient) Next(t *testing.T, d time.Duration) confMsg {
	t.Helper()
	c.u.t = t
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-c.u.msgs:
			c.n.mu.Lock()
			posted := c.n.asTheBot[m.id]
			c.n.mu.Unlock()
			if m.sender == mxBot && !posted && (m.room == c.ops || m.room == c.dm) {
				return confMsg{Text: m.content.Body, Private: m.room == c.dm}
			}
		case <-timer.C:
			t.Fatalf("no message from the bot within %s", d)
		}
	}
}
