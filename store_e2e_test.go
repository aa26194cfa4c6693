package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const brainScript = `#!/usr/bin/env bash
# @respond ^(?:%s) (set|get|del|list|gset|gget|incr) ?(\S*) ?(.*)$
set -u
case "$1" in
  set)  wirebot brain set "$2" "$3" && echo "set $2" ;;
  get)  if v=$(wirebot brain get "$2"); then echo "got [$v]"; else echo "missing $2 rc=$?"; fi ;;
  del)  wirebot brain del "$2" && echo "deleted $2" ;;
  list) echo "keys: $(wirebot brain list $2 | tr '\n' ',')" ;;
  gset) wirebot brain --global set "$2" "$3" && echo "gset $2" ;;
  gget) echo "gget [$(wirebot brain get "$2" --global)]" ;;
  incr) echo "incr $(wirebot brain incr "$2")" ;;
esac
`

func brainBot(t *testing.T, dir string) {
	writeScript(t, dir, "a.sh", strings.Replace(brainScript, "%s", "a", 1))
	writeScript(t, dir, "b.sh", strings.Replace(brainScript, "%s", "b", 1))
}

func TestBrainNamespacesAndGlobal(t *testing.T) {
	dir := t.TempDir()
	brainBot(t, dir)
	p := startBot(t, dir, baseEnv())
	steps := []struct{ say, want string }{
		{"a set color blue sky", "^set color$"},
		{"a get color", `^got \[blue sky\]$`},
		{"b get color", `^missing color rc=1$`},
		{"b set color red", "^set color$"},
		{"a get color", `^got \[blue sky\]$`},
		{"b get color", `^got \[red\]$`},
		{"a set colour x", "^set colour$"},
		{"a set zeta y", "^set zeta$"},
		{"a list", `^keys: color,colour,zeta,$`},
		{"a list col", `^keys: color,colour,$`},
		{"a del colour", "^deleted colour$"},
		{"a del nothing", "^deleted nothing$"},
		{"a list", `^keys: color,zeta,$`},
		{"a gset shared 42", "^gset shared$"},
		{"b gget shared", `^gget \[42\]$`},
		{"b get shared", `^missing shared rc=1$`},
		{"a incr hits", `^incr 1$`},
		{"a incr hits", `^incr 2$`},
	}
	for _, s := range steps {
		p.send(s.say)
		p.expect(s.want)
	}
	p.close()
}

func TestFactsAndBrainSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	brainBot(t, dir)
	out, stderr, code := runOnce(t, dir, baseEnv(), "remember the deploy window is friday 10-12\na set k v1\n")
	if code != 0 || !strings.Contains(out, "OK, the deploy window is friday 10-12.") || !strings.Contains(out, "set k") {
		t.Fatalf("first run: %d %q %s", code, out, stderr)
	}
	st, err := os.Stat(filepath.Join(dir, "wirebot.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("data_file mode %v, want 0600", st.Mode().Perm())
	}
	out, _, code = runOnce(t, dir, baseEnv(), "what is the Deploy Window?\nfacts\na get k\nforget the deploy window\nwhat's the deploy window\nforget it\n")
	for _, want := range []string{"the deploy window is friday 10-12\nthe deploy window is friday 10-12\n", "got [v1]", "OK, I forgot the deploy window.", "I don't know what the deploy window is.", "I didn't know anything about it."} {
		if !strings.Contains(out, want) {
			t.Errorf("after restart, output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// A script writes 2,000 keys, noting each one the bot acknowledged; the
// bot is killed with SIGKILL in the middle. Every acknowledged write must
// be there after a restart.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	acks := filepath.Join(dir, "acks")
	writeScript(t, dir, "burst.sh", `#!/usr/bin/env bash
# @respond ^burst$
for i in $(seq 1 2000); do
  wirebot brain set "k$i" "v$i" || exit 1
  echo "$i" >> `+acks+`
done
`)
	const verify = `#!/usr/bin/env bash
# @respond ^verify (\d+)$
bad=0
for i in $(seq 1 "$1"); do
  [ "$(wirebot brain get "k$i" 2>/dev/null)" = "v$i" ] || bad=$((bad+1))
done
echo "missing $bad of $1"
`
	p := startBot(t, dir, baseEnv())
	p.send("burst")
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(acks)
		if n := strings.Count(string(data), "\n"); n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the script made too few writes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	time.Sleep(100 * time.Millisecond) // let the orphaned script notice
	data, _ := os.ReadFile(acks)
	lines := strings.Fields(string(data))
	acked := len(lines)
	if acked >= 2000 {
		t.Fatal("the burst finished before the kill; nothing was tested")
	}
	// Verify under the same script name, so in the same namespace.
	writeScript(t, dir, "burst.sh", verify)
	out, stderr, code := runOnce(t, dir, baseEnv(), "verify "+strconv.Itoa(acked)+"\n")
	if code != 0 || !strings.Contains(out, "missing 0 of "+strconv.Itoa(acked)) {
		t.Fatalf("after kill -9 and restart: exit %d, %q\n%s", code, out, stderr)
	}
	t.Logf("%d acknowledged writes before SIGKILL, all present after restart", acked)
}

func TestSecondBotOnSameFileFailsFast(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	p := startBot(t, dir, baseEnv())
	p.send("ping")
	p.expect("^PONG$")
	start := time.Now()
	_, stderr, code := runOnce(t, dir, baseEnv(), "ping\n")
	took := time.Since(start)
	if code != 1 || !strings.Contains(stderr, "wirebot.db") || !strings.Contains(stderr, "another wirebot") {
		t.Fatalf("second bot: exit %d, stderr %q", code, stderr)
	}
	if took > 5*time.Second {
		t.Fatalf("second bot took %s to give up", took)
	}
	p.close()
}

func TestScriptAPIRefusesBadTokens(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "leak.sh", "#!/bin/sh\n# @respond ^leak$\necho \"url=$WIREBOT_API_URL token=$WIREBOT_API_TOKEN\"\n")
	p := startBot(t, dir, baseEnv())
	p.send("leak")
	m := p.expect(`^url=(http://127\.0\.0\.1:(\d+)) token=([0-9a-f]{32,})$`)
	url, port, token := m[1], m[2], m[3]
	for name, tok := range map[string]string{"missing": "", "wrong": strings.Repeat("0", len(token)), "expired": token} {
		req, _ := http.NewRequest("GET", url+"/v1/brain?key=x", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: status %d, want 401", name, resp.StatusCode)
		}
	}
	// The listening socket is bound to 127.0.0.1 only.
	if !listensOnlyOnLoopback(t, port) {
		t.Errorf("script API port %s is not bound to loopback only", port)
	}
	// Outside a run, the client says why it cannot work.
	cmd := exec.Command(binary, "brain", "get", "x")
	cmd.Env = baseEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "only inside a script") {
		t.Errorf("brain outside a run: %v %q", err, out)
	}
	cmd = exec.Command(binary, "brain", "get", "x")
	cmd.Env = baseEnv("WIREBOT_API_URL="+url, "WIREBOT_API_TOKEN="+token)
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "refused this run's token") {
		t.Errorf("brain with an expired token: %v %q", err, out)
	}
	cmd = exec.Command(binary, "brain", "frob")
	cmd.Env = baseEnv()
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != 2 {
		t.Errorf("brain bad usage: %v, want exit 2", err)
	}
	p.close()
}

func listensOnlyOnLoopback(t *testing.T, port string) bool {
	t.Helper()
	n, _ := strconv.Atoi(port)
	hexPort := strings.ToUpper(strconv.FormatInt(int64(n), 16))
	for len(hexPort) < 4 {
		hexPort = "0" + hexPort
	}
	found := false
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // LISTEN
				continue
			}
			addr, p, _ := strings.Cut(fields[1], ":")
			if p != hexPort {
				continue
			}
			found = true
			if addr != "0100007F" {
				f.Close()
				return false
			}
		}
		f.Close()
	}
	return found
}

func TestSayPostsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "go-on")
	// The script cannot end until the test has seen its progress messages.
	writeScript(t, dir, "progress.sh", "#!/bin/sh\n# @respond ^progress$\nwirebot say step one\necho step two | wirebot say\nwirebot say --channel ops to the ops channel\n"+
		"for i in $(seq 100); do [ -e "+gate+" ] && break; sleep 0.1; done\necho finished\n")
	p := startBot(t, dir, baseEnv())
	p.send("progress")
	p.expect("^step one$")
	p.expect("^step two$")
	p.expect("^to the ops channel$")
	os.WriteFile(gate, nil, 0o600)
	p.expect("^finished$")
	p.close()
}

func TestHistoryOwnAndAdmin(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "#!/bin/sh\n# @respond ^ok (\\w+)$\necho ok $1\n")
	writeScript(t, dir, "bad.sh", "#!/bin/sh\n# @respond ^bad$\nexit 4\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("admins: [root]\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("/user alice", "ok one")
	p.expect("^ok one$")
	p.send("bad")
	p.expect(`^bad.sh failed \(exit code 4\)`)
	p.send("/user bob", "ok two")
	p.expect("^ok two$")

	p.send("/user alice", "history")
	l1 := p.expect(`^#\d+ .*$`)[0]
	l2 := p.expect(`^#\d+ .*$`)[0]
	if !strings.Contains(l1, "alice in shell: bad.sh") || !strings.Contains(l1, "-> failed (exit 4)") {
		t.Errorf("alice's newest run: %q", l1)
	}
	if !strings.Contains(l2, `alice in shell: ok.sh "ok one" -> ok (exit 0) in `) {
		t.Errorf("alice's older run: %q", l2)
	}
	p.send("ping")
	p.expect("^PONG$") // nothing of bob's came before it

	p.send("/user root", "history 3")
	lines := []string{p.expect(`^#\d+ .*$`)[0], p.expect(`^#\d+ .*$`)[0], p.expect(`^#\d+ .*$`)[0]}
	joined := strings.Join(lines, "\n")
	if !strings.Contains(lines[0], "alice in shell: ping") || !strings.Contains(joined, "alice in shell: history") {
		t.Errorf("admin history, newest first:\n%s", joined)
	}
	p.send("history 10")
	all := ""
	for range 6 {
		all += p.expect(`^#\d+ .*$`)[0] + "\n"
	}
	if !strings.Contains(all, `bob in shell: ok.sh "ok two"`) {
		t.Errorf("admin does not see bob's run:\n%s", all)
	}
	p.close()
}
