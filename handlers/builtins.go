package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// Builtins are the commands every wirebot has.
type Builtins struct {
	bot    *bot.Bot
	loader *Loader
}

// NewBuiltins makes the built-in commands for b; loader serves reload.
func NewBuiltins(b *bot.Bot, loader *Loader) *Builtins {
	return &Builtins{bot: b, loader: loader}
}

// Routes returns the built-ins' routes.
func (bi *Builtins) Routes() []*bot.Route {
	type def struct {
		name, pattern string
		help          []string
		allow         []string
		fn            bot.HandlerFunc
	}
	defs := []def{
		{"help", `^help(?:\s+(.+?))?\s*$`, []string{"help [word] - list the commands you may run, or those mentioning word"}, nil, bi.help},
		{"ping", `^ping$`, []string{"ping - check that the bot answers (PONG)"}, nil, bi.ping},
		{"status", `^status$`, []string{"status - version, uptime, adapter, scripts loaded, runs in flight and queued"}, nil, bi.status},
		{"whoami", `^whoami$`, []string{"whoami - your id, name and groups"}, nil, bi.whoami},
		{"reload", `^reload$`, []string{"reload - read the scripts folder again (admins)"}, []string{"admins"}, bi.reload},
	}
	var routes []*bot.Route
	for _, d := range defs {
		re, err := bot.CompilePattern(d.pattern)
		if err != nil {
			panic(fmt.Sprintf("built-in %s: %v", d.name, err)) // a bug in this file, caught by every test
		}
		cmd := &bot.Command{Name: d.name, Source: "builtin", Help: d.help, Allow: d.allow, Handler: d.fn, Inline: true}
		routes = append(routes, &bot.Route{Kind: bot.Respond, Pattern: re, Command: cmd})
	}
	return routes
}

func (bi *Builtins) ping(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	return w.Reply(ctx, "PONG")
}

// HelpLines returns the help lines of every command u may run, sorted.
func HelpLines(t *bot.Table, a *bot.Access, u bot.User) []string {
	seen := map[*bot.Command]bool{}
	var lines []string
	for _, r := range t.Routes() {
		c := r.Command
		if !a.Allowed(u, c.Allow) {
			continue
		}
		if len(c.Help) == 0 {
			lines = append(lines, fmt.Sprintf("%s (%s: %s)", c.Name, r.Kind, strings.TrimPrefix(r.Pattern.String(), "(?i)")))
			continue
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		lines = append(lines, c.Help...)
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return slices.Compact(lines)
}

func (bi *Builtins) help(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	lines := HelpLines(bi.bot.Table(), bi.bot.Access(), r.Message.User)
	word := ""
	if len(r.Args) > 0 {
		word = strings.TrimSpace(r.Args[0])
	}
	if word != "" {
		lw := strings.ToLower(word)
		lines = slices.DeleteFunc(lines, func(l string) bool { return !strings.Contains(strings.ToLower(l), lw) })
		if len(lines) == 0 {
			return w.Reply(ctx, fmt.Sprintf("No command you may run mentions %q. Try %q.", word, "help"))
		}
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

func (bi *Builtins) status(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	s := bi.bot.Status()
	return w.Reply(ctx, fmt.Sprintf("wirebot %s, up %s, adapter %s, %d scripts loaded, %d runs in flight, %d queued, %d messages seen",
		s.Version, s.Uptime.Round(time.Second), s.Adapter, s.Scripts, s.InFlight, s.Queued, s.Messages))
}

func (bi *Builtins) whoami(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	u := r.Message.User
	groups := bi.bot.Access().Groups(u)
	g := "no groups"
	if len(groups) > 0 {
		g = "groups: " + strings.Join(groups, ", ")
	}
	return w.Reply(ctx, fmt.Sprintf("You are %s (id %s), %s.", u.Name, u.ID, g))
}

func (bi *Builtins) reload(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	res, err := bi.loader.Reload()
	if err != nil {
		ref := bot.Ref()
		bi.bot.Logger().Error("reload", "ref", ref, "err", err)
		return w.Reply(ctx, fmt.Sprintf("Reload failed (ref %s).", ref))
	}
	msg := fmt.Sprintf("Reloaded: %d scripts loaded", len(res.Scripts))
	if n := len(res.Errors); n > 0 {
		msg += fmt.Sprintf(", %d problems:", n)
		for _, p := range res.Errors {
			msg += "\n" + p.Error()
		}
	} else {
		msg += "."
	}
	return w.Reply(ctx, msg)
}
