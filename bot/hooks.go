package bot

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// WebhookUser is who a webhook's command runs as: wirebot:webhook, which
// passes @allow only where a group names it.
var WebhookUser = User{ID: WebhookPrincipal.ID, Name: WebhookPrincipal.ID, Principal: WebhookPrincipal}

// SetScriptHooks replaces the scripts that declare @webhook NAME.
func (b *Bot) SetScriptHooks(hooks map[string][]*Command) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hooks = hooks
}

func (b *Bot) scriptHooks(name string) []*Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hooks[name]
}

// Webhook is the configured hook called name.
func (b *Bot) Webhook(name string) (Webhook, bool) {
	for _, wh := range b.cfg.Webhooks {
		if wh.Name == name {
			return wh, true
		}
	}
	return Webhook{}, false
}

// Healthy reports whether every adapter is connected. names is the
// adapters' names when they all are, else the names of those that are not.
func (b *Bot) Healthy() (names string, ok bool) {
	var all, down []string
	for _, st := range b.AdapterStates() {
		all = append(all, st.Name)
		if !st.Connected {
			down = append(down, st.Name)
		}
	}
	if len(down) > 0 {
		return strings.Join(down, ", "), false
	}
	return strings.Join(all, ", "), true
}

// Say posts r through the adapter called adapter ("" or one that does not
// run: the first).
func (b *Bot) Say(ctx context.Context, adapter string, r Reply) error {
	return b.adapterFor(adapter).Send(ctx, r)
}

// Poster is an optional adapter ability: Post sends like Send and returns
// the id of the posted message, which later replies may use as their
// Thread (Slack's ts).
type Poster interface {
	Post(ctx context.Context, r Reply) (id string, err error)
}

// Post posts r and returns where its thread is: the posted message's id,
// or "" with threaded false when the adapter has no threads.
// adapter names the adapter ("" or one that does not run: the first).
func (b *Bot) Post(ctx context.Context, adapter string, r Reply) (id string, threaded bool, err error) {
	a := b.adapterFor(adapter)
	if p, ok := a.(Poster); ok {
		id, err := p.Post(ctx, r)
		return id, err == nil && id != "", err
	}
	return "", false, a.Send(ctx, r)
}

// RunContext is the context runs and posts live in: cancelled when the
// bot stops.
func (b *Bot) RunContext() context.Context { return b.runCtx }

// RunHook starts every script that declares @webhook NAME (body on stdin)
// and the hook's command (routed as if the user webhook had typed it). It
// returns how many runs started, or ErrStopping.
// env are more variables for the runs (WIREBOT_HOOK, WIREBOT_EVENT, ...).
func (b *Bot) RunHook(wh Webhook, body []byte, env ...string) (int, error) {
	b.intake.RLock()
	defer b.intake.RUnlock()
	if b.stopping {
		return 0, ErrStopping
	}
	msg := targetMessage(b.Targets(wh.Channel))
	msg.User = WebhookUser
	n := 0
	for _, cmd := range b.scriptHooks(wh.Name) {
		r := &Request{Message: msg, Command: "", Kind: Respond, Trigger: TriggerWebhook, Target: cmd, Stdin: bytes.Clone(body), Hook: wh.Name, Env: env}
		r.Message.Text = ""
		b.start(r)
		n++
	}
	if wh.Command != "" {
		r := &Request{Message: msg, Command: wh.Command, Trigger: TriggerWebhook, Hook: wh.Name, Env: env}
		r.Message.Text = wh.Command
		if b.Dispatch(r) {
			n++
		} else {
			b.log.Warn("webhook command matches nothing", "hook", wh.Name, "command", wh.Command)
			b.send(msg, fmt.Sprintf("Webhook %s: %q matches no command.", wh.Name, wh.Command))
		}
	}
	return n, nil
}

// HookOutcome is what the events layer decided about one webhook request.
type HookOutcome struct {
	Result string   // for wirebot_webhooks_total: accepted, filtered, ping, throttled, silenced, bad_request
	Status int      // the HTTP status to answer
	Text   string   // the answer's body
	Run    bool     // run the hook's scripts and command
	Env    []string // variables for those runs
}
