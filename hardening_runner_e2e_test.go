package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// waitDead waits up to d for pid to end (a zombie counts as ended).
func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(file)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", file)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A script that exits 0 leaves nothing of its process group behind: TERM
// when it exits, KILL 5 s later for what ignores TERM; what it started
// with setsid is its own business and keeps running.
func TestRunnerStopsLeftoverChildren(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.pid"), filepath.Join(dir, "b.pid"), filepath.Join(dir, "c.pid")
	writeScript(t, dir, "bg.sh", `#!/bin/sh
# @respond ^bg$
sh -c 'echo $$ > `+a+`.tmp; mv `+a+`.tmp `+a+`; exec sleep 300' >/dev/null 2>&1 &
sh -c 'trap "" TERM; echo $$ > `+b+`.tmp; mv `+b+`.tmp `+b+`; while :; do sleep 0.1; done' >/dev/null 2>&1 &
setsid sh -c 'echo $$ > `+c+`.tmp; mv `+c+`.tmp `+c+`; exec sleep 300' >/dev/null 2>&1 < /dev/null &
while [ ! -e `+a+` ] || [ ! -e `+b+` ] || [ ! -e `+c+` ]; do sleep 0.01; done
echo started
`)
	p := startBot(t, dir, baseEnv())
	start := time.Now()
	p.send("bg")
	p.expectWithin(`^started$`, 10*time.Second)
	pa, pb, pc := readPid(t, a), readPid(t, b), readPid(t, c)
	t.Cleanup(func() {
		for _, pid := range []int{pa, pb, pc} {
			if p, err := os.FindProcess(pid); err == nil && alive(pid) {
				p.Kill()
			}
		}
	})
	if !waitDead(pa, 10*time.Second) {
		t.Errorf("the background child %d is still running after its script exited", pa)
	}
	if !waitDead(pb, 20*time.Second) {
		t.Errorf("the background child %d that ignores TERM is still running 20 s after its script exited", pb)
	} else if took := time.Since(start); took < 4*time.Second {
		t.Errorf("the child that ignores TERM was gone after %s: it should have had 5 s between TERM and KILL", took)
	}
	if !alive(pc) {
		t.Errorf("the child started with setsid (%d) was stopped", pc)
	}
	p.send("ping")
	p.expect(`^PONG$`)
	p.close()
}
