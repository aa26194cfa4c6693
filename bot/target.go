package bot

import "strings"

// Channels is one channel or several, as `channel` in schedules and
// webhooks and `approvals.notify` take them: "#ops", "slack:#ops", or a
// list. A bare channel means the first adapter's.
type Channels = []string

// Target is where a post goes: a channel on one adapter.
type Target struct {
	Adapter string
	Channel Channel
}

// SplitTarget reads ADAPTER:CHANNEL. ok is false for a bare channel (one
// that does not start with an adapter's name and a colon), which is
// returned whole; `#ops:example.org` is bare.
func SplitTarget(s string) (adapter, channel string, ok bool) {
	s = strings.TrimSpace(s)
	kind, rest, found := strings.Cut(s, ":")
	if found && IsAdapterKind(kind) {
		return kind, strings.TrimSpace(rest), true
	}
	return "", s, false
}

// Target resolves a channel name from config, chat or `wirebot say`:
// ADAPTER:CHANNEL, or a bare channel on the first adapter.
func (b *Bot) Target(s string) Target {
	adapter, ch, ok := SplitTarget(s)
	if !ok {
		adapter = b.adapters[0].Name()
	}
	return Target{Adapter: adapter, Channel: ChannelNamed(ch)}
}

// Targets resolves each of chs, dropping empty ones.
func (b *Bot) Targets(chs []string) []Target {
	var out []Target
	for _, c := range SplitList(chs...) {
		out = append(out, b.Target(c))
	}
	return out
}

// String is ADAPTER:#CHANNEL as people write it.
func (t Target) String() string {
	l := t.Channel.Label()
	if l != "" && !strings.ContainsAny(l[:1], "#&!@") {
		l = "#" + l
	}
	return t.Adapter + ":" + l
}
