package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Runs in flight are kept in the store while they go, so that whoever
// runs the bot next (a restart, or another instance taking the lead)
// can tell their channels they were interrupted.
var (
	bucketRuns  = []byte("runs")
	bucketTicks = []byte("ticks")
)

// runRecord is a run going on now.
type runRecord struct {
	Command string    `json:"command"`
	Text    string    `json:"text"`
	User    User      `json:"user"`
	Channel Channel   `json:"channel"`
	Thread  string    `json:"thread,omitempty"`
	Via     string    `json:"via,omitempty"`
	Adapter string    `json:"adapter,omitempty"`
	Trigger string    `json:"trigger"`
	Started time.Time `json:"started"`
}

// runSeq numbers this process's runs; with the start time it makes a
// key no other instance uses.
type runSeq struct{ n atomic.Uint64 }

func (b *Bot) runKey() string {
	return strconv.FormatInt(b.started.UnixNano(), 36) + "-" + strconv.FormatUint(b.runSeq.n.Add(1), 36)
}

// trackRunsAfter is how long a run goes before its record is written: a
// run shorter than that (most are a few milliseconds) costs the store
// nothing, at the price of not being reported as interrupted when the bot
// is killed within that time.
const trackRunsAfter = 250 * time.Millisecond

// trackRuns keeps a record of every script run that lasts while it goes.
func (b *Bot) trackRuns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		if b.store == nil || r.Target.Source == "builtin" || r.Target.Source == "chain" {
			return next.Handle(ctx, w, r)
		}
		var (
			mu      sync.Mutex
			written bool
			ended   bool
			key     string
		)
		put := func() {
			mu.Lock()
			defer mu.Unlock()
			if ended {
				return // the run ended while the timer was firing
			}
			key = b.runKey()
			m := r.Message
			rec := runRecord{Command: r.Target.Name, Text: r.Command, User: m.User, Channel: m.Channel,
				Thread: replyThread(m), Via: m.Via, Adapter: m.Adapter, Trigger: string(r.Trigger), Started: r.Started}
			if err := b.store.putJSON(bucketRuns, key, rec); err != nil {
				b.log.Warn("record run in flight", "command", r.Target.Name, "err", err)
				return
			}
			written = true
		}
		// The timer's function is the only goroutine it makes; Stop, or
		// the lock once it has fired, orders it before the clean-up.
		timer := time.AfterFunc(trackRunsAfter, put)
		err := next.Handle(ctx, w, r)
		if timer.Stop() {
			return err
		}
		// A run that lasted: its record is cleared beside what follows,
		// so that nothing after the reply waits for a commit.
		b.tracking.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			ended = true
			if written {
				if _, derr := b.store.deleteKey(bucketRuns, key); derr != nil {
					b.log.Warn("clear run in flight", "command", r.Target.Name, "err", derr)
				}
			}
		})
		return err
	})
}

// reportInterrupted tells the channel of every run a previous process
// left unfinished that it was interrupted, and audits it so.
func (b *Bot) reportInterrupted(ctx context.Context) {
	if b.store == nil {
		return
	}
	prefix := strconv.FormatInt(b.started.UnixNano(), 36) + "-"
	type left struct {
		key string
		rec runRecord
	}
	var runs []left
	err := b.store.eachJSON(bucketRuns, func(key string, data []byte) error {
		if len(key) > len(prefix) && key[:len(prefix)] == prefix {
			return nil // ours
		}
		var rec runRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			b.log.Warn("unreadable run record", "key", key, "err", err)
		}
		runs = append(runs, left{key, rec})
		return nil
	})
	if err != nil {
		b.log.Error("read runs in flight", "err", err)
		return
	}
	for _, l := range runs {
		if ctx.Err() != nil {
			return
		}
		found, err := b.store.deleteKey(bucketRuns, l.key)
		if err != nil || !found {
			continue // another process got it, or the store refuses
		}
		r := l.rec
		b.log.Warn("run interrupted", "command", r.Command, "user", r.User.Name, "channel", r.Channel.Name, "started", r.Started)
		if b.audit != nil {
			b.audit.Record(AuditEntry{Time: r.Started.UTC(), User: r.User.Name, UserID: r.User.ID,
				Principal: r.User.Principal, Person: r.User.Person, Adapter: r.Adapter, Channel: channelLabel(r.Channel),
				Trigger: r.Trigger, Command: r.Command, Text: r.Text, Outcome: "interrupted", Exit: -1,
				Note: "the bot running it stopped before it ended"})
		}
		msg := fmt.Sprintf("%s (started %s by %s) was interrupted: the bot running it stopped before it ended. Run it again if it is still needed.",
			r.Command, r.Started.UTC().Format(time.RFC3339), r.User.Name)
		if err := b.adapterFor(r.Adapter).Send(ctx, Reply{Channel: r.Channel, Thread: r.Thread, Text: msg, Via: r.Via}); err != nil {
			b.log.Error("report interrupted run", "channel", r.Channel.Name, "err", err)
		}
	}
}

// claimTick records that schedule id ticks now, unless some instance
// already ran this tick (or a later one): a tick runs at most once
// across instances. The record is a fenced write, so a deposed leader
// claims nothing.
func (b *Bot) claimTick(id string, now time.Time) bool {
	if b.store == nil {
		return true
	}
	tick := now.Truncate(time.Second).UnixNano()
	claimed := false
	err := b.store.update(func(tx Tx) error {
		claimed = false
		v, err := tx.Get(string(bucketTicks), id)
		if err != nil {
			return err
		}
		if v != nil {
			if last, err := strconv.ParseInt(string(v), 10, 64); err == nil && last >= tick {
				return nil
			}
		}
		claimed = true
		return tx.Put(string(bucketTicks), id, []byte(strconv.FormatInt(tick, 10)))
	})
	if err != nil {
		b.log.Warn("schedule tick not claimed, skipped", "id", id, "err", err)
		return false
	}
	if !claimed {
		b.log.Info("schedule tick already ran", "id", id)
	}
	return claimed
}

// Role is this instance's part in a group of instances sharing a store.
type Role struct {
	Role   string // "leader", "standby"; "" when alone
	Leader string // the leader's name
}
