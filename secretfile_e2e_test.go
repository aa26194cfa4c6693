package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// TestSecretsFromFiles: every secret may be given as a file, the key with
// _file appended, from the config file or a variable; one trailing newline
// is dropped (issue 9 item 9).
func TestSecretsFromFiles(t *testing.T) {
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "bot"), []byte("xoxb-test-token\n"), 0o600)
	os.WriteFile(filepath.Join(creds, "app"), []byte("xapp-test-token\n"), 0o600)
	os.WriteFile(filepath.Join(creds, "hook"), []byte("hook-secret\n"), 0o600)
	writeScript(t, dir, "hooked.sh", "#!/bin/sh\n# @webhook deploy\necho hook ran\n")
	cfg := "adapter: slack\nslack:\n  bot_token_file: " + filepath.Join(creds, "bot") + "\n  api_url: " + fs.APIURL() +
		"\nhttp: {listen: \"127.0.0.1:0\"}\nwebhooks:\n  - {name: deploy, secret_file: " + filepath.Join(creds, "hook") + ", channel: C1}\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv("WIREBOT_SLACK_APP_TOKEN_FILE="+filepath.Join(creds, "app")))
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatalf("bot did not connect with tokens from files\n%s", p.stderr.String())
	}
	base := httpAddr(t, p)
	if code, _ := do(t, "POST", base+"/hooks/deploy", "{}", "Authorization", "Bearer hook-secre"); code != 401 {
		t.Fatalf("a wrong secret: %d", code)
	}
	if code, body := do(t, "POST", base+"/hooks/deploy", "{}", "Authorization", "Bearer hook-secret"); code != 202 {
		t.Fatalf("hook with the secret from its file: %d %q", code, body)
	}
	expectPost(t, fs, "C1", "", "hook ran")
	stopBot(t, p)
}

// TestSecretFileErrors: both forms set, or a file that cannot be read, is a
// config error naming the key (and the path), never the secret.
func TestSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "scripts"), 0o755)
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte("LEAKED9\n"), 0o600)
	for _, tc := range []struct {
		name, file string
		env        []string
		want       []string
	}{
		{name: "both in file", file: "irc: {password: LEAKED9, password_file: " + tok + "}\n", want: []string{"c.yaml", "irc.password", "irc.password_file", "both"}},
		{name: "both in variables", env: []string{"WIREBOT_IRC_PASSWORD=LEAKED9", "WIREBOT_IRC_PASSWORD_FILE=" + tok}, want: []string{"WIREBOT_IRC_PASSWORD", "WIREBOT_IRC_PASSWORD_FILE", "both"}},
		{name: "missing file", file: "slack: {bot_token_file: /nonexistent/LEAKdir/tok}\n", want: []string{"c.yaml", "slack.bot_token_file", "/nonexistent/LEAKdir/tok", "no such file"}},
		{name: "missing file in variable", env: []string{"WIREBOT_SLACK_APP_TOKEN_FILE=/nonexistent/app"}, want: []string{"WIREBOT_SLACK_APP_TOKEN_FILE", "slack.app_token_file", "/nonexistent/app"}},
		{name: "unreadable file", file: "webhooks:\n  - {name: h, secret_file: " + dir + "}\n", want: []string{"webhooks[0].secret_file", dir}},
		{name: "both in a webhook variable", env: []string{"WIREBOT_WEBHOOKS=[{name: h, secret: LEAKED9, secret_file: " + tok + "}]"}, want: []string{"WIREBOT_WEBHOOKS", "webhooks[0].secret", "both"}},
		{name: "not a secret", file: "irc: {nick_file: " + tok + "}\n", want: []string{`unknown key "irc.nick_file"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"check"}
			if tc.file != "" {
				os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(tc.file), 0o600)
				args = append(args, "--config", "c.yaml")
			}
			_, stderr, code := runOnce(t, dir, baseEnv(tc.env...), "", args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %q", w, stderr)
				}
			}
			if strings.Contains(stderr, "LEAKED9") {
				t.Errorf("the secret shows: %q", stderr)
			}
		})
	}
	// A secret from a file is used as if it had been written in the config.
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("adapter: slack\nslack: {bot_token_file: "+tok+", app_token: x}\n"), 0o600)
	if out, stderr, code := runOnce(t, dir, baseEnv(), "", "check", "--config", "c.yaml"); code != 0 {
		t.Fatalf("token from file: exit %d, out %q, stderr %q", code, out, stderr)
	}
}
