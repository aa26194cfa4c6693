// Package xmpp is wirebot's XMPP adapter, on github.com/xmppo/go-xmpp: one
// account, SASL login over STARTTLS, direct TLS or (for tests) plain TCP;
// multi-user chat rooms (XEP-0045) joined as the configured nick with the
// history replayed on join ignored; one-to-one chats, always addressed;
// replies split at line ends under the server's stanza limit (XEP-0478, else
// 48 KiB); reconnect and rejoin with backoff.
//
// Users are principals xmpp:BARE-JID in lower case. In a room, an occupant
// is its real JID when the room shows it (a non-anonymous room); otherwise
// it is an unverified occupant whose id (occupant:ROOM|NICK) no config
// entry can name, so it is in no group.
package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	goxmpp "github.com/xmppo/go-xmpp"

	"github.com/wirebot/wirebot/bot"
)

// defaultStanza is the most bytes put in one message stanza when the
// server does not advertise its limit (XEP-0478): well under the stanza
// limits servers set (prosody: 256 KiB, ejabberd: 64 KiB+).
const defaultStanza = 48 << 10

// stanzaSlack is room under the limit for what the stanza may gain on
// the way (a from, a MUC's stanza-id and occupant x) besides what the bot
// writes.
const stanzaSlack = 1024

// Options configure the adapter.
type Options struct {
	JID      string // the bot's account
	Password string
	Server   string // host:port; "" finds it from the JID
	TLS      string // starttls (default) | direct | none
	Rooms    []string
	Nick     string
	Logger   *slog.Logger
	// OnReconnect is called once per reconnection.
	OnReconnect func()
	// TLSConfig overrides the TLS settings (tests).
	TLSConfig *tls.Config
}

// Adapter is one XMPP account's connection.
type Adapter struct {
	opts Options
	log  *slog.Logger
	self string // the bot's bare JID, lower case

	mu        sync.Mutex // guards client, up and occupants
	client    *goxmpp.Client
	up        chan struct{} // closed while connected
	occupants map[string]string
	connected atomic.Bool
	sendMu    sync.Mutex    // one writer on the stream; keeps a reply's parts together
	broken    chan struct{} // a send found the connection broken
	stopped   chan struct{}
	stopOnce  sync.Once

	backoff     *bot.Backoff
	connections atomic.Int64

	plainOnly  atomic.Bool // SCRAM was refused for its channel binding: PLAIN from now on
	mechMu     sync.Mutex  // guards mechLogged
	mechLogged string      // the mechanism last logged
}

// New makes an adapter; it connects in Run.
func New(o Options) *Adapter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TLS == "" {
		o.TLS = "starttls"
	}
	if o.Nick == "" {
		o.Nick = "wirebot"
	}
	rooms := make([]string, 0, len(o.Rooms))
	for _, r := range o.Rooms {
		rooms = append(rooms, bare(r))
	}
	o.Rooms = rooms
	return &Adapter{opts: o, log: o.Logger.With("adapter", "xmpp"), self: bare(o.JID),
		up: make(chan struct{}), stopped: make(chan struct{}), occupants: map[string]string{}, backoff: bot.NewBackoff(), broken: make(chan struct{}, 1)}
}

// bare is a JID without its resource, in lower case.
func bare(jid string) string {
	return bot.NormalizeID("xmpp", jid, bot.CaseRFC1459)
}

func resource(jid string) string {
	if i := strings.IndexByte(jid, '/'); i >= 0 {
		return jid[i+1:]
	}
	return ""
}

// Name is "xmpp".
func (a *Adapter) Name() string { return "xmpp" }

// Connected reports whether the session is up.
func (a *Adapter) Connected() bool { return a.connected.Load() }

func (a *Adapter) setUp(up bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.connected.Swap(up) == up {
		return
	}
	if up {
		close(a.up)
	} else {
		a.up = make(chan struct{})
		a.occupants = map[string]string{}
	}
}

// errNeedsTLS is why a tls: none login stopped: the server demanded
// STARTTLS, which go-xmpp would otherwise do without being asked.
var errNeedsTLS = errors.New("the server requires encryption (STARTTLS), but xmpp.tls is none: set xmpp.tls to starttls, or direct for a TLS port")

// options are go-xmpp's options for one login with mechanism ("" lets
// go-xmpp choose: its strongest SCRAM); needsTLS reports, after it,
// whether a tls: none login met a server that requires encryption.
func (a *Adapter) options(mechanism string) (o goxmpp.Options, needsTLS func() bool) {
	o = goxmpp.Options{
		Host: a.opts.Server, User: a.opts.JID, Password: a.opts.Password, Resource: "wirebot",
		DialTimeout: 10 * time.Second, TLSConfig: a.opts.TLSConfig, Session: true,
		Mechanism: mechanism,
	}
	var refused atomic.Bool
	switch a.opts.TLS {
	case "direct":
	case "none":
		// No TLS (loopback, tests): the only mode that may log in over
		// plain TCP, and so the only one that may send PLAIN over it.
		o.NoTLS, o.InsecureAllowUnencryptedAuth = true, true
		// go-xmpp starts TLS by itself when the server requires it; with
		// tls: none that is refused before anything is sent, and said.
		// No handshake completes: VerifyConnection always fails it, with
		// or without a verified certificate.
		o.TLSConfig = &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error {
			refused.Store(true)
			return errNeedsTLS
		}}
	default: // starttls
		o.NoTLS, o.StartTLS = true, true
	}
	if o.TLSConfig == nil {
		o.TLSConfig = &tls.Config{ServerName: a.domain(), MinVersion: tls.VersionTLS12}
	}
	return o, refused.Load
}

// login logs in: first with go-xmpp's own choice (SCRAM, so that the
// password does not reach the server), and when the server refuses that
// for its channel binding, at once again with PLAIN in the same TLS mode;
// PLAIN is then used for the rest of the process. go-xmpp v0.4.1's SCRAM
// is refused by a server that does not advertise channel-binding types
// (XEP-0440), such as prosody 0.12: its -PLUS sends an empty binding, and
// without -PLUS it announces "y" but proves "n".
func (a *Adapter) login() (*goxmpp.Client, error) {
	var why string
	if !a.plainOnly.Load() {
		c, err := a.dial("")
		if err == nil {
			a.loggedIn(c, "", "SCRAM: the password stays off the wire")
			return c, nil
		}
		if !channelBindingRefused(err) {
			return nil, a.loginError(err)
		}
		a.plainOnly.Store(true)
		why = "the server refused SCRAM: " + err.Error()
		a.log.Info("xmpp: SCRAM refused for its channel binding, logging in again with PLAIN inside the same connection mode", "jid", a.self, "tls", a.opts.TLS, "err", err)
	}
	c, err := a.dial("PLAIN")
	if err != nil {
		if strings.Contains(err.Error(), "no viable authentication method") {
			// No PLAIN (any more): go back to SCRAM next time.
			a.plainOnly.Store(false)
		}
		return nil, a.loginError(err)
	}
	if why == "" {
		why = "SCRAM was refused earlier in this process"
	}
	a.loggedIn(c, "PLAIN", why)
	return c, nil
}

func (a *Adapter) dial(mechanism string) (*goxmpp.Client, error) {
	o, needsTLS := a.options(mechanism)
	c, err := o.NewClient()
	if err != nil && needsTLS() {
		err = errNeedsTLS
	}
	return c, err
}

// loggedIn logs the mechanism a login used, when it is not the one the
// last login used.
func (a *Adapter) loggedIn(c *goxmpp.Client, asked, why string) {
	mech := c.Mechanism // go-xmpp sets it for SCRAM only
	if mech == "" {
		mech = "PLAIN"
		if asked == "" {
			why = "the server offers neither SCRAM nor anything stronger than PLAIN"
		}
	}
	a.mechMu.Lock()
	defer a.mechMu.Unlock()
	if a.mechLogged == mech {
		return
	}
	a.mechLogged = mech
	a.log.Info("xmpp: logged in", "jid", a.self, "mechanism", mech, "tls", a.opts.TLS, "why", why)
}

// channelBindingRefused reports whether a failed SCRAM login failed over
// channel binding (the server's or go-xmpp's own complaint), not over
// the credentials.
func channelBindingRefused(err error) bool {
	s := strings.ToLower(err.Error())
	for _, sub := range []string{"channel binding", "channel-binding", "malformed-request", "no keying material", "ssdp"} {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// loginError says what a failed login means.
func (a *Adapter) loginError(err error) error {
	if errors.Is(err, errNeedsTLS) {
		return fmt.Errorf("log in as %s: %w", a.self, err)
	}
	s := err.Error()
	if strings.HasPrefix(s, "auth failure") && !channelBindingRefused(err) {
		return fmt.Errorf("log in as %s: the server refused the credentials (check xmpp.jid and xmpp.password): %w", a.self, err)
	}
	return fmt.Errorf("log in as %s: %w", a.self, err)
}

func (a *Adapter) domain() string {
	_, d, _ := strings.Cut(a.self, "@")
	return d
}

// Run connects, and reconnects with backoff, until ctx is done.
func (a *Adapter) Run(ctx context.Context, in bot.Inbox) error {
	defer a.stopOnce.Do(func() { close(a.stopped) })
	for {
		err := a.session(ctx, in)
		a.setUp(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := a.backoff.Down(time.Now())
		a.log.Warn("xmpp: disconnected, reconnecting", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// session is one connection: log in, join the rooms, deliver messages
// until the stream ends or ctx is done.
func (a *Adapter) session(ctx context.Context, in bot.Inbox) error {
	type dialed struct {
		c   *goxmpp.Client
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := a.login()
		ch <- dialed{c, err}
	}()
	var d dialed
	select {
	case d = <-ch:
	case <-ctx.Done():
		if d = <-ch; d.c != nil {
			d.c.Close()
		}
		return ctx.Err()
	}
	if d.err != nil {
		return d.err
	}
	c := d.c
	select {
	case <-a.broken: // about an earlier connection
	default:
	}
	a.mu.Lock()
	a.client = c
	a.mu.Unlock()
	a.sendMu.Lock()
	for _, room := range a.opts.Rooms {
		if _, err := c.JoinMUCNoHistory(room, a.opts.Nick); err != nil {
			a.sendMu.Unlock()
			c.Close()
			return fmt.Errorf("join %s: %w", room, err)
		}
	}
	a.sendMu.Unlock()
	a.setUp(true)
	a.backoff.Up(time.Now())
	if n := a.connections.Add(1); n > 1 && a.opts.OnReconnect != nil {
		a.opts.OnReconnect()
	}
	limitFrom := "default"
	if c.LimitMaxBytes > 0 {
		limitFrom = "server" // XEP-0478
	}
	a.log.Info("xmpp: connected", "jid", a.self, "rooms", strings.Join(a.opts.Rooms, ","), "connection", a.connections.Load(),
		"stanza_limit", stanzaLimit(c), "stanza_limit_from", limitFrom)

	done := make(chan error, 1)
	go func() { done <- a.receive(ctx, c, in) }()
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			a.hangUp(c, done)
			return ctx.Err()
		case err := <-done:
			c.Close() // the stream has ended: nothing reads it any more
			return err
		case <-a.broken:
			a.hangUp(c, done)
			return errors.New("a send failed")
		case <-keepalive.C:
			a.sendMu.Lock()
			_, err := c.SendKeepAlive()
			a.sendMu.Unlock()
			if err != nil {
				a.hangUp(c, done)
				return fmt.Errorf("keepalive: %w", err)
			}
		}
	}
}

// hangUp ends the stream and waits for the receiving goroutine. go-xmpp's
// Close reads the stream itself, so it is called only once Recv has
// returned (or, when the server never answers, after 5 s).
func (a *Adapter) hangUp(c *goxmpp.Client, done <-chan error) {
	a.sendMu.Lock()
	_, _ = c.SendOrg("</stream:stream>")
	a.sendMu.Unlock()
	select {
	case <-done:
		c.Close()
	case <-time.After(5 * time.Second):
		c.Close()
		<-done
	}
}

func (a *Adapter) isRoom(jid string) bool {
	b := bare(jid)
	for _, r := range a.opts.Rooms {
		if r == b {
			return true
		}
	}
	return false
}

func (a *Adapter) receive(ctx context.Context, c *goxmpp.Client, in bot.Inbox) error {
	for {
		st, err := c.Recv()
		if err != nil {
			return err
		}
		switch v := st.(type) {
		case goxmpp.Presence:
			a.presence(v)
		case goxmpp.Chat:
			if m, ok := a.message(v); ok {
				in.Receive(ctx, m)
			}
		}
	}
}

// presence keeps the real JIDs of room occupants, when the room shows them.
func (a *Adapter) presence(p goxmpp.Presence) {
	if !a.isRoom(p.From) {
		return
	}
	key := bare(p.From) + "/" + resource(p.From)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case p.Type == "unavailable":
		delete(a.occupants, key)
	case p.Type == "error":
		a.log.Warn("xmpp: room refused us", "room", bare(p.From), "err", p.Error)
	case p.JID != "":
		a.occupants[key] = bare(p.JID)
	}
}

func (a *Adapter) occupant(room, nick string) bot.User {
	a.mu.Lock()
	real := a.occupants[room+"/"+nick]
	a.mu.Unlock()
	if real != "" {
		return bot.User{ID: real, Name: real}
	}
	// Anonymous room: nobody can be told from anybody by a JID.
	return bot.User{ID: "occupant:" + room + "|" + url.PathEscape(nick), Name: nick}
}

func (a *Adapter) message(v goxmpp.Chat) (bot.Message, bool) {
	if strings.TrimSpace(v.Text) == "" {
		return bot.Message{}, false // chat states, subjects, receipts
	}
	if !v.Stamp.IsZero() {
		return bot.Message{}, false // delayed: history replayed on join, or offline storage
	}
	m := bot.Message{Adapter: "xmpp", Text: v.Text, ID: v.ID}
	room := bare(v.Remote)
	nick := resource(v.Remote)
	switch {
	case v.Type == "groupchat":
		if !a.isRoom(room) || nick == "" {
			return bot.Message{}, false // the room itself speaking
		}
		m.Channel = bot.Channel{ID: room, Name: room}
		m.User = a.occupant(room, nick)
		m.FromSelf = nick == a.opts.Nick
	case v.Type == "error":
		return bot.Message{}, false
	case a.isRoom(room):
		// A private message from a room occupant: answered privately.
		m.Channel = bot.Channel{ID: v.Remote, Name: nick, Direct: true}
		m.User = a.occupant(room, nick)
		m.FromSelf = nick == a.opts.Nick
	default:
		m.Channel = bot.Channel{ID: room, Name: room, Direct: true}
		m.User = bot.User{ID: room, Name: room}
		m.FromSelf = room == a.self
	}
	return m, true
}

// ErrNotConnected is a reply that could not wait for the connection.
var ErrNotConnected = errors.New("not connected to XMPP")

// Send posts a reply: to a room as groupchat, else as a one-to-one chat.
// It waits for the connection when the bot is between connections.
func (a *Adapter) Send(ctx context.Context, r bot.Reply) error {
	target := r.Channel.ID
	if target == "" {
		target = r.Channel.Name
	}
	target = strings.TrimPrefix(target, "#")
	if !strings.Contains(target, "@") {
		// "ops" from a config or `wirebot say --channel ops`: the room.
		for _, room := range a.opts.Rooms {
			if local, _, _ := strings.Cut(room, "@"); local == strings.ToLower(target) {
				target = room
			}
		}
	}
	kind := "chat"
	if !r.Channel.Direct && a.isRoom(target) && resource(target) == "" {
		kind = "groupchat"
	}
	return a.send(ctx, target, kind, r.Text)
}

// SendDirect sends a one-to-one message to a principal (link codes).
func (a *Adapter) SendDirect(ctx context.Context, to bot.Principal, text string) error {
	if to.Adapter != "xmpp" || !strings.Contains(to.ID, "@") || strings.HasPrefix(to.ID, "occupant:") {
		return fmt.Errorf("send to %s: not an XMPP user", to)
	}
	return a.send(ctx, to.ID, "chat", text)
}

func (a *Adapter) send(ctx context.Context, target, kind, text string) error {
	for {
		a.mu.Lock()
		up := a.up
		a.mu.Unlock()
		select {
		case <-up:
		case <-a.stopped:
			return fmt.Errorf("send to %s: %w (the adapter has stopped)", target, ErrNotConnected)
		case <-ctx.Done():
			return fmt.Errorf("send to %s: %w", target, ErrNotConnected)
		}
		a.mu.Lock()
		c := a.client
		a.mu.Unlock()
		err := a.sendParts(c, target, kind, text)
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("send to %s: %w", target, err)
		}
		// The connection broke under us: have the session end it (and
		// reconnect), and send on the next one.
		a.log.Warn("xmpp: send failed, retrying after the reconnect", "target", target, "err", err)
		a.mu.Lock()
		current := a.client == c
		a.mu.Unlock()
		if current {
			a.setUp(false)
			select {
			case a.broken <- struct{}{}:
			default:
			}
		}
	}
}

func (a *Adapter) sendParts(c *goxmpp.Client, target, kind, text string) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	for _, part := range split(strings.TrimRight(text, "\n"), bodyBudget(stanzaLimit(c), target, kind)) {
		if _, _, err := c.Send(goxmpp.Chat{Remote: target, Type: kind, Text: part}); err != nil {
			return err
		}
	}
	return nil
}

// stanzaLimit is the most bytes the server takes in one stanza: what it
// advertised (XEP-0478), else defaultStanza.
func stanzaLimit(c *goxmpp.Client) int {
	if c.LimitMaxBytes > 0 {
		return c.LimitMaxBytes
	}
	return defaultStanza
}

// bodyBudget is the most bytes the escaped text of one message to target
// may take so that its stanza stays under limit: the limit less the rest
// of the stanza as go-xmpp writes it, and stanzaSlack.
func bodyBudget(limit int, target, kind string) int {
	const id = "01234567-89ab-cdef-0123-456789abcdef" // a UUID's length
	envelope := len(fmt.Sprintf("<message to='%s' type='%s' id='%s' xml:lang='en'><body></body><origin-id xmlns='%s' id='%s'/></message>\n",
		xmlEscape(target), xmlEscape(kind), id, goxmpp.XMPPNS_SID_0, id))
	budget := limit - envelope - stanzaSlack
	if budget < limit/4 { // a tiny limit: no slack
		budget = limit - envelope
	}
	return max(budget, 64)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// escapedLen is how many bytes the rune r (n bytes of text) takes in a
// stanza's body: go-xmpp replaces invalid UTF-8 and control characters
// with U+FFFD, and escapes as encoding/xml does (< is &lt;, a newline
// &#xA;).
func escapedLen(r rune, n int) int {
	switch {
	case r == utf8.RuneError && n == 1:
		return 3
	case r == '"' || r == '\'' || r == '&' || r == '\t' || r == '\n' || r == '\r':
		return 5
	case r == '<' || r == '>':
		return 4
	case r < 0x20 || r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF:
		return 3
	}
	return n
}

// split cuts text into parts whose escaped bodies take at most budget
// bytes each, at line ends where it can (the newline dropped), else at a
// rune boundary.
func split(text string, budget int) []string {
	var parts []string
	for {
		size, cut, nl := 0, -1, -1
		for i := 0; i < len(text); {
			r, n := utf8.DecodeRuneInString(text[i:])
			c := escapedLen(r, n)
			if size+c > budget {
				cut = max(i, n) // at least one rune per part
				break
			}
			size += c
			if r == '\n' {
				nl = i
			}
			i += n
		}
		switch {
		case cut < 0 || cut >= len(text):
			return append(parts, text)
		case nl > cut/2:
			parts = append(parts, text[:nl])
			text = text[nl+1:]
		default:
			parts = append(parts, text[:cut])
			text = text[cut:]
		}
	}
}
