package bot

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrPending reports a run that now waits for someone's approval.
var ErrPending = errors.New("waiting for approval")

// ErrDenied reports a request that was denied.
var ErrDenied = errors.New("denied")

// Approval is a run waiting for a second person's sign-off. It is kept in
// the store, so it survives a restart.
type Approval struct {
	ID        string    `json:"id"`
	Target    string    `json:"target"` // the command that will run
	Kind      Kind      `json:"kind"`
	Trigger   Trigger   `json:"trigger"`
	Command   string    `json:"command"` // the command text
	Text      string    `json:"text"`    // the message as typed
	Requester User      `json:"requester"`
	Channel   Channel   `json:"channel"`
	Direct    bool      `json:"direct"`
	Thread    string    `json:"thread"`
	Adapter   string    `json:"adapter"`
	Groups    []string  `json:"groups"` // who may approve
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Schedule and Hook name the schedule or webhook that asked; one of
	// them asks at most once at a time for each command.
	Schedule string `json:"schedule,omitempty"`
	Hook     string `json:"hook,omitempty"`
	// Stdin is what the run reads: a webhook's body.
	Stdin []byte `json:"stdin,omitempty"`
	// Env are the run's extra variables (a webhook's WIREBOT_EVENT).
	Env []string `json:"env,omitempty"`
	// As names the engine's own identity the run is made as (AsScheduler,
	// AsWebhook); empty: the requester.
	As string `json:"as,omitempty"`
}

// The engine's identities an approved run can be made as.
const (
	AsScheduler = "scheduler"
	AsWebhook   = "webhook"
)

// What names what will run: the command text and its script, or the
// script alone when a schedule or webhook runs it directly.
func (a Approval) What() string {
	if a.Command == "" {
		return a.Target
	}
	return fmt.Sprintf("%q (%s)", a.Command, a.Target)
}

// label is the short name of the request in announcements.
func (a Approval) label() string {
	if a.Command == "" {
		return a.Target
	}
	return strconv.Quote(a.Command)
}

// origin says which schedule or webhook asked, for the request's text.
func (a Approval) origin() string {
	switch {
	case a.Hook != "":
		return " for webhook " + a.Hook
	case a.Schedule != "":
		return " for schedule " + a.Schedule
	}
	return ""
}

// key is what makes two requests from one trigger the same: the schedule
// or webhook, and the command it runs. Chat requests have none.
func (a Approval) key() string {
	switch {
	case a.Hook != "":
		return "hook\x00" + a.Hook + "\x00" + a.Target + "\x00" + a.Command
	case a.Schedule != "":
		return "schedule\x00" + a.Schedule + "\x00" + a.Target + "\x00" + a.Command
	}
	return ""
}

// runsAs is who an approved request runs as: the engine's identity for a
// schedule or webhook of the operator's, else the requester.
func (a Approval) runsAs() User {
	switch a.As {
	case AsScheduler:
		return SchedulerUser
	case AsWebhook:
		return WebhookUser
	}
	return a.requester()
}

// runsAsFor names the engine identity r runs as, if any: the scheduler
// (the only user the engine trusts) or a webhook.
func runsAsFor(r *Request) string {
	switch {
	case r.Message.User.Principal == SchedulerPrincipal:
		return AsScheduler
	case r.Hook != "":
		return AsWebhook
	}
	return ""
}

// errStillWaiting is a run from a schedule or webhook whose earlier request
// still waits for approval: nothing new is asked, run or audited.
var errStillWaiting = fmt.Errorf("an earlier request still waits: %w", ErrPending)

// requester is who asked, as a principal: requests kept before principals
// existed have none, and are read as the adapter they were asked on.
func (a Approval) requester() User {
	u := a.Requester
	if u.Principal.IsZero() && u.ID != "" && a.Adapter != "" {
		u.Principal = Principal{Adapter: a.Adapter, ID: NormalizeID(a.Adapter, u.ID, CaseRFC1459)}
	}
	return u
}

// Who names a user for the audit log, history and schedules: the name the
// network shows, then the principal and the person, which is what counts:
// "bob (irc:bob)", "alice (person alice, slack:U024BE7LH)".
func Who(u User) string {
	switch {
	case u.Principal.IsZero():
		return u.Name
	case u.Person != "":
		return u.Name + " (person " + u.Person + ", " + u.Principal.String() + ")"
	default:
		return u.Name + " (" + u.Principal.String() + ")"
	}
}

// who names u in the audit log: the name while one adapter runs (as it
// always was), Who(u) when several do.
func (b *Bot) who(u User) string {
	if len(b.adapters) == 1 {
		return u.Name
	}
	return Who(u)
}

// notify announces text in approvals.notify, except in the channel where
// it was said already (from).
func (b *Bot) notify(ctx context.Context, from Target, text string) {
	for _, t := range b.Targets(b.cfg.Approvals.Notify) {
		if t.Adapter == from.Adapter && (t.Channel.ID == from.Channel.ID || t.Channel.Name == from.Channel.Name) {
			continue
		}
		a := b.adapterFor(t.Adapter)
		if err := a.Send(ctx, Reply{Channel: t.Channel, Text: text}); err != nil {
			b.log.Error("announce approval", "adapter", a.Name(), "channel", t.Channel.Label(), "err", err)
		}
	}
}

// ApprovalPoster is an optional ability: an adapter that can post an
// approval request with Approve and Deny buttons. A click must come back
// as the message "approve ID" or "deny ID" from the person who clicked,
// so it goes through exactly the same checks as typing it.
type ApprovalPoster interface {
	SendApproval(ctx context.Context, r Reply, id string) error
}

// idAlphabet leaves out letters and digits that are easy to confuse.
const idAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newApprovalID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// checkApproval turns a run of a command with @approve into a pending
// request, unless it was approved already (or is a step of an approved
// chain, whose approval covers it).
func (b *Bot) checkApproval(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if len(r.Target.Approve) == 0 || r.Approver != "" {
			return next.Handle(ctx, w, r)
		}
		if b.store == nil {
			_ = w.Reply(ctx, fmt.Sprintf("Sorry, %s needs approval, and this bot has no store to keep requests in.", r.Target.Name))
			return fmt.Errorf("%s needs approval: %w", r.Target.Name, ErrRefused)
		}
		return b.requestApproval(ctx, w, r)
	})
}

func (b *Bot) requestApproval(ctx context.Context, w ResponseWriter, r *Request) error {
	m := r.Message
	now := time.Now().UTC()
	a := Approval{
		ID: newApprovalID(), Target: r.Target.Name, Kind: r.Kind, Trigger: r.Trigger, Command: r.Command, Text: m.Text,
		Requester: m.User, Channel: m.Channel, Direct: m.Channel.Direct, Thread: m.Thread, Adapter: m.Adapter,
		Groups: r.Target.Approve, Created: now, Expires: now.Add(b.cfg.Approvals.TTL),
		Schedule: r.Schedule, Hook: r.Hook, Stdin: r.Stdin, Env: r.Env, As: runsAsFor(r),
	}
	if key := a.key(); key != "" {
		// One request at a time per schedule or webhook and command.
		b.asking.Lock()
		defer b.asking.Unlock()
		waiting, err := b.Pending()
		if err != nil {
			return fmt.Errorf("look for a waiting request: %w", err)
		}
		for _, p := range waiting {
			if p.key() == key {
				b.log.Debug("still waiting for approval", "id", cmp.Or(a.Hook, a.Schedule), "command", a.Target, "request", p.ID)
				r.ApprovalID = p.ID
				return fmt.Errorf("%s %s: %w", r.Target.Name, p.ID, errStillWaiting)
			}
		}
	}
	if err := b.store.PutApproval(a); err != nil {
		ref := Ref()
		b.log.Error("save approval request", "ref", ref, "err", err)
		_ = w.Reply(ctx, fmt.Sprintf("Sorry, I could not record the approval request (ref %s).", ref))
		return fmt.Errorf("save approval request: %w", err)
	}
	r.ApprovalID = a.ID
	text := fmt.Sprintf("%s asked to run %s%s, which needs approval by %s. Someone in %s other than %s can say `approve %s` (or `deny %s`) within %s.",
		m.User.Name, a.What(), a.origin(), strings.Join(a.Groups, " or "), strings.Join(a.Groups, " or "), m.User.Name,
		a.ID, a.ID, b.cfg.Approvals.TTL)
	reply := Reply{Channel: m.Channel, Thread: replyThread(m), Text: text, Via: m.Via}
	if p, ok := b.adapterFor(m.Adapter).(ApprovalPoster); ok {
		if err := p.SendApproval(ctx, reply, a.ID); err != nil {
			b.log.Error("post approval request", "err", err)
		}
	} else {
		_ = w.Reply(ctx, text)
	}
	b.notify(ctx, Target{Adapter: m.Adapter, Channel: m.Channel}, fmt.Sprintf("%s (on %s) asked to run %q (%s), which needs approval by %s: `approve %s` or `deny %s`.",
		Who(m.User), b.targetLabel(Target{Adapter: m.Adapter, Channel: m.Channel}), r.Command, r.Target.Name, strings.Join(a.Groups, " or "), a.ID, a.ID))
	return fmt.Errorf("%s %s: %w", r.Target.Name, a.ID, ErrPending)
}

// Pending lists the open approval requests, oldest first, dropping
// expired ones.
func (b *Bot) Pending() ([]Approval, error) {
	if b.store == nil {
		return nil, nil
	}
	all, err := b.store.Approvals()
	if err != nil {
		return nil, fmt.Errorf("read approval requests: %w", err)
	}
	var out, expired []Approval
	now := time.Now()
	for _, a := range all {
		if now.After(a.Expires) {
			expired = append(expired, a)
		} else {
			out = append(out, a)
		}
	}
	b.expire(expired)
	slices.SortFunc(out, func(x, y Approval) int { return x.Created.Compare(y.Created) })
	return out, nil
}

// expire removes expired requests, telling each requester where they asked
// and auditing it. Of two callers racing over a request, only the one that
// deletes it speaks.
func (b *Bot) expire(expired []Approval) {
	for _, a := range expired {
		found, err := b.store.deleteKey(bucketApprovals, a.ID)
		if err != nil || !found {
			continue
		}
		b.expired(a, "")
	}
}

// expired tells the requester, where they asked, that a has expired, and
// audits it; late names who tried to approve it after its time, if anyone.
func (b *Bot) expired(a Approval, late string) {
	ch := a.Channel
	ch.Direct = a.Direct
	text := fmt.Sprintf("Request %s (%s, asked by %s) expired without approval.", a.ID, a.label(), a.Requester.Name)
	if late != "" {
		text = fmt.Sprintf("Request %s (%s, asked by %s) expired without approval; %s tried to approve it too late.", a.ID, a.label(), a.Requester.Name, late)
	}
	b.send(Message{Adapter: b.adapterName(a.Adapter), Channel: ch, Thread: a.Thread}, text)
	if b.audit != nil {
		b.audit.Record(AuditEntry{Time: time.Now().UTC(), User: a.Requester.Name, UserID: a.Requester.ID,
			Principal: a.requester().Principal, Person: a.Requester.Person, Adapter: a.Adapter,
			Channel: channelLabel(a.Channel), Trigger: string(a.Trigger), Command: a.Target, Text: a.Command,
			ApprovalID: a.ID, Outcome: "expired", Exit: -1, Note: late})
	}
}

// ErrExpired reports an approval that came after its request expired.
var ErrExpired = errors.New("expired")

// sweepApprovals expires requests as their time runs out, until ctx ends.
func (b *Bot) sweepApprovals(ctx context.Context) {
	every := min(max(b.cfg.Approvals.TTL/4, 250*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := b.Pending(); err != nil {
				b.log.Error("expire approval requests", "err", err)
			}
			b.Silences(time.Now()) // forgets those that are over
		}
	}
}

// ApprovalError is a refusal to approve or deny, with the sentence to tell
// the person.
type ApprovalError struct {
	Msg string
	Err error // ErrExpired, or nil for a refusal
}

func (e *ApprovalError) Error() string { return e.Msg }

// Unwrap returns why, when it is more than a refusal.
func (e *ApprovalError) Unwrap() error { return e.Err }

// Approve signs request id off as approver. It returns the approval and
// run, which starts the approved run as the requester where it was asked,
// or an *ApprovalError that says why not. The caller says "approved"
// before it calls run, so that the announcement never comes after the
// run's own reply.
func (b *Bot) Approve(approver User, id string) (a Approval, run func(), err error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	err = b.store.takeJSON(bucketApprovals, id, &a, func() error {
		switch {
		case time.Now().After(a.Expires):
			return nil // taken away below, and reported as expired
		case b.dir.Same(approver, a.requester()):
			return &ApprovalError{Msg: fmt.Sprintf("Sorry %s, you cannot approve your own request; someone else in %s must.", approver.Name, strings.Join(a.Groups, " or "))}
		case !b.access.CanApprove(approver, a.Groups):
			return &ApprovalError{Msg: fmt.Sprintf("Sorry %s, only members of %s may approve %s.", approver.Name, strings.Join(a.Groups, " or "), id)}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return a, nil, &ApprovalError{Msg: fmt.Sprintf("There is no pending request %s (it may have been approved, denied or expired already).", id)}
	}
	if err != nil {
		return a, nil, err
	}
	if time.Now().After(a.Expires) {
		b.expired(a, approver.Name)
		return a, nil, &ApprovalError{Msg: fmt.Sprintf("Request %s expired at %s without approval, so it will not run; %s was told in %s. Ask again if it is still needed.",
			id, a.Expires.Local().Format("15:04:05"), a.Requester.Name, channelLabel(a.Channel)), Err: ErrExpired}
	}
	r := &Request{
		Message: Message{Text: a.Text, User: a.runsAs(), Channel: a.Channel, Thread: a.Thread, Adapter: b.adapterName(a.Adapter)},
		Command: a.Command, Kind: a.Kind, Trigger: a.Trigger, Approver: b.who(approver), ApprovalID: a.ID,
		Schedule: a.Schedule, Hook: a.Hook, Stdin: a.Stdin, Env: a.Env,
	}
	r.Message.Channel.Direct = a.Direct
	if a.Command == "" {
		// A script a schedule or webhook runs directly (@cron, @webhook).
		if r.Target = b.directTarget(a); r.Target == nil {
			return a, nil, &ApprovalError{Msg: fmt.Sprintf("%s was approved, but%s no longer runs %s; ask again.", id, strings.Replace(a.origin(), " for ", " ", 1), a.Target)}
		}
	} else if !b.resolve(r, a.Target) {
		return a, nil, &ApprovalError{Msg: fmt.Sprintf("%s was approved, but %q no longer runs %s; ask again.", id, a.Command, a.Target)}
	}
	return a, func() { b.start(r) }, nil
}

// directTarget finds the script named by a request that its schedule or
// webhook runs directly, if it still does.
func (b *Bot) directTarget(a Approval) *Command {
	if a.Hook != "" {
		for _, c := range b.scriptHooks(a.Hook) {
			if c.Name == a.Target {
				return c
			}
		}
		return nil
	}
	if a.Schedule != "" {
		return b.sched.scriptTarget(a.Target)
	}
	return nil
}

// AnnounceApproval tells where request a was asked, and approvals.notify,
// that approver signed it off; from is where the approver said so (told
// already).
func (b *Bot) AnnounceApproval(ctx context.Context, a Approval, approver User, from Target) {
	asked := Target{Adapter: b.adapterName(a.Adapter), Channel: a.Channel}
	asked.Channel.Direct = a.Direct
	text := fmt.Sprintf("%s approved %s: running %s for %s.", Who(approver), a.ID, a.What(), Who(a.runsAs()))
	if from.Adapter != asked.Adapter || from.Channel.ID != asked.Channel.ID {
		b.send(Message{Adapter: asked.Adapter, Channel: asked.Channel, Thread: a.Thread}, text)
	}
	b.notify(ctx, from, text)
}

// resolve finds the route for r's command text that runs target.
func (b *Bot) resolve(r *Request, target string) bool {
	t := b.Table()
	var matches []Match
	if r.Kind == Hear {
		matches = t.Hear(r.Command)
	} else if mt, ok := t.Respond(r.Command); ok {
		matches = []Match{mt}
	}
	for _, mt := range matches {
		if mt.Route.Command.Name == target {
			r.Target, r.Args, r.Named = mt.Route.Command, mt.Args, mt.Named
			return true
		}
	}
	return false
}

// Deny cancels request id. The requester may deny their own request, as
// may anyone who could approve it.
func (b *Bot) Deny(who User, id, reason string) (Approval, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	var a Approval
	err := b.store.takeJSON(bucketApprovals, id, &a, func() error {
		// A schedule or webhook of the operator's is nobody who could deny.
		own := a.As == "" && b.dir.Same(who, a.requester())
		if !own && !b.access.CanApprove(who, a.Groups) {
			return &ApprovalError{Msg: fmt.Sprintf("Sorry %s, only %s or a member of %s may deny %s.", who.Name, a.Requester.Name, strings.Join(a.Groups, " or "), id)}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return a, &ApprovalError{Msg: fmt.Sprintf("There is no pending request %s.", id)}
	}
	if err != nil {
		return a, err
	}
	if b.audit != nil {
		b.audit.Record(AuditEntry{Time: time.Now().UTC(), User: a.Requester.Name, UserID: a.Requester.ID,
			Principal: a.requester().Principal, Person: a.Requester.Person, Adapter: a.Adapter,
			Channel: channelLabel(a.Channel), Trigger: string(a.Trigger), Command: a.Target, Text: a.Command,
			Approver: b.who(who), ApprovalID: a.ID, Outcome: "denied", Exit: -1, Note: reason})
	}
	return a, nil
}

// Approvals lists the requests kept, expired ones too, by id.
func (s *Store) Approvals() ([]Approval, error) {
	var out []Approval
	err := s.eachJSON(bucketApprovals, func(id string, data []byte) error {
		var a Approval
		if err := json.Unmarshal(data, &a); err != nil {
			return fmt.Errorf("approval request %s: %w", id, err)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// PutApproval keeps a pending request.
func (s *Store) PutApproval(a Approval) error { return s.putJSON(bucketApprovals, a.ID, a) }
