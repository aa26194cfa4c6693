package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrorsNeverShowSecrets: a value that could not be parsed is
// never echoed when it may hold a secret (issue 9 item 7).
func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string // the variable or key the error must name
	}{
		{name: "webhooks var, unterminated", env: []string{"WIREBOT_WEBHOOKS=[{name: x, secret: LEAKED9"}, want: "WIREBOT_WEBHOOKS"},
		{name: "webhooks var, alias", env: []string{"WIREBOT_WEBHOOKS=[{name: x, secret: *LEAKED9}]"}, want: "WIREBOT_WEBHOOKS"},
		{name: "webhooks var, quoted", env: []string{`WIREBOT_WEBHOOKS=[{name: x, secret: "LEAKED9\q"}]`}, want: "WIREBOT_WEBHOOKS"},
		{name: "webhooks var, list secret", env: []string{"WIREBOT_WEBHOOKS=[{name: x, secret: [LEAKED9]}]"}, want: "WIREBOT_WEBHOOKS"},
		{name: "scripts env var", env: []string{"WIREBOT_SCRIPTS_ENV={TOKEN: LEAKED9"}, want: "WIREBOT_SCRIPTS_ENV"},
		{name: "scripts env var, tab", env: []string{"WIREBOT_SCRIPTS_ENV={TOKEN: \tLEAKED9: x}"}, want: "WIREBOT_SCRIPTS_ENV"},
		{name: "scripts env var, list", env: []string{"WIREBOT_SCRIPTS_ENV={TOKEN: [LEAKED9]}"}, want: "WIREBOT_SCRIPTS_ENV"},
		{name: "file, unterminated", file: "webhooks:\n  - {name: x, secret: \"LEAKED9\n", want: "c.yaml"},
		{name: "file, list secret", file: "slack: {bot_token: [LEAKED9]}\n", want: "slack.bot_token"},
		{name: "file, map secret", file: "webhooks:\n  - {name: x, secret: {LEAKED9: 1}}\n", want: "webhooks[0].secret"},
		{name: "file, scripts env", file: "scripts:\n  env: {A: [LEAKED9]}\n", want: "scripts.env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"check"}
			if tc.file != "" {
				os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(tc.file), 0o600)
				args = append(args, "--config", "c.yaml")
			}
			out, stderr, code := runOnce(t, dir, baseEnv(tc.env...), "", args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 and an error naming %s; stderr %q", code, tc.want, stderr)
			}
			if strings.Contains(stderr+out, "LEAKED9") {
				t.Errorf("the secret shows: %q", stderr+out)
			}
		})
	}
}

// TestMistypedVariableIsAnError: a WIREBOT_ variable that names no key is
// refused like an unknown key in the file (issue 9 item 8).
func TestMistypedVariableIsAnError(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runOnce(t, dir, baseEnv("WIREBOT_SCRIPTS_TIMOUT=1s"), "", "check")
	if code != 2 || !strings.Contains(stderr, "WIREBOT_SCRIPTS_TIMOUT") || !strings.Contains(stderr, "WIREBOT_SCRIPTS_TIMEOUT") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// The bot refuses to start, too.
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_SLAK_BOT_TOKEN=xoxb-LEAKED9"), "ping\n")
	if code != 2 || !strings.Contains(stderr, "WIREBOT_SLAK_BOT_TOKEN") || strings.Contains(stderr, "LEAKED9") {
		t.Fatalf("run: exit %d, stderr %q", code, stderr)
	}
	// The variables that are not config keys are accepted.
	os.Mkdir(filepath.Join(dir, "scripts"), 0o755)
	out, stderr, code := runOnce(t, dir, baseEnv("WIREBOT_CONFIG=", "WIREBOT_API_URL=http://127.0.0.1:1", "WIREBOT_API_TOKEN=t"), "", "check")
	if code != 0 {
		t.Fatalf("exempt variables: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

// TestVariableErrorsNameTheVariable: errors from variables name the
// variable, and a value that is no secret is shown (issue 9 item 8).
func TestVariableErrorsNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runOnce(t, dir, baseEnv("WIREBOT_SCRIPTS_TIMEOUT=banana"), "", "check")
	if code != 2 || !strings.Contains(stderr, "WIREBOT_SCRIPTS_TIMEOUT") || !strings.Contains(stderr, "scripts.timeout") || !strings.Contains(stderr, `"banana"`) {
		t.Fatalf("variable: exit %d, stderr %q", code, stderr)
	}
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("scripts:\n  timeout: banana\n  max_output: lots\n"), 0o600)
	_, stderr, code = runOnce(t, dir, baseEnv(), "", "check", "--config", "c.yaml")
	if code != 2 || !strings.Contains(stderr, "c.yaml: scripts.timeout") || !strings.Contains(stderr, `"banana"`) || !strings.Contains(stderr, `"lots"`) {
		t.Fatalf("file: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_SCRIPTS_MAX_CONCURRENT=0"), "", "check")
	if code != 2 || !strings.Contains(stderr, "WIREBOT_SCRIPTS_MAX_CONCURRENT: scripts.max_concurrent") {
		t.Fatalf("validation: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_WEBHOOKS=[{name: x, secret: s, dedupe: soon}]"), "", "check")
	if code != 2 || !strings.Contains(stderr, "WIREBOT_WEBHOOKS: webhooks[0].dedupe") {
		t.Fatalf("list item: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_WEBHOOKS=[{name: x, secrte: s}]"), "", "check")
	if code != 2 || !strings.Contains(stderr, `WIREBOT_WEBHOOKS: unknown key "webhooks[0].secrte"`) {
		t.Fatalf("unknown key in a variable: exit %d, stderr %q", code, stderr)
	}
}

// TestCheckFromInsideAScript: a script's own WIREBOT_ variables (USER,
// ADAPTER, MATCH_*) are not taken for config when it calls wirebot check.
func TestCheckFromInsideAScript(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("scripts_dir: "+filepath.Join(dir, "scripts")+"\n"), 0o600)
	writeScript(t, dir, "selfcheck.sh", "#!/bin/sh\n# @respond ^selfcheck (?P<what>\\w+)$\n"+
		"wirebot check --config "+filepath.Join(dir, "c.yaml")+" >"+filepath.Join(dir, "out.txt")+" 2>&1; echo \"check exit $?\"; cat "+filepath.Join(dir, "out.txt")+"\n")
	out, stderr, code := runOnce(t, dir, baseEnv(), "selfcheck all\n", "--config", "c.yaml")
	if code != 0 || !strings.Contains(out, "check exit 0") {
		t.Fatalf("exit %d, out %q, stderr %s", code, out, stderr)
	}
}
