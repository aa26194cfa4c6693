// Package irc is wirebot's IRC adapter, on github.com/lrstanley/girc: one
// server, TLS optional, a password, the configured channels joined; it
// answers in channel or in private, splits long replies under the line
// limit and paces them (girc's flood control), and reconnects and rejoins
// by itself.
package irc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lrstanley/girc"
	"golang.org/x/time/rate"

	"github.com/wirebot/wirebot/bot"
)

// Options configure the adapter.
type Options struct {
	Server   string // host:port
	TLS      bool
	Nick     string
	Password string
	Channels []string
	Logger   *slog.Logger
	// OnReconnect is called each time the connection is made again: once
	// per reconnection, however many attempts it took.
	OnReconnect func()
	// TLSConfig overrides the TLS settings (tests).
	TLSConfig *tls.Config
	// ReclaimEvery is how often the bot, under another nick, asks for the
	// configured one (besides at once when its holder quits); default 30s.
	ReclaimEvery time.Duration
	// PaceEvery and PaceBurst pace reply lines: a burst, then one line
	// per PaceEvery; defaults 500ms and 5.
	PaceEvery time.Duration
	PaceBurst int
}

// Adapter is a connection to one IRC server.
type Adapter struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex // guards client and up
	client    *girc.Client
	up        chan struct{} // closed while connected
	connected atomic.Bool
	casemap   atomic.Uint32 // the server's bot.CaseMapping
	sendMu    sync.Mutex    // keeps the lines of one reply together
	stopped   chan struct{} // closed when Run has returned: no connection will come
	stopOnce  sync.Once

	backoff     *bot.Backoff
	connections atomic.Int64  // registrations so far
	lim         *rate.Limiter // reply lines
}

// New makes an adapter; it connects in Run.
func New(o Options) *Adapter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for i, ch := range o.Channels {
		if !strings.HasPrefix(ch, "#") && !strings.HasPrefix(ch, "&") {
			o.Channels[i] = "#" + ch
		}
	}
	if o.PaceEvery <= 0 {
		o.PaceEvery = 500 * time.Millisecond
	}
	if o.PaceBurst <= 0 {
		o.PaceBurst = 5
	}
	return &Adapter{opts: o, log: o.Logger.With("adapter", "irc"), up: make(chan struct{}), stopped: make(chan struct{}),
		backoff: bot.NewBackoff(), lim: rate.NewLimiter(rate.Every(o.PaceEvery), o.PaceBurst)}
}

// Name is "irc".
func (a *Adapter) Name() string { return "irc" }

// Connected reports whether the bot is registered on the server.
func (a *Adapter) Connected() bool { return a.connected.Load() }

func (a *Adapter) newClient(in bot.Inbox, ctx context.Context) (*girc.Client, error) {
	host, portStr, err := net.SplitHostPort(a.opts.Server)
	if err != nil {
		return nil, fmt.Errorf("irc.server %q: %w", a.opts.Server, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("irc.server %q: bad port", a.opts.Server)
	}
	var welcomed atomic.Bool
	var tries int
	cfg := girc.Config{
		Server: host, Port: port, Nick: a.opts.Nick, User: a.opts.Nick, Name: "wirebot ChatOps bot",
		ServerPass: a.opts.Password,
		PingDelay:  30 * time.Second, PingTimeout: 60 * time.Second, Version: "wirebot",
		// The adapter paces its own lines (see pace.go), and does TLS in
		// its dialer, below the pacing.
		AllowFlood: true, DisableSTS: true,
		RecoverFunc: func(_ *girc.Client, e *girc.HandlerError) {
			a.log.Error("irc: handler panicked", "err", e.Error())
		},
		// While registering, a nick in use is worked around with
		// underscores; once registered, a failed reclaim keeps the nick
		// the bot has.
		HandleNickCollide: func(string) string {
			if welcomed.Load() {
				return ""
			}
			tries++
			return a.opts.Nick + strings.Repeat("_", tries)
		},
	}
	if a.opts.Password != "" {
		// Sent as the server password, and as SASL PLAIN when the server
		// offers SASL (girc negotiates it only then).
		cfg.SASL = &girc.SASLPlain{User: a.opts.Nick, Pass: a.opts.Password}
	}
	c := girc.New(cfg)
	c.Handlers.Add(girc.RPL_WELCOME, func(*girc.Client, girc.Event) { welcomed.Store(true) })
	// The configured nick is taken back as soon as its holder lets go.
	reclaim := func(c *girc.Client, e girc.Event) {
		if e.Source != nil && a.sameNick(e.Source.Name, a.opts.Nick) && !a.sameNick(c.GetNick(), a.opts.Nick) {
			c.Cmd.Nick(a.opts.Nick)
		}
	}
	c.Handlers.Add(girc.QUIT, reclaim)
	c.Handlers.Add(girc.NICK, reclaim)
	c.Handlers.Add(girc.CONNECTED, func(c *girc.Client, _ girc.Event) {
		for _, ch := range a.opts.Channels {
			c.Cmd.Join(ch)
		}
		a.setUp(true)
		a.backoff.Up(time.Now())
		n := a.connections.Add(1)
		if n > 1 && a.opts.OnReconnect != nil {
			a.opts.OnReconnect()
		}
		a.log.Info("irc: connected", "nick", c.GetNick(), "channels", strings.Join(a.opts.Channels, ","), "connection", n)
	})
	c.Handlers.Add(girc.RPL_ISUPPORT, func(_ *girc.Client, e girc.Event) {
		// Nicks compare under the server's CASEMAPPING (rfc1459 when it
		// announces none): the engine folds principals with it.
		for _, p := range e.Params {
			if v, ok := strings.CutPrefix(p, "CASEMAPPING="); ok {
				cm := bot.ParseCaseMapping(v)
				a.casemap.Store(uint32(cm))
				if s, ok := in.(bot.CaseMappingSetter); ok {
					s.SetCaseMapping("irc", cm)
				}
			}
		}
	})
	c.Handlers.Add(girc.PRIVMSG, func(c *girc.Client, e girc.Event) {
		a.receive(ctx, in, c, e)
	})
	return c, nil
}

func (a *Adapter) dialer() dialer {
	if !a.opts.TLS {
		return dialer{}
	}
	cfg := a.opts.TLSConfig
	if cfg == nil {
		host, _, _ := net.SplitHostPort(a.opts.Server)
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return dialer{tls: cfg}
}

func (a *Adapter) reclaimEvery() time.Duration {
	if a.opts.ReclaimEvery > 0 {
		return a.opts.ReclaimEvery
	}
	return 30 * time.Second
}

// sameNick compares nicks as the server does (rfc1459 case mapping).
func (a *Adapter) sameNick(x, y string) bool { return girc.ToRFC1459(x) == girc.ToRFC1459(y) }

// setUp records whether the connection is usable and wakes waiting sends.
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
	}
}

// Run connects, and reconnects with backoff, until ctx is done.
func (a *Adapter) Run(ctx context.Context, in bot.Inbox) error {
	defer a.stopOnce.Do(func() { close(a.stopped) })
	for {
		c, err := a.newClient(in, ctx)
		if err != nil {
			return err
		}
		a.mu.Lock()
		a.client = c
		a.mu.Unlock()
		done := make(chan error, 1)
		go func() { done <- c.DialerConnect(a.dialer()) }()
		// Under another nick (the old connection still held ours), try
		// for the configured one now and then.
		tick := time.NewTicker(a.reclaimEvery())
	wait:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				c.Close()
				<-done
				a.setUp(false)
				return ctx.Err()
			case err = <-done:
				break wait
			case <-tick.C:
				if a.connected.Load() && !a.sameNick(c.GetNick(), a.opts.Nick) {
					c.Cmd.Nick(a.opts.Nick)
				}
			}
		}
		tick.Stop()
		a.setUp(false)
		wait := a.backoff.Down(time.Now())
		a.log.Warn("irc: disconnected, reconnecting", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func isChannel(target string) bool {
	return strings.HasPrefix(target, "#") || strings.HasPrefix(target, "&")
}

func (a *Adapter) receive(ctx context.Context, in bot.Inbox, c *girc.Client, e girc.Event) {
	if e.Source == nil || len(e.Params) == 0 {
		return
	}
	text := e.Last()
	if e.IsAction() {
		text = e.StripAction()
	} else if strings.HasPrefix(text, "\x01") {
		return // other CTCP requests are not commands
	}
	text = girc.StripRaw(text) // colours and bold are not part of what was typed
	m := bot.Message{Adapter: "irc", Text: text, User: bot.User{ID: e.Source.Name, Name: e.Source.Name}}
	if cm := bot.CaseMapping(a.casemap.Load()); cm.Fold(e.Source.Name) == cm.Fold(c.GetNick()) {
		m.FromSelf = true
	}
	if account, ok := e.Tags.Get("account"); ok && account != "" {
		m.User.ID = account // a services account is steadier than a nick
	}
	target := e.Params[0]
	if isChannel(target) {
		m.Channel = bot.Channel{ID: target, Name: strings.TrimLeft(target, "#&")}
	} else {
		// A private message: replies go back to the sender.
		m.Channel = bot.Channel{ID: e.Source.Name, Name: e.Source.Name, Direct: true}
	}
	in.Receive(ctx, m)
}

// SendDirect sends text to the nick p names, in private
// (bot.DirectMessager).
func (a *Adapter) SendDirect(ctx context.Context, p bot.Principal, text string) error {
	if p.Adapter != "irc" {
		return fmt.Errorf("send a direct message to %s: not an IRC user", p)
	}
	return a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: p.ID, Name: p.ID, Direct: true}, Text: text})
}

// ErrNotConnected is a reply that could not wait for the connection.
var ErrNotConnected = errors.New("not connected to IRC")

// Send posts a reply, one PRIVMSG per line; girc splits lines over the
// server's limit and paces them. It waits for the connection when the bot
// is between connections.
func (a *Adapter) Send(ctx context.Context, r bot.Reply) error {
	target := r.Channel.ID
	if target == "" {
		target = r.Channel.Name
	}
	if !isChannel(target) && !r.Channel.Direct {
		// "ops" from a config or `wirebot say --channel ops` means #ops.
		for _, ch := range a.opts.Channels {
			if cm := bot.CaseMapping(a.casemap.Load()); cm.Fold(ch[1:]) == cm.Fold(target) {
				target = ch
			}
		}
	}
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
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	limit := c.MaxEventLength() - (&girc.Event{Command: girc.PRIVMSG, Params: []string{target, ""}}).LenOpts(false) - 8
	for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			line = " " // keep blank lines of the output
		}
		for _, part := range splitLine(line, limit) {
			if err := a.lim.Wait(ctx); err != nil {
				return fmt.Errorf("send to %s: %w", target, err)
			}
			c.Cmd.Message(target, part)
		}
	}
	return nil
}

// splitLine cuts line into parts of at most limit bytes, at a space when
// there is one in the second half of a part, else at a rune boundary.
func splitLine(line string, limit int) []string {
	limit = max(limit, 32)
	var parts []string
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		if sp := strings.LastIndexByte(line[:cut], ' '); sp > cut/2 {
			parts = append(parts, line[:sp])
			line = line[sp+1:]
			continue
		}
		parts = append(parts, line[:cut])
		line = line[cut:]
	}
	return append(parts, line)
}
