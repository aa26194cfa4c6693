package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/wirebot/wirebot/bot"
)

// KillDelay is how long a stopped script's process group has between TERM
// and KILL.
const KillDelay = 5 * time.Second

// pipeDelay is how long the runner waits, once a script has exited, for
// processes it left behind to close its output.
const pipeDelay = 500 * time.Millisecond

const stderrKeep = 8 << 10

// Runner runs scripts as the contract in SPEC.md says: argv, event JSON on
// stdin, an environment built from an allowlist, never a shell.
type Runner struct {
	dir       string // absolute scripts_dir
	timeout   time.Duration
	maxOutput int
	baseEnv   []string
	log       *slog.Logger
	// RunEnv, when set, adds variables for one run (the script API token)
	// and returns a function called once, the moment the script exits,
	// before anything it printed is posted.
	RunEnv func(r *bot.Request) (env []string, done func())
}

// NewRunner makes a runner for cfg. The environment given to scripts is
// computed here, once, from the bot's own environment.
func NewRunner(cfg bot.Config, log *slog.Logger) (*Runner, error) {
	dir, err := filepath.Abs(cfg.ScriptsDir)
	if err != nil {
		return nil, fmt.Errorf("resolve scripts_dir %q: %w", cfg.ScriptsDir, err)
	}
	return &Runner{
		dir:       dir,
		timeout:   cfg.Scripts.Timeout,
		maxOutput: cfg.Scripts.MaxOutput,
		baseEnv:   BaseEnv(cfg.Scripts, os.LookupEnv, selfDir()),
		log:       log,
	}, nil
}

// selfDir is the folder of the running wirebot binary, put first on
// scripts' PATH so that `wirebot brain` and `wirebot say` reach this very
// bot's client, even under `go run .`.
func selfDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Dir(exe)
}

// BaseEnv is the part of a script's environment that is the same for every
// run: PATH, HOME, LANG and TZ when the bot has them, scripts.env, and the
// variables named by scripts.env_passthrough.
func BaseEnv(sc bot.ScriptsConfig, lookup func(string) (string, bool), binDir string) []string {
	var env []string
	path, ok := lookup("PATH")
	if !ok || path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	if binDir != "" {
		path = binDir + string(os.PathListSeparator) + path
	}
	env = append(env, "PATH="+path)
	for _, k := range []string{"HOME", "LANG", "TZ"} {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range sc.EnvPassthrough {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range sc.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Event is what a script reads on stdin.
type Event struct {
	Text    string            `json:"text"`
	User    bot.User          `json:"user"`
	Channel bot.Channel       `json:"channel"`
	Thread  string            `json:"thread"`
	Adapter string            `json:"adapter"`
	Command string            `json:"command"`
	Trigger string            `json:"trigger"`
	Matches []string          `json:"matches"`
	Named   map[string]string `json:"named"`
}

// Handler returns the handler that runs script s.
func (rn *Runner) Handler(s *Script) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
		return rn.Run(ctx, w, r, s)
	})
}

func channelName(c bot.Channel) string {
	if c.Name != "" {
		return strings.TrimPrefix(c.Name, "#")
	}
	return c.ID
}

func (rn *Runner) env(r *bot.Request, s *Script) []string {
	m := r.Message
	env := append([]string(nil), rn.baseEnv...)
	env = append(env,
		"WIREBOT_USER="+m.User.Name,
		"WIREBOT_USER_ID="+m.User.ID,
		"WIREBOT_CHANNEL="+channelName(m.Channel),
		"WIREBOT_CHANNEL_ID="+m.Channel.ID,
		"WIREBOT_THREAD="+m.Thread,
		"WIREBOT_TEXT="+m.Text,
		"WIREBOT_ADAPTER="+m.Adapter,
		"WIREBOT_COMMAND="+r.Command,
		"WIREBOT_SCRIPT="+s.Name,
		"WIREBOT_TRIGGER="+string(r.Trigger),
	)
	for name, v := range r.Named {
		env = append(env, "WIREBOT_MATCH_"+strings.ToUpper(name)+"="+v)
	}
	return env
}

func (rn *Runner) stdin(r *bot.Request) ([]byte, error) {
	if r.Stdin != nil {
		return r.Stdin, nil
	}
	m := r.Message
	args, named := r.Args, r.Named
	if args == nil {
		args = []string{}
	}
	if named == nil {
		named = map[string]string{}
	}
	return json.Marshal(Event{
		Text: m.Text, User: m.User, Channel: m.Channel, Thread: m.Thread, Adapter: m.Adapter,
		Command: r.Command, Trigger: string(r.Trigger), Matches: args, Named: named,
	})
}

// Run runs script s for request r and posts its outcome through w.
func (rn *Runner) Run(ctx context.Context, w bot.ResponseWriter, r *bot.Request, s *Script) error {
	timeout := rn.timeout
	if s.Timeout > 0 {
		timeout = s.Timeout
	}
	if r.Target != nil && r.Target.Timeout > 0 {
		timeout = r.Target.Timeout
	}
	input, err := rn.stdin(r)
	if err != nil {
		return fmt.Errorf("encode event for %s: %w", s.Name, err)
	}
	stdout := &cappedBuffer{max: rn.maxOutput}
	stderr := &tailBuffer{max: stderrKeep}
	cmd := exec.Command(filepath.Join(rn.dir, s.Name), r.Args...)
	cmd.Dir = rn.dir
	cmd.Env = rn.env(r, s)
	var done func()
	revoke := func() {
		if done != nil {
			done()
			done = nil
		}
	}
	if rn.RunEnv != nil {
		var extra []string
		extra, done = rn.RunEnv(r)
		cmd.Env = append(cmd.Env, extra...)
	}
	// The run's token dies with the run, before anything is posted: a
	// reply must never carry a token that still works.
	defer revoke()
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeDelay

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		ref := bot.Ref()
		rn.log.Error("start script", "command", s.Name, "ref", ref, "err", err)
		_ = w.Reply(ctx, fmt.Sprintf("Sorry, %s could not start (ref %s).", s.Name, ref))
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
			return
		case <-runCtx.Done():
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(KillDelay)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	waitErr := cmd.Wait()
	revoke()
	close(exited)
	<-stopped
	elapsed := time.Since(start)
	stopErr := runCtx.Err()
	if stopErr != nil {
		// Whatever of the group is left (a grandchild that ignored TERM)
		// goes now.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}

	if tail := stderr.String(); tail != "" {
		rn.log.Info("script stderr", "command", s.Name, "stderr", tail)
	}
	out := stdout.Reply()

	switch {
	case stopErr != nil && errors.Is(stopErr, context.DeadlineExceeded) && ctx.Err() == nil:
		_ = w.Reply(ctx, joinLines(out, fmt.Sprintf("%s timed out after %s and was stopped.", s.Name, timeout)))
		return fmt.Errorf("%s after %s: %w", s.Name, timeout, bot.ErrTimeout)
	case stopErr != nil:
		_ = w.Reply(context.WithoutCancel(ctx), joinLines(out, fmt.Sprintf("%s was stopped: wirebot is shutting down.", s.Name)))
		return fmt.Errorf("%s stopped: %w", s.Name, ctx.Err())
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		if !errors.As(waitErr, &ee) {
			return fmt.Errorf("wait for %s: %w", s.Name, waitErr)
		}
		code := ee.ExitCode()
		why := fmt.Sprintf("exit code %d", code)
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			why = "killed by signal " + ws.Signal().String()
		}
		msg := fmt.Sprintf("%s failed (%s).", s.Name, why)
		if tail := lastLines(stderr.String(), 5); tail != "" {
			msg += "\n" + tail
		}
		_ = w.Reply(ctx, joinLines(out, msg))
		return &bot.ExitError{Code: code}
	}
	rn.log.Debug("script done", "command", s.Name, "duration", elapsed)
	if out != "" {
		if err := w.Reply(ctx, out); err != nil {
			return err
		}
	}
	return nil
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// cappedBuffer keeps the first max bytes written to it and counts the rest,
// so a script that prints a gigabyte costs the bot max bytes.
type cappedBuffer struct {
	max     int
	buf     []byte
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// Reply is the kept output without trailing new lines, with a note when
// some was cut.
func (c *cappedBuffer) Reply() string {
	b := c.buf
	if c.dropped > 0 {
		// Do not end in the middle of a character.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	out := strings.TrimRight(string(b), "\r\n")
	if c.dropped > 0 {
		out += fmt.Sprintf("\n[output cut at %d bytes; %d more bytes not shown]", c.max, c.dropped)
	}
	return out
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimRight(string(t.buf), "\n")
	if t.cut {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:] // drop the partial first line
		}
	}
	return s
}
