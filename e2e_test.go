package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A fresh folder with no config: shell adapter, ./scripts, defaults.
func TestDefaultsWithNoConfig(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "hello.sh", "#!/bin/sh\n# @respond ^hello$\necho hello from $WIREBOT_ADAPTER\n")
	out, stderr, code := runOnce(t, dir, baseEnv(), "ping\nhello\n")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	if !slices.Equal(lines, []string{"PONG", "hello from shell"}) {
		t.Fatalf("stdout = %q: want only the bare replies", out)
	}
	if !strings.Contains(stderr, "level=INFO") {
		t.Fatalf("logs must go to stderr as text: %q", stderr)
	}
}

func TestHelpListsBuiltinsAndScripts(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @help deploy <app> - ship it\necho ok\n")
	writeScript(t, dir, "nohelp.sh", "#!/bin/sh\n# @respond ^bare thing$\necho ok\n")
	p := startBot(t, dir, baseEnv())
	p.send("help")
	got := map[string]bool{}
	p.send("ping")
	for _, l := range p.until("PONG") {
		got[l] = true
	}
	for _, want := range []string{"deploy <app> - ship it", "nohelp.sh (respond: ^bare thing$)", "ping - check that the bot answers (PONG)"} {
		if !got[want] {
			t.Errorf("help lacks %q; got %v", want, got)
		}
	}
	p.send("help deploy")
	p.expect(`^deploy <app> - ship it$`)
	p.send("help nosuchword")
	p.expect(`^No command you may run mentions "nosuchword"`)
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

const envScript = `#!/usr/bin/env bash
# @respond ^deploy (?P<app>[a-z0-9-]+) to (?P<env>staging|prod)(?: (?P<extra>\S+))?$
printf 'argc=%d\n' "$#"
for a in "$@"; do printf 'arg=[%s]\n' "$a"; done
printf 'app=%s env=%s extra=[%s] set=%s\n' "$WIREBOT_MATCH_APP" "$WIREBOT_MATCH_ENV" "$WIREBOT_MATCH_EXTRA" "${WIREBOT_MATCH_EXTRA+yes}"
printf 'user=%s id=%s channel=%s thread=[%s] script=%s adapter=%s\n' "$WIREBOT_USER" "$WIREBOT_USER_ID" "$WIREBOT_CHANNEL" "$WIREBOT_THREAD" "$WIREBOT_SCRIPT" "$WIREBOT_ADAPTER"
printf 'text=%s\n' "$WIREBOT_TEXT"
printf 'command=%s\n' "$WIREBOT_COMMAND"
printf 'pwd=%s\n' "$PWD"
echo end
`

func TestRespondCapturesArgvAndEnv(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", envScript)
	p := startBot(t, dir, baseEnv())
	p.send("/user alice", "/channel #ops", "wirebot: deploy web-1 to prod")
	lines := p.until("end")
	want := []string{
		"argc=3", "arg=[web-1]", "arg=[prod]", "arg=[]",
		"app=web-1 env=prod extra=[] set=yes",
		"user=alice id=alice channel=ops thread=[] script=deploy.sh adapter=shell",
		"text=wirebot: deploy web-1 to prod",
		"command=deploy web-1 to prod",
		"pwd=" + filepath.Join(dir, "scripts"),
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("script saw:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	p.close()
}

func TestStdinEventJSON(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ev.sh", "#!/bin/sh\n# @respond ^ev (?P<a>\\w+)(?: (\\w+))?$\ncat; echo\n")
	p := startBot(t, dir, baseEnv())
	p.send("/user bob", "!ev one")
	line := p.expect(`^\{.*$`)[0]
	var ev struct {
		Text    string            `json:"text"`
		User    map[string]string `json:"user"`
		Channel map[string]string `json:"channel"`
		Thread  *string           `json:"thread"`
		Adapter string            `json:"adapter"`
		Command string            `json:"command"`
		Matches []string          `json:"matches"`
		Named   map[string]string `json:"named"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("stdin is not JSON: %v: %s", err, line)
	}
	if ev.Text != "!ev one" || ev.Command != "ev one" || ev.Adapter != "shell" || ev.Thread == nil || *ev.Thread != "" {
		t.Fatalf("event: %+v", ev)
	}
	if ev.User["id"] != "bob" || ev.User["name"] != "bob" || ev.Channel["name"] != "shell" || ev.Channel["id"] != "shell" {
		t.Fatalf("user/channel: %+v", ev)
	}
	if !slices.Equal(ev.Matches, []string{"one", ""}) || len(ev.Named) != 1 || ev.Named["a"] != "one" {
		t.Fatalf("matches %q named %v", ev.Matches, ev.Named)
	}
	p.close()
}

func TestScriptEnvironmentHasNoSecrets(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", "#!/bin/sh\n# @respond ^env$\nenv | sort; echo END\n")
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("slack: {bot_token: xoxb-file-secret}\nscripts:\n  env: {Region: eu-west-1}\n  env_passthrough: [SHARED_OK]\n"), 0o600)
	env := baseEnv("LANG=C.UTF-8", "WIREBOT_SLACK_APP_TOKEN=xapp-env-secret", "AWS_SECRET_ACCESS_KEY=aws-secret",
		"SHARED_OK=visible", "NOT_SHARED=hidden")
	p := startBot(t, dir, env)
	p.send("env")
	got := map[string]string{}
	for _, l := range p.until("END") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	for k, v := range got {
		if strings.Contains(v, "secret") || strings.Contains(v, "hidden") {
			t.Errorf("script saw %s=%s", k, v)
		}
		allowed := strings.HasPrefix(k, "WIREBOT_") || slices.Contains([]string{"PATH", "HOME", "LANG", "Region", "SHARED_OK", "PWD", "SHLVL", "_", "OLDPWD"}, k)
		if !allowed {
			t.Errorf("script saw unexpected variable %s", k)
		}
	}
	if got["Region"] != "eu-west-1" || got["SHARED_OK"] != "visible" || got["LANG"] != "C.UTF-8" {
		t.Errorf("scripts.env, env_passthrough or LANG missing: %v", got)
	}
	if _, ok := got["TZ"]; ok {
		t.Error("TZ passed though the bot has none")
	}
	p.close()
}

func TestShellMetacharactersAreData(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	writeScript(t, dir, "say.sh", "#!/bin/sh\n# @respond ^say (.+)$\nprintf '[%s]\\n' \"$1\"\n")
	writeScript(t, dir, "say.py", "#!/usr/bin/env python3\n# @respond ^pysay (.+)$\nimport sys, os\nprint('[' + sys.argv[1] + '|' + os.environ['WIREBOT_COMMAND'] + ']')\n")
	evil := "$(touch " + marker + "); `touch " + marker + "` && touch " + marker + " | cat; '\"\\ *"
	p := startBot(t, dir, baseEnv())
	p.send("say " + evil)
	if got := p.expect(`^\[.*\]$`)[0]; got != "["+evil+"]" {
		t.Fatalf("script got %q, want the text unchanged", got)
	}
	p.send("pysay " + evil)
	if got := p.expect(`^\[.*\]$`)[0]; got != "["+evil+"|pysay "+evil+"]" {
		t.Fatalf("python script got %q", got)
	}
	p.close()
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("user text was executed")
	}
}

func TestFailingScript(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "fail.sh", "#!/bin/sh\n# @respond ^fail$\necho partial output\nfor i in 1 2 3 4 5 6 7; do echo \"err line $i\" >&2; done\nexit 3\n")
	p := startBot(t, dir, baseEnv())
	p.send("fail")
	p.expect(`^partial output$`)
	p.expect(`^fail.sh failed \(exit code 3\)\.$`)
	for i := 3; i <= 7; i++ {
		p.expect(`^err line ` + strconv.Itoa(i) + `$`)
	}
	p.send("ping")
	p.expect("^PONG$")
	p.close()
	if !strings.Contains(p.stderr.String(), "err line 1") {
		t.Error("stderr must go to the log")
	}
}

func TestTimeoutKillsGrandchildrenWhileOthersAnswer(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The grandchild ignores TERM and holds stdout open: only KILL to the
	// group ends it, and the bot must not wait on its pipe.
	writeScript(t, dir, "hang.sh", `#!/usr/bin/env bash
# @respond ^hang$
# @timeout 1s
(trap '' TERM; exec sleep 300) &
echo $! > `+pids+`
sleep 300 &
echo $! >> `+pids+`
echo started
wait
`)
	writeScript(t, dir, "quick.sh", "#!/bin/sh\n# @respond ^quick$\necho quick done\n")
	p := startBot(t, dir, baseEnv())
	p.send("hang")
	time.Sleep(200 * time.Millisecond)
	// These answer while hang.sh runs: its timeout reply must come after
	// them (expect skips lines, so a reply out of order fails below).
	p.send("ping", "quick")
	p.expect(`^PONG$`)
	p.expect(`^quick done$`)
	p.expectWithin(`^started$`, 10*time.Second)
	p.expectWithin(`^hang.sh timed out after 1s and was stopped\.$`, 10*time.Second)
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("grandchild %d still alive after the timeout", pid)
		}
	}
	p.send("ping")
	p.expect(`^PONG$`)
	p.close()
}

func TestOutputCapKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("prints 1 GiB")
	}
	dir := t.TempDir()
	writeScript(t, dir, "flood.sh", "#!/bin/sh\n# @respond ^flood$\nyes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c 1073741824\n")
	p := startBot(t, dir, baseEnv())
	p.send("ping")
	p.expect("^PONG$")
	before := procStatus(t, p.cmd.Process.Pid, "VmRSS")
	p.send("flood")
	var total int
	for {
		l := p.expectWithin(`.*`, 60*time.Second)[0]
		if strings.HasPrefix(l, "[output cut at 65536 bytes; ") {
			if !strings.Contains(l, strconv.Itoa(1073741824-65536)+" more bytes not shown") {
				t.Errorf("cut note: %q", l)
			}
			break
		}
		total += len(l) + 1
	}
	if total > 65536+1 || total < 65000 {
		t.Errorf("reply carried %d bytes, want about 65536", total)
	}
	peak := procStatus(t, p.cmd.Process.Pid, "VmHWM")
	t.Logf("RSS before %d KiB, peak %d KiB", before, peak)
	if peak > 64*1024 {
		t.Errorf("peak RSS %d KiB while a script printed 1 GiB: output is not capped in memory", peak)
	}
	p.close()
}

func TestBadHeaderReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "bad.sh", "#!/bin/sh\n# @help broken\n# @respond ^broken (\necho never\n")
	writeScript(t, dir, "good.sh", "#!/bin/sh\n# @respond ^good$\necho good\n")
	os.WriteFile(filepath.Join(dir, "scripts", "lib.sh"), []byte("# helper, not executable\n# @respond ^lib$\n"), 0o644)
	writeScript(t, dir, "notrigger.sh", "#!/bin/sh\n# @help nothing starts me\n")
	p := startBot(t, dir, baseEnv())
	p.send("good")
	p.expect(`^good$`)
	p.send("broken (")
	p.expect(`^I don't know "broken \("`)
	p.send("lib")
	p.expect(`^I don't know "lib"`)
	p.close()
	logs := p.stderr.String()
	for _, want := range []string{"scripts/bad.sh:3: @respond: bad pattern", "scripts/lib.sh: not executable", "scripts/notrigger.sh: no @respond"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestLiveReload(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "one.sh", "#!/bin/sh\n# @respond ^one$\necho one v1\n")
	p := startBot(t, dir, baseEnv())
	p.send("one")
	p.expect(`^one v1$`)

	// Added while running.
	writeScript(t, dir, "two.py", "#!/usr/bin/env python3\n# @respond ^two$\nprint('two here')\n")
	time.Sleep(time.Second)
	p.send("two")
	p.expect(`^two here$`)

	// Changed.
	writeScript(t, dir, "one.sh", "#!/bin/sh\n# @respond ^one$\necho one v2\n")
	time.Sleep(time.Second)
	p.send("one")
	p.expect(`^one v2$`)

	// Broken: reported, others keep working.
	writeScript(t, dir, "one.sh", "#!/bin/sh\n# @respond ^one(\necho one v3\n")
	time.Sleep(time.Second)
	p.send("two")
	p.expect(`^two here$`)
	if !strings.Contains(p.stderr.String(), "scripts/one.sh:2:") {
		t.Errorf("reload did not report the broken header")
	}

	// Removed.
	os.Remove(filepath.Join(dir, "scripts", "two.py"))
	time.Sleep(time.Second)
	p.send("two")
	p.expect(`^I don't know "two"`)
	p.close()
}

// While scripts are swapped in and out, every message gets its answer.
func TestReloadLosesNoMessage(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "stay.sh", "#!/bin/sh\n# @respond ^stay (\\d+)$\necho stay $1\n")
	p := startBot(t, dir, baseEnv())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			writeScript(t, dir, "churn.sh", "#!/bin/sh\n# @respond ^churn"+strconv.Itoa(i)+"$\necho x\n")
			time.Sleep(20 * time.Millisecond)
		}
	}()
	const n = 100
	for i := range n {
		p.send("stay " + strconv.Itoa(i))
		time.Sleep(5 * time.Millisecond)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		seen[p.expect(`^stay \d+$`)[0]] = true
	}
	close(stop)
	<-done
	p.close()
}

func TestUserSwitchingAndWhoami(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("admins: [alice]\ngroups: {ops: [bob, alice]}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("whoami")
	p.expect(`^You are tester \(id tester\), no groups\. Principal shell:tester, no person`)
	p.send("/user bob", "whoami")
	p.expect(`^You are bob \(id bob\), groups: ops\. Principal shell:bob, `)
	p.send("reload")
	p.expect(`^Sorry bob, reload is only for members of admins\.$`)
	p.send("/user alice", "whoami")
	p.expect(`^You are alice \(id alice\), groups: admins, ops\. Principal shell:alice, `)
	p.send("reload")
	p.expect(`^Reloaded: 0 scripts loaded\.$`)
	p.close()
}

func TestAllowRefusesNonMembers(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "secret.sh", "#!/bin/sh\n# @respond ^secret$\n# @help secret - ops only\n# @allow ops\necho the secret\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("groups: {ops: [bob]}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	p.send("/user eve", "secret")
	p.expect(`^Sorry eve, secret.sh is only for members of ops\.$`)
	p.send("help secret")
	p.expect(`^No command you may run mentions "secret"`)
	p.send("/user bob", "secret")
	p.expect(`^the secret$`)
	p.close()
}

func TestEndOfInputWaitsForRuns(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "slow.sh", "#!/bin/sh\n# @respond ^slow (\\d)$\nsleep 1\necho slow $1 done\n")
	out, _, code := runOnce(t, dir, baseEnv(), "slow 1\nslow 2\nping\n")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"PONG", "slow 1 done", "slow 2 done"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

func TestQueueDropsNothing(t *testing.T) {
	dir := t.TempDir()
	// Every run waits at a gate the test opens only after status has been
	// read, so status sees exactly 2 in flight and 58 queued however slowly
	// the machine runs (a run that finished early made it 57).
	gate := filepath.Join(dir, "gate")
	writeScript(t, dir, "n.sh", "#!/bin/sh\n# @respond ^n (\\d+)$\nwhile [ ! -e '"+gate+"' ]; do sleep 0.01; done\necho n $1\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("scripts: {max_concurrent: 2}\n"), 0o600)
	p := startBot(t, dir, baseEnv())
	for i := range 60 {
		p.send("n " + strconv.Itoa(i))
	}
	// A run is counted as queued once its goroutine waits for a slot, so
	// status is asked until all 58 have got there (under load some had
	// not: "30 queued, 61 messages seen"); never more than 2 may run.
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.send("status")
		m := p.expect(`(\d+) runs in flight, (\d+) queued`)
		if m[1] != "2" && m[1] != "1" && m[1] != "0" {
			t.Fatalf("%s runs in flight with max_concurrent 2", m[1])
		}
		if m[1] == "2" && m[2] == "58" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed 2 in flight and 58 queued; last %q", m[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 60 {
		seen[p.expectWithin(`^n \d+$`, 30*time.Second)[0]] = true
	}
	for i := range 60 {
		if !seen["n "+strconv.Itoa(i)] {
			t.Fatalf("reply to n %d missing", i)
		}
	}
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestUnknownCommandSuggestsClosest(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (\\S+)$\n# @help deploy <app> - ship\necho ok\n")
	writeScript(t, dir, "hear.sh", "#!/bin/sh\n# @hear \\bcoffee\\b\necho coffee heard\n")
	p := startBot(t, dir, baseEnv())
	p.send("deplyo web")
	p.expect(`^I don't know "deplyo web"\. Did you mean "deploy"\? Try "help"\.$`)
	p.send("I need coffee")
	p.expect(`^coffee heard$`)
	// A known command with the wrong arguments gets its usage.
	p.send("deploy")
	p.expect(`^That is not how deploy goes\. Usage:$`)
	p.expect(`^deploy <app> - ship$`)
	p.send("schedule add @daily ping")
	p.expect(`^That is not how schedule goes\. Usage:$`)
	p.expect(`^schedule add "SPEC" COMMAND - `)
	p.send("ping")
	p.expect(`^PONG$`)
	p.close()
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (?P<app>\\S+)$\n# @allow ops\n# @approve admins\n# @cron @every 1m #ops\n# @webhook gh\necho\n")
	os.WriteFile(filepath.Join(dir, "scripts", "README.txt"), []byte("notes\n"), 0o644)
	out, _, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 0 {
		t.Fatalf("check on good scripts: exit %d\n%s", code, out)
	}
	for _, want := range []string{"SCRIPT", "deploy.sh  respond  ^deploy (?P<app>\\S+)$  ops", "admins", "cron", "@every 1m #ops", "webhook", "warning: scripts/README.txt: not executable"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}

	writeScript(t, dir, "bad.sh", "#!/bin/sh\n# @respond ^ok$\n# @timeout forever\n")
	out, stderr, code := runOnce(t, dir, baseEnv(), "", "check")
	if code != 1 {
		t.Fatalf("check with a bad script: exit %d, want 1", code)
	}
	if !strings.Contains(out, "scripts/bad.sh:3: @timeout") || !strings.Contains(stderr, "scripts/bad.sh:3: @timeout") {
		t.Errorf("problem not reported as FILE:LINE:\nstdout:\n%s\nstderr:\n%s", out, stderr)
	}

	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("scripts:\n  max_concurrent: 0\n"), 0o600)
	_, stderr, code = runOnce(t, dir, baseEnv(), "", "check", "--config", "bad.yaml")
	if code != 2 || !strings.Contains(stderr, "scripts.max_concurrent") {
		t.Fatalf("bad config: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_CONFIG=missing.yaml"), "", "check")
	if code != 2 || !strings.Contains(stderr, "missing.yaml") {
		t.Fatalf("missing config: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv("WIREBOT_LOG_LEVEL=loud"), "", "check")
	if code != 2 || !strings.Contains(stderr, "log.level") {
		t.Fatalf("bad env override: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = runOnce(t, dir, baseEnv(), "", "frobnicate")
	if code != 2 || !strings.Contains(stderr, "frobnicate") {
		t.Fatalf("bad usage: exit %d, stderr %q", code, stderr)
	}
	out, _, code = runOnce(t, dir, baseEnv(), "", "version")
	if code != 0 || !strings.HasPrefix(out, "wirebot ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestEnvOverridesKeysAbsentFromFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	writeScript(t, dir, "x.sh", "#!/bin/sh\n# @respond ^x$\necho x\n")
	os.Rename(filepath.Join(dir, "scripts", "x.sh"), filepath.Join(dir, "bin", "x.sh"))
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("name: wirebot\n"), 0o600)
	env := baseEnv("WIREBOT_SCRIPTS_DIR=bin", "WIREBOT_NAME=hal", "WIREBOT_ALIAS=?", "WIREBOT_GROUPS={ops: [bob]}", "WIREBOT_ADMINS=carol,dave")
	out, stderr, code := runOnce(t, dir, env, "x\n/user bob\nwhoami\n/user dave\nwhoami\n")
	if code != 0 || !strings.Contains(out, "x\n") || !strings.Contains(out, "You are bob (id bob), groups: ops.") || !strings.Contains(out, "You are dave (id dave), groups: admins.") {
		t.Fatalf("exit %d, out %q, stderr %s", code, out, stderr)
	}
}

func TestSigtermLetsRunsFinish(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "slow.sh", "#!/bin/sh\n# @respond ^slow$\nsleep 1\necho slow done\n")
	p := startBot(t, dir, baseEnv())
	p.send("slow", "ping")
	p.expect(`^PONG$`)
	_ = p.cmd.Process.Signal(os.Interrupt)
	p.expect(`^slow done$`)
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
}

// Input written before the process even starts is kept, never dropped.
func TestInputBeforeReadyIsKept(t *testing.T) {
	dir := t.TempDir()
	for i := range 200 {
		writeScript(t, dir, "s"+strconv.Itoa(i)+".sh", "#!/bin/sh\n# @respond ^cmd"+strconv.Itoa(i)+"$\necho x\n")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		fmt.Fprintf(w, "echo-%d\n", i)
	}
	w.Close()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo-(\\d+)$\necho \"got $1\"\n")
	cmd := exec.Command(binary)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, baseEnv(), r
	out, err := cmd.Output()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if !strings.Contains(string(out), "got "+strconv.Itoa(i)+"\n") {
			t.Fatalf("reply to line %d missing", i)
		}
	}
}
