// Package matrix is wirebot's Matrix adapter, on maunium.net/go/mautrix:
// one account on one homeserver (an access token, or a password to log in
// with), the configured rooms joined and invites accepted, answers in rooms
// (addressed) and direct rooms (always addressed), thread replies kept in
// their thread, the sync position kept in the bot's store so that a
// restart answers nothing old, rate limits honoured, reconnects by itself.
// Encrypted rooms are out of scope: the bot says so once in such a room.
package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/wirebot/wirebot/bot"
)

// State is where the adapter keeps what must survive a restart: its sync
// position, the device it logged in as, which rooms are direct and where
// it has already said that it cannot read encrypted messages.
// *bot.Store implements it.
type State interface {
	AdapterState(adapter, key string) (string, error)
	SetAdapterState(adapter, key, val string) error
}

// Options configure the adapter.
type Options struct {
	Homeserver  string // base URL, e.g. https://matrix.example.org
	UserID      string // @wirebot:example.org; with an access token it may be empty
	AccessToken string
	Password    string
	Rooms       []string // room ids or aliases to join
	// BotName is the name the bot answers to (config key name): a mention
	// of the bot's own user reads as @BotName.
	BotName string
	State   State
	Logger  *slog.Logger
	// MayInvite decides whether an invite from a user (a Matrix user id)
	// is accepted; an invite refused is left and logged once. nil accepts
	// every invite.
	MayInvite func(userID string) bool
	// OnReconnect is called each time the connection is made again.
	OnReconnect func()
	// SyncTimeout is how long one /sync waits for news; default 30s.
	SyncTimeout time.Duration
	// HTTPClient replaces the default client (tests).
	HTTPClient *http.Client
}

var _ bot.DirectMessager = (*Adapter)(nil)

// Adapter is one account on one Matrix homeserver.
type Adapter struct {
	opts Options
	log  *slog.Logger
	cli  *mautrix.Client // credentials set before ready is closed, then never changed

	ready     chan struct{} // closed once logged in: sends may start
	readyOnce sync.Once
	stopped   chan struct{} // closed when Run has returned
	stopOnce  sync.Once
	connected atomic.Bool
	sendMu    sync.Mutex // keeps the parts of one reply together and replies in order
	dmMu      sync.Mutex // one direct room made at a time, so never two for one person

	mu    sync.Mutex // guards rooms and refused
	rooms map[id.RoomID]*room
	// refused are the invites refused and not yet seen left, by room:
	// the inviter, so that an invite seen again is not logged again.
	refused map[id.RoomID]id.UserID

	seen *seenEvents // timeline events already handled; the sync loop's own
}

// room is what the adapter knows of a joined room.
type room struct {
	alias  id.RoomAlias
	direct bool
	with   id.UserID // the other person in a direct room, when known
	joined bool      // seen among the joined rooms of a sync
}

const stateName = "matrix"

// timelineLimit is how many events of a room one live sync may bring.
const timelineLimit = 500

// ErrNotConnected is a reply that could not wait for the connection.
var ErrNotConnected = errors.New("not connected to Matrix")

// New makes an adapter; it connects in Run.
func New(o Options) (*Adapter, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 30 * time.Second
	}
	cli, err := mautrix.NewClient(o.Homeserver, id.UserID(o.UserID), o.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("matrix.homeserver %q: %w", o.Homeserver, err)
	}
	if o.HTTPClient != nil {
		cli.Client = o.HTTPClient
	}
	cli.Client.Timeout = o.SyncTimeout + 30*time.Second
	cli.UserAgent = "wirebot"
	return &Adapter{
		opts: o, log: o.Logger.With("adapter", "matrix"), cli: cli,
		ready: make(chan struct{}), stopped: make(chan struct{}), rooms: map[id.RoomID]*room{},
		refused: map[id.RoomID]id.UserID{}, seen: newSeenEvents(seenCapacity),
	}, nil
}

// Name is "matrix".
func (a *Adapter) Name() string { return "matrix" }

// Connected reports whether the last /sync succeeded.
func (a *Adapter) Connected() bool { return a.connected.Load() }

// fatal errors stop the adapter: retrying cannot help.
type fatal struct{ err error }

func (e *fatal) Error() string { return e.err.Error() }
func (e *fatal) Unwrap() error { return e.err }

// login makes sure the client has an access token and knows its user.
func (a *Adapter) login(ctx context.Context) error {
	if a.opts.AccessToken != "" {
		resp, err := a.cli.Whoami(ctx)
		if errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MMissingToken) {
			return &fatal{fmt.Errorf("matrix.access_token is not accepted by %s", a.opts.Homeserver)}
		}
		if err != nil {
			return fmt.Errorf("whoami: %w", err)
		}
		if a.opts.UserID != "" && resp.UserID != id.UserID(a.opts.UserID) {
			return &fatal{fmt.Errorf("matrix.access_token belongs to %s, not matrix.user_id %s", resp.UserID, a.opts.UserID)}
		}
		a.cli.UserID, a.cli.DeviceID = resp.UserID, resp.DeviceID
		return nil
	}
	device, _ := a.state("device")
	resp, err := a.cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: a.opts.UserID},
		Password:                 a.opts.Password,
		DeviceID:                 id.DeviceID(device),
		InitialDeviceDisplayName: "wirebot",
	})
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.RespError != nil && he.Response != nil && he.Response.StatusCode < 500 && he.Response.StatusCode != http.StatusTooManyRequests {
		return &fatal{fmt.Errorf("log in to %s as %s: %s", a.opts.Homeserver, a.opts.UserID, he.RespError.ErrCode)}
	}
	if err != nil {
		return fmt.Errorf("log in as %s: %w", a.opts.UserID, err)
	}
	a.cli.UserID, a.cli.DeviceID, a.cli.AccessToken = resp.UserID, resp.DeviceID, resp.AccessToken
	a.setState("device", string(resp.DeviceID))
	return nil
}

func (a *Adapter) state(key string) (string, error) {
	if a.opts.State == nil {
		return "", nil
	}
	return a.opts.State.AdapterState(stateName, key)
}

func (a *Adapter) setState(key, val string) {
	if a.opts.State == nil {
		return
	}
	if err := a.opts.State.SetAdapterState(stateName, key, val); err != nil {
		a.log.Error("matrix: keep state", "key", key, "err", err)
	}
}

// Run logs in, joins the configured rooms and syncs until ctx is done,
// reconnecting with backoff.
func (a *Adapter) Run(ctx context.Context, in bot.Inbox) error {
	defer a.stopOnce.Do(func() { close(a.stopped) })
	defer a.connected.Store(false)
	wait := time.Second
	backoff := func(what string, err error) error {
		a.log.Warn("matrix: "+what+" failed, retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryAfter(err, wait)):
		}
		wait = min(wait*2, 2*time.Minute)
		return nil
	}
	for {
		err := a.login(ctx)
		if err == nil {
			break
		}
		var f *fatal
		if errors.As(err, &f) || ctx.Err() != nil {
			return err
		}
		if err := backoff("login", err); err != nil {
			return err
		}
	}
	a.readyOnce.Do(func() { close(a.ready) })
	since, err := a.state("next_batch")
	if err != nil {
		a.log.Error("matrix: read sync position, starting afresh", "err", err)
	}
	live := false // the first sync of this run is what happened before it
	joined := false
	ever := false
	var upSince time.Time
	for {
		if !joined {
			a.joinRooms(ctx)
			joined = true
		}
		// Room timelines are long enough that a busy room does not drop
		// messages between two syncs (the default is 20 events).
		req := mautrix.ReqSync{Since: since, Timeout: int(a.opts.SyncTimeout / time.Millisecond),
			FilterID: fmt.Sprintf(`{"room":{"timeline":{"limit":%d}}}`, timelineLimit)}
		if !a.connected.Load() {
			// Coming back after a failure: answer at once, so that the
			// connection shows as up without waiting for news.
			req.Timeout = 0
		}
		if !live {
			// What this run first hears is what happened before it: the
			// full state of every room (to know them all), and no more
			// of their timelines than needed.
			req.Timeout = 0
			req.FullState = since != ""
			req.FilterID = `{"room":{"timeline":{"limit":1}}}`
		}
		resp, err := a.cli.FullSyncRequest(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, mautrix.MUnknownToken) {
				return fmt.Errorf("sync: the homeserver no longer accepts the bot's access token: %w", err)
			}
			if a.connected.Swap(false) && time.Since(upSince) > time.Minute {
				wait = time.Second // it was up for a while: start the backoff again
			}
			joined = false // rejoin after the reconnect, in case the server lost track
			if err := backoff("sync", err); err != nil {
				return err
			}
			continue
		}
		if !a.connected.Swap(true) {
			upSince = time.Now()
			if ever && a.opts.OnReconnect != nil {
				a.opts.OnReconnect()
			}
			ever = true
			a.log.Info("matrix: connected", "user", a.cli.UserID, "homeserver", a.opts.Homeserver)
		}
		if time.Since(upSince) > time.Minute {
			wait = time.Second
		}
		a.log.Debug("matrix: synced", "since", since, "next_batch", resp.NextBatch, "rooms", len(resp.Rooms.Join), "invites", len(resp.Rooms.Invite), "timeout_ms", req.Timeout)
		a.handleSync(ctx, in, resp, live)
		since = resp.NextBatch
		a.setState("next_batch", since)
		live = true
	}
}

// retryAfter is how long to wait after err: what a rate limit answer
// asks for, else wait.
func retryAfter(err error, wait time.Duration) time.Duration {
	if d, ok := limitExceeded(err); ok {
		return d
	}
	return wait
}

// limitExceeded reports whether err is M_LIMIT_EXCEEDED and how long the
// server asks to wait (retry_after_ms, else Retry-After, else a second).
func limitExceeded(err error) (time.Duration, bool) {
	var he mautrix.HTTPError
	if !errors.As(err, &he) {
		return 0, false
	}
	limited := he.Response != nil && he.Response.StatusCode == http.StatusTooManyRequests
	if he.RespError != nil && he.RespError.ErrCode == mautrix.MLimitExceeded.ErrCode {
		limited = true
	}
	if !limited {
		return 0, false
	}
	if he.RespError != nil {
		if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if he.Response != nil {
		if s := he.Response.Header.Get("Retry-After"); s != "" {
			if d, err := time.ParseDuration(s + "s"); err == nil && d > 0 {
				return d, true
			}
		}
	}
	return time.Second, true
}

// joinRooms joins every configured room (joining one already joined
// changes nothing). A room that cannot be joined is logged, not fatal.
func (a *Adapter) joinRooms(ctx context.Context) {
	for _, r := range a.opts.Rooms {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		var resp *mautrix.RespJoinRoom
		err := a.retryLimited(ctx, func() (err error) {
			resp, err = a.cli.JoinRoom(ctx, r, nil)
			return err
		})
		if err != nil {
			a.log.Warn("matrix: join room", "channel", r, "err", err)
			continue
		}
		a.log.Info("matrix: joined", "channel", r, "room", resp.RoomID)
	}
}

// retryLimited calls fn again for as long as the server answers that the
// bot is sending too fast, waiting as long as it asks.
func (a *Adapter) retryLimited(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		d, limited := limitExceeded(err)
		if !limited {
			return err
		}
		a.log.Info("matrix: rate limited (M_LIMIT_EXCEEDED), waiting", "retry_in", d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// handleSync takes in one /sync answer: invites, room state, and (when
// live) the messages said since the last one.
func (a *Adapter) handleSync(ctx context.Context, in bot.Inbox, resp *mautrix.RespSync, live bool) {
	self := a.cli.UserID
	for _, ev := range resp.AccountData.Events {
		if ev.Type.Type == event.AccountDataDirectChats.Type {
			var direct map[id.UserID][]id.RoomID
			if json.Unmarshal(ev.Content.VeryRaw, &direct) == nil {
				for user, rooms := range direct {
					for _, r := range rooms {
						a.update(r, func(r *room) { r.direct, r.with = true, user })
					}
				}
			}
		}
	}
	for roomID, inv := range resp.Rooms.Invite {
		a.handleInvite(ctx, roomID, inv, self)
	}
	for roomID, jr := range resp.Rooms.Join {
		known := false
		a.update(roomID, func(r *room) { known, r.joined = r.joined, true })
		if !known {
			if with, _ := a.state("direct:" + string(roomID)); with != "" {
				a.update(roomID, func(r *room) { r.direct, r.with = true, id.UserID(with) })
			}
		}
		for _, ev := range jr.State.Events {
			a.handleState(ctx, roomID, ev)
		}
		// In a room joined since the last sync, what was said before the
		// bot's own join is history.
		roomLive := live && known
		// (Dendrite marks some short timelines limited: only a full one
		// means that messages were left out.)
		if roomLive && jr.Timeline.Limited && len(jr.Timeline.Events) >= timelineLimit {
			a.log.Warn("matrix: more was said in the room than one sync holds; the oldest messages go unanswered", "room", roomID)
		}
		for _, ev := range jr.Timeline.Events {
			if ev.StateKey != nil {
				a.handleState(ctx, roomID, ev)
				if !known && live && ev.Type == event.StateMember && *ev.StateKey == string(self) {
					roomLive = true
				}
				continue
			}
			// An event brought again (Dendrite does, see seenEvents) was
			// answered, or was history, the first time.
			if (ev.Type == event.EventMessage || ev.Type == event.EventEncrypted) && !a.seen.add(ev.ID) {
				a.log.Debug("matrix: event brought again, ignored", "room", roomID, "event", ev.ID)
				continue
			}
			switch ev.Type {
			case event.EventEncrypted:
				a.noticeEncrypted(ctx, roomID)
			case event.EventMessage:
				if roomLive {
					a.handleMessage(ctx, in, roomID, ev)
				}
			}
		}
	}
	for roomID := range resp.Rooms.Leave {
		a.mu.Lock()
		delete(a.rooms, roomID)
		delete(a.refused, roomID) // refused and left: a new invite is news
		a.mu.Unlock()
	}
}

// update changes what is known of a room, creating the entry.
func (a *Adapter) update(roomID id.RoomID, fn func(r *room)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a.roomLocked(roomID))
}

func (a *Adapter) handleInvite(ctx context.Context, roomID id.RoomID, inv *mautrix.SyncInvitedRoom, self id.UserID) {
	var inviter id.UserID
	direct := false
	for _, ev := range inv.State.Events {
		if ev.Type == event.StateMember && ev.StateKey != nil && *ev.StateKey == string(self) {
			var c event.MemberEventContent
			if json.Unmarshal(ev.Content.VeryRaw, &c) == nil && c.Membership == event.MembershipInvite {
				inviter, direct = ev.Sender, c.IsDirect
			}
		}
	}
	if inviter == "" {
		return
	}
	if a.opts.MayInvite != nil && !a.opts.MayInvite(string(inviter)) {
		a.mu.Lock()
		seen := a.refused[roomID] == inviter
		a.refused[roomID] = inviter
		a.mu.Unlock()
		if !seen {
			a.log.Info("matrix: invite refused: the inviter may not use the bot", "user", inviter, "room", roomID)
		}
		err := a.retryLimited(ctx, func() error { _, err := a.cli.LeaveRoom(ctx, roomID); return err })
		if err != nil && ctx.Err() == nil {
			a.log.Warn("matrix: refuse invite", "user", inviter, "room", roomID, "err", err)
		}
		return
	}
	err := a.retryLimited(ctx, func() error { _, err := a.cli.JoinRoomByID(ctx, roomID); return err })
	if err != nil {
		a.log.Warn("matrix: accept invite", "user", inviter, "room", roomID, "err", err)
		return
	}
	if direct {
		a.setState("direct:"+string(roomID), string(inviter))
		a.update(roomID, func(r *room) { r.direct, r.with = true, inviter })
	}
	a.log.Info("matrix: accepted invite", "user", inviter, "room", roomID, "direct", direct)
}

func (a *Adapter) handleState(ctx context.Context, roomID id.RoomID, ev *event.Event) {
	switch ev.Type {
	case event.StateCanonicalAlias:
		var c event.CanonicalAliasEventContent
		if json.Unmarshal(ev.Content.VeryRaw, &c) == nil {
			a.update(roomID, func(r *room) { r.alias = c.Alias })
		}
	case event.StateEncryption:
		a.noticeEncrypted(ctx, roomID)
	}
}

func (a *Adapter) roomLocked(roomID id.RoomID) *room {
	r := a.rooms[roomID]
	if r == nil {
		r = &room{}
		a.rooms[roomID] = r
	}
	return r
}

// noticeEncrypted says once per room (ever: it is kept in the store) that
// the bot cannot read encrypted messages.
func (a *Adapter) noticeEncrypted(ctx context.Context, roomID id.RoomID) {
	if done, _ := a.state("e2ee_notice:" + string(roomID)); done != "" {
		return
	}
	a.setState("e2ee_notice:"+string(roomID), "1")
	a.log.Warn("matrix: room is encrypted; end-to-end encryption is not supported, messages there go unread", "room", roomID)
	text := "This room is end-to-end encrypted, and I cannot read encrypted messages yet: talk to me in an unencrypted room or direct chat."
	if err := a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: string(roomID)}, Text: text}); err != nil {
		a.log.Warn("matrix: say that the room is encrypted", "room", roomID, "err", err)
	}
}

func (a *Adapter) handleMessage(ctx context.Context, in bot.Inbox, roomID id.RoomID, ev *event.Event) {
	var c event.MessageEventContent
	if err := json.Unmarshal(ev.Content.VeryRaw, &c); err != nil {
		return
	}
	switch c.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
	default:
		return // images, files and the like are not commands
	}
	if c.RelatesTo != nil && c.RelatesTo.Type == event.RelReplace {
		return // an edit is not a new message
	}
	self := a.cli.UserID
	m := bot.Message{
		Adapter: "matrix", ID: string(ev.ID),
		Text:     plainText(&c, self, a.opts.BotName),
		User:     bot.User{ID: string(ev.Sender), Name: string(ev.Sender), IsBot: c.MsgType == event.MsgNotice},
		FromSelf: ev.Sender == self,
	}
	if root := c.RelatesTo.GetThreadParent(); root != "" {
		m.Thread = string(root)
	}
	a.mu.Lock()
	r := a.roomLocked(roomID)
	m.Channel = bot.Channel{ID: string(roomID), Name: channelName(roomID, r.alias), Direct: r.direct}
	a.mu.Unlock()
	a.log.Debug("matrix: message", "user", m.User.ID, "channel", m.Channel.Name, "self", m.FromSelf, "bot", m.User.IsBot, "text", m.Text)
	in.Receive(ctx, m)
}

// channelName is a room's canonical alias without its '#', else its id.
func channelName(roomID id.RoomID, alias id.RoomAlias) string {
	if alias != "" {
		return strings.TrimPrefix(string(alias), "#")
	}
	return string(roomID)
}
