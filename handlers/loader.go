package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wirebot/wirebot/bot"
)

// ScanResult is what a look through scripts_dir found.
type ScanResult struct {
	Scripts  []*Script  // loadable scripts, by file name
	Errors   []*Problem // scripts not loaded because of these
	Warnings []*Problem // files skipped on purpose (no run bit, no trigger)
}

// scanCache remembers parsed files by name, so a reload re-reads only what
// changed.
type scanCache map[string]cachedFile

type cachedFile struct {
	mod    time.Time
	size   int64
	mode   fs.FileMode
	script *Script
	probs  []*Problem
}

// Scan reads every file in dir. shown is how dir is named in problems (the
// configured path). path is the scripts' PATH, on which `#!/usr/bin/env
// NAME` lines are resolved. cache may be nil.
func Scan(dir, shown, path string, cache scanCache) (ScanResult, error) {
	var res ScanResult
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return res, fmt.Errorf("resolve scripts_dir %q: %w", shown, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return res, fmt.Errorf("read scripts_dir %q: %w", shown, err)
	}
	// Stat every file first, then parse the new and changed ones side by
	// side: with 200 scripts, compiling their patterns is most of a cold
	// start, and it spreads over every core.
	type entry struct {
		name, file string
		info       fs.FileInfo
		c          cachedFile
		ok         bool // c is up to date
	}
	var files []*entry
	var stale []*entry
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if skipName(name) {
			continue
		}
		file := filepath.Join(shown, name)
		info, err := os.Stat(filepath.Join(dir, name)) // follows links
		if err != nil {
			res.Warnings = append(res.Warnings, &Problem{File: file, Msg: fmt.Sprintf("skipped: %v", err)})
			continue
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if info.Mode().Perm()&0o111 == 0 {
			res.Warnings = append(res.Warnings, &Problem{File: file, Msg: "not executable (chmod +x to load it); skipped"})
			continue
		}
		seen[name] = true
		f := &entry{name: name, file: file, info: info}
		f.c, f.ok = cache[name]
		if !f.ok || !f.c.mod.Equal(info.ModTime()) || f.c.size != info.Size() || f.c.mode != info.Mode() {
			f.ok = false
			stale = append(stale, f)
		}
		files = append(files, f)
	}
	parallel(len(stale), func(i int) {
		f := stale[i]
		c := cachedFile{mod: f.info.ModTime(), size: f.info.Size(), mode: f.info.Mode()}
		c.script, c.probs = parseFile(filepath.Join(dir, f.name), f.file)
		c.script.Name = f.name
		if c.script.Shebang != "" {
			interp, err := resolveShebang(c.script.Shebang, path, absDir)
			if err != nil {
				c.probs = append([]*Problem{{File: f.file, Line: 1, Msg: err.Error()}}, c.probs...)
			}
			c.script.Interp = interp
		}
		f.c = c
	})
	for _, f := range files {
		c := f.c
		if !f.ok && cache != nil {
			cache[f.name] = c
		}
		switch {
		case len(c.probs) > 0:
			res.Errors = append(res.Errors, c.probs...)
		case !c.script.HasTrigger():
			res.Warnings = append(res.Warnings, &Problem{File: f.file, Msg: "no @respond, @hear, @cron or @webhook line in its first 30 lines; skipped"})
		default:
			res.Scripts = append(res.Scripts, c.script)
		}
	}
	for name := range cache {
		if !seen[name] {
			delete(cache, name)
		}
	}
	return res, nil
}

// parallel calls do(i) for every i below n, on as many goroutines as
// there are cores, and returns when all are done.
func parallel(n int, do func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			do(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				do(i)
			}
		})
	}
	wg.Wait()
}

// skipName is true for hidden files and editors' backups.
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

func parseFile(path, shown string) (*Script, []*Problem) {
	f, err := os.Open(path)
	if err != nil {
		return &Script{Path: shown}, []*Problem{{File: shown, Msg: fmt.Sprintf("open: %v", err)}}
	}
	defer f.Close()
	return ParseHeader(shown, f)
}

// Loader keeps the bot's script routes in step with scripts_dir.
type Loader struct {
	dir    string // as configured, for messages
	runner *Runner
	bot    *bot.Bot
	log    *slog.Logger

	mu      sync.Mutex
	cache   scanCache
	scripts []*Script
}

// NewLoader makes a loader that installs the scripts of cfg.ScriptsDir into b.
func NewLoader(b *bot.Bot, rn *Runner) *Loader {
	return &Loader{dir: b.Config().ScriptsDir, runner: rn, bot: b, log: b.Logger(), cache: scanCache{}}
}

// Reload scans the folder and swaps in the new routes. Problems are logged
// as FILE:LINE: why; scripts without problems load regardless.
func (l *Loader) Reload() (ScanResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res, err := Scan(l.dir, l.dir, l.runner.Path(), l.cache)
	if err != nil {
		return res, err
	}
	var routes []*bot.Route
	var jobs []bot.ScriptJob
	hooks := map[string][]*bot.Command{}
	for _, s := range res.Scripts {
		cmd := l.command(s)
		routes = append(routes, Routes(s, cmd)...)
		for _, c := range s.Crons {
			jobs = append(jobs, bot.ScriptJob{Spec: c.Spec, Channel: c.Channel, Command: cmd})
		}
		for _, h := range s.Webhooks {
			hooks[h] = append(hooks[h], cmd)
		}
	}
	l.bot.SetScriptRoutes(routes)
	l.bot.Scheduler().SetScriptJobs(jobs)
	l.bot.SetScriptHooks(hooks)
	old := map[string]bool{}
	for _, s := range l.scripts {
		old[s.Name] = true
	}
	for _, s := range res.Scripts {
		if !old[s.Name] {
			l.log.Info("script loaded", "command", s.Name)
		}
		delete(old, s.Name)
	}
	for name := range old {
		l.log.Info("script unloaded", "command", name)
	}
	for _, p := range res.Errors {
		l.log.Error("script not loaded: " + p.Error())
	}
	for _, p := range res.Warnings {
		l.log.Warn("file skipped: " + p.Error())
	}
	l.scripts = res.Scripts
	return res, nil
}

// command is the command that runs script s.
func (l *Loader) command(s *Script) *bot.Command {
	return &bot.Command{
		Name: s.Name, Source: s.Path, Help: s.Help, Allow: s.Allow, Approve: s.Approve,
		Timeout: s.Timeout, Handler: l.runner.Handler(s),
	}
}

// Routes returns the routes of script s, which cmd runs.
func Routes(s *Script, cmd *bot.Command) []*bot.Route {
	var routes []*bot.Route
	for _, p := range s.Respond {
		routes = append(routes, &bot.Route{Kind: bot.Respond, Pattern: p.Re, Command: cmd})
	}
	for _, p := range s.Hear {
		routes = append(routes, &bot.Route{Kind: bot.Hear, Pattern: p.Re, Command: cmd})
	}
	return routes
}

// reloadDelay gathers the burst of events one save makes into one reload.
const reloadDelay = 50 * time.Millisecond

// Watch reloads whenever a file in the folder changes, until ctx is done.
func (l *Loader) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch scripts_dir %q: %w", l.dir, err)
	}
	defer w.Close()
	if err := w.Add(l.dir); err != nil {
		return fmt.Errorf("watch scripts_dir %q: %w", l.dir, err)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if skipName(filepath.Base(ev.Name)) {
				continue
			}
			timer.Reset(reloadDelay)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			l.log.Warn("watch scripts_dir", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(reloadDelay)
			}
		case <-timer.C:
			if _, err := l.Reload(); err != nil {
				l.log.Error("reload scripts", "err", err)
			}
		}
	}
}
