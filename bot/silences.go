package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Silence mutes a webhook from chat for a while: its events (those that
// match Where, when set) answer 202 and post and run nothing. Silences are
// kept in the store.
type Silence struct {
	ID      string    `json:"id"`
	Hook    string    `json:"hook"`
	Where   string    `json:"where,omitempty"` // an expr-lang expression over the event
	Reason  string    `json:"reason,omitempty"`
	By      User      `json:"by"`
	Channel Channel   `json:"channel"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until"`
}

// DefaultSilence is how long a silence lasts when no duration is given.
const DefaultSilence = time.Hour

// maxWhere is the longest where expression accepted.
const maxWhere = 2000

// silenceSet is the live silences with their compiled expressions.
type silenceSet struct {
	mu   sync.RWMutex
	live []liveSilence
}

type liveSilence struct {
	Silence
	where *vm.Program // nil: every event
}

// SilenceError is a silence that may not be made or ended, with the
// sentence to tell the person.
type SilenceError struct{ Msg string }

func (e *SilenceError) Error() string { return e.Msg }

// CompileWhere compiles a silence's where expression. A bad one is an
// error naming the column at fault.
func CompileWhere(src string) (*vm.Program, error) {
	if len(src) > maxWhere {
		return nil, fmt.Errorf("the expression is longer than %d characters", maxWhere)
	}
	p, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.AsBool(), expr.MaxNodes(500))
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("at column %d: %s", fe.Column+1, fe.Message)
		}
		return nil, err
	}
	return p, nil
}

// loadSilences reads the silences kept in the store.
func (b *Bot) loadSilences() error {
	if b.store == nil {
		return nil
	}
	list, err := b.store.Silences()
	if err != nil {
		return fmt.Errorf("load silences: %w", err)
	}
	live := make([]liveSilence, 0, len(list))
	for _, s := range list {
		ls := liveSilence{Silence: s}
		if s.Where != "" {
			p, err := CompileWhere(s.Where)
			if err != nil {
				// Kept so that it can be listed and ended; it mutes nothing.
				b.log.Error("silence where does not compile", "id", s.ID, "hook", s.Hook, "err", err)
			}
			ls.where = p
		}
		live = append(live, ls)
	}
	b.silences.mu.Lock()
	b.silences.live = live
	b.silences.mu.Unlock()
	return nil
}

// MaySilence reports whether u may silence hook wh (and end its
// silences): admins, and members of the groups in its allow key.
func (b *Bot) MaySilence(u User, wh Webhook) bool {
	if b.access.IsAdmin(u) {
		return true
	}
	return slices.ContainsFunc(SplitList(wh.Allow...), func(g string) bool { return b.access.InGroup(u, g) })
}

// Silence mutes hook for d (DefaultSilence when 0) as who asked in channel,
// for the events where is true (all when empty). It returns the silence
// made, or a *SilenceError that says why not.
func (b *Bot) Silence(who User, channel Channel, hook string, d time.Duration, where, reason string) (Silence, error) {
	wh, ok := b.Webhook(hook)
	if !ok {
		return Silence{}, &SilenceError{fmt.Sprintf("There is no webhook %s (see webhooks: in the config).", hook)}
	}
	if !b.MaySilence(who, wh) {
		return Silence{}, &SilenceError{fmt.Sprintf("Sorry %s, only %s may silence %s.", who.Name, silencers(wh), hook)}
	}
	if b.store == nil {
		return Silence{}, &SilenceError{"Sorry, this bot has no store to keep silences in."}
	}
	if d == 0 {
		d = DefaultSilence
	}
	if d < 0 {
		return Silence{}, &SilenceError{fmt.Sprintf("Sorry, %s is not a duration a silence can last.", d)}
	}
	ls := liveSilence{}
	if where = strings.TrimSpace(where); where != "" {
		p, err := CompileWhere(where)
		if err != nil {
			return Silence{}, &SilenceError{fmt.Sprintf("Sorry, bad where expression %s: %v.", where, err)}
		}
		ls.where = p
	}
	now := time.Now().UTC()
	ls.Silence = Silence{ID: newApprovalID(), Hook: wh.Name, Where: where, Reason: strings.TrimSpace(reason), By: who,
		Channel: channel, Created: now, Until: now.Add(d)}
	if err := b.store.PutSilence(ls.Silence); err != nil {
		return Silence{}, fmt.Errorf("save silence: %w", err)
	}
	b.silences.mu.Lock()
	b.silences.live = append(b.silences.live, ls)
	b.silences.mu.Unlock()
	return ls.Silence, nil
}

func silencers(wh Webhook) string {
	if allow := SplitList(wh.Allow...); len(allow) > 0 {
		return "admins and members of " + strings.Join(allow, " or ")
	}
	return "admins"
}

// Unsilence ends silence id as who; who must be allowed to silence its
// hook. It returns the silence ended, ErrNotFound, or a *SilenceError.
func (b *Bot) Unsilence(who User, id string) (Silence, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	var found *Silence
	for _, s := range b.Silences(time.Now()) {
		if s.ID == id {
			found = &s
			break
		}
	}
	if found == nil {
		return Silence{}, ErrNotFound
	}
	wh, _ := b.Webhook(found.Hook) // a hook gone from the config: admins only
	wh.Name = found.Hook
	if !b.MaySilence(who, wh) {
		return *found, &SilenceError{fmt.Sprintf("Sorry %s, only %s may end silences of %s.", who.Name, silencers(wh), found.Hook)}
	}
	if _, err := b.store.DeleteSilence(id); err != nil {
		return *found, fmt.Errorf("delete silence: %w", err)
	}
	b.dropSilences(func(s *liveSilence) bool { return s.ID == id })
	return *found, nil
}

func (b *Bot) dropSilences(drop func(*liveSilence) bool) {
	b.silences.mu.Lock()
	defer b.silences.mu.Unlock()
	b.silences.live = slices.DeleteFunc(b.silences.live, func(s liveSilence) bool { return drop(&s) })
}

// Silences lists the silences in force at now, soonest to end first, and
// forgets those that are over.
func (b *Bot) Silences(now time.Time) []Silence {
	b.silences.mu.RLock()
	var out []Silence
	var over []string
	for _, s := range b.silences.live {
		if now.Before(s.Until) {
			out = append(out, s.Silence)
		} else {
			over = append(over, s.ID)
		}
	}
	b.silences.mu.RUnlock()
	if len(over) > 0 && b.store != nil {
		for _, id := range over {
			if _, err := b.store.DeleteSilence(id); err != nil {
				b.log.Error("forget a silence that is over", "id", id, "err", err)
			}
		}
		b.dropSilences(func(s *liveSilence) bool { return slices.Contains(over, s.ID) })
	}
	slices.SortFunc(out, func(x, y Silence) int { return x.Until.Compare(y.Until) })
	return out
}

// Silenced reports whether an event of webhook hook is muted at now by a
// silence made in chat, and by which. env is the event as the hook's
// `when` sees it (the fields of the JSON body, `headers`, `event`...); a
// silence's where expression is evaluated over it, and one that fails to
// evaluate does not mute. A muted event is audited here; the caller posts
// and runs nothing, answers 202, and counts it as result="silenced".
func (b *Bot) Silenced(hook string, env map[string]any, now time.Time) (id string, ok bool) {
	b.silences.mu.RLock()
	defer b.silences.mu.RUnlock()
	for _, s := range b.silences.live {
		if s.Hook != hook || !now.Before(s.Until) {
			continue
		}
		if s.Where != "" {
			if s.where == nil {
				continue
			}
			v, err := expr.Run(s.where, env)
			if err != nil {
				b.log.Debug("silence where failed", "id", s.ID, "hook", hook, "err", err)
				continue
			}
			if match, _ := v.(bool); !match {
				continue
			}
		}
		if b.audit != nil {
			wh, _ := b.Webhook(hook)
			b.audit.Record(AuditEntry{Time: now.UTC(), User: WebhookUser.Name, UserID: WebhookUser.ID,
				Principal: WebhookPrincipal, Channel: targetMessage(b.Targets(wh.Channel)).Channel.Label(),
				Trigger: string(TriggerWebhook), Command: hook, Outcome: "silenced", Exit: -1, Note: "silence " + s.ID})
		}
		return s.ID, true
	}
	return "", false
}

// PutSilence keeps a silence.
func (s *Store) PutSilence(si Silence) error { return s.putJSON(bucketSilences, si.ID, si) }

// DeleteSilence removes a silence, reporting whether it was there.
func (s *Store) DeleteSilence(id string) (bool, error) { return s.deleteKey(bucketSilences, id) }

// Silences lists the silences kept, by id.
func (s *Store) Silences() ([]Silence, error) {
	var out []Silence
	err := s.eachJSON(bucketSilences, func(id string, data []byte) error {
		var si Silence
		if err := json.Unmarshal(data, &si); err != nil {
			return fmt.Errorf("silence %s: %w", id, err)
		}
		out = append(out, si)
		return nil
	})
	return out, err
}
