package bot

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// placeholderRE finds {name} in chain steps.
var placeholderRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

// ChainRoutes makes the routes of the configured chains. Config.Validate
// has checked their patterns.
func (b *Bot) ChainRoutes() []*Route {
	var routes []*Route
	for _, ch := range b.cfg.Chains {
		re, err := CompilePattern(ch.Respond)
		if err != nil {
			b.log.Error("chain not loaded", "chain", ch.Name, "err", err)
			continue
		}
		help := []string{ch.Help}
		if ch.Help == "" {
			help = []string{fmt.Sprintf("%s - runs %s", ch.Name, strings.Join(ch.Steps, ", then "))}
		}
		cmd := &Command{
			Name: ch.Name, Source: "chain", Help: help,
			Allow: SplitList(ch.Allow...), Approve: SplitList(ch.Approve...),
			NoSlot: true,
		}
		cmd.Handler = b.chainHandler(ch)
		routes = append(routes, &Route{Kind: Respond, Pattern: re, Command: cmd})
	}
	return routes
}

// chainHandler runs a chain's steps in order as the requester, each through
// the whole request path (access is checked again for every step; the
// chain's approval covers the steps' own @approve), and stops at the first
// step that does not succeed.
func (b *Bot) chainHandler(ch Chain) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		n := len(ch.Steps)
		start := time.Now()
		for i, tmpl := range ch.Steps {
			step := placeholderRE().ReplaceAllStringFunc(tmpl, func(p string) string {
				return r.Named[p[1:len(p)-1]]
			})
			label := fmt.Sprintf("%s step %d/%d (%s)", ch.Name, i+1, n, step)
			sr := &Request{
				Message: r.Message, Command: step, Trigger: TriggerChain, Chain: ch.Name,
				Approver: r.Approver, ApprovalID: r.ApprovalID, Started: time.Now(),
				Schedule: r.Schedule, Hook: r.Hook,
			}
			sr.Message.Text = step
			mt, ok := b.Table().Respond(step)
			switch {
			case !ok:
				_ = w.Reply(ctx, fmt.Sprintf("%s matches no command; %s stopped.", label, ch.Name))
				return fmt.Errorf("%s: no command: %w", label, ErrRefused)
			case mt.Route.Command.Source == "chain":
				_ = w.Reply(ctx, fmt.Sprintf("%s is a chain itself; chains do not nest. %s stopped.", label, ch.Name))
				return fmt.Errorf("%s: nested chain: %w", label, ErrRefused)
			}
			sr.Kind, sr.Target, sr.Args, sr.Named = Respond, mt.Route.Command, mt.Args, mt.Named
			err := b.handler.Handle(ctx, w, sr)
			took := time.Since(sr.Started).Round(time.Millisecond)
			if err != nil {
				why := Outcome(err)
				var ee *ExitError
				if errors.As(err, &ee) {
					why = fmt.Sprintf("failed with exit code %d", ee.Code)
				}
				_ = w.Reply(ctx, fmt.Sprintf("%s: %s after %s; %s stopped.", label, why, took, ch.Name))
				return fmt.Errorf("%s: %w", label, err)
			}
			_ = w.Reply(ctx, fmt.Sprintf("%s: ok in %s", label, took))
		}
		_ = w.Reply(ctx, fmt.Sprintf("%s finished: %d steps ok in %s", ch.Name, n, time.Since(start).Round(time.Millisecond)))
		return nil
	})
}
