package bot

import (
	"bytes"
	"context"
	"fmt"
)

// WebhookUser is who a webhook's command runs as.
var WebhookUser = User{ID: "webhook", Name: "webhook"}

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

// Healthy reports whether the bot is connected to chat, and the adapter's name.
func (b *Bot) Healthy() (adapter string, ok bool) {
	c, isC := b.adapter.(Connected)
	return b.adapter.Name(), !isC || c.Connected()
}

// Say posts r through the adapter.
func (b *Bot) Say(ctx context.Context, r Reply) error { return b.adapter.Send(ctx, r) }

// RunHook starts every script that declares @webhook NAME (body on stdin)
// and the hook's command (routed as if the user webhook had typed it). It
// returns how many runs started, or ErrStopping.
func (b *Bot) RunHook(wh Webhook, body []byte) (int, error) {
	b.intake.RLock()
	defer b.intake.RUnlock()
	if b.stopping {
		return 0, ErrStopping
	}
	msg := Message{User: WebhookUser, Channel: ChannelNamed(wh.Channel), Adapter: b.adapter.Name()}
	n := 0
	for _, cmd := range b.scriptHooks(wh.Name) {
		r := &Request{Message: msg, Command: "", Kind: Respond, Trigger: TriggerWebhook, Target: cmd, Stdin: bytes.Clone(body), Hook: wh.Name}
		r.Message.Text = ""
		b.start(r)
		n++
	}
	if wh.Command != "" {
		r := &Request{Message: msg, Command: wh.Command, Trigger: TriggerWebhook, Hook: wh.Name}
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
