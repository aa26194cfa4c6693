package handlers

import (
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, src string) (*Script, []*Problem) {
	t.Helper()
	return ParseHeader("scripts/x.sh", strings.NewReader(src))
}

func TestParseHeaderAllKeys(t *testing.T) {
	s, probs := parse(t, `#!/usr/bin/env bash
# @respond ^deploy (?P<app>[a-z0-9-]+) to (?P<env>staging|prod)$
# @respond ^ship (\S+)$
// @hear \bdeploy\b
-- @help deploy <app> to <env> - deploy an application
; @help ship <app> - same
#@allow ops, dev
# @approve admins
# @timeout 10m
# @cron */5 * * * * #ops
# @cron @every 30s ops
# @webhook github-push
echo hi
`)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	if len(s.Respond) != 2 || s.Respond[0].Line != 2 || len(s.Hear) != 1 || s.Hear[0].Line != 4 {
		t.Fatalf("patterns: %+v %+v", s.Respond, s.Hear)
	}
	if !s.Respond[0].Re.MatchString("DEPLOY web to prod") {
		t.Fatal("respond must be case-insensitive")
	}
	if len(s.Help) != 2 || s.Help[1] != "ship <app> - same" {
		t.Fatalf("help: %q", s.Help)
	}
	if strings.Join(s.Allow, "|") != "ops|dev" || strings.Join(s.Approve, "|") != "admins" {
		t.Fatalf("allow %q approve %q", s.Allow, s.Approve)
	}
	if s.Timeout != 10*time.Minute {
		t.Fatalf("timeout %v", s.Timeout)
	}
	if len(s.Crons) != 2 || s.Crons[0].Spec != "*/5 * * * *" || s.Crons[0].Channel != "#ops" || s.Crons[1].Spec != "@every 30s" || s.Crons[1].Channel != "ops" {
		t.Fatalf("crons: %+v", s.Crons)
	}
	if len(s.Webhooks) != 1 || s.Webhooks[0] != "github-push" {
		t.Fatalf("webhooks: %q", s.Webhooks)
	}
	if !s.HasTrigger() {
		t.Fatal("no trigger")
	}
}

func TestParseHeaderProblems(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bad regex", "#!/bin/sh\n# @respond ^deploy (\n", "scripts/x.sh:2: @respond: bad pattern"},
		{"unknown key", "# @respnd ^x$\n", "scripts/x.sh:1: unknown header key @respnd"},
		{"empty value", "# @respond ^x$\n# @help\n", "scripts/x.sh:2: @help needs a value"},
		{"bad timeout", "# @respond ^x$\n# @timeout soon\n", `scripts/x.sh:2: @timeout: "soon" is not a positive duration`},
		{"negative timeout", "# @respond ^x$\n# @timeout -1s\n", `scripts/x.sh:2: @timeout: "-1s"`},
		{"twice", "# @respond ^x$\n# @allow a\n# @allow b\n", "scripts/x.sh:3: @allow given twice (first at line 2)"},
		{"bad cron", "# @cron 61 * * * * #ops\n", `scripts/x.sh:1: @cron: bad spec "61 * * * *"`},
		{"cron no channel", "# @cron @daily\n", "scripts/x.sh:1: @cron needs a spec and a channel"},
		{"bad hook", "# @webhook a/b\n", `scripts/x.sh:1: @webhook: "a/b" is not a hook name`},
		{"bad group", "# @respond ^x$\n# @allow ops;rm\n", `scripts/x.sh:2: @allow: "ops;rm" is not a group name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := parse(t, tt.src)
			if len(probs) == 0 {
				t.Fatalf("no problem reported, want %q", tt.want)
			}
			if got := probs[0].Error(); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestParseHeaderOnlyFirst30Lines(t *testing.T) {
	src := strings.Repeat("echo\n", 30) + "# @respond ^late$\n"
	s, probs := parse(t, src)
	if len(probs) > 0 || s.HasTrigger() {
		t.Fatalf("line 31 must be ignored: %+v %v", s, probs)
	}
	s, _ = parse(t, strings.Repeat("echo\n", 29)+"# @respond ^line30$\n")
	if len(s.Respond) != 1 || s.Respond[0].Line != 30 {
		t.Fatalf("line 30 must count: %+v", s.Respond)
	}
}

func TestParseHeaderIgnoresNonHeaderComments(t *testing.T) {
	s, probs := parse(t, "#!/usr/bin/env python3\n# a comment about @respond\n#\n@decorator\n# @respond ^x$\nx = '@respond nope'\n")
	if len(probs) > 0 || len(s.Respond) != 1 {
		t.Fatalf("%+v %v", s, probs)
	}
}

func TestParseHeaderLongAndBinaryLines(t *testing.T) {
	src := "# @respond ^x$\n" + strings.Repeat("\x00\xff", 100000) + "\n# @help x - y\n"
	s, probs := parse(t, src)
	if len(probs) > 0 || len(s.Help) != 1 {
		t.Fatalf("%+v %v", s, probs)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add("#!/bin/sh\n# @respond ^deploy (?P<app>\\S+)$\n# @help deploy\n")
	f.Add("// @hear (\n-- @timeout 1s\n; @cron @every 1s #x\n")
	f.Add("# @webhook x\n# @allow a,b\n# @approve c\n# @unknown\n")
	f.Add("#@respond\r\n#  @help   x  \r\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, probs := ParseHeader("f", strings.NewReader(src))
		for _, p := range probs {
			if p.Line < 0 || p.Line > HeaderLines {
				t.Fatalf("problem at line %d: %v", p.Line, p)
			}
			if !strings.HasPrefix(p.Error(), "f:") {
				t.Fatalf("problem does not name the file: %v", p)
			}
		}
		for _, p := range append(s.Respond, s.Hear...) {
			if p.Re == nil || p.Line < 1 || p.Line > HeaderLines {
				t.Fatalf("bad pattern entry %+v", p)
			}
		}
		if s.Timeout < 0 {
			t.Fatalf("negative timeout %v", s.Timeout)
		}
		for _, c := range s.Crons {
			if c.Channel == "" || c.Spec == "" {
				t.Fatalf("cron without spec or channel: %+v", c)
			}
		}
	})
}
