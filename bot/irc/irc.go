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

	"github.com/lrstanley/girc"

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
}

// Adapter is a connection to one IRC server.
type Adapter struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex // guards client and up
	client    *girc.Client
	up        chan struct{} // closed while connected
	connected atomic.Bool
	sendMu    sync.Mutex    // keeps the lines of one reply together
	stopped   chan struct{} // closed when Run has returned: no connection will come
	stopOnce  sync.Once

	backoff     *bot.Backoff
	connections atomic.Int64 // registrations so far
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
	return &Adapter{opts: o, log: o.Logger.With("adapter", "irc"), up: make(chan struct{}), stopped: make(chan struct{}),
		backoff: bot.NewBackoff()}
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
	cfg := girc.Config{
		Server: host, Port: port, Nick: a.opts.Nick, User: a.opts.Nick, Name: "wirebot ChatOps bot",
		SSL: a.opts.TLS, TLSConfig: a.opts.TLSConfig, ServerPass: a.opts.Password,
		PingDelay: 30 * time.Second, PingTimeout: 60 * time.Second, Version: "wirebot",
		RecoverFunc: func(_ *girc.Client, e *girc.HandlerError) {
			a.log.Error("irc: handler panicked", "err", e.Error())
		},
	}
	if a.opts.Password != "" {
		// Sent as the server password, and as SASL PLAIN when the server
		// offers SASL (girc negotiates it only then).
		cfg.SASL = &girc.SASLPlain{User: a.opts.Nick, Pass: a.opts.Password}
	}
	if a.opts.TLS && cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	c := girc.New(cfg)
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
	c.Handlers.Add(girc.PRIVMSG, func(c *girc.Client, e girc.Event) {
		a.receive(ctx, in, c, e)
	})
	return c, nil
}

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
		go func() { done <- c.Connect() }()
		select {
		case <-ctx.Done():
			c.Close()
			<-done
			a.setUp(false)
			return ctx.Err()
		case err = <-done:
		}
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
	if strings.EqualFold(e.Source.Name, c.GetNick()) {
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
			if strings.EqualFold(ch[1:], target) {
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
	for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			line = " " // keep blank lines of the output
		}
		c.Cmd.Message(target, line)
	}
	return nil
}
