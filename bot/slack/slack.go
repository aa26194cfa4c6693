// Package slack is wirebot's Slack adapter: Socket Mode through
// github.com/shomali11/slacker/v2, so the bot needs no public URL.
//
// Routing stays in wirebot's own registry: slacker's command matcher is
// given nothing to match, its help is replaced, and every message reaches
// the bot through the unsupported-command handler.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shomali11/slacker/v2"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"golang.org/x/time/rate"

	"github.com/wirebot/wirebot/bot"
)

// Options configure the adapter.
type Options struct {
	BotToken string
	AppToken string
	APIURL   string // "" for Slack itself
	// BotName is the name the bot answers to (config key name): a mention
	// of the bot decodes to @BotName whatever its Slack user is called.
	BotName      string
	ListenToBots bool
	Logger       *slog.Logger
	// PaceEvery and PaceBurst pace posts per channel; defaults 1s and 3.
	PaceEvery time.Duration
	PaceBurst int
	// NameTTL is how long resolved user and channel names are kept.
	NameTTL time.Duration
	// OnReconnect is called each time the connection is made again.
	OnReconnect func()
}

// Action ids of the approval buttons.
const (
	actionApprove = "wirebot_approve"
	actionDeny    = "wirebot_deny"
)

type socketEvent = socketmode.Event

// Adapter connects to one Slack workspace.
type Adapter struct {
	opts Options
	log  *slog.Logger
	api  *slack.Client
	sl   *slacker.Slacker

	selfUser, selfBot string
	connected         atomic.Bool

	users    *cache
	channels *cache
	seen     *dedupe

	mu     sync.Mutex
	pacers map[string]*pacer

	responses *responses
	http      *http.Client
}

type pacer struct {
	mu  sync.Mutex // keeps one channel's posts in order
	lim *rate.Limiter
}

// New makes an adapter; it connects in Run.
func New(o Options) *Adapter {
	if o.PaceEvery <= 0 {
		o.PaceEvery = time.Second
	}
	if o.PaceBurst <= 0 {
		o.PaceBurst = 3
	}
	if o.NameTTL <= 0 {
		o.NameTTL = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts := []slacker.ClientOption{slacker.WithLogger(slogger{o.Logger.With("adapter", "slack")})}
	if o.APIURL != "" {
		opts = append(opts, slacker.WithAPIURL(strings.TrimRight(o.APIURL, "/")+"/"))
	}
	if o.ListenToBots {
		opts = append(opts, slacker.WithBotMode(slacker.BotModeIgnoreNone)) // our own messages are dropped below
	} else {
		opts = append(opts, slacker.WithBotMode(slacker.BotModeIgnoreAll))
	}
	sl := slacker.NewClient(o.BotToken, o.AppToken, opts...)
	return &Adapter{
		opts: o, log: o.Logger, sl: sl, api: sl.SlackClient(),
		users: newCache(o.NameTTL), channels: newCache(o.NameTTL), seen: newDedupe(10 * time.Minute),
		pacers: map[string]*pacer{}, responses: newResponses(),
		http: &http.Client{Timeout: 15 * time.Second},
	}
}

// Name is "slack".
func (a *Adapter) Name() string { return "slack" }

// Connected reports whether the Socket Mode connection is up.
func (a *Adapter) Connected() bool { return a.connected.Load() }

// Run connects and delivers messages until ctx is done. Socket Mode
// reconnects by itself, with backoff, after a dropped socket or a
// `disconnect` request.
func (a *Adapter) Run(ctx context.Context, in bot.Inbox) error {
	auth, err := a.authTest(ctx)
	if err != nil {
		return err
	}
	if auth != nil {
		a.selfUser, a.selfBot = auth.UserID, auth.BotID
		a.users.put(auth.UserID, auth.User)
		a.log.Info("slack: authenticated", "adapter", "slack", "user", auth.User, "team", auth.Team)
	}

	route := func(cc *slacker.CommandContext) { a.receive(cc.Context(), in, cc.Event()) }
	// slacker puts its own help first; replace it so "help" is ours.
	a.sl.Help(&slacker.CommandDefinition{Command: "help", HideHelp: true, Handler: route})
	a.sl.UnsupportedCommandHandler(route)
	a.sl.UnsupportedEventHandler(a.unsupported)
	a.sl.UnsupportedInteractionHandler(func(ic *slacker.InteractionContext) { a.interaction(ic.Context(), in, ic.Callback()) })
	var connections atomic.Int64
	a.sl.OnConnected(func(ev socketEvent) {
		a.connected.Store(true)
		if connections.Add(1) > 1 && a.opts.OnReconnect != nil {
			a.opts.OnReconnect()
		}
		a.log.Info("slack: connected", "adapter", "slack", "connection", connections.Load())
	})
	down := func(what string) func(socketEvent) {
		return func(ev socketEvent) {
			a.connected.Store(false)
			var cause error
			if ce, ok := ev.Data.(*slack.ConnectionErrorEvent); ok {
				cause = ce.ErrorObj
			}
			a.log.Warn("slack: "+what, "adapter", "slack", "err", cause)
		}
	}
	a.sl.OnDisconnected(down("disconnected"))
	a.sl.OnConnectionError(down("connection failed; retrying with backoff"))
	a.sl.OnConnecting(func(socketEvent) { a.connected.Store(false) })

	err = a.sl.Listen(ctx)
	a.connected.Store(false)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("slack socket mode: %w", err)
	}
	return ctx.Err()
}

// authErrors are the answers that mean the bot token is no good.
var authErrors = []string{"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}

// authTest learns who the bot is, retrying while Slack cannot be reached.
// A bad token is fatal; any other error from Slack is not (the adapter then
// knows itself only by its bot id), so a proxy or a test server that lacks
// auth.test still works.
func (a *Adapter) authTest(ctx context.Context) (*slack.AuthTestResponse, error) {
	wait := 500 * time.Millisecond
	for {
		auth, err := a.api.AuthTestContext(ctx)
		if err == nil {
			return auth, nil
		}
		if slices.ContainsFunc(authErrors, func(e string) bool { return strings.Contains(err.Error(), e) }) {
			return nil, fmt.Errorf("slack auth.test: %w (check slack.bot_token)", err)
		}
		var se slack.SlackErrorResponse
		var sc slack.StatusCodeError
		if errors.As(err, &se) || (errors.As(err, &sc) && sc.Code < 500) {
			a.log.Warn("slack: auth.test failed; the bot cannot tell its own messages by user id", "adapter", "slack", "err", err)
			return nil, nil
		}
		a.log.Warn("slack: cannot reach Slack yet", "adapter", "slack", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// receive turns a slacker event into a bot message.
func (a *Adapter) receive(ctx context.Context, in bot.Inbox, ev *slacker.MessageEvent) {
	if ev == nil {
		return
	}
	m := bot.Message{Adapter: "slack", ID: ev.TimeStamp, Thread: ev.ThreadTimeStamp}
	text := ev.Text
	direct := strings.HasPrefix(ev.ChannelID, "D")
	switch data := ev.Data.(type) {
	case *slackevents.MessageEvent:
		switch data.SubType {
		case "", "thread_broadcast", "file_share", "bot_message", "me_message":
		default:
			return // edits, deletions, joins: not something said to the bot
		}
		direct = direct || data.ChannelType == "im"
	case *slackevents.AppMentionEvent:
	case *slack.SlashCommand:
		// /wirebot TEXT is addressed by being a slash command. It is
		// answered through its response_url, which works in channels the
		// bot has not joined.
		text, direct = data.Text, true
		m.ID = ""
		m.Via = data.ResponseURL
	}
	if ev.TimeStamp != "" && !a.seen.first(ev.ChannelID+"/"+ev.TimeStamp) {
		return // a mention arrives as both message and app_mention
	}
	if ev.UserID == a.selfUser || (ev.BotID != "" && ev.BotID == a.selfBot) {
		m.FromSelf = true
	}
	m.User = a.user(ctx, ev.UserID)
	m.User.IsBot = m.User.IsBot || ev.BotID != ""
	if m.User.ID == "" && ev.BotID != "" {
		m.User = bot.User{ID: ev.BotID, Name: ev.BotID, IsBot: true}
	}
	m.Channel = a.channel(ctx, ev.ChannelID)
	m.Channel.Direct = direct
	m.Text = decode(text, func(id string) string {
		if id == a.selfUser && a.opts.BotName != "" {
			return a.opts.BotName
		}
		return a.user(ctx, id).Name
	},
		func(id string) string { return a.channel(ctx, id).Name })
	a.log.Debug("slack: message", "adapter", "slack", "user", m.User.Name, "channel", m.Channel.Name, "self", m.FromSelf, "bot", m.User.IsBot, "text", m.Text)
	in.Receive(ctx, m)
}

func (a *Adapter) user(ctx context.Context, id string) bot.User {
	if id == "" {
		return bot.User{}
	}
	if v, ok := a.users.get(id); ok {
		return bot.User{ID: id, Name: v.name, IsBot: v.isBot}
	}
	u, err := a.api.GetUserInfoContext(ctx, id)
	if err != nil {
		a.log.Warn("slack: users.info", "adapter", "slack", "user", id, "err", err)
		return bot.User{ID: id, Name: id}
	}
	a.users.putEntry(id, entry{name: u.Name, isBot: u.IsBot})
	return bot.User{ID: id, Name: u.Name, IsBot: u.IsBot}
}

func (a *Adapter) channel(ctx context.Context, id string) bot.Channel {
	if id == "" {
		return bot.Channel{}
	}
	if v, ok := a.channels.get(id); ok {
		return bot.Channel{ID: id, Name: v.name}
	}
	c, err := a.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
	if err != nil {
		a.log.Warn("slack: conversations.info", "adapter", "slack", "channel", id, "err", err)
		return bot.Channel{ID: id}
	}
	a.channels.put(id, c.Name)
	return bot.Channel{ID: id, Name: c.Name}
}

// interaction turns a click on an Approve or Deny button into the message
// "approve ID" or "deny ID" from the person who clicked, so a click passes
// exactly the checks that typing it would.
func (a *Adapter) interaction(ctx context.Context, in bot.Inbox, cb *slack.InteractionCallback) {
	if cb == nil {
		return
	}
	for _, act := range cb.ActionCallback.BlockActions {
		var verb string
		switch act.ActionID {
		case actionApprove:
			verb = "approve"
		case actionDeny:
			verb = "deny"
		default:
			continue
		}
		thread := cb.Container.ThreadTs
		if thread == "" {
			thread = cb.Message.ThreadTimestamp
		}
		channelID := cb.Channel.ID
		if channelID == "" {
			channelID = cb.Container.ChannelID
		}
		m := bot.Message{Adapter: "slack", Text: verb + " " + act.Value, User: a.user(ctx, cb.User.ID),
			Channel: a.channel(ctx, channelID), Thread: thread}
		m.Channel.Direct = true // a click is addressed to the bot
		in.Receive(ctx, m)
	}
}

// SendApproval posts an approval request with Approve and Deny buttons.
func (a *Adapter) SendApproval(ctx context.Context, r bot.Reply, id string) error {
	approve := slack.NewButtonBlockElement(actionApprove, id, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	approve.Style = slack.StylePrimary
	deny := slack.NewButtonBlockElement(actionDeny, id, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false))
	deny.Style = slack.StyleDanger
	_, err := a.post(ctx, r, []slack.Block{slack.NewActionBlock("wirebot_approval_"+id, approve, deny)})
	return err
}

func (a *Adapter) pacer(channel string) *pacer {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pacers[channel]
	if !ok {
		p = &pacer{lim: rate.NewLimiter(rate.Every(a.opts.PaceEvery), a.opts.PaceBurst)}
		a.pacers[channel] = p
	}
	return p
}

// Send posts a reply, split into messages Slack takes whole, paced per
// channel, retrying after 429s for as long as ctx allows.
func (a *Adapter) Send(ctx context.Context, r bot.Reply) error {
	_, err := a.post(ctx, r, nil)
	return err
}

// SendDirect posts text in a direct message to the Slack user p names
// (bot.DirectMessager): conversations.open, then a post there.
func (a *Adapter) SendDirect(ctx context.Context, p bot.Principal, text string) error {
	if p.Adapter != "slack" {
		return fmt.Errorf("send a direct message to %s: not a Slack user", p)
	}
	ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{p.ID}})
	if err != nil {
		return fmt.Errorf("open a direct message with %s: %w", p, err)
	}
	return a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: ch.ID, Direct: true}, Text: text})
}

// Post is Send that returns the first posted message's ts: the thread
// later replies go to (bot.Poster).
func (a *Adapter) Post(ctx context.Context, r bot.Reply) (string, error) {
	return a.post(ctx, r, nil)
}

func (a *Adapter) post(ctx context.Context, r bot.Reply, blocks []slack.Block) (first string, err error) {
	channel := r.Channel.ID
	if channel == "" || (r.Channel.Name != "" && channel == r.Channel.Name && !looksLikeID(channel)) {
		channel = "#" + strings.TrimPrefix(r.Channel.Name, "#") // chat.postMessage takes names too
	}
	p := a.pacer(channel)
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := chunks(r.Text)
	for i, part := range parts {
		var last []slack.Block
		if i == len(parts)-1 {
			last = blocks
		}
		if r.Via != "" && a.responses.take(r.Via, time.Now()) {
			if err := a.respond(ctx, p, r.Via, part, last); err == nil {
				continue
			} else if ctx.Err() != nil {
				return first, err
			} else {
				a.log.Warn("slack: answering through response_url failed; posting to the channel instead", "adapter", "slack", "channel", channel, "err", err)
			}
		}
		opts := []slack.MsgOption{slack.MsgOptionText(part, false)}
		if r.Thread != "" {
			opts = append(opts, slack.MsgOptionTS(r.Thread))
		}
		if last != nil {
			opts = append(opts, slack.MsgOptionBlocks(withText(part, last)...))
		}
		ts, err := a.postOne(ctx, p, channel, opts)
		if err != nil {
			return first, fmt.Errorf("post to %s (part %d of %d): %w", channel, i+1, len(parts), err)
		}
		if first == "" {
			first = ts
		}
	}
	return first, nil
}

func (a *Adapter) postOne(ctx context.Context, p *pacer, channel string, opts []slack.MsgOption) (ts string, err error) {
	for {
		if err := p.lim.Wait(ctx); err != nil {
			return "", err
		}
		_, ts, err := a.api.PostMessageContext(ctx, channel, opts...)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) {
			return ts, err
		}
		wait := max(rl.RetryAfter, time.Second)
		a.log.Warn("slack: rate limited, retrying", "adapter", "slack", "channel", channel, "retry_after", wait)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

func withText(text string, blocks []slack.Block) []slack.Block {
	return append([]slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}, blocks...)
}

// respond posts one part of a reply to a slash command's response_url,
// visible to the channel. The URL is a credential of sorts: it is never
// logged nor put in an error.
func (a *Adapter) respond(ctx context.Context, p *pacer, responseURL, text string, blocks []slack.Block) error {
	if err := p.lim.Wait(ctx); err != nil {
		return err
	}
	msg := map[string]any{"response_type": "in_channel", "text": text}
	if blocks != nil {
		msg["blocks"] = withText(text, blocks)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad response_url")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("post to response_url: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post to response_url: status %d: %s", resp.StatusCode, bytes.TrimSpace(answer))
	}
	return nil
}

// unsupported logs what slacker does not hand on. An envelope slack-go
// could not parse is a warning: its sender is waiting for an answer that
// will never come.
func (a *Adapter) unsupported(ev socketmode.Event) {
	bad, ok := ev.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		a.log.Debug("slack: unsupported event", "adapter", "slack", "type", string(ev.Type))
		return
	}
	var env struct {
		Type       string `json:"type"`
		EnvelopeID string `json:"envelope_id"`
	}
	_ = json.Unmarshal(bad.Message, &env)
	a.log.Warn("slack: cannot parse an envelope from Slack; it goes unanswered", "adapter", "slack",
		"type", env.Type, "envelope_id", env.EnvelopeID, "err", bad.Cause)
	if env.EnvelopeID != "" {
		// Acknowledged so that Slack does not send it again and again.
		a.sl.SocketModeClient().Ack(socketmode.Request{EnvelopeID: env.EnvelopeID})
	}
}

func looksLikeID(s string) bool {
	if len(s) < 2 {
		return false
	}
	switch s[0] {
	case 'C', 'D', 'G':
	default:
		return false
	}
	return strings.ToUpper(s) == s
}
