// Package shell is wirebot's terminal adapter: a REPL on stdin and stdout
// for trying scripts locally, in the manner of Hubot's shell.
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"

	"github.com/wirebot/wirebot/bot"
)

// Options configure the adapter.
type Options struct {
	BotName string
	User    string // the speaking user at start
	Channel string // the channel at start
	// Interactive prints a prompt and notes; without it the adapter prints
	// bare reply text and nothing else.
	Interactive bool
}

// Adapter reads lines from in and writes replies to out. Every line is
// addressed to the bot.
type Adapter struct {
	in   io.Reader
	opts Options

	rl *readline.Instance // at a terminal: prompt, line editing, history
	// reading is set while the line reader runs at a terminal (until
	// Ctrl-D): replies then wait for readline to be reading (waitReading).
	reading atomic.Bool

	mu   sync.Mutex // guards out and the speaking user and channel
	out  *bufio.Writer
	user bot.User
	ch   bot.Channel
}

// New makes a shell adapter.
func New(in io.Reader, out io.Writer, o Options) *Adapter {
	if o.User == "" {
		o.User = "shell"
	}
	if o.Channel == "" {
		o.Channel = "shell"
	}
	if o.BotName == "" {
		o.BotName = "wirebot"
	}
	a := &Adapter{
		in:   in,
		opts: o,
		out:  bufio.NewWriter(out),
		user: bot.User{ID: o.User, Name: o.User},
		ch:   channel(o.Channel),
	}
	// At a terminal, lines are read with readline: a "wirebot> " prompt,
	// editing and history, and output written through it lands above a
	// fresh prompt. Piped input is read as it always was.
	if rc, ok := in.(io.ReadCloser); ok && o.Interactive {
		rl, err := readline.NewEx(&readline.Config{Prompt: o.BotName + "> ", Stdin: rc, Stdout: out,
			HistoryLimit: 500, DisableAutoSaveHistory: false})
		if err == nil {
			a.rl = rl
			a.out = bufio.NewWriter(rl.Stdout())
		}
	}
	return a
}

func channel(name string) bot.Channel {
	name = strings.TrimPrefix(name, "#")
	return bot.Channel{ID: name, Name: name, Direct: true}
}

// Name is "shell".
func (a *Adapter) Name() string { return "shell" }

// Connected is always true: the terminal is there while the bot runs.
func (a *Adapter) Connected() bool { return true }

type line struct {
	text string
	err  error
}

// Run reads lines until the input ends (returning nil) or ctx is done.
func (a *Adapter) Run(ctx context.Context, in bot.Inbox) error {
	lines := make(chan line)
	stop := make(chan struct{})
	defer close(stop)
	// The reader cannot be interrupted while it waits on a terminal; when
	// ctx ends first it is left to end with the process.
	if a.rl != nil {
		defer a.rl.Close()
		a.reading.Store(true)
		go func() {
			defer a.reading.Store(false)
			for {
				text, err := a.rl.Readline()
				if err != nil { // io.EOF (Ctrl-D) or readline.ErrInterrupt (Ctrl-C)
					if errors.Is(err, io.EOF) || errors.Is(err, readline.ErrInterrupt) {
						err = nil
					}
					select {
					case lines <- line{err: err, text: "\x00eof"}:
					case <-stop:
					}
					return
				}
				select {
				case lines <- line{text: text}:
				case <-stop:
					return
				}
			}
		}()
	} else {
		go a.readPiped(lines, stop)
	}
	a.prompt()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l := <-lines:
			if l.text == "\x00eof" {
				if l.err != nil {
					return fmt.Errorf("read input: %w", l.err)
				}
				return nil
			}
			a.handle(ctx, in, l.text)
			a.prompt()
		}
	}
}

// readPiped reads lines of any length, each one message (a bufio.Scanner
// would stop at its buffer's size).
func (a *Adapter) readPiped(lines chan<- line, stop <-chan struct{}) {
	rd := bufio.NewReaderSize(a.in, 64<<10)
	for {
		text, err := rd.ReadString('\n')
		if text != "" {
			select {
			case lines <- line{text: strings.TrimSuffix(text, "\n")}:
			case <-stop:
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			select {
			case lines <- line{err: err, text: "\x00eof"}:
			case <-stop:
			}
			return
		}
	}
}

func (a *Adapter) handle(ctx context.Context, in bot.Inbox, text string) {
	text = strings.TrimRight(text, "\r")
	if strings.TrimSpace(text) == "" {
		return
	}
	if cmd, arg, ok := slash(text); ok {
		a.mu.Lock()
		switch cmd {
		case "/user":
			a.user = bot.User{ID: arg, Name: arg}
			a.note("(you are now %s)", arg)
		case "/channel":
			a.ch = channel(arg)
			a.note("(you are now in #%s)", a.ch.Name)
		}
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	m := bot.Message{Text: text, User: a.user, Channel: a.ch, Adapter: "shell"}
	a.mu.Unlock()
	in.Receive(ctx, m)
}

// slash recognises the adapter's own commands.
func slash(text string) (cmd, arg string, ok bool) {
	f := strings.Fields(text)
	if len(f) == 2 && (f[0] == "/user" || f[0] == "/channel") {
		return f[0], f[1], true
	}
	return "", "", false
}

// note prints an adapter message in interactive mode. a.mu must be held.
func (a *Adapter) note(format string, args ...any) {
	if a.opts.Interactive {
		a.waitReading()
		fmt.Fprintf(a.out, format+"\n", args...)
		_ = a.out.Flush()
	}
}

func (a *Adapter) prompt() {
	if !a.opts.Interactive || a.rl != nil { // readline draws its own prompt

		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.out, "%s@%s> ", a.user.Name, a.ch.Name)
	_ = a.out.Flush()
}

// waitReading holds a reply back, briefly, until readline waits for a
// key. readline draws its prompt first and only then marks itself
// reading; a reply written in between went out as it was, after the
// prompt, and no prompt was drawn below it (TestShellAtATerminal, 1 run
// in 40 on a loaded machine). Written while it reads, a reply goes
// through readline's writer, which clears the prompt, writes, and draws
// the prompt and the line being typed again.
func (a *Adapter) waitReading() {
	if a.rl == nil {
		return
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for a.reading.Load() && !a.rl.Terminal.IsReading() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}

// Send writes the reply text, ending in a new line.
func (a *Adapter) Send(_ context.Context, r bot.Reply) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waitReading()
	text := strings.TrimRight(r.Text, "\n")
	if a.opts.Interactive && r.Channel.Name != a.ch.Name {
		text = fmt.Sprintf("[#%s] %s", r.Channel.Name, text)
	}
	a.out.WriteString(text)
	a.out.WriteByte('\n')
	if err := a.out.Flush(); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}

// SendDirect prints text for the shell user p names, marked as private
// (bot.DirectMessager): everyone at the terminal is every shell user.
func (a *Adapter) SendDirect(ctx context.Context, p bot.Principal, text string) error {
	return a.Send(ctx, bot.Reply{Channel: bot.Channel{ID: p.ID, Name: p.ID, Direct: true}, Text: "[to " + p.ID + "] " + text})
}

// Flush writes anything still buffered.
func (a *Adapter) Flush(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.Flush()
}
