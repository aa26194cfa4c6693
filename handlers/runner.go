package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/wirebot/wirebot/bot"
)

// KillDelay is how long a stopped script's process group has between TERM
// and KILL.
const KillDelay = 5 * time.Second

// pipeDelay is how long the runner waits, once a script has exited, for
// processes it left behind (and sent TERM) to close its output.
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
	path      string // the scripts' PATH
	sysAttr   *syscall.SysProcAttr
	bufs      sync.Pool // *[]byte read buffers

	wg        sync.WaitGroup // killLater's
	closing   chan struct{}
	closeOnce sync.Once
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
	rn := &Runner{
		dir:       dir,
		timeout:   cfg.Scripts.Timeout,
		maxOutput: cfg.Scripts.MaxOutput,
		baseEnv:   BaseEnv(cfg.Scripts, os.LookupEnv, selfDir()),
		log:       log,
		sysAttr:   &syscall.SysProcAttr{Setpgid: true},
		closing:   make(chan struct{}),
	}
	rn.path = strings.TrimPrefix(rn.baseEnv[0], "PATH=")
	rn.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return rn, nil
}

// Path is the PATH scripts run with.
func (rn *Runner) Path() string { return rn.path }

// ScriptPath is the PATH scripts run with under sc, as Runner.Path.
func ScriptPath(sc bot.ScriptsConfig) string {
	return strings.TrimPrefix(BaseEnv(sc, os.LookupEnv, selfDir())[0], "PATH=")
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
	p := rn.prepare(s)
	return bot.HandlerFunc(func(ctx context.Context, w bot.ResponseWriter, r *bot.Request) error {
		return rn.run(ctx, w, r, p)
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
	env := make([]string, 0, len(rn.baseEnv)+12+len(r.Named))
	env = append(env, rn.baseEnv...)
	env = append(env,
		"WIREBOT_USER="+m.User.Name,
		"WIREBOT_USER_ID="+m.User.ID,
		"WIREBOT_PRINCIPAL="+m.User.Principal.String(),
		"WIREBOT_PERSON="+m.User.Person,
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
	return append(env, r.Env...)
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
	return rn.run(ctx, w, r, rn.prepare(s))
}

// prepared is what running a script needs that does not change from run
// to run: made once, when the script is loaded.
type prepared struct {
	s    *Script
	path string   // the file executed: the script, or its interpreter
	argv []string // the arguments before the run's own
}

func (rn *Runner) prepare(s *Script) *prepared {
	script := filepath.Join(rn.dir, s.Name)
	if s.Interp != nil {
		argv := append(append(make([]string, 0, len(s.Interp.Argv)+1), s.Interp.Argv...), script)
		return &prepared{s: s, path: s.Interp.Path, argv: argv}
	}
	return &prepared{s: s, path: script, argv: []string{script}}
}

func (rn *Runner) run(ctx context.Context, w bot.ResponseWriter, r *bot.Request, p *prepared) error {
	s := p.s
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
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, p.path)
	cmd.Args = append(p.argv[:len(p.argv):len(p.argv)], r.Args...)
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
	cmd.SysProcAttr = rn.sysAttr
	// Past the timeout (or at shutdown) the group gets TERM, and the
	// script KILL if it is still there KillDelay later.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = KillDelay

	stdout := &cappedBuffer{max: rn.maxOutput}
	stderr := &tailBuffer{max: stderrKeep}
	start := time.Now()
	// exited runs the moment the script's own process ends, while what it
	// left behind may still hold its output open.
	exited := func() {
		revoke()
		if runCtx.Err() == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	started, waitErr := rn.execute(cmd, input, stdout, stderr, exited)
	if !started {
		revoke()
		ref := bot.Ref()
		rn.log.Error("start script", "command", s.Name, "ref", ref, "err", waitErr)
		_ = w.Reply(ctx, fmt.Sprintf("Sorry, %s could not start (ref %s).", s.Name, ref))
		return fmt.Errorf("start %s: %w", s.Name, waitErr)
	}
	elapsed := time.Since(start)
	pgid := cmd.Process.Pid
	stopErr := runCtx.Err()
	if stopErr != nil {
		// Whatever of the group is left (a grandchild that ignored TERM)
		// goes now.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	} else if syscall.Kill(-pgid, 0) == nil {
		// Something the script left behind is still there after TERM.
		rn.killLater(pgid)
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

// killLater gives what is left of a finished script's process group
// KillDelay to go after TERM, then KILLs it. Close ends the wait early.
func (rn *Runner) killLater(pgid int) {
	rn.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		deadline := time.NewTimer(KillDelay)
		defer deadline.Stop()
		for {
			select {
			case <-tick.C:
				// While one member lives, its group id cannot be reused.
				if syscall.Kill(-pgid, 0) != nil {
					return
				}
				continue
			case <-deadline.C:
			case <-rn.closing:
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
	})
}

// Close stops at once what finished scripts left running, instead of
// after their KillDelay, and waits until that is done.
func (rn *Runner) Close() {
	rn.closeOnce.Do(func() { close(rn.closing) })
	rn.wg.Wait()
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
