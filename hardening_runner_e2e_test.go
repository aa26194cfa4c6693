package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// The fake Slack holds the bot inside its Send while it tries the token the
// reply carries: a token still valid at that moment is one that outlived
// its script, whatever the timing.
func TestRunnerTokenRevokedBeforeReply(t *testing.T) {
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	tokenRE := regexp.MustCompile(`^url=(http://127\.0\.0\.1:\d+) token=([0-9a-f]{32,})$`)
	status := make(chan int, 10)
	fs.BeforePost = func(p fakeslack.Post) {
		m := tokenRE.FindStringSubmatch(p.Text)
		if m == nil {
			return
		}
		req, _ := http.NewRequest("GET", m[1]+"/v1/brain?key=x", nil)
		req.Header.Set("Authorization", "Bearer "+m[2])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}
	dir := t.TempDir()
	writeScript(t, dir, "leak.sh", "#!/bin/sh\n# @respond ^leak$\necho \"url=$WIREBOT_API_URL token=$WIREBOT_API_TOKEN\"\n")
	cfg := "adapter: slack\nslack:\n  bot_token: xoxb-test-token\n  app_token: xapp-test-token\n  api_url: " + fs.APIURL() + "\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv())
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatalf("bot did not connect to the fake Slack\n%s", p.stderr.String())
	}
	for i := range 3 {
		if _, err := fs.Message("U1", "D1", "leak", ""); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-status:
			if code != http.StatusUnauthorized {
				t.Fatalf("run %d: the token in the reply answered %d while the reply was being posted, want 401", i, code)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no reply carrying a token")
		}
		nextPost(t, fs)
	}
	stopBot(t, p)
}
