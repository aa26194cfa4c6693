package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// manages names the built-ins that manage schedules, groups, links,
// silences or approvals: they never run on a schedule.
var manages = map[string]bool{"schedule": true, "group": true, "approve": true, "deny": true,
	"link": true, "unlink": true, "silence": true, "unsilence": true}

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
	if bi.bot.Store() != nil {
		defs = append(defs,
			def{"remember", `^remember\s+(.+?)\s+is\s+(.+?)\s*$`, []string{"remember <key> is <value> - remember a fact"}, nil, bi.remember},
			def{"what", `^what(?:\s+is|'s)\s+(.+?)\s*\??$`, []string{"what is <key> - recall a fact"}, nil, bi.what},
			def{"forget", `^forget\s+(.+?)\s*$`, []string{"forget <key> - forget a fact"}, nil, bi.forget},
			def{"facts", `^facts$`, []string{"facts - every fact remembered"}, nil, bi.facts},
			def{"history", `^history(?:\s+(\d+))?$`, []string{"history [N] - your last N runs (everyone's for admins); default 10"}, nil, bi.history},
			def{"approve", `^approve\s+([A-Za-z0-9]+)$`, []string{"approve <id> - approve someone else's request"}, nil, bi.approve},
			def{"deny", `^deny\s+([A-Za-z0-9]+)(?:\s+(.+?))?\s*$`, []string{"deny <id> [reason] - cancel a request (yours, or one you could approve)"}, nil, bi.deny},
			def{"schedule", `^schedule\s+add\s+(?:"([^"]*)"|'([^']*)')\s+(.+?)\s*$`, []string{`schedule add "SPEC" COMMAND - run COMMAND here on a schedule ("0 9 * * 1-5", "@every 10m"), as you`}, nil, bi.scheduleAdd},
			def{"schedule", `^schedule\s+(?:list|ls)$`, []string{"schedule list - every schedule with its next run"}, nil, bi.scheduleList},
			def{"schedule", `^schedule\s+(?:remove|rm|delete)\s+(\S+)$`, []string{"schedule remove ID - stop a schedule you made (admins: any)"}, nil, bi.scheduleRemove},
			def{"pending", `^pending$`, []string{"pending - requests waiting for approval"}, nil, bi.pending},
			def{"silence", `^silence\s+(\S+)(?:\s+for\s+(\S+))?(?:\s+where\s+(.+?))?(?:\s+--(?:\s+(.*?))?)?\s*$`, []string{"silence <hook> [for <duration>] [where <expr>] [-- <reason>] - mute a webhook's events (default 1h)"}, nil, bi.silence},
			def{"silences", `^silences$`, []string{"silences - the webhook silences in force"}, nil, bi.silencesList},
			def{"unsilence", `^unsilence\s+([A-Za-z0-9]+)$`, []string{"unsilence <id> - end a silence"}, nil, bi.unsilence},
			def{"link", `^link\s+(\d{6})$`, []string{"link <code> - finish linking: the code sent to your other principals"}, nil, bi.linkFinish},
			def{"link", `^link\s+(\S+)$`, []string{"link <person> - become that person here: a code goes to their other principals by direct message"}, nil, bi.linkStart},
			def{"unlink", `^unlink\s+(\S+)$`, []string{"unlink <principal> - remove a link made in chat (the person or admins)"}, nil, bi.unlink},
			def{"group", `^group\s+(list|add|remove)(?:\s+(\S+)(?:\s+(\S+))?)?$`, []string{"group list | group add <group> <user> | group remove <group> <user> - manage groups (admins)"}, []string{"admins"}, bi.group},
		)
	}
	var routes []*bot.Route
	for _, d := range defs {
		re, err := bot.CompilePattern(d.pattern)
		if err != nil {
			panic(fmt.Sprintf("built-in %s: %v", d.name, err)) // a bug in this file, caught by every test
		}
		cmd := &bot.Command{Name: d.name, Source: "builtin", Help: d.help, Allow: d.allow, Handler: d.fn, Inline: true,
			Manages: manages[d.name]}
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
	text := fmt.Sprintf("wirebot %s, up %s, adapter %s, %d scripts loaded, %d runs in flight, %d queued, %d messages seen",
		s.Version, s.Uptime.Round(time.Second), s.Adapter, s.Scripts, s.InFlight, s.Queued, s.Messages)
	if s.Role.Role != "" {
		text += fmt.Sprintf(", role %s, leader %s", s.Role.Role, s.Role.Leader)
	}
	return w.Reply(ctx, text)
}

func (bi *Builtins) whoami(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	u := r.Message.User
	groups := bi.bot.Access().Groups(u)
	g := "no groups"
	if len(groups) > 0 {
		g = "groups: " + strings.Join(groups, ", ")
	}
	person := "no person (link one with: link PERSON)"
	if u.Person != "" {
		var others []string
		for _, p := range bi.bot.Directory().Principals(u.Person) {
			if p != u.Principal {
				others = append(others, p.String())
			}
		}
		links := "no other principals"
		if len(others) > 0 {
			links = "also " + strings.Join(others, ", ")
		}
		if linked := bi.bot.Directory().Linked(u.Person); len(linked) > 0 {
			var ls []string
			for _, p := range linked {
				ls = append(ls, p.String())
			}
			links += "; linked in chat: " + strings.Join(ls, ", ")
		}
		person = fmt.Sprintf("person %s (%s)", u.Person, links)
	}
	return w.Reply(ctx, fmt.Sprintf("You are %s (id %s), %s. Principal %s, %s.", u.Name, u.ID, g, u.Principal, person))
}

func (bi *Builtins) linkStart(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	sent, err := bi.bot.LinkStart(ctx, r.Message.User, r.Args[0])
	var le *bot.LinkError
	if errors.As(err, &le) {
		_ = w.Reply(ctx, le.Msg)
		return fmt.Errorf("link: %w", bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "start the link", err)
	}
	names := make([]string, len(sent))
	for i, p := range sent {
		names[i] = p.String()
	}
	return w.Reply(ctx, fmt.Sprintf("A code went to %s by direct message. Say it here within %s: link CODE",
		strings.Join(names, ", "), bot.ShortDuration(bot.LinkCodeTTL)))
}

func (bi *Builtins) linkFinish(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	person, err := bi.bot.LinkFinish(r.Message.User, r.Args[0])
	var le *bot.LinkError
	if errors.As(err, &le) {
		_ = w.Reply(ctx, le.Msg)
		return fmt.Errorf("link: %w", bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "save the link", err)
	}
	return w.Reply(ctx, fmt.Sprintf("Linked: %s is %s now.", r.Message.User.Principal, person))
}

func (bi *Builtins) unlink(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	p, err := bot.ParsePrincipal(r.Args[0], bi.bot.Directory().CaseMapping())
	if err != nil {
		return w.Reply(ctx, fmt.Sprintf("%q is not a principal; write ADAPTER:ID, e.g. irc:alice.", r.Args[0]))
	}
	person, err := bi.bot.Unlink(r.Message.User, p)
	var le *bot.LinkError
	if errors.As(err, &le) {
		_ = w.Reply(ctx, le.Msg)
		return fmt.Errorf("unlink: %w", bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "remove the link", err)
	}
	return w.Reply(ctx, fmt.Sprintf("Unlinked %s from %s.", p, person))
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

// storeFailed tells the user briefly and logs the details under a reference.
func (bi *Builtins) storeFailed(ctx context.Context, w bot.ResponseWriter, what string, err error) error {
	ref := bot.Ref()
	bi.bot.Logger().Error(what, "ref", ref, "err", err)
	_ = w.Reply(ctx, fmt.Sprintf("Sorry, I could not %s (ref %s).", what, ref))
	return fmt.Errorf("%s: %w", what, err)
}

func (bi *Builtins) remember(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	key, value := r.Args[0], r.Args[1]
	f := bot.Fact{Key: key, Value: value, By: r.Message.User.Name, At: time.Now().UTC()}
	if err := bi.bot.Store().Remember(f); err != nil {
		return bi.storeFailed(ctx, w, "remember that", err)
	}
	return w.Reply(ctx, fmt.Sprintf("OK, %s is %s.", key, value))
}

func (bi *Builtins) what(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	f, err := bi.bot.Store().Fact(r.Args[0])
	if errors.Is(err, bot.ErrNotFound) {
		return w.Reply(ctx, fmt.Sprintf("I don't know what %s is.", r.Args[0]))
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "recall that", err)
	}
	return w.Reply(ctx, fmt.Sprintf("%s is %s", f.Key, f.Value))
}

func (bi *Builtins) forget(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	found, err := bi.bot.Store().Forget(r.Args[0])
	if err != nil {
		return bi.storeFailed(ctx, w, "forget that", err)
	}
	if !found {
		return w.Reply(ctx, fmt.Sprintf("I didn't know anything about %s.", r.Args[0]))
	}
	return w.Reply(ctx, fmt.Sprintf("OK, I forgot %s.", r.Args[0]))
}

func (bi *Builtins) facts(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	facts, err := bi.bot.Store().Facts()
	if err != nil {
		return bi.storeFailed(ctx, w, "list the facts", err)
	}
	if len(facts) == 0 {
		return w.Reply(ctx, "I don't know any facts yet. Teach me with: remember <key> is <value>")
	}
	lines := make([]string, len(facts))
	for i, f := range facts {
		lines[i] = fmt.Sprintf("%s is %s", f.Key, f.Value)
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

// maxHistory caps history N.
const maxHistory = 100

func (bi *Builtins) history(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	n := 10
	if len(r.Args) > 0 && r.Args[0] != "" {
		v, err := strconv.Atoi(r.Args[0])
		if err != nil || v < 1 {
			return w.Reply(ctx, "history takes a number of runs, such as: history 20")
		}
		n = min(v, maxHistory)
	}
	u := r.Message.User
	all := bi.bot.Access().IsAdmin(u)
	bi.bot.SyncAudit(ctx)
	dir, first := bi.bot.Directory(), bi.bot.Adapters()[0].Name()
	entries, err := bi.bot.Store().History(n, func(e *bot.AuditEntry) bool {
		return all || dir.Same(e.Who(first), u)
	})
	if err != nil {
		return bi.storeFailed(ctx, w, "read the audit log", err)
	}
	if len(entries) == 0 {
		return w.Reply(ctx, "No runs yet.")
	}
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = FormatAudit(e)
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

// FormatAudit is one history line: when, who, where, what, how it ended.
func FormatAudit(e bot.AuditEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s in %s: %s", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"), e.User, e.Channel, e.Command)
	if e.Text != "" && e.Text != e.Command {
		fmt.Fprintf(&b, " %q", e.Text)
	}
	fmt.Fprintf(&b, " -> %s", e.Outcome)
	if e.Outcome == "ok" || e.Outcome == "failed" {
		fmt.Fprintf(&b, " (exit %d)", e.Exit)
	}
	if e.Outcome != "denied" && e.Outcome != "pending" && e.Outcome != "expired" && e.Outcome != "silenced" {
		fmt.Fprintf(&b, " in %s", e.Duration.Round(time.Millisecond))
	}
	if e.Approver != "" {
		verb := "approved"
		if e.Outcome == "denied" {
			verb = "denied"
		}
		fmt.Fprintf(&b, ", %s by %s", verb, e.Approver)
	}
	if e.ApprovalID != "" {
		fmt.Fprintf(&b, " [request %s]", e.ApprovalID)
	}
	if e.Chain != "" {
		fmt.Fprintf(&b, " [chain %s]", e.Chain)
	}
	if e.Outcome == "silenced" && e.Note != "" {
		fmt.Fprintf(&b, " [%s]", e.Note)
	}
	if e.Trigger != "" && e.Trigger != "chat" {
		fmt.Fprintf(&b, " [%s]", e.Trigger)
	}
	if !e.Principal.IsZero() {
		fmt.Fprintf(&b, " [%s", e.Principal)
		if e.Person != "" {
			fmt.Fprintf(&b, ", person %s", e.Person)
		}
		b.WriteString("]")
	}
	return b.String()
}

func (bi *Builtins) approve(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	a, start, err := bi.bot.Approve(r.Message.User, r.Args[0])
	var ae *bot.ApprovalError
	if errors.As(err, &ae) {
		_ = w.Reply(ctx, ae.Msg)
		if errors.Is(err, bot.ErrExpired) {
			return fmt.Errorf("approve %s: %w", r.Args[0], bot.ErrExpired)
		}
		return fmt.Errorf("approve %s: %w", r.Args[0], bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "approve that", err)
	}
	m := r.Message
	bi.bot.AnnounceApproval(ctx, a, m.User, bot.Target{Adapter: m.Adapter, Channel: m.Channel})
	err = w.Reply(ctx, fmt.Sprintf("Approved %s: running %s for %s.", a.ID, a.What(), a.Requester.Name))
	start() // after the announcement, so the run's reply comes after it
	return err
}

func (bi *Builtins) deny(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	a, err := bi.bot.Deny(r.Message.User, r.Args[0], r.Args[1])
	var ae *bot.ApprovalError
	if errors.As(err, &ae) {
		_ = w.Reply(ctx, ae.Msg)
		return fmt.Errorf("deny %s: %w", r.Args[0], bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "deny that", err)
	}
	msg := fmt.Sprintf("Denied %s: %s asked by %s will not run.", a.ID, a.What(), a.Requester.Name)
	if r.Args[1] != "" {
		msg += " Reason: " + r.Args[1]
	}
	return w.Reply(ctx, msg)
}

func (bi *Builtins) pending(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	list, err := bi.bot.Pending()
	if err != nil {
		return bi.storeFailed(ctx, w, "list the pending requests", err)
	}
	if len(list) == 0 {
		return w.Reply(ctx, "No requests are waiting for approval.")
	}
	all := bi.bot.Access().All()
	lines := make([]string, len(list))
	for i, a := range list {
		var who []string
		for _, g := range a.Groups {
			for _, m := range all[strings.ToLower(g)] {
				if m != a.Requester.Name && m != a.Requester.ID && m != a.Requester.Person && m != a.Requester.Principal.String() && !slices.Contains(who, m) {
					who = append(who, m)
				}
			}
		}
		people := "nobody yet"
		if len(who) > 0 {
			people = strings.Join(who, ", ")
		}
		lines[i] = fmt.Sprintf("%s: %s asked %s in %s; approvers: %s (%s); expires in %s",
			a.ID, a.Requester.Name, a.What(), channelName(a.Channel), strings.Join(a.Groups, ", "), people,
			time.Until(a.Expires).Round(time.Second))
		if p := a.Requester.Principal; !p.IsZero() {
			lines[i] += " [" + p.String()
			if a.Requester.Person != "" {
				lines[i] += ", person " + a.Requester.Person
			}
			if a.Adapter != "" && len(bi.bot.Adapters()) > 1 {
				lines[i] += ", on " + a.Adapter
			}
			lines[i] += "]"
		}
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

func (bi *Builtins) group(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	access := bi.bot.Access()
	op, group, user := r.Args[0], r.Args[1], r.Args[2]
	switch op {
	case "list":
		all := access.All()
		names := make([]string, 0, len(all))
		for g := range all {
			names = append(names, g)
		}
		slices.Sort(names)
		lines := make([]string, len(names))
		for i, g := range names {
			members := strings.Join(all[g], ", ")
			if members == "" {
				members = "(nobody)"
			}
			lines[i] = g + ": " + members
		}
		return w.Reply(ctx, strings.Join(lines, "\n"))
	case "add", "remove":
		if group == "" || user == "" {
			return w.Reply(ctx, fmt.Sprintf("Usage: group %s <group> <user>", op))
		}
		var changed bool
		var err error
		if op == "add" {
			changed, err = access.Add(group, user)
		} else {
			changed, err = access.Remove(group, user)
		}
		if err != nil {
			return bi.storeFailed(ctx, w, "change the group", err)
		}
		user = strings.TrimPrefix(user, "@")
		switch {
		case op == "add" && changed:
			return w.Reply(ctx, fmt.Sprintf("Added %s to %s.", user, strings.ToLower(group)))
		case op == "add":
			return w.Reply(ctx, fmt.Sprintf("%s is already in %s.", user, strings.ToLower(group)))
		case changed:
			return w.Reply(ctx, fmt.Sprintf("Removed %s from %s.", user, strings.ToLower(group)))
		default:
			return w.Reply(ctx, fmt.Sprintf("%s was not in %s.", user, strings.ToLower(group)))
		}
	}
	return nil
}

func (bi *Builtins) scheduleAdd(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	spec, command := r.Args[0], r.Args[2]
	if spec == "" {
		spec = r.Args[1]
	}
	sched := bi.bot.Scheduler()
	if err := sched.ParseSpec(spec); err != nil {
		_ = w.Reply(ctx, fmt.Sprintf("Sorry, %v. Use 5 fields (\"0 9 * * 1-5\"), 6 with seconds, or a descriptor (\"@every 30s\", \"@daily\").", err))
		return fmt.Errorf("schedule add: %w: %w", err, bot.ErrRefused)
	}
	mt, ok := bi.bot.Table().Respond(command)
	if !ok {
		_ = w.Reply(ctx, fmt.Sprintf("Sorry, %q matches no command, so there is nothing to schedule. Try %q.", command, "help"))
		return fmt.Errorf("schedule add %q: no command: %w", command, bot.ErrRefused)
	}
	if c := mt.Route.Command; !bi.bot.Access().Allowed(r.Message.User, c.Allow) {
		_ = w.Reply(ctx, fmt.Sprintf("Sorry %s, %s is only for members of %s, so you cannot schedule it.", r.Message.User.Name, c.Name, strings.Join(c.Allow, " or ")))
		return fmt.Errorf("schedule add %q: %w", command, bot.ErrRefused)
	}
	cs, err := sched.Add(r.Message.User, r.Message.Channel, r.Message.Adapter, spec, command)
	var se *bot.ScheduleError
	if errors.As(err, &se) {
		_ = w.Reply(ctx, se.Msg)
		return fmt.Errorf("schedule add %q: %w", command, bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "add the schedule", err)
	}
	next := ""
	for _, info := range sched.List() {
		if info.ID == cs.ID {
			next = info.Next.Local().Format("2006-01-02 15:04:05")
		}
	}
	return w.Reply(ctx, fmt.Sprintf("Scheduled %s: %q at %q in %s, as %s; next run %s. Remove it with: schedule remove %s",
		cs.ID, command, spec, channelName(cs.Channel), cs.Owner.Name, next, cs.ID))
}

func (bi *Builtins) scheduleList(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	list := bi.bot.Scheduler().List()
	if len(list) == 0 {
		return w.Reply(ctx, "No schedules. Add one with: schedule add \"@every 1h\" <command>")
	}
	lines := make([]string, len(list))
	for i, s := range list {
		next := "-"
		if !s.Next.IsZero() {
			next = s.Next.Local().Format("2006-01-02 15:04:05")
		}
		lines[i] = fmt.Sprintf("%s: %q %s in %s by %s, next %s", s.ID, s.Spec, s.Command, s.Channel, s.Owner, next)
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

func (bi *Builtins) scheduleRemove(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	info, err := bi.bot.Scheduler().Remove(r.Message.User, r.Args[0])
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return w.Reply(ctx, fmt.Sprintf("There is no schedule %s. See: schedule list", r.Args[0]))
	case errors.Is(err, bot.ErrNotYours):
		_ = w.Reply(ctx, fmt.Sprintf("Sorry %s, schedule %s belongs to %s; only they or an admin may remove it.", r.Message.User.Name, info.ID, info.Owner))
		return fmt.Errorf("schedule remove: %w", bot.ErrRefused)
	case err != nil && info.ID != "":
		return w.Reply(ctx, fmt.Sprintf("Sorry, %v.", err))
	case err != nil:
		return bi.storeFailed(ctx, w, "remove the schedule", err)
	}
	return w.Reply(ctx, fmt.Sprintf("Removed schedule %s (%q %s).", info.ID, info.Spec, info.Command))
}

// parseSilenceFor reads a silence's duration: Go's (90m, 1h30m) or days (2d).
func parseSilenceFor(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 && days <= 3650 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration such as 30m, 2h or 1d", s)
	}
	return d, nil
}

func (bi *Builtins) silence(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	hook, forText, where, reason := r.Args[0], r.Args[1], r.Args[2], r.Args[3]
	var d time.Duration
	if forText != "" {
		var err error
		if d, err = parseSilenceFor(forText); err != nil {
			_ = w.Reply(ctx, fmt.Sprintf("Sorry, %v.", err))
			return fmt.Errorf("silence %s: %w", hook, bot.ErrRefused)
		}
	}
	s, err := bi.bot.Silence(r.Message.User, r.Message.Channel, hook, d, where, reason)
	var se *bot.SilenceError
	if errors.As(err, &se) {
		_ = w.Reply(ctx, se.Msg)
		return fmt.Errorf("silence %s: %w", hook, bot.ErrRefused)
	}
	if err != nil {
		return bi.storeFailed(ctx, w, "keep the silence", err)
	}
	return w.Reply(ctx, fmt.Sprintf("Silenced %s for %s, until %s%s; id %s. End it with: unsilence %s",
		s.Hook, bot.ShortDuration(s.Until.Sub(s.Created)), s.Until.Local().Format("2006-01-02 15:04:05"), silenceDetail(s), s.ID, s.ID))
}

func silenceDetail(s bot.Silence) string {
	var b strings.Builder
	if s.Where != "" {
		fmt.Fprintf(&b, " where %s", s.Where)
	}
	if s.Reason != "" {
		fmt.Fprintf(&b, " (%s)", s.Reason)
	}
	return b.String()
}

func (bi *Builtins) silencesList(ctx context.Context, w bot.ResponseWriter, _ *bot.Request) error {
	now := time.Now()
	list := bi.bot.Silences(now)
	if len(list) == 0 {
		return w.Reply(ctx, "No silences. Make one with: silence <hook> [for <duration>] [where <expr>] [-- <reason>]")
	}
	lines := make([]string, len(list))
	for i, s := range list {
		lines[i] = fmt.Sprintf("%s: %s until %s (%s left)%s, by %s", s.ID, s.Hook, s.Until.Local().Format("2006-01-02 15:04:05"),
			bot.ShortDuration(s.Until.Sub(now).Round(time.Second)), silenceDetail(s), s.By.Name)
	}
	return w.Reply(ctx, strings.Join(lines, "\n"))
}

func (bi *Builtins) unsilence(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
	s, err := bi.bot.Unsilence(r.Message.User, r.Args[0])
	var se *bot.SilenceError
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return w.Reply(ctx, fmt.Sprintf("There is no silence %s (see: silences).", r.Args[0]))
	case errors.As(err, &se):
		_ = w.Reply(ctx, se.Msg)
		return fmt.Errorf("unsilence %s: %w", r.Args[0], bot.ErrRefused)
	case err != nil:
		return bi.storeFailed(ctx, w, "end the silence", err)
	}
	return w.Reply(ctx, fmt.Sprintf("Unsilenced %s: %s is no longer muted%s.", s.ID, s.Hook, silenceDetail(s)))
}
