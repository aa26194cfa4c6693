package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// SchedulerUser is who config schedules and @cron lines run as. It is
// trusted like an admin for @allow: an operator wrote those schedules.
var SchedulerUser = User{ID: SchedulerPrincipal.ID, Name: SchedulerPrincipal.ID, Principal: SchedulerPrincipal}

// Schedule sources.
const (
	SourceConfig = "config"
	SourceScript = "script"
	SourceChat   = "chat"
)

// ChatSchedule is a schedule made in chat: it runs as its owner and posts
// to the channel where it was added. It is kept in the store.
type ChatSchedule struct {
	ID      string    `json:"id"`
	Spec    string    `json:"spec"`
	Command string    `json:"command"`
	Channel Channel   `json:"channel"`
	Direct  bool      `json:"direct"`
	Owner   User      `json:"owner"`
	Adapter string    `json:"adapter"`
	Created time.Time `json:"created"`
}

// ScriptJob is a script's @cron line.
type ScriptJob struct {
	Spec    string
	Channel string
	Command *Command
}

// ScheduleInfo describes one schedule for `schedule list`.
type ScheduleInfo struct {
	ID      string
	Source  string
	Spec    string
	Command string
	Channel string
	Owner   string
	Next    time.Time
}

type job struct {
	info    ScheduleInfo
	entry   cron.EntryID
	owner   User
	targets []Target // where its output goes; at least one
	command string   // routed like a message, or
	target  *Command // run directly (@cron)
	// gap is the shortest time between two runs (chat schedules only).
	gap time.Duration
	// heldBack is set once a too-frequent schedule has been reported.
	heldBack atomic.Bool
}

// Scheduler runs commands on cron schedules, through the same request path
// as chat messages.
type Scheduler struct {
	b      *Bot
	log    *slog.Logger
	cron   *cron.Cron
	parser cron.Parser

	mu   sync.Mutex
	jobs map[string]*job // by id
	// adding makes counting a person's schedules and adding one atomic.
	adding sync.Mutex
}

func newScheduler(b *Bot, loc *time.Location) *Scheduler {
	s := &Scheduler{b: b, log: b.log, parser: CronParser(), jobs: map[string]*job{}}
	cl := cronLogger{b.log}
	s.cron = cron.New(
		cron.WithLocation(loc),
		cron.WithParser(s.parser),
		cron.WithLogger(cl),
		// Panics are recovered; a run still going at its next tick is
		// skipped (and logged), never stacked.
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)),
	)
	return s
}

// Scheduler returns the bot's scheduler.
func (b *Bot) Scheduler() *Scheduler { return b.sched }

// ParseSpec checks a schedule spec, naming it in the error.
func (s *Scheduler) ParseSpec(spec string) error {
	if _, err := s.parser.Parse(spec); err != nil {
		return fmt.Errorf("bad schedule %q: %v", spec, err)
	}
	return nil
}

// start loads the config's and the store's schedules and starts ticking.
func (s *Scheduler) start() error {
	for i, sc := range s.b.cfg.Schedules {
		id := "config:" + sc.Name
		if sc.Name == "" {
			id = fmt.Sprintf("config:%d", i+1)
		}
		targets := s.b.Targets(sc.Channel)
		j := &job{info: ScheduleInfo{ID: id, Source: SourceConfig, Spec: sc.Cron, Command: sc.Command, Channel: s.b.targetsLabel(targets), Owner: SchedulerUser.Name},
			owner: SchedulerUser, targets: targets, command: sc.Command}
		if err := s.add(j); err != nil {
			return err
		}
	}
	if s.b.store != nil {
		chats, err := s.b.store.ChatSchedules()
		if err != nil {
			return fmt.Errorf("load schedules: %w", err)
		}
		for _, cs := range chats {
			j := s.chatJob(cs)
			if sched, err := s.parser.Parse(cs.Spec); err == nil {
				j.gap = minGap(sched, time.Now())
			}
			if err := s.add(j); err != nil {
				s.log.Error("schedule not loaded", "id", cs.ID, "err", err)
			}
		}
	}
	s.cron.Start()
	return nil
}

// chatJob makes the job of a chat schedule. Schedules kept before
// principals existed have an owner with none, and maybe no adapter: they
// were made on the one adapter that ran then, read as the first one now.
func (s *Scheduler) chatJob(cs ChatSchedule) *job {
	ch := cs.Channel
	ch.Direct = cs.Direct
	adapter := s.b.adapterName(cs.Adapter)
	owner := cs.Owner
	if owner.Principal.IsZero() && owner.ID != "" {
		owner.Principal = Principal{Adapter: adapter, ID: NormalizeID(adapter, owner.ID, s.b.dir.CaseMapping())}
	}
	owner = s.b.dir.Resolve(owner)
	t := Target{Adapter: adapter, Channel: ch}
	return &job{info: ScheduleInfo{ID: cs.ID, Source: SourceChat, Spec: cs.Spec, Command: cs.Command, Channel: s.b.targetLabel(t), Owner: s.b.ownerLabel(owner)},
		owner: owner, targets: []Target{t}, command: cs.Command}
}

// ownerLabel is how a schedule's owner is shown: the name while one
// adapter runs, with the principal and person when several do.
func (b *Bot) ownerLabel(u User) string {
	if len(b.adapters) == 1 {
		return u.Name
	}
	return Who(u)
}

// targetLabel names t for people: #channel when one adapter runs,
// ADAPTER:#channel when several do.
func (b *Bot) targetLabel(t Target) string {
	if len(b.adapters) == 1 {
		_, l, _ := strings.Cut(t.String(), ":")
		return l
	}
	return t.String()
}

func (b *Bot) targetsLabel(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, b.targetLabel(t))
	}
	return strings.Join(out, ", ")
}

// targetMessage is a message posted to ts: the first is where replies go,
// the rest get copies.
func targetMessage(ts []Target) Message {
	if len(ts) == 0 {
		return Message{}
	}
	return Message{Channel: ts[0].Channel, Adapter: ts[0].Adapter, Also: ts[1:]}
}

// ChannelNamed makes a channel from config text: "#ops", "ops" or an id.
func ChannelNamed(s string) Channel {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	return Channel{ID: s, Name: s}
}

func (s *Scheduler) add(j *job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.cron.AddFunc(j.info.Spec, func() { s.fire(j) })
	if err != nil {
		return fmt.Errorf("schedule %s: bad spec %q: %w", j.info.ID, j.info.Spec, err)
	}
	j.entry = id
	s.jobs[j.info.ID] = j
	return nil
}

func (s *Scheduler) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[id]; ok {
		s.cron.Remove(j.entry)
		delete(s.jobs, id)
	}
}

// fire runs a job and returns when the run is over, so that cron can skip
// a tick that comes while it is still going.
func (s *Scheduler) fire(j *job) {
	if j.info.Source == SourceChat && j.gap < s.b.cfg.ChatSchedules.MinInterval && !s.b.access.IsAdmin(j.owner) {
		// Made before the limit existed, or by an admin who is one no more.
		level := slog.LevelDebug
		first := !j.heldBack.Swap(true)
		if first {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "schedule held back: it runs more often than chat_schedules.min_interval", "id", j.info.ID,
			"spec", j.info.Spec, "user", j.owner.Name, "every", j.gap, "min_interval", s.b.cfg.ChatSchedules.MinInterval)
		if first {
			s.b.send(targetMessage(j.targets), fmt.Sprintf("Schedule %s (%q, by %s) runs every %s, more often than chat_schedules.min_interval (%s) allows, so it does not run. Remove it with: schedule remove %s",
				j.info.ID, j.info.Spec, j.owner.Name, ShortDuration(j.gap), ShortDuration(s.b.cfg.ChatSchedules.MinInterval), j.info.ID))
		}
		return
	}
	if !s.b.claimTick(j.info.ID, time.Now()) {
		return
	}
	m := targetMessage(j.targets)
	m.Text, m.User = j.command, j.owner
	r := &Request{
		Message: m,
		Command: j.command, Kind: Respond, Trigger: TriggerCron, Schedule: j.info.ID,
	}
	if j.target != nil {
		r.Target, r.Command, r.Message.Text = j.target, "", ""
	} else if mt, ok := s.b.Table().Respond(j.command); ok {
		r.Target, r.Args, r.Named = mt.Route.Command, mt.Args, mt.Named
	} else {
		s.log.Warn("schedule matches no command", "id", j.info.ID, "command", j.command)
		s.b.send(r.Message, fmt.Sprintf("Schedule %s: %q matches no command.", j.info.ID, j.command))
		return
	}
	if err := s.b.runNow(r); errors.Is(err, ErrStopping) {
		s.log.Info("schedule skipped: shutting down", "id", j.info.ID)
	}
}

// scriptTarget is the script named name that an @cron line runs, if any.
func (s *Scheduler) scriptTarget(name string) *Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.target != nil && j.target.Name == name {
			return j.target
		}
	}
	return nil
}

// SetScriptJobs replaces the schedules that come from @cron lines.
func (s *Scheduler) SetScriptJobs(jobs []ScriptJob) {
	s.mu.Lock()
	var old []string
	for id, j := range s.jobs {
		if j.info.Source == SourceScript {
			old = append(old, id)
		}
	}
	s.mu.Unlock()
	for _, id := range old {
		s.remove(id)
	}
	for i, sj := range jobs {
		targets := s.b.Targets([]string{sj.Channel})
		j := &job{info: ScheduleInfo{ID: fmt.Sprintf("script:%s:%d", sj.Command.Name, i+1), Source: SourceScript, Spec: sj.Spec,
			Command: sj.Command.Name, Channel: s.b.targetsLabel(targets), Owner: SchedulerUser.Name},
			owner: SchedulerUser, targets: targets, target: sj.Command}
		if err := s.add(j); err != nil {
			s.log.Error("schedule not loaded", "id", j.info.ID, "err", err)
		}
	}
}

// ScheduleError is a schedule that may not be made, with the sentence to
// tell the person.
type ScheduleError struct{ Msg string }

func (e *ScheduleError) Error() string { return e.Msg }

// manageNote is how refusals name what may not be scheduled.
const manageNote = "schedules, groups, links, silences or approvals"

// Add makes a chat schedule owned by owner, posting to channel. A command
// that manages schedules, groups, links, silences or approvals, one more
// than chat_schedules.max_per_user, or a spec that runs more often than
// chat_schedules.min_interval (admins excepted) is a *ScheduleError.
func (s *Scheduler) Add(owner User, channel Channel, adapter, spec, command string) (ChatSchedule, error) {
	sched, err := s.parser.Parse(spec)
	if err != nil {
		return ChatSchedule{}, fmt.Errorf("bad schedule %q: %v", spec, err)
	}
	if s.b.store == nil {
		return ChatSchedule{}, errors.New("this bot has no store to keep schedules in")
	}
	if name, ok := s.b.manages(command); ok {
		return ChatSchedule{}, &ScheduleError{fmt.Sprintf("Sorry, %s cannot be scheduled: built-ins that manage %s never run on a schedule.", name, manageNote)}
	}
	limits := s.b.cfg.ChatSchedules
	gap := minGap(sched, time.Now())
	if gap < limits.MinInterval && !s.b.access.IsAdmin(owner) {
		return ChatSchedule{}, &ScheduleError{fmt.Sprintf("Sorry %s, %q runs every %s; schedules may not run more often than every %s (chat_schedules.min_interval) unless an admin makes them.",
			owner.Name, spec, ShortDuration(gap), ShortDuration(limits.MinInterval))}
	}
	s.adding.Lock()
	defer s.adding.Unlock()
	if n := s.countOwned(owner); n >= limits.MaxPerUser {
		return ChatSchedule{}, &ScheduleError{fmt.Sprintf("Sorry %s, you have %d schedules already, the most one person may have (chat_schedules.max_per_user). Remove one first (schedule list, schedule remove ID).",
			owner.Name, n)}
	}
	cs := ChatSchedule{ID: "S" + newApprovalID()[:5], Spec: spec, Command: command, Channel: channel, Direct: channel.Direct,
		Owner: owner, Adapter: adapter, Created: time.Now().UTC()}
	if err := s.b.store.PutChatSchedule(cs); err != nil {
		return ChatSchedule{}, fmt.Errorf("save schedule: %w", err)
	}
	j := s.chatJob(cs)
	j.gap = gap
	if err := s.add(j); err != nil {
		_, _ = s.b.store.DeleteChatSchedule(cs.ID)
		return ChatSchedule{}, err
	}
	return cs, nil
}

// countOwned counts the chat schedules of owner.
func (s *Scheduler) countOwned(owner User) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.jobs {
		if j.info.Source == SourceChat && s.b.dir.Same(j.owner, owner) {
			n++
		}
	}
	return n
}

// gapSamples is how many runs minGap looks at.
const gapSamples = 1000

// minGap is the shortest time between two runs of sched among its next
// gapSamples runs after from: cron specs repeat, so a burst shows among
// them (a burst of ticks within one minute, hour or day comes in a row).
func minGap(sched cron.Schedule, from time.Time) time.Duration {
	if c, ok := sched.(cron.ConstantDelaySchedule); ok {
		return c.Delay
	}
	gap := time.Duration(1<<63 - 1)
	prev := sched.Next(from)
	for range gapSamples {
		if prev.IsZero() {
			break
		}
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		gap = min(gap, next.Sub(prev))
		prev = next
	}
	return gap
}

// ShortDuration writes d without zero units: 1m, 1h30m, 45s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// manages reports whether command text runs a built-in that manages
// schedules, groups, links, silences or approvals, directly or as a step of
// a chain, and names it.
func (b *Bot) manages(command string) (string, bool) {
	mt, ok := b.Table().Respond(command)
	if !ok {
		return "", false
	}
	c := mt.Route.Command
	if c.Manages {
		return c.Name, true
	}
	if c.Source != "chain" {
		return "", false
	}
	for _, ch := range b.cfg.Chains {
		if ch.Name != c.Name {
			continue
		}
		for _, tmpl := range ch.Steps {
			step := placeholderRE().ReplaceAllStringFunc(tmpl, func(p string) string { return mt.Named[p[1:len(p)-1]] })
			if st, ok := b.Table().Respond(step); ok && st.Route.Command.Manages {
				return st.Route.Command.Name, true
			}
		}
	}
	return "", false
}

// checkScheduled refuses a scheduled run of a built-in that manages
// schedules, groups, links, silences or approvals: a schedule made before
// that was refused at `schedule add` must not breed either.
func (b *Bot) checkScheduled(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if r.Schedule != "" && r.Target.Manages {
			b.log.Warn("schedule refused: its command manages "+manageNote, "id", r.Schedule, "command", r.Target.Name)
			_ = w.Reply(ctx, fmt.Sprintf("Schedule %s: %s cannot run on a schedule (it manages %s); remove it with: schedule remove %s",
				r.Schedule, r.Target.Name, manageNote, r.Schedule))
			return fmt.Errorf("schedule %s runs %s: %w", r.Schedule, r.Target.Name, ErrRefused)
		}
		return next.Handle(ctx, w, r)
	})
}

// PutChatSchedule keeps a chat schedule.
func (s *Store) PutChatSchedule(cs ChatSchedule) error { return s.putJSON(bucketSchedules, cs.ID, cs) }

// DeleteChatSchedule removes a chat schedule, reporting whether it was there.
func (s *Store) DeleteChatSchedule(id string) (bool, error) { return s.deleteKey(bucketSchedules, id) }

// ChatSchedules lists the chat schedules kept, by id.
func (s *Store) ChatSchedules() ([]ChatSchedule, error) {
	var out []ChatSchedule
	err := s.eachJSON(bucketSchedules, func(id string, data []byte) error {
		var cs ChatSchedule
		if err := json.Unmarshal(data, &cs); err != nil {
			return fmt.Errorf("schedule %s: %w", id, err)
		}
		out = append(out, cs)
		return nil
	})
	return out, err
}

// ErrNotYours is a schedule that only its owner or an admin may remove.
var ErrNotYours = errors.New("only its owner or an admin may remove it")

// Remove deletes chat schedule id; who must own it or be an admin.
func (s *Scheduler) Remove(who User, id string) (ScheduleInfo, error) {
	id = strings.TrimSpace(id)
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok {
		for k, v := range s.jobs {
			if strings.EqualFold(k, id) {
				j, ok, id = v, true, k
			}
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return ScheduleInfo{}, ErrNotFound
	case j.info.Source != SourceChat:
		return j.info, fmt.Errorf("schedule %s comes from the %s; change it there", id, j.info.Source)
	case !s.b.dir.Same(j.owner, who) && !s.b.access.IsAdmin(who):
		return j.info, ErrNotYours
	}
	if _, err := s.b.store.DeleteChatSchedule(id); err != nil {
		return j.info, fmt.Errorf("delete schedule: %w", err)
	}
	s.remove(id)
	return j.info, nil
}

// List describes every schedule with its next run, soonest first.
func (s *Scheduler) List() []ScheduleInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ScheduleInfo, 0, len(s.jobs))
	for _, j := range s.jobs {
		info := j.info
		info.Next = s.cron.Entry(j.entry).Next
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ScheduleInfo) int {
		if c := a.Next.Compare(b.Next); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// stop ends the ticking; runs already going are the bot's to drain.
func (s *Scheduler) stop() { s.cron.Stop() }

// cronLogger sends cron's log to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		c.l.Warn("schedule skipped: its previous run is still going")
		return
	}
	c.l.Debug("cron: "+msg, kv...)
}

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// ErrStopping is a run refused because the bot is shutting down.
var ErrStopping = errors.New("shutting down")

// runNow runs r through the request path and returns when it is done.
func (b *Bot) runNow(r *Request) error {
	b.intake.RLock()
	if b.stopping {
		b.intake.RUnlock()
		return ErrStopping
	}
	b.runs.Add(1)
	b.intake.RUnlock()
	defer b.runs.Done()
	r.Started = time.Now()
	return b.handler.Handle(b.runCtx, &replyWriter{b: b, m: r.Message}, r)
}
