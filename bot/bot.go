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

// Bot routes messages from its adapters to commands. Several adapters may
// run at once; each owns its connection, all feed the one request path, and
// replies go back through the adapter a message came from.
type Bot struct {
	cfg      Config
	log      *slog.Logger
	adapters []Adapter          // the first is the default (bare channels)
	byName   map[string]Adapter // adapters by name
	dir      *Directory
	version  string
	started  time.Time
	pool     *Pool
	access   *Access
	store    *Store
	audit    *auditWriter
	sched    *Scheduler
	metrics  *Metrics
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
	links      links // link codes waiting to be typed back
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
	// Adapters are the chat networks, the default first. Adapter, when
	// set, is one more (the only one, for callers of old).
	Adapters []Adapter
	Adapter  Adapter
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
	adapters := slices.Clone(o.Adapters)
	if o.Adapter != nil {
		adapters = append(adapters, o.Adapter)
	}
	b := &Bot{
		cfg:        cfg,
		log:        log,
		adapters:   adapters,
		byName:     map[string]Adapter{},
		version:    o.Version,
		started:    time.Now(),
		pool:       NewPool(cfg.Scripts.MaxConcurrent),
		store:      o.Store,
		reconnects: o.Reconnects,
		role:       o.Role,
	}
	names := make([]string, len(adapters))
	for i, a := range adapters {
		names[i] = a.Name()
		b.byName[a.Name()] = a
	}
	dir, err := NewDirectory(names, cfg.People)
	if err != nil {
		log.Error("people", "err", err) // Validate reports it before a bot is made
		dir, _ = NewDirectory(names, nil)
	}
	b.dir = dir
	b.access, err = NewAccess(dir, cfg.Admins, cfg.Groups)
	if err != nil {
		log.Error("groups", "err", err)
	}
	if o.Store != nil {
		b.audit = newAuditWriter(o.Store, log)
		if err := b.loadLinks(); err != nil {
			log.Error("load links", "err", err)
		}
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

// MayInvite reports whether u, a user of the adapter called adapter (ID
// as its messages carry it), may bring the bot into a room: u gets the
// principal its messages would get, and Access.MayInvite decides on the
// rules as they are now.
func (b *Bot) MayInvite(adapter string, u User) bool {
	if _, ok := b.byName[adapter]; !ok {
		return false
	}
	m := Message{Adapter: adapter, User: u}
	b.stamp(&m)
	return !m.User.Principal.IsZero() && b.access.MayInvite(m.User)
}

// Directory returns who is who: people, principals, links.
func (b *Bot) Directory() *Directory { return b.dir }

// Adapters returns the adapters, the default first.
func (b *Bot) Adapters() []Adapter { return b.adapters }

// adapterFor returns the adapter called name; the default one when no
// adapter has that name.
func (b *Bot) adapterFor(name string) Adapter {
	if a, ok := b.byName[name]; ok {
		return a
	}
	return b.adapters[0]
}

// adapterName is the name of the adapter called name, or the default's.
func (b *Bot) adapterName(name string) string {
	if _, ok := b.byName[name]; ok {
		return name
	}
	return b.adapters[0].Name()
}

// Adapter returns the adapter called name, if it runs.
func (b *Bot) Adapter(name string) (Adapter, bool) {
	a, ok := b.byName[name]
	return a, ok
}

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
	Adapter  string // the adapters' names, comma-separated
	Adapters []AdapterState
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
	states := b.AdapterStates()
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = st.Name
	}
	return Status{
		Version:  b.version,
		Uptime:   time.Since(b.started),
		Adapter:  strings.Join(names, ", "),
		Adapters: states,
		Scripts:  len(seen),
		InFlight: running,
		Queued:   queued,
		Messages: b.messagesIn.Load(),
		Role:     b.currentRole(),
	}
}

// AdapterState is whether one adapter is connected.
type AdapterState struct {
	Name      string
	Connected bool
}

// AdapterStates reports each adapter's connection, the default first.
func (b *Bot) AdapterStates() []AdapterState {
	out := make([]AdapterState, len(b.adapters))
	for i, a := range b.adapters {
		c, isC := a.(Connected)
		out[i] = AdapterState{Name: a.Name(), Connected: !isC || c.Connected()}
	}
	return out
}

// adapterDone is how one adapter's Run ended.
type adapterDone struct {
	name string
	err  error
}

// Run connects every adapter and serves until ctx is done or one adapter
// stops (the shell's input ends, or an adapter fails for good), then shuts
// down in order: stop intake, drain runs, stop the other adapters, flush
// replies. At the end of input it waits for every run; on ctx done runs get
// shutdown_grace, then are stopped.
func (b *Bot) Run(ctx context.Context) error {
	if err := b.loadSilences(); err != nil {
		return err
	}
	if err := b.sched.start(); err != nil {
		return err
	}
	b.log.Info("wirebot started", "version", b.version, "adapter", b.Status().Adapter, "scripts", b.Status().Scripts)
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweeper sync.WaitGroup
	if b.store != nil {
		sweeper.Go(func() { b.sweepApprovals(sweepCtx) })
		sweeper.Go(func() { b.reportInterrupted(sweepCtx) })
	}
	actx, stopAdapters := context.WithCancel(ctx)
	defer stopAdapters()
	done := make(chan adapterDone, len(b.adapters))
	var running sync.WaitGroup
	for _, a := range b.adapters {
		running.Go(func() {
			done <- adapterDone{a.Name(), a.Run(actx, &adapterInbox{b: b, name: a.Name()})}
		})
	}
	first := <-done
	err := first.err
	stopSweep()
	sweeper.Wait()
	b.intake.Lock()
	b.stopping = true
	b.intake.Unlock()
	b.sched.stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Error("adapter stopped", "adapter", first.name, "err", err)
	}
	if ctx.Err() == nil && err == nil {
		// End of input: finish what was asked for.
		b.runs.Wait()
	} else {
		b.drain(b.cfg.ShutdownGrace)
	}
	b.cancelRun()
	b.tracking.Wait()
	stopAdapters()
	running.Wait()
	close(done)
	for d := range done {
		if d.err != nil && !errors.Is(d.err, context.Canceled) {
			b.log.Warn("adapter stopped", "adapter", d.name, "err", d.err)
		}
	}
	if b.audit != nil {
		b.audit.Close()
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, a := range b.adapters {
		if f, ok := a.(Flusher); ok {
			if ferr := f.Flush(fctx); ferr != nil {
				b.log.Warn("flush replies", "adapter", a.Name(), "err", ferr)
			}
		}
	}
	b.log.Info("wirebot stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run adapter %s: %w", first.name, err)
	}
	return nil
}

// adapterInbox is what one adapter delivers to: it stamps every message
// with that adapter's name, so no adapter can speak for another, nor as
// one of the bot's own (wirebot:) principals.
type adapterInbox struct {
	b    *Bot
	name string
}

func (in *adapterInbox) Receive(ctx context.Context, m Message) {
	m.Adapter = in.name
	in.b.receive(ctx, m)
}

// SetCaseMapping passes an IRC server's CASEMAPPING on to the directory.
func (in *adapterInbox) SetCaseMapping(adapter string, cm CaseMapping) {
	if adapter == in.name {
		in.b.access.SetCaseMapping(cm)
	}
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

// Receive routes one message from the adapter m.Adapter names (the default
// adapter when it names none that runs). Built-ins answer before it
// returns; scripts are started in the pool.
func (b *Bot) Receive(ctx context.Context, m Message) {
	m.Adapter = b.adapterName(m.Adapter)
	b.receive(ctx, m)
}

// stamp sets the sender's principal and person. m.Adapter is the adapter
// that delivered m, never the bot's own kind.
func (b *Bot) stamp(m *Message) {
	if m.User.ID == "" {
		m.User.Principal, m.User.Person = Principal{}, ""
		return
	}
	cm := CaseRFC1459
	if m.Adapter == "irc" {
		cm = b.dir.CaseMapping()
	}
	m.User.Principal = Principal{Adapter: m.Adapter, ID: NormalizeID(m.Adapter, m.User.ID, cm)}
	m.User.Person = b.dir.PersonOf(m.User)
}

func (b *Bot) receive(ctx context.Context, m Message) {
	b.stamp(&m)
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
	_ = (&replyWriter{b: b, m: m}).Reply(b.runCtx, text) // logged there
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
	a := w.b.adapterFor(w.m.Adapter)
	err := a.Send(ctx, Reply{Channel: w.m.Channel, Thread: replyThread(w.m), Text: text, Via: w.m.Via})
	if err != nil {
		// Logged here, once, so that no caller can lose a reply unseen.
		w.b.log.Error("send reply", "adapter", a.Name(), "channel", channelLabel(w.m.Channel), "err", err)
		err = fmt.Errorf("send reply to %s: %w", channelLabel(w.m.Channel), err)
	}
	for _, t := range w.m.Also {
		to := w.b.adapterFor(t.Adapter)
		if aerr := to.Send(ctx, Reply{Channel: t.Channel, Text: text}); aerr != nil {
			w.b.log.Error("send reply", "adapter", to.Name(), "channel", channelLabel(t.Channel), "err", aerr)
			err = errors.Join(err, fmt.Errorf("send reply to %s: %w", t, aerr))
		}
	}
	return err
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
		b.log.Log(ctx, level, "run", "command", r.Target.Name, "user", r.Message.User.Principal.String(),
			"channel", r.Message.Channel.Name, "trigger", string(r.Trigger), "exit", Outcome(err),
			"duration", time.Since(r.Started).Round(time.Microsecond), "err", err)
		return err
	})
}

func (b *Bot) checkAccess(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		// wirebot:scheduler runs what an operator configured: it passes
		// @allow (not @approve). wirebot:webhook passes only groups naming it.
		if r.Message.User.Principal != SchedulerPrincipal && !b.access.Allowed(r.Message.User, r.Target.Allow) {
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
