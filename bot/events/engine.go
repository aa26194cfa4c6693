package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// threadsNS is the store namespace of Alertmanager groups' threads.
const threadsNS = "events:threads"

// noThread is stored for a group posted on an adapter without threads:
// later notifications become reply lines naming the group.
const noThread = "-"

// Engine handles every configured hook's events for one bot.
type Engine struct {
	b     *bot.Bot
	log   *slog.Logger
	loc   *time.Location
	hooks map[string]*Hook

	mu      sync.Mutex
	closed  bool
	windows map[string]*window // hook + "\x00" + key
	memory  map[string]string  // threads when the bot has no store
	flushes sync.WaitGroup
}

// window is one key's throttle window.
type window struct {
	until time.Time
	held  int
	since time.Time // when the first held event came
	last  func(ctx context.Context, summary string)
	timer *time.Timer
}

// Check compiles every webhook's event keys and returns each problem as
// a *bot.ConfigError named by its key: `webhooks[0].when: ... (1:12)`.
func Check(cfg bot.Config) []error {
	var errs []error
	for i, wh := range cfg.Webhooks {
		if _, err := Compile(wh); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				errs = append(errs, &bot.ConfigError{Key: fmt.Sprintf("webhooks[%d].%s", i, fe.Field), Problem: fe.Err.Error()})
			} else {
				errs = append(errs, &bot.ConfigError{Key: fmt.Sprintf("webhooks[%d]", i), Problem: err.Error()})
			}
		}
	}
	return errs
}

// New compiles the bot's hooks.
func New(b *bot.Bot) (*Engine, error) {
	cfg := b.Config()
	if errs := Check(cfg); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	loc, err := bot.LoadLocation(cfg.Timezone)
	if err != nil {
		loc = time.Local
	}
	e := &Engine{b: b, log: b.Logger(), loc: loc, hooks: map[string]*Hook{}, windows: map[string]*window{}, memory: map[string]string{}}
	for _, wh := range cfg.Webhooks {
		h, _ := Compile(wh)
		e.hooks[wh.Name] = h
	}
	return e, nil
}

// Close stops the throttles' pending summaries and waits for any being
// posted.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	for _, w := range e.windows {
		if w.timer != nil && w.timer.Stop() {
			e.flushes.Done()
		}
	}
	e.mu.Unlock()
	e.flushes.Wait()
}

// Handle parses, filters, posts and throttles one authenticated request.
func (e *Engine) Handle(ctx context.Context, wh bot.Webhook, header map[string][]string, body []byte) bot.HookOutcome {
	h, ok := e.hooks[wh.Name]
	if !ok {
		return bot.HookOutcome{Result: "accepted", Status: http.StatusAccepted, Run: true}
	}
	ev, err := h.Parse(header, body)
	if err != nil {
		return bot.HookOutcome{Result: "bad_request", Status: http.StatusBadRequest, Text: fmt.Sprintf("%s body: %v", h.Format, err)}
	}
	if h.Format == FormatGitHub && ev.Ping() {
		return bot.HookOutcome{Result: "ping", Status: http.StatusOK, Text: "pong: nothing run"}
	}
	if id, ok := e.b.Silenced(wh.Name, ev.Data, time.Now()); ok {
		return bot.HookOutcome{Result: "silenced", Status: http.StatusAccepted, Text: "silenced by " + id + ": nothing posted or run"}
	}
	match, err := h.Match(ctx, ev)
	if err != nil {
		e.log.Warn("webhook when failed: treated as false", "hook", wh.Name, "err", err)
	}
	if !match {
		return bot.HookOutcome{Result: "filtered", Status: http.StatusAccepted, Text: "when is false: nothing posted or run"}
	}
	out := bot.HookOutcome{Result: "accepted", Status: http.StatusAccepted, Text: "accepted", Run: true, Env: ev.Env()}
	if !h.Posts() {
		return out
	}
	text, err := h.Render(ev)
	if err != nil {
		ref := bot.Ref()
		e.log.Error("webhook message", "hook", wh.Name, "ref", ref, "err", err)
		text = fmt.Sprintf("Webhook %s: its message could not be rendered (ref %s).", wh.Name, ref)
	}
	key, err := h.Key(ev)
	if err != nil {
		e.log.Warn("webhook key: using the hook's name", "hook", wh.Name, "err", err)
		key = ""
	}
	post := func(ctx context.Context, summary string) { e.post(ctx, h, wh, ev, text, summary) }
	if h.Throttle > 0 && !e.admit(h, key, post) {
		out.Result = "throttled"
		out.Text = "throttled: summed up in the next post"
		return out
	}
	post(ctx, "")
	return out
}

// admit reports whether key may post now; if not, the event is held and
// summed up when the window ends.
func (e *Engine) admit(h *Hook, key string, post func(context.Context, string)) bool {
	now := time.Now()
	id := h.Name + "\x00" + key
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.windows[id]
	if !ok || (now.After(w.until) && w.held == 0) {
		e.windows[id] = &window{until: now.Add(h.Throttle)}
		return true
	}
	if w.held == 0 {
		w.since = now
	}
	w.held++
	w.last = post
	if w.timer == nil && !e.closed {
		e.flushes.Add(1)
		w.timer = time.AfterFunc(time.Until(w.until), func() {
			defer e.flushes.Done()
			e.flush(id)
		})
	}
	return false
}

// flush posts the summary of what a window held back.
func (e *Engine) flush(id string) {
	e.mu.Lock()
	w, ok := e.windows[id]
	if !ok || w.held == 0 {
		e.mu.Unlock()
		return
	}
	held, since, last := w.held, w.since, w.last
	delete(e.windows, id)
	e.mu.Unlock()
	last(e.b.RunContext(), fmt.Sprintf("and %d more since %s", held, since.In(e.loc).Format("15:04")))
}

// post sends the event's message to each of the hook's channels: for an
// Alertmanager group, the first firing notification at the top level and
// the rest in its thread.
func (e *Engine) post(ctx context.Context, h *Hook, wh bot.Webhook, ev *Event, text, summary string) {
	if summary != "" {
		text = summary + "; the last: " + text
	}
	targets := e.b.Targets(wh.Channel)
	if len(targets) == 0 {
		targets = []bot.Target{e.b.Target("")}
	}
	for _, t := range targets {
		e.postTo(ctx, h, t, ev, text, len(targets) > 1)
	}
}

func (e *Engine) postTo(ctx context.Context, h *Hook, t bot.Target, ev *Event, text string, several bool) {
	r := bot.Reply{Channel: t.Channel, Text: text}
	if ev.Group == "" {
		if err := e.b.Say(ctx, t.Adapter, r); err != nil {
			e.log.Error("post webhook message", "hook", h.Name, "err", err)
		}
		return
	}
	gk := h.Name + "\x00" + ev.Group
	if several {
		gk += "\x00" + t.String() // each channel has its own thread
	}
	thread := e.thread(gk)
	switch {
	case thread == "":
		id, threaded, err := e.b.Post(ctx, t.Adapter, r)
		if err != nil {
			e.log.Error("post webhook message", "hook", h.Name, "err", err)
			return
		}
		if !threaded {
			id = noThread
		}
		if !ev.Resolved {
			e.setThread(gk, id)
		}
		return
	case thread == noThread:
		r.Text = "↳ [" + groupName(ev) + "] " + text
	default:
		r.Thread = thread
	}
	if err := e.b.Say(ctx, t.Adapter, r); err != nil {
		e.log.Error("post webhook message", "hook", h.Name, "err", err)
	}
	if ev.Resolved {
		e.setThread(gk, "")
	}
}

// groupName names an Alertmanager group to people: its group labels.
func groupName(ev *Event) string {
	labels, _ := ev.Data["groupLabels"].(map[string]any)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + str(labels[k])
	}
	if len(parts) == 0 {
		return ev.Group
	}
	return strings.Join(parts, " ")
}

func (e *Engine) thread(gk string) string {
	if s := e.b.Store(); s != nil {
		v, err := s.Get(threadsNS, gk)
		if err != nil && !errors.Is(err, bot.ErrNotFound) {
			e.log.Error("read alert thread", "err", err)
		}
		return v
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.memory[gk]
}

func (e *Engine) setThread(gk, id string) {
	if s := e.b.Store(); s != nil {
		var err error
		if id == "" {
			_, err = s.Delete(threadsNS, gk)
		} else {
			err = s.Set(threadsNS, gk, id)
		}
		if err != nil {
			e.log.Error("keep alert thread", "err", err)
		}
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if id == "" {
		delete(e.memory, gk)
	} else {
		e.memory[gk] = id
	}
}
