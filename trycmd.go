package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/boltstore"
	"github.com/wirebot/wirebot/bot/shell"
	"github.com/wirebot/wirebot/handlers"
)

// errRefused is `wirebot test` finding nothing that would run: exit 1, the
// report already printed.
var errRefused = errors.New("nothing would run")

// runTry is `wirebot test [--config FILE] [--as USER] [--channel C] [--run]
// TEXT`: one message through the real router and access rules. It runs on
// a scratch store, never the bot's data_file (a running bot holds it), so
// group changes made in chat are not seen.
func runTry(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	fs := flag.NewFlagSet("wirebot test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "config file")
	as := fs.String("as", "", "the user who types the message (default $USER)")
	channel := fs.String("channel", "", "the channel it is typed in (default: a direct message)")
	doRun := fs.Bool("run", false, "also run it and print the reply")
	if err := fs.Parse(args); err != nil {
		return &usageError{err}
	}
	text := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(text) == "" {
		return &usageError{errors.New("usage: wirebot test [--config FILE] [--as USER] [--channel C] [--run] TEXT")}
	}
	file, err := findConfig(*path, getenvFrom(environ))
	if err != nil {
		return &usageError{err}
	}
	cfg, err := loadConfig(file, environ)
	if err != nil {
		return &usageError{err}
	}
	user := *as
	if user == "" {
		user = getenvFrom(environ)("USER")
	}
	if user == "" {
		user = "shell"
	}
	scratch, err := os.MkdirTemp("", "wirebot-test")
	if err != nil {
		return fmt.Errorf("make a scratch store: %w", err)
	}
	defer os.RemoveAll(scratch)
	cfg.Adapter, cfg.Adapters = "shell", nil
	cfg.HTTP.Listen = ""
	cfg.Schedules = nil
	cfg.DataFile = filepath.Join(scratch, "wirebot.db")
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	store, err := boltstore.Open(cfg.DataFile, cfg.Audit.Keep)
	if err != nil {
		return err
	}
	defer store.Close()
	sh := shell.New(strings.NewReader(""), io.Discard, shell.Options{BotName: cfg.Name, User: user})
	b := bot.New(cfg, bot.Options{Adapters: []bot.Adapter{sh}, Logger: quiet, Version: versionLine(), Store: store})
	runner, err := handlers.NewRunner(cfg, quiet)
	if err != nil {
		return err
	}
	defer runner.Close()
	loader := handlers.NewLoader(b, runner)
	b.Register(handlers.NewBuiltins(b, loader).Routes()...)
	b.Register(b.ChainRoutes()...)
	if _, err := loader.Reload(); err != nil {
		return fmt.Errorf("load scripts: %w", err)
	}
	ch := bot.Channel{ID: "shell", Name: "shell", Direct: true}
	if c := strings.TrimPrefix(*channel, "#"); c != "" {
		ch = bot.Channel{ID: c, Name: c}
	}
	trials, addressed := b.Try(bot.Message{Text: text, User: bot.User{ID: user, Name: user}, Channel: ch, Adapter: "shell"})
	would := false
	if len(trials) == 0 {
		if addressed {
			fmt.Fprintf(stdout, "no command matches %q\n", text)
		} else {
			fmt.Fprintf(stdout, "no command matches %q (in #%s it is not addressed to %s: start it with %q or %q)\n", text, ch.Name, cfg.Name, cfg.Name+" ", cfg.Alias)
		}
	}
	for _, t := range trials {
		fmt.Fprintf(stdout, "match: %s %s (%s)\n", t.Kind, t.Command, t.Source)
		if len(t.Args) > 0 || len(t.Named) > 0 {
			var named []string
			for k, v := range t.Named {
				named = append(named, fmt.Sprintf("%s=%q", k, v))
			}
			sort.Strings(named)
			fmt.Fprintf(stdout, "captures: %q %s\n", t.Args, strings.Join(named, " "))
		}
		switch {
		case len(t.Allow) == 0:
			fmt.Fprintf(stdout, "allowed: yes, %s may run it (open to everyone)\n", user)
		case t.Allowed:
			fmt.Fprintf(stdout, "allowed: yes, %s is in %s\n", user, strings.Join(t.Allow, " or "))
		default:
			fmt.Fprintf(stdout, "allowed: no, refused: %s is not in %s\n", user, strings.Join(t.Allow, " or "))
		}
		if len(t.Approve) > 0 {
			who := "nobody yet"
			if len(t.Approvers) > 0 {
				who = strings.Join(t.Approvers, ", ")
			}
			fmt.Fprintf(stdout, "approval: needed from %s (%s), someone other than %s\n", strings.Join(t.Approve, " or "), who, user)
		} else {
			fmt.Fprintln(stdout, "approval: not needed")
		}
		would = would || t.Allowed
	}
	if *doRun && len(trials) > 0 {
		fmt.Fprintln(stdout, "reply:")
		in := "/user " + user + "\n"
		if *channel != "" {
			in += "/channel " + ch.Name + "\n"
		}
		in += text + "\n"
		if err := serveBot(ctx, cfg, quiet, store, nil, strings.NewReader(in), stdout, environ); err != nil {
			return err
		}
	}
	if !would {
		return errRefused
	}
	return nil
}

// runHealth is `wirebot health [--config FILE]`: asks the running bot's
// /healthz at http.listen; exit 0 when it answers 200.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	cfg, err := configFromFlags("health", args, stderr, environ)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen == "" {
		return errors.New("no HTTP server is configured: set http.listen (e.g. 127.0.0.1:8080) for /healthz and wirebot health")
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return &usageError{fmt.Errorf("http.listen %q: %w", cfg.HTTP.Listen, err)}
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no bot answers at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "ok: %s\n", strings.TrimSpace(string(body)))
	return nil
}
