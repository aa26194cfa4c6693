package matrix

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/wirebot/wirebot/bot"
)

// notice is the content of one reply event: an m.notice (what bots send,
// and what other bots leave alone), plain text, with multi-line text also
// as a <pre> block so that clients keep its layout.
type notice struct {
	MsgType       event.MessageType `json:"msgtype"`
	Body          string            `json:"body"`
	Format        event.Format      `json:"format,omitempty"`
	FormattedBody string            `json:"formatted_body,omitempty"`
	RelatesTo     *event.RelatesTo  `json:"m.relates_to,omitempty"`
}

func noticeFor(text, thread string) *notice {
	n := &notice{MsgType: event.MsgNotice, Body: text}
	if strings.Contains(text, "\n") {
		n.Format = event.FormatHTML
		n.FormattedBody = "<pre><code>" + html.EscapeString(text) + "</code></pre>"
	}
	if thread != "" {
		root := id.EventID(thread)
		n.RelatesTo = (&event.RelatesTo{}).SetThread(root, root)
	}
	return n
}

// Send posts a reply, split at line ends into events the homeserver
// accepts. Replies go out one at a time, in order; a rate limit answer is
// waited out and the part sent again, and while the homeserver cannot be
// reached each part is retried (with the same transaction id, so the
// server posts it once) until it can.
func (a *Adapter) Send(ctx context.Context, r bot.Reply) error {
	select {
	case <-a.ready:
	case <-a.stopped:
		return fmt.Errorf("send to %s: %w (the adapter has stopped)", r.Channel.Name, ErrNotConnected)
	case <-ctx.Done():
		return fmt.Errorf("send to %s: %w", r.Channel.Name, ErrNotConnected)
	}
	roomID, err := a.resolve(ctx, r.Channel)
	if err != nil {
		return err
	}
	text := strings.TrimRight(r.Text, "\n")
	if strings.TrimSpace(text) == "" {
		return nil
	}
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	for _, part := range split(text, maxEventCost) {
		if err := a.sendEvent(ctx, roomID, noticeFor(part, r.Thread)); err != nil {
			return fmt.Errorf("send to %s: %w", roomID, err)
		}
	}
	return nil
}

// sendEvent posts one event, retrying what can succeed later.
func (a *Adapter) sendEvent(ctx context.Context, roomID id.RoomID, content *notice) error {
	txn := a.cli.TxnID()
	wait := 250 * time.Millisecond
	for {
		_, err := a.cli.SendMessageEvent(ctx, roomID, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d, limited := limitExceeded(err)
		switch {
		case limited:
			a.log.Info("matrix: rate limited (M_LIMIT_EXCEEDED), waiting", "room", roomID, "retry_in", d)
		case retryable(err):
			select {
			case <-a.stopped:
				return fmt.Errorf("%w (the adapter has stopped): %w", ErrNotConnected, err)
			default:
			}
			d = wait
			wait = min(wait*2, 5*time.Second)
			a.log.Warn("matrix: send failed, retrying", "room", roomID, "err", err, "retry_in", d)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// retryable is an error that may go away: no answer, or a server error.
func retryable(err error) bool {
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		return true // the request never got an answer
	}
	return he.Response.StatusCode >= 500
}

// resolve finds the room a reply goes to: a room id, or an alias
// ("#ops:example.org", "ops:example.org") or, among the joined rooms, the
// local part of one ("ops").
func (a *Adapter) resolve(ctx context.Context, ch bot.Channel) (id.RoomID, error) {
	target := ch.ID
	if target == "" {
		target = ch.Name
	}
	if strings.HasPrefix(target, "!") {
		return id.RoomID(target), nil
	}
	alias := target
	if !strings.HasPrefix(alias, "#") {
		alias = "#" + alias
	}
	a.mu.Lock()
	for roomID, r := range a.rooms {
		if r.alias == "" {
			continue
		}
		local, _, _ := strings.Cut(string(r.alias), ":")
		if string(r.alias) == alias || local == alias {
			a.mu.Unlock()
			return roomID, nil
		}
	}
	a.mu.Unlock()
	if !strings.Contains(alias, ":") {
		return "", fmt.Errorf("send to %q: no joined room has that alias (name it as #room:server or !id:server)", target)
	}
	var resp *mautrix.RespAliasResolve
	err := a.retryLimited(ctx, func() (err error) {
		resp, err = a.cli.ResolveAlias(ctx, id.RoomAlias(alias))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("resolve room alias %s: %w", alias, err)
	}
	return resp.RoomID, nil
}

// SendDirect sends text to one user in their direct room with the bot
// (as `link` does with its codes), creating the room, with an invite
// marked as direct, when there is none.
func (a *Adapter) SendDirect(ctx context.Context, to bot.Principal, text string) error {
	if to.Adapter != "matrix" || !strings.HasPrefix(to.ID, "@") {
		return fmt.Errorf("send a direct message to %s: not a Matrix user", to)
	}
	select {
	case <-a.ready:
	case <-a.stopped:
		return fmt.Errorf("send a direct message to %s: %w (the adapter has stopped)", to, ErrNotConnected)
	case <-ctx.Done():
		return fmt.Errorf("send a direct message to %s: %w", to, ErrNotConnected)
	}
	user := id.UserID(to.ID)
	a.dmMu.Lock()
	roomID := a.directRoom(user)
	if roomID == "" {
		var resp *mautrix.RespCreateRoom
		err := a.retryLimited(ctx, func() (err error) {
			resp, err = a.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
				Invite: []id.UserID{user}, IsDirect: true, Preset: "trusted_private_chat",
			})
			return err
		})
		if err != nil {
			a.dmMu.Unlock()
			return fmt.Errorf("create a direct room with %s: %w", user, err)
		}
		roomID = resp.RoomID
		a.setState("direct:"+string(roomID), string(user))
		a.update(roomID, func(r *room) { r.direct, r.with = true, user })
		a.log.Info("matrix: made a direct room", "user", user, "room", roomID)
	}
	a.dmMu.Unlock()
	return a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: string(roomID), Direct: true}, Text: text})
}

// directRoom is the bot's direct room with user, "" when it knows none.
func (a *Adapter) directRoom(user id.UserID) id.RoomID {
	a.mu.Lock()
	defer a.mu.Unlock()
	for roomID, r := range a.rooms {
		if r.direct && r.with == user {
			return roomID
		}
	}
	return ""
}
