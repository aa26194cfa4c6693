package bot

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// auditWriter records audit entries off the reply path: runs hand it their
// entry and go on; it commits whatever has gathered within auditDelay (or
// auditBatch entries) in one transaction.
// Its queue blocks when full rather than drop an entry.
type auditWriter struct {
	store *Store
	log   *slog.Logger
	ch    chan auditItem
	done  chan struct{}
}

type auditItem struct {
	entry *AuditEntry   // on the heap only while queued: a queue of values kept 1.3 MB resident after the first burst filled it
	sync  chan struct{} // when set, closed once everything before it is committed
}

const auditQueue = 4096
const auditBatch = 512

// auditDelay is how long the writer gathers entries before it commits:
// what a kill -9 may lose is at most the entries of this last stretch.
const auditDelay = 10 * time.Millisecond

func newAuditWriter(s *Store, log *slog.Logger) *auditWriter {
	a := &auditWriter{store: s, log: log, ch: make(chan auditItem, auditQueue), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *auditWriter) run() {
	defer close(a.done)
	batch := make([]AuditEntry, 0, auditBatch)
	var syncs []chan struct{}
	add := func(it auditItem) {
		if it.sync != nil {
			syncs = append(syncs, it.sync)
		} else {
			batch = append(batch, *it.entry)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for item := range a.ch {
		batch, syncs = batch[:0], syncs[:0]
		add(item)
		// Gather for up to auditDelay, so that runs a few milliseconds
		// apart share one commit (one fsync) instead of paying one each;
		// someone waiting (history, shutdown) ends the wait at once.
		if len(syncs) == 0 {
			timer.Reset(auditDelay)
		wait:
			for len(batch) < auditBatch && len(syncs) == 0 {
				select {
				case it, ok := <-a.ch:
					if !ok {
						break wait
					}
					add(it)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
	gather:
		for len(batch) < auditBatch {
			select {
			case it, ok := <-a.ch:
				if !ok {
					break gather
				}
				add(it)
			default:
				break gather
			}
		}
		if len(batch) > 0 {
			if err := a.store.AppendAudit(batch...); err != nil {
				a.log.Error("write audit log", "entries", len(batch), "err", err)
			}
		}
		for _, s := range syncs {
			close(s)
		}
	}
}

// Record queues e.
func (a *auditWriter) Record(e AuditEntry) { a.ch <- auditItem{entry: &e} }

// Sync waits until everything recorded before it is committed.
func (a *auditWriter) Sync(ctx context.Context) {
	s := make(chan struct{})
	select {
	case a.ch <- auditItem{sync: s}:
	case <-ctx.Done():
		return
	}
	select {
	case <-s:
	case <-ctx.Done():
	}
}

// Close commits what is queued and stops.
func (a *auditWriter) Close() {
	close(a.ch)
	<-a.done
}

// auditRuns is the middleware that puts every run in the audit log.
func (b *Bot) auditRuns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		err := next.Handle(ctx, w, r)
		if b.audit == nil || errors.Is(err, errStillWaiting) {
			return err // a tick or event that waits for an earlier request is no new run
		}
		exit := 0
		var ee *ExitError
		switch {
		case errors.As(err, &ee):
			exit = ee.Code
		case err != nil:
			exit = -1
		}
		m := r.Message
		b.audit.Record(AuditEntry{
			Time: r.Started.UTC(), User: m.User.Name, UserID: m.User.ID, Principal: m.User.Principal, Person: m.User.Person,
			Adapter: m.Adapter, Channel: channelLabel(m.Channel),
			Trigger: string(r.Trigger), Command: r.Target.Name, Text: r.Command, Args: r.Args,
			Approver: r.Approver, ApprovalID: r.ApprovalID, Outcome: Outcome(err), Exit: exit,
			Duration: time.Since(r.Started), Chain: r.Chain,
		})
		return err
	})
}

// SyncAudit waits until every run recorded so far is in the store.
func (b *Bot) SyncAudit(ctx context.Context) {
	if b.audit != nil {
		b.audit.Sync(ctx)
	}
}

// Who returns who ran e as a user, for history's filter: its principal
// and person, or for entries kept before principals existed, the first
// adapter's user of that id; the scheduler's and webhooks' runs of then
// are the bot's own principals, never a chat user's.
func (e *AuditEntry) Who(defaultAdapter string) User {
	u := User{ID: e.UserID, Name: e.User, Principal: e.Principal, Person: e.Person}
	if !u.Principal.IsZero() || e.UserID == "" {
		return u
	}
	switch {
	case e.Trigger == string(TriggerCron) && e.UserID == "scheduler":
		u.Principal = SchedulerPrincipal
	case e.Trigger == string(TriggerWebhook) && e.UserID == "webhook":
		u.Principal = WebhookPrincipal
	default:
		adapter := e.Adapter
		if adapter == "" {
			adapter = defaultAdapter
		}
		u.Principal = Principal{Adapter: adapter, ID: NormalizeID(adapter, e.UserID, CaseRFC1459)}
	}
	return u
}

func channelLabel(c Channel) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
