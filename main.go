// Command wirebot is a lightweight, single-binary ChatOps bot: one process
// connects to chat, routes every message through a registry of regex
// handlers, runs the scripts operators drop into a folder, and keeps its
// small state in one bbolt file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/boltstore"
	"github.com/wirebot/wirebot/bot/events"
	ircadapter "github.com/wirebot/wirebot/bot/irc"
	matrixadapter "github.com/wirebot/wirebot/bot/matrix"
	"github.com/wirebot/wirebot/bot/shell"
	slackadapter "github.com/wirebot/wirebot/bot/slack"
	"github.com/wirebot/wirebot/bot/web"
	xmppadapter "github.com/wirebot/wirebot/bot/xmpp"
	"github.com/wirebot/wirebot/handlers"
	"github.com/wirebot/wirebot/internal/memtrim"
)

// quietTrim is how long the bot must hear nothing before it gives memory
// back (internal/memtrim).
const quietTrim = 2 * time.Second

const usage = `wirebot - a lightweight ChatOps bot

usage:
  wirebot [run] [--config FILE]   run the bot
  wirebot check [--config FILE]   validate the config and every script
  wirebot test [--config FILE] [--as USER] [--channel C] [--run] TEXT
                                  dry run of one message: which command matches,
                                  its captures, whether USER may run it, who must
                                  approve; --run also runs it and prints the reply
  wirebot health [--config FILE]  ask the running bot's /healthz (http.listen)
  wirebot version, --version      print the version, commit, build date and Go
  wirebot help, -h, --help        print this

inside a script run by wirebot:
  wirebot brain [--global] get KEY | set KEY [VALUE] | del KEY | list [PREFIX] | incr KEY [N]
  wirebot say [--channel C] TEXT

The config file is --config, $WIREBOT_CONFIG, ./config.yaml or
/etc/wirebot/config.yaml; with none the bot runs on defaults (the shell
adapter, ./scripts, ./wirebot.db). Every key can be set as WIREBOT_ + its
path in upper case (WIREBOT_SLACK_BOT_TOKEN), every secret as a file
(WIREBOT_SLACK_BOT_TOKEN_FILE).

Exit codes: 0 ok, 1 runtime error (check: a script has an error; test:
nothing matches or it is refused), 2 bad usage or bad config.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// run is the whole program; tests call it as they would the binary.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			cmd = "help"
		case "-version", "--version":
			cmd = "version"
		}
	}
	var err error
	switch cmd {
	case "run":
		err = runBot(ctx, args, stdin, stdout, stderr, environ)
	case "check":
		err = runCheck(args, stdout, stderr, environ)
	case "brain":
		err = runBrain(ctx, args, stdin, stdout, getenvFrom(environ))
		if errors.Is(err, errMissing) {
			return 1 // a missing key prints nothing
		}
	case "say":
		err = runSay(ctx, args, stdin, stderr, getenvFrom(environ))
	case "version":
		fmt.Fprintln(stdout, versionLine())
	case "test":
		err = runTry(ctx, args, stdout, stderr, environ)
		if errors.Is(err, errRefused) {
			return 1 // the report says why
		}
	case "health":
		err = runHealth(ctx, args, stdout, stderr, environ)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = &usageError{fmt.Errorf("unknown command %q (try 'wirebot help')", cmd)}
	}
	var ue *usageError
	var ce *checkFailed
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp): // run --help, check -h, ...
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ce):
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "wirebot: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "wirebot: %v\n", err)
		return 1
	}
}

func getenvFrom(environ []string) func(string) string {
	return func(k string) string {
		for i := len(environ) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(environ[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
}

// configFromFlags parses --config and loads the configuration.
func configFromFlags(name string, args []string, stderr io.Writer, environ []string) (bot.Config, error) {
	fs := flag.NewFlagSet("wirebot "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; -h prints the whole usage on stdout
	path := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return bot.Config{}, &usageError{err}
	}
	if fs.NArg() > 0 {
		return bot.Config{}, &usageError{fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	file, err := findConfig(*path, getenvFrom(environ))
	if err != nil {
		return bot.Config{}, &usageError{err}
	}
	cfg, err := loadConfig(file, environ)
	if err != nil {
		return bot.Config{}, &usageError{err}
	}
	return cfg, nil
}

func newLogger(c bot.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS) // /dev/null is a character device too
	return err == nil
}

// shellInput refuses to run the shell adapter on no input at all: stdin
// closed or /dev/null (`docker run` without -i, a unit without a
// terminal), where the bot would read nothing and exit 0 at once. Piped
// input that simply ends is fine.
func shellInput(stdin io.Reader) error {
	f, ok := stdin.(*os.File)
	if !ok {
		return nil
	}
	const hint = "the shell adapter reads what you type, so it needs a terminal or piped input: " +
		"run it at a terminal (docker run -it), pipe text into it, or choose a chat adapter (adapter: slack, or WIREBOT_ADAPTER=slack)"
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stdin is closed: %s", hint)
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return fmt.Errorf("stdin is %s: %s", os.DevNull, hint)
	}
	return nil
}

func runBot(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	cfg, err := configFromFlags("run", args, stderr, environ)
	if err != nil {
		return err
	}
	// At a terminal the shell is a conversation: info lines (one per run)
	// stay out of it unless log.level asks for debug.
	if cfg.Uses("shell") && isTerminal(stdin) && isTerminal(stdout) && strings.EqualFold(cfg.Log.Level, "info") {
		cfg.Log.Level = "warn"
	}
	log := newLogger(cfg.Log, stderr)
	if cfg.Store.Backend == "etcd" {
		return runHA(ctx, cfg, log, stdin, stdout, environ)
	}
	store, err := boltstore.Open(cfg.DataFile, cfg.Audit.Keep)
	if err != nil {
		return err
	}
	defer store.Close()
	return serveBot(ctx, cfg, log, store, nil, stdin, stdout, environ)
}

// serveBot runs the bot on store until ctx ends or its input does. role,
// when set, tells status this instance's part among several.
func serveBot(ctx context.Context, cfg bot.Config, log *slog.Logger, store *bot.Store, role func() bot.Role,
	stdin io.Reader, stdout io.Writer, environ []string) (err error) {
	var reconnects atomic.Int64 // counted before the bot exists; read by its metrics
	// Adapters ask the bot who may invite them; it is made after them, so
	// until it exists nobody may.
	var engine atomic.Pointer[bot.Bot]
	mayInvite := func(adapter, userID string) bool {
		b := engine.Load()
		return b != nil && b.MayInvite(adapter, bot.User{ID: userID, Name: userID})
	}
	var adapters []bot.Adapter
	for _, name := range cfg.AdapterList() {
		a, err := newAdapter(name, cfg, log, store, stdin, stdout, environ, &reconnects, mayInvite)
		if err != nil {
			return &usageError{err}
		}
		adapters = append(adapters, a)
	}
	b := bot.New(cfg, bot.Options{Adapters: adapters, Logger: log, Version: versionLine(), Store: store, Reconnects: &reconnects, Role: role})
	engine.Store(b)
	api, err := web.NewAPI(b, store)
	if err != nil {
		return err
	}
	runner, err := handlers.NewRunner(cfg, log)
	if err != nil {
		return err
	}
	runner.RunEnv = api.Issue
	defer runner.Close() // after the runs: stops what they left running
	loader := handlers.NewLoader(b, runner)
	b.Register(handlers.NewBuiltins(b, loader).Routes()...)
	b.Register(b.ChainRoutes()...)
	watch := true
	if _, err := loader.Reload(); err != nil {
		log.Warn("no scripts loaded", "err", err)
		watch = false
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := api.Serve(); err != nil {
			log.Error("script API stopped", "err", err)
		}
	})
	if watch {
		wg.Go(func() {
			if err := loader.Watch(watchCtx); err != nil {
				log.Error("live reload off", "err", err)
			}
		})
	}
	// Memory a burst took goes back once the bot has been quiet a while.
	wg.Go(func() { memtrim.WhenQuiet(watchCtx, quietTrim, b.Activity, memtrim.Trim) })
	var httpSrv *web.HTTPServer
	if cfg.HTTP.Listen != "" {
		if httpSrv, err = web.NewHTTPServer(b, cfg.HTTP.Listen); err == nil {
			var ev *events.Engine
			if ev, err = events.New(b); err == nil {
				httpSrv.Events = ev
				defer ev.Close() // after the HTTP server stops, before the store closes
			}
		}
		if err != nil {
			stopWatch()
			api.Close(context.Background())
			wg.Wait()
			return err
		}
		log.Info("http listening", "addr", httpSrv.Addr())
		wg.Go(func() {
			if err := httpSrv.Serve(); err != nil {
				log.Error("http stopped", "err", err)
			}
		})
	}
	err = b.Run(ctx)
	stopWatch()
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cerr := api.Close(closeCtx); cerr != nil {
		log.Warn("stop script API", "err", cerr)
	}
	if httpSrv != nil {
		if cerr := httpSrv.Close(closeCtx); cerr != nil {
			log.Warn("stop http", "err", cerr)
		}
	}
	wg.Wait()
	return err
}

// newAdapter makes the adapter called name (Validate has checked it is
// one this build has). Each owns its connection and reconnects. mayInvite
// says whether a user (by the id the adapter knows them by) may invite the
// bot into a room.
func newAdapter(name string, cfg bot.Config, log *slog.Logger, store *bot.Store, stdin io.Reader, stdout io.Writer, environ []string,
	reconnects *atomic.Int64, mayInvite func(adapter, userID string) bool) (bot.Adapter, error) {
	switch name {
	case "matrix":
		return matrixadapter.New(matrixadapter.Options{
			Homeserver: cfg.Matrix.Homeserver, UserID: cfg.Matrix.UserID,
			AccessToken: cfg.Matrix.AccessToken.Reveal(), Password: cfg.Matrix.Password.Reveal(),
			Rooms: cfg.Matrix.Rooms, BotName: cfg.Name, State: store, Logger: log,
			MayInvite:   func(userID string) bool { return mayInvite("matrix", userID) },
			OnReconnect: func() { reconnects.Add(1) },
		})
	case "slack":
		return slackadapter.New(slackadapter.Options{
			BotToken: cfg.Slack.BotToken.Reveal(), AppToken: cfg.Slack.AppToken.Reveal(), APIURL: cfg.Slack.APIURL,
			ListenToBots: cfg.ListenToBots, Logger: log, BotName: cfg.Name,
			OnReconnect: func() { reconnects.Add(1) },
		}), nil
	case "xmpp":
		return xmppadapter.New(xmppadapter.Options{
			JID: cfg.XMPP.JID, Password: cfg.XMPP.Password.Reveal(), Server: cfg.XMPP.Server, TLS: cfg.XMPP.TLS,
			Rooms: cfg.XMPP.Rooms, Nick: cfg.XMPP.Nick, Logger: log, OnReconnect: func() { reconnects.Add(1) },
		}), nil
	case "irc":
		return ircadapter.New(ircadapter.Options{
			Server: cfg.IRC.Server, TLS: cfg.IRC.TLS, Nick: cfg.IRC.Nick, Password: cfg.IRC.Password.Reveal(),
			Channels: cfg.IRC.Channels, Logger: log, OnReconnect: func() { reconnects.Add(1) },
		}), nil
	default:
		if err := shellInput(stdin); err != nil {
			return nil, err
		}
		user := getenvFrom(environ)("USER")
		return shell.New(stdin, stdout, shell.Options{BotName: cfg.Name, User: user, Interactive: isTerminal(stdout) && isTerminal(stdin)}), nil
	}
}

// printGroups shows who each group (admins among them) resolves to:
// people with their principals, principals, bare ids of the one adapter.
func printGroups(w io.Writer, cfg bot.Config) {
	dir, err := bot.NewDirectory(cfg.AdapterList(), cfg.People)
	if err != nil {
		return // Validate reported it
	}
	access, _ := bot.NewAccess(dir, cfg.Admins, cfg.Groups)
	groups := access.Resolved()
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEMBERS")
	for _, g := range names {
		members := strings.Join(groups[g], ", ")
		if members == "" {
			members = "(nobody)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", g, members)
	}
	_ = tw.Flush()
}

// checkFailed means check found problems in scripts: exit code 1.
type checkFailed struct{ n int }

func (e *checkFailed) Error() string { return fmt.Sprintf("%d problems", e.n) }

func runCheck(args []string, stdout, stderr io.Writer, environ []string) error {
	cfg, err := configFromFlags("check", args, stderr, environ)
	if err != nil {
		return err
	}
	res, err := handlers.Scan(cfg.ScriptsDir, cfg.ScriptsDir, handlers.ScriptPath(cfg.Scripts), nil)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCRIPT\tKIND\tPATTERN\tALLOW\tAPPROVE")
	for _, row := range checkRows(cfg, res.Scripts) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	printGroups(stdout, cfg)
	// Problems are part of the report on stdout and diagnostics on stderr;
	// on a terminal, where both are the same, they are shown once.
	both := !sameFile(stdout, stderr)
	report := func(prefix string, p *handlers.Problem) {
		fmt.Fprintf(stdout, "%s%s\n", prefix, p)
		if both {
			fmt.Fprintf(stderr, "%s%s\n", prefix, p)
		}
	}
	hooks := map[string]bool{}
	for _, wh := range cfg.Webhooks {
		hooks[wh.Name] = true
	}
	for _, s := range res.Scripts {
		for _, h := range s.Webhooks {
			if !hooks[h] {
				res.Warnings = append(res.Warnings, &handlers.Problem{File: s.Path,
					Msg: fmt.Sprintf("@webhook %s has no webhooks: entry with a secret, so POST /hooks/%s answers 404", h, h)})
			}
		}
	}
	for _, p := range res.Warnings {
		report("warning: ", p)
	}
	for _, p := range res.Errors {
		report("", p)
	}
	storeProblems := 0
	if cfg.Store.Backend == "etcd" {
		if err := checkEtcd(cfg, stdout); err != nil {
			storeProblems++
			fmt.Fprintf(stdout, "%s\n", err)
			if both {
				fmt.Fprintf(stderr, "%s\n", err)
			}
		}
	}
	fmt.Fprintf(stdout, "%s loaded, %s, %s\n", plural(len(res.Scripts), "script"), plural(len(res.Errors)+storeProblems, "error"), plural(len(res.Warnings), "warning"))
	if n := len(res.Errors) + storeProblems; n > 0 {
		return &checkFailed{n}
	}
	return nil
}

func checkRows(cfg bot.Config, scripts []*handlers.Script) [][]string {
	dash := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	}
	var rows [][]string
	for _, s := range scripts {
		add := func(kind, pattern string) {
			rows = append(rows, []string{s.Name, kind, pattern, dash(s.Allow), dash(s.Approve)})
		}
		for _, p := range s.Respond {
			add("respond", strings.TrimPrefix(p.Re.String(), "(?i)"))
		}
		for _, p := range s.Hear {
			add("hear", strings.TrimPrefix(p.Re.String(), "(?i)"))
		}
		for _, c := range s.Crons {
			add("cron", c.Spec+" "+c.Channel)
		}
		for _, w := range s.Webhooks {
			add("webhook", "POST /hooks/"+w)
		}
	}
	for _, ch := range cfg.Chains {
		rows = append(rows, []string{"chain:" + ch.Name, "respond", ch.Respond, dash(ch.Allow), dash(ch.Approve)})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	return rows
}

func sameFile(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 {
		return a == b
	}
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// plural is "1 error", "2 errors".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
