package bot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Command is something the bot can run: a built-in, a script or a chain.
type Command struct {
	Name    string        // "ping", "deploy.sh"
	Source  string        // "builtin", or the file it came from
	Help    []string      // lines for help; the patterns are shown when empty
	Allow   []string      // groups that may run it; empty: everyone
	Approve []string      // groups whose members must approve each run
	Timeout time.Duration // 0: the configured default
	Handler Handler
	// Inline commands answer at once without a worker slot; everything else
	// runs in the bounded pool.
	Inline bool
	// NoSlot commands run in their own goroutine without a worker slot:
	// chains, whose steps take slots of their own.
	NoSlot bool
	// Manages marks built-ins that manage schedules, groups, links,
	// silences or approvals: they never run on a schedule, or a schedule
	// could make more of itself.
	Manages bool
}

// Trigger says what started a request.
type Trigger string

// The triggers a request can have.
const (
	TriggerChat    Trigger = "chat"
	TriggerCron    Trigger = "cron"
	TriggerWebhook Trigger = "webhook"
	TriggerChain   Trigger = "chain"
)

// Request is one run of a command, whatever started it.
type Request struct {
	Message Message
	Command string // the command text; the whole text for hear routes
	Kind    Kind
	Trigger Trigger
	Target  *Command
	Args    []string
	Named   map[string]string
	Stdin   []byte // a webhook's body; nil means the event JSON
	Started time.Time
	// Approver is who signed the run off, when it needed approval.
	Approver string
	// ApprovalID is the approval request this run came from or made.
	ApprovalID string
	// Chain names the chain this run is a step of.
	Chain string
	// Schedule is the id of the schedule that started this run (its chain
	// steps included); empty otherwise.
	Schedule string
	// Hook is the name of the webhook that started this run.
	Hook string
	// Env are more variables for a script run (a webhook's WIREBOT_EVENT).
	Env []string
}

// ResponseWriter posts replies for a request, in its channel and thread.
type ResponseWriter interface {
	Reply(ctx context.Context, text string) error
}

// Handler runs a request.
type Handler interface {
	Handle(ctx context.Context, w ResponseWriter, r *Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *Request) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, w ResponseWriter, r *Request) error {
	return f(ctx, w, r)
}

// Middleware wraps a handler: access, approval, audit, metrics.
type Middleware func(Handler) Handler

// Wrap applies middleware so that the first one listed runs first.
func Wrap(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// ExitError reports a script that exited with a non-zero status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ErrTimeout reports a run stopped because it ran past its timeout.
var ErrTimeout = errors.New("timed out")

// ErrRefused reports a run the requester may not make.
var ErrRefused = errors.New("refused")

// Outcome names how a run ended, for the audit log and metrics.
func Outcome(err error) string {
	var ee *ExitError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrRefused):
		return "refused"
	case errors.Is(err, ErrPending):
		return "pending"
	case errors.Is(err, ErrDenied):
		return "denied"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.As(err, &ee):
		return "failed"
	default:
		return "error"
	}
}
