package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// SchedulerUser is who config schedules and @cron lines run as. It is
// trusted like an admin for @allow: an operator wrote those schedules.
var SchedulerUser = User{ID: "scheduler", Name: "scheduler", Trusted: true}

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
	channel Channel
	command string   // routed like a message, or
	target  *Command // run directly (@cron)
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
		j := &job{info: ScheduleInfo{ID: id, Source: SourceConfig, Spec: sc.Cron, Command: sc.Command, Channel: sc.Channel, Owner: SchedulerUser.Name},
			owner: SchedulerUser, channel: ChannelNamed(sc.Channel), command: sc.Command}
		if err := s.add(j); err != nil {
			return err
		}
	}
	if s.b.store != nil {
		var chats []ChatSchedule
		err := s.b.store.eachJSON(bucketSchedules, func(_ string, data []byte) error {
			var cs ChatSchedule
			if err := json.Unmarshal(data, &cs); err != nil {
				return err
			}
			chats = append(chats, cs)
			return nil
		})
		if err != nil {
			return fmt.Errorf("load schedules: %w", err)
		}
		for _, cs := range chats {
			if err := s.add(chatJob(cs)); err != nil {
				s.log.Error("schedule not loaded", "id", cs.ID, "err", err)
			}
		}
	}
	s.cron.Start()
	return nil
}

func chatJob(cs ChatSchedule) *job {
	ch := cs.Channel
	ch.Direct = cs.Direct
	return &job{info: ScheduleInfo{ID: cs.ID, Source: SourceChat, Spec: cs.Spec, Command: cs.Command, Channel: channelLabel(cs.Channel), Owner: cs.Owner.Name},
		owner: cs.Owner, channel: ch, command: cs.Command}
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
	r := &Request{
		Message: Message{Text: j.command, User: j.owner, Channel: j.channel, Adapter: s.b.adapter.Name()},
		Command: j.command, Kind: Respond, Trigger: TriggerCron,
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
		j := &job{info: ScheduleInfo{ID: fmt.Sprintf("script:%s:%d", sj.Command.Name, i+1), Source: SourceScript, Spec: sj.Spec,
			Command: sj.Command.Name, Channel: sj.Channel, Owner: SchedulerUser.Name},
			owner: SchedulerUser, channel: ChannelNamed(sj.Channel), target: sj.Command}
		if err := s.add(j); err != nil {
			s.log.Error("schedule not loaded", "id", j.info.ID, "err", err)
		}
	}
}

// Add makes a chat schedule owned by owner, posting to channel.
func (s *Scheduler) Add(owner User, channel Channel, adapter, spec, command string) (ChatSchedule, error) {
	if err := s.ParseSpec(spec); err != nil {
		return ChatSchedule{}, err
	}
	if s.b.store == nil {
		return ChatSchedule{}, errors.New("this bot has no store to keep schedules in")
	}
	cs := ChatSchedule{ID: "S" + newApprovalID()[:5], Spec: spec, Command: command, Channel: channel, Direct: channel.Direct,
		Owner: owner, Adapter: adapter, Created: time.Now().UTC()}
	cs.Owner.Trusted = false
	if err := s.b.store.putJSON(bucketSchedules, cs.ID, cs); err != nil {
		return ChatSchedule{}, fmt.Errorf("save schedule: %w", err)
	}
	if err := s.add(chatJob(cs)); err != nil {
		_, _ = s.b.store.deleteKey(bucketSchedules, cs.ID)
		return ChatSchedule{}, err
	}
	return cs, nil
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
	case j.owner.ID != who.ID && !s.b.access.IsAdmin(who):
		return j.info, ErrNotYours
	}
	if _, err := s.b.store.deleteKey(bucketSchedules, id); err != nil {
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
