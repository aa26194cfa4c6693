// Package handlers holds wirebot's built-in commands and the script runner.
package handlers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// HeaderLines is how many lines at the top of a script are read for the
// header.
const HeaderLines = 30

// maxHeaderLine caps one header line; the rest of a longer line is ignored.
const maxHeaderLine = 4096

// Script is a parsed script header.
type Script struct {
	Name     string // file name inside scripts_dir
	Path     string
	Respond  []Pattern
	Hear     []Pattern
	Help     []string
	Allow    []string
	Approve  []string
	Timeout  time.Duration
	Crons    []CronSpec
	Webhooks []string
	// Shebang is the first line after "#!", when it starts so.
	Shebang string
	// Interp, when set, starts the script without going through env (see
	// resolveShebang); filled in by Scan.
	Interp *Interp
}

// Pattern is one @respond or @hear line.
type Pattern struct {
	Line int
	Re   *bot.Pattern
}

// CronSpec is one @cron line.
type CronSpec struct {
	Line    int
	Spec    string
	Channel string
}

// HasTrigger reports whether anything can start the script.
func (s *Script) HasTrigger() bool {
	return len(s.Respond)+len(s.Hear)+len(s.Crons)+len(s.Webhooks) > 0
}

// Problem is something wrong (or worth a warning) at a line of a file.
type Problem struct {
	File string
	Line int // 0 when it concerns the whole file
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line == 0 {
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

var (
	hookNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })
	groupRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.@-]+$`) })
)

// headerLine returns the text of a header line after its comment leader,
// or false when the line is not a header line.
func headerLine(line string) (string, bool) {
	t := strings.TrimSpace(line)
	for _, leader := range []string{"#", "//", "--", ";"} {
		if rest, ok := strings.CutPrefix(t, leader); ok {
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "@") {
				return rest, true
			}
			return "", false
		}
	}
	return "", false
}

// ParseHeader reads the header of the script file (the name is used in
// problems, as FILE:LINE) from r. It returns the script and every problem
// found; a script with problems must not be loaded.
func ParseHeader(file string, r io.Reader) (*Script, []*Problem) {
	s := &Script{Path: file}
	var probs []*Problem
	bad := func(line int, format string, args ...any) {
		probs = append(probs, &Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	br := bufio.NewReaderSize(r, maxHeaderLine)
	for n := 1; n <= HeaderLines; n++ {
		raw, err := readLine(br)
		if err != nil && raw == "" {
			if err != io.EOF {
				bad(0, "read header: %v", err)
			}
			break
		}
		if n == 1 {
			if rest, ok := strings.CutPrefix(raw, "#!"); ok {
				s.Shebang = rest
			}
		}
		text, ok := headerLine(raw)
		if !ok {
			continue
		}
		key, value := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, value = text[:i], text[i+1:]
		}
		value = strings.TrimSpace(value)
		key = strings.ToLower(key)
		switch key {
		case "@respond", "@hear", "@help", "@cron", "@webhook":
		case "@allow", "@approve", "@timeout":
			if first, dup := seen[key]; dup {
				bad(n, "%s given twice (first at line %d)", key, first)
				continue
			}
			seen[key] = n
		default:
			bad(n, "unknown header key %s (known: @respond @hear @help @allow @approve @timeout @cron @webhook)", key)
			continue
		}
		if value == "" {
			bad(n, "%s needs a value", key)
			continue
		}
		switch key {
		case "@respond", "@hear":
			re, err := bot.CompilePattern(value)
			if err != nil {
				bad(n, "%s: %v", key, err)
				continue
			}
			if key == "@respond" {
				s.Respond = append(s.Respond, Pattern{Line: n, Re: re})
			} else {
				s.Hear = append(s.Hear, Pattern{Line: n, Re: re})
			}
		case "@help":
			s.Help = append(s.Help, value)
		case "@allow", "@approve":
			groups := bot.SplitList(value)
			for _, g := range groups {
				if !groupRE().MatchString(g) {
					bad(n, "%s: %q is not a group name", key, g)
				}
			}
			if len(groups) == 0 {
				bad(n, "%s needs at least one group", key)
			}
			if key == "@allow" {
				s.Allow = groups
			} else {
				s.Approve = groups
			}
		case "@timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				bad(n, "@timeout: %q is not a positive duration such as 30s or 10m", value)
				continue
			}
			s.Timeout = d
		case "@cron":
			i := strings.LastIndexAny(value, " \t")
			if i < 0 {
				bad(n, "@cron needs a spec and a channel: @cron SPEC #CHANNEL")
				continue
			}
			spec, ch := strings.TrimSpace(value[:i]), strings.TrimSpace(value[i+1:])
			if _, err := bot.CronParser().Parse(spec); err != nil {
				bad(n, "@cron: bad spec %q: %v", spec, err)
				continue
			}
			s.Crons = append(s.Crons, CronSpec{Line: n, Spec: spec, Channel: ch})
		case "@webhook":
			if !hookNameRE().MatchString(value) {
				bad(n, "@webhook: %q is not a hook name (letters, digits, '-', '_', '.')", value)
				continue
			}
			s.Webhooks = append(s.Webhooks, value)
		}
	}
	return s, probs
}

// readLine reads one line, without its end, keeping at most maxHeaderLine
// bytes of it.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf) < maxHeaderLine {
			buf = append(buf, chunk[:min(len(chunk), maxHeaderLine-len(buf))]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimRight(buf, "\r\n")
		return string(buf), err
	}
}
