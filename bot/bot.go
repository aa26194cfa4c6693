// Package bot is wirebot's engine: messages, adapters, the router, the one
// request path every trigger travels, the worker pool and shutdown.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bot routes messages from one adapter to commands.
type Bot struct {
	cfg     Config
	log     *slog.Logger
	adapter Adapter
	version string
	started time.Time
	pool    *Pool
	access  *Access
	store   *Store
	audit   *auditWriter
	sched   *Scheduler
	metrics *Metrics
	// reconnects counts adapter reconnects (the adapter's callback adds).
	reconnects *atomic.Int64
	handler    Handler // the middleware chain around Request.Target.Handler

	mu      sync.Mutex // guards static, scripts and hooks
	static  []*Route
	scripts []*Route
	hooks   map[string][]*Command // scripts by the @webhook names they declare
	table   atomic.Pointer[Table]

	// intake guards stopping: Receive holds it shared while it routes, so
	// once Run has set stopping no message starts anything.
	intake   sync.RWMutex
	stopping bool
	runs     sync.WaitGroup
	// runCtx is what runs live in. It is not the signal context: on SIGTERM
	// runs get shutdown_grace to finish before it is cancelled.
	runCtx    context.Context
	cancelRun context.CancelFunc

	messagesIn atomic.Int64
	runSeq     runSeq
	role       func() Role
	tracking   sync.WaitGroup // clearing records of runs in flight
	// asking makes looking for a schedule's or webhook's waiting request
	// and making a new one atomic.
	asking sync.Mutex
	// silences are the webhook silences made in chat.
	silences silenceSet
}

// Options are what New needs besides the config.
type Options struct {
	Adapter Adapter
	// Store, when set, keeps the audit log (and is what built-ins use).
	Store *Store
	// Reconnects, when set, is the adapter's reconnect count for metrics.
	Reconnects *atomic.Int64
	Logger     *slog.Logger
	Version    string
	// Middleware runs, in order, around every command after the engine's
	// own (recovery, logging, access).
	Middleware []Middleware
	// Role, when set, tells status this instance's part among several.
	Role func() Role
}

// New makes a bot. Register routes before calling Run.
func New(cfg Config, o Options) *Bot {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bot{
		cfg:        cfg,
		log:        log,
		adapter:    o.Adapter,
		version:    o.Version,
		started:    time.Now(),
		pool:       NewPool(cfg.Scripts.MaxConcurrent),
		access:     NewAccess(cfg.Admins, cfg.Groups),
		store:      o.Store,
		reconnects: o.Reconnects,
		role:       o.Role,
	}
	if o.Store != nil {
		b.audit = newAuditWriter(o.Store, log)
		if err := b.access.UseStore(o.Store); err != nil {
			log.Error("load group changes", "err", err)
		}
	}
	b.runCtx, b.cancelRun = context.WithCancel(context.Background())
	loc, err := LoadLocation(cfg.Timezone)
	if err != nil {
		log.Error("time zone, using the host's", "err", err)
		loc = time.Local
	}
	b.sched = newScheduler(b, loc)
	b.metrics = newMetrics(b)
	mw := []Middleware{b.auditRuns, b.countRuns, b.recoverPanics, b.logRuns, b.checkScheduled, b.checkAccess, b.checkApproval}
	mw = append(mw, o.Middleware...)
	mw = append(mw, b.trackRuns, b.limit)
	b.handler = Wrap(HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		return r.Target.Handler.Handle(ctx, w, r)
	}), mw...)
	b.table.Store(NewTable(nil))
	return b
}

// Config returns the bot's configuration.
func (b *Bot) Config() Config { return b.cfg }

// Logger returns the bot's logger.
func (b *Bot) Logger() *slog.Logger { return b.log }

// Store returns the bot's store; nil when it has none.
func (b *Bot) Store() *Store { return b.store }

// Access returns the bot's access rules.
func (b *Bot) Access() *Access { return b.access }

// Register adds routes that stay for the bot's life (built-ins, chains).
// They take precedence over script routes.
func (b *Bot) Register(routes ...*Route) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.static = append(b.static, routes...)
	b.rebuild()
}

// SetScriptRoutes replaces every script route at once. Messages being
// routed meanwhile see either the old table or the new one, never neither.
func (b *Bot) SetScriptRoutes(routes []*Route) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.scripts = routes
	b.rebuild()
}

func (b *Bot) rebuild() {
	all := make([]*Route, 0, len(b.static)+len(b.scripts))
	all = append(all, b.static...)
	all = append(all, b.scripts...)
	b.table.Store(NewTable(all))
}

// Table returns the current routing table.
func (b *Bot) Table() *Table { return b.table.Load() }

// Status is what the status command shows.
type Status struct {
	Version  string
	Uptime   time.Duration
	Adapter  string
	Scripts  int
	InFlight int
	Queued   int
	Messages int64
	// Role is this instance's part among several sharing a store.
	Role Role
}

func (b *Bot) currentRole() Role {
	if b.role == nil {
		return Role{}
	}
	return b.role()
}

// Activity counts the messages seen so far: it stands still while the
// bot is quiet.
func (b *Bot) Activity() int64 { return b.messagesIn.Load() }

// Status reports the bot's state now.
func (b *Bot) Status() Status {
	seen := map[*Command]bool{}
	for _, r := range b.Table().Routes() {
		if r.Command.Source != "builtin" && r.Command.Source != "chain" {
			seen[r.Command] = true
		}
	}
	running, queued := b.pool.Stats()
	return Status{
		Version:  b.version,
		Uptime:   time.Since(b.started),
		Adapter:  b.adapter.Name(),
		Scripts:  len(seen),
		InFlight: running,
		Queued:   queued,
		Messages: b.messagesIn.Load(),
		Role:     b.currentRole(),
	}
}

// Run connects the adapter and serves until ctx is done or the adapter's
// input ends, then shuts down in order: stop intake, drain runs, flush
// replies. At the end of input it waits for every run; on ctx done runs get
// shutdown_grace, then are stopped.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.loadSilences(); err != nil {
		return err
	}
	if err := b.sched.start(); err != nil {
		return err
	}
	b.log.Info("wirebot started", "version", b.version, "adapter", b.adapter.Name(), "scripts", b.Status().Scripts)
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweeper sync.WaitGroup
	if b.store != nil {
		sweeper.Go(func() { b.sweepApprovals(sweepCtx) })
		sweeper.Go(func() { b.reportInterrupted(sweepCtx) })
	}
	err := b.adapter.Run(ctx, b)
	stopSweep()
	sweeper.Wait()
	b.intake.Lock()
	b.stopping = true
	b.intake.Unlock()
	b.sched.stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Error("adapter stopped", "adapter", b.adapter.Name(), "err", err)
	}
	if ctx.Err() == nil && err == nil {
		// End of input: finish what was asked for.
		b.runs.Wait()
	} else {
		b.drain(b.cfg.ShutdownGrace)
	}
	b.cancelRun()
	b.tracking.Wait()
	if b.audit != nil {
		b.audit.Close()
	}
	if f, ok := b.adapter.(Flusher); ok {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ferr := f.Flush(fctx); ferr != nil {
			b.log.Warn("flush replies", "adapter", b.adapter.Name(), "err", ferr)
		}
	}
	b.log.Info("wirebot stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run adapter %s: %w", b.adapter.Name(), err)
	}
	return nil
}

// drain waits up to grace for runs to finish, then stops the rest.
func (b *Bot) drain(grace time.Duration) {
	done := make(chan struct{})
	go func() { b.runs.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	running, queued := b.pool.Stats()
	b.log.Warn("shutdown grace over, stopping runs", "running", running, "queued", queued)
	b.cancelRun()
	<-done
}

// Receive routes one message. Built-ins answer before it returns; scripts
// are started in the pool.
func (b *Bot) Receive(ctx context.Context, m Message) {
	b.intake.RLock()
	defer b.intake.RUnlock()
	if b.stopping {
		return
	}
	if m.FromSelf || (m.User.IsBot && !b.cfg.ListenToBots) {
		return
	}
	b.messagesIn.Add(1)
	b.metrics.messages.Inc()
	t := b.Table()
	handled := false
	command, addressed := Address(m.Text, b.cfg.Name, b.cfg.Alias, m.Channel.Direct)
	if addressed {
		if mt, ok := t.Respond(command); ok {
			handled = true
			b.start(&Request{Message: m, Command: command, Kind: Respond, Trigger: TriggerChat,
				Target: mt.Route.Command, Args: mt.Args, Named: mt.Named})
		}
	}
	for _, mt := range t.Hear(m.Text) {
		handled = true
		b.start(&Request{Message: m, Command: m.Text, Kind: Hear, Trigger: TriggerChat,
			Target: mt.Route.Command, Args: mt.Args, Named: mt.Named})
	}
	if addressed && !handled {
		b.replyUnknown(m, command)
	}
}

// Dispatch starts r's command text as if it had been addressed to the bot
// (a webhook's command). It reports false when nothing matched.
func (b *Bot) Dispatch(r *Request) bool {
	mt, ok := b.Table().Respond(r.Command)
	if !ok {
		return false
	}
	r.Kind, r.Target, r.Args, r.Named = Respond, mt.Route.Command, mt.Args, mt.Named
	b.start(r)
	return true
}

func (b *Bot) replyUnknown(m Message, command string) {
	var usages, helps []string
	first := firstWord(command)
	for _, r := range b.Table().Routes() {
		if r.Kind != Respond || !b.access.Allowed(m.User, r.Command.Allow) {
			continue
		}
		u := r.Command.Usage()
		usages = append(usages, u)
		if first != "" && strings.EqualFold(u, first) {
			for _, h := range r.Command.Help {
				if !slices.Contains(helps, h) {
					helps = append(helps, h)
				}
			}
		}
	}
	var text string
	switch {
	case len(helps) > 0:
		// A known command with the wrong arguments: show how it goes.
		text = fmt.Sprintf("That is not how %s goes. Usage:\n%s", strings.ToLower(first), strings.Join(helps, "\n"))
	case command == "":
		text = fmt.Sprintf("Yes? Try %q.", "help")
	default:
		text = fmt.Sprintf("I don't know %q. Did you mean %q? Try %q.", command, Closest(command, usages), "help")
	}
	b.send(m, text)
}

func (b *Bot) start(r *Request) {
	r.Started = time.Now()
	w := &replyWriter{b: b, m: r.Message}
	if r.Target.Inline {
		_ = b.handler.Handle(b.runCtx, w, r)
		return
	}
	b.runs.Add(1)
	go func() {
		defer b.runs.Done()
		_ = b.handler.Handle(b.runCtx, w, r)
	}()
}

func (b *Bot) send(m Message, text string) {
	if err := b.adapter.Send(b.runCtx, Reply{Channel: m.Channel, Thread: replyThread(m), Text: text, Via: m.Via}); err != nil {
		b.log.Error("send reply", "adapter", b.adapter.Name(), "channel", m.Channel.Name, "err", err)
	}
}

// replyThread is where replies to m go: its thread, or for a top-level
// message (no thread) the channel itself.
func replyThread(m Message) string { return m.Thread }

type replyWriter struct {
	b *Bot
	m Message
}

func (w *replyWriter) Reply(ctx context.Context, text string) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	err := w.b.adapter.Send(ctx, Reply{Channel: w.m.Channel, Thread: replyThread(w.m), Text: text, Via: w.m.Via})
	if err != nil {
		// Logged here, once, so that no caller can lose a reply unseen.
		w.b.log.Error("send reply", "adapter", w.b.adapter.Name(), "channel", channelLabel(w.m.Channel), "err", err)
		return fmt.Errorf("send reply to %s: %w", channelLabel(w.m.Channel), err)
	}
	return nil
}

// Ref makes a short reference that ties a chat message to log lines.
func Ref() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (b *Bot) recoverPanics(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) (err error) {
		defer func() {
			if p := recover(); p != nil {
				ref := Ref()
				b.log.Error("command panicked", "command", r.Target.Name, "ref", ref, "panic", p, "stack", string(debug.Stack()))
				_ = w.Reply(ctx, fmt.Sprintf("Sorry, %s broke (ref %s).", r.Target.Name, ref))
				err = fmt.Errorf("command %s panicked: %v", r.Target.Name, p)
			}
		}()
		return next.Handle(ctx, w, r)
	})
}

func (b *Bot) logRuns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		err := next.Handle(ctx, w, r)
		if r.Target.Inline && err == nil {
			return nil // built-ins answer thousands of times a second: no log line each
		}
		if errors.Is(err, errStillWaiting) {
			return err // logged where it was found
		}
		level := slog.LevelInfo
		if err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrPending) && !errors.Is(err, ErrExpired) {
			level = slog.LevelWarn
		}
		b.log.Log(ctx, level, "run", "command", r.Target.Name, "user", r.Message.User.Name,
			"channel", r.Message.Channel.Name, "trigger", string(r.Trigger), "exit", Outcome(err),
			"duration", time.Since(r.Started).Round(time.Microsecond), "err", err)
		return err
	})
}

func (b *Bot) checkAccess(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if !r.Message.User.Trusted && !b.access.Allowed(r.Message.User, r.Target.Allow) {
			_ = w.Reply(ctx, fmt.Sprintf("Sorry %s, %s is only for members of %s.",
				r.Message.User.Name, r.Target.Name, strings.Join(r.Target.Allow, " or ")))
			return fmt.Errorf("%s not in %v: %w", r.Message.User.Name, r.Target.Allow, ErrRefused)
		}
		return next.Handle(ctx, w, r)
	})
}

// limit holds non-inline commands until a worker slot is free.
func (b *Bot) limit(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if r.Target.Inline || r.Target.NoSlot {
			return next.Handle(ctx, w, r)
		}
		if err := b.pool.Acquire(ctx); err != nil {
			_ = w.Reply(ctx, fmt.Sprintf("Sorry, %s was stopped before it could start.", r.Target.Name))
			return fmt.Errorf("wait for a worker: %w", err)
		}
		defer b.pool.Release()
		return next.Handle(ctx, w, r)
	})
}
