package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// `#!/usr/bin/env NAME` is resolved when the script loads, but the script
// sees exactly what env would have given it: argv[0], $0, its arguments.
func TestExecEnvShebangUnchanged(t *testing.T) {
	dir := t.TempDir()
	show := "printf '%s|' \"$0\" \"$@\"; tr '\\0' ' ' < /proc/$$/cmdline; echo\n"
	writeScript(t, dir, "plain.sh", "#!/usr/bin/env bash\n# @respond ^plain (.*)$\n"+show)
	writeScript(t, dir, "split.sh", "#!/usr/bin/env -S bash -e\n# @respond ^split (.*)$\n"+show)
	writeScript(t, dir, "direct.sh", "#!/bin/bash\n# @respond ^direct (.*)$\n"+show)
	writeScript(t, dir, "fails.sh", "#!/usr/bin/env -S bash -e\n# @respond ^fails$\nfalse\necho not reached\n")
	p := startBot(t, dir, baseEnv())
	sd := filepath.Join(dir, "scripts")
	for _, c := range []struct{ send, want string }{
		{"plain a b", sd + "/plain.sh|a b|bash " + sd + "/plain.sh a b "},
		{"split x", sd + "/split.sh|x|bash -e " + sd + "/split.sh x "},
		{"direct y", sd + "/direct.sh|y|/bin/bash " + sd + "/direct.sh y "},
	} {
		p.send(c.send)
		if got := p.expect(`^.*\|.*$`)[0]; got != c.want {
			t.Errorf("%s: got %q, want %q", c.send, got, c.want)
		}
	}
	p.send("fails")
	p.expect(`^fails\.sh failed \(exit code 1\)\.$`)
	p.close()
}

// An interpreter that is not on the scripts' PATH is a load error at line
// 1, which check reports; the other scripts still load.
func TestExecMissingInterpreterIsALoadError(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "gone.sh", "#!/usr/bin/env wirebot-no-such-interpreter\n# @respond ^gone$\necho hi\n")
	writeScript(t, dir, "gone2.sh", "#!/no/such/bin/sh\n# @respond ^gone2$\necho hi\n")
	writeScript(t, dir, "ok.sh", "#!/usr/bin/env sh\n# @respond ^ok$\necho fine\n")
	out, _, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 1 {
		t.Errorf("check exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"gone.sh:1: interpreter \"wirebot-no-such-interpreter\" not found", "gone2.sh:1: interpreter /no/such/bin/sh not found"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	p := startBot(t, dir, baseEnv())
	p.send("ok")
	p.expect(`^fine$`)
	p.close()
	if !strings.Contains(p.stderr.String(), "gone.sh:1: interpreter") {
		t.Errorf("the log does not name the missing interpreter:\n%s", p.stderr.String())
	}
}
