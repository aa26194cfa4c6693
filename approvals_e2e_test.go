package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const securityConfig = `admins: [root]
groups:
  ops: [alice, bob]
  dev: [carol]
approvals: {ttl: 1h}
chains:
  - name: release
    respond: ^release (?P<version>\S+)$
    help: release <version> - build, test and deploy a version
    allow: ops
    approve: ops
    steps: ["build {version}", "test {version}", "deploy {version} to prod"]
  - name: shaky
    respond: ^shaky (?P<v>\S+)$
    steps: ["build {v}", "fail {v}", "deploy {v} to prod"]
  - name: guarded
    respond: ^guarded$
    allow: dev
    steps: ["build g", "deploy g to prod", "build after"]
`

func securityBot(t *testing.T, dir, extra string) *botProc {
	t.Helper()
	writeScript(t, dir, "deploy.sh", "#!/bin/sh\n# @respond ^deploy (?P<app>\\S+) to (?P<env>staging|prod)$\n# @help deploy <app> to <env> - deploy\n# @allow ops\n# @approve ops\necho \"deployed $1 to $2 for $WIREBOT_USER\"\n")
	writeScript(t, dir, "build.sh", "#!/bin/sh\n# @respond ^build (\\S+)$\n# @help build <v> - build\necho \"built $1\"\n")
	writeScript(t, dir, "test.sh", "#!/bin/sh\n# @respond ^test (\\S+)$\n# @help test <v> - test\necho \"tested $1\"\n")
	writeScript(t, dir, "fail.sh", "#!/bin/sh\n# @respond ^fail (\\S+)$\necho \"failing $1\" >&2\nexit 7\n")
	writeScript(t, dir, "ops.sh", "#!/bin/sh\n# @respond ^opsonly$\n# @help opsonly - for ops\n# @allow ops\necho ops ran\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(securityConfig+extra), 0o600)
	return startBot(t, dir, baseEnv())
}

func TestAllowAndHelpPerUser(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user carol", "opsonly")
	p.expect(`^Sorry carol, ops.sh is only for members of ops\.$`)
	p.send("/user alice", "opsonly")
	p.expect(`^ops ran$`)
	p.send("/user root", "opsonly")
	p.expect(`^ops ran$`)
	p.send("/user carol", "help", "ping")
	joined := strings.Join(p.until("PONG"), "\n")
	if strings.Contains(joined, "opsonly") || strings.Contains(joined, "deploy <app>") || strings.Contains(joined, "release <version>") || strings.Contains(joined, "group list") {
		t.Errorf("carol's help lists what she may not run:\n%s", joined)
	}
	if !strings.Contains(joined, "build <v> - build") {
		t.Errorf("carol's help lacks build:\n%s", joined)
	}
	p.send("/user alice", "help deploy")
	p.expect(`^deploy <app> to <env> - deploy$`)
	p.close()
	// The refusal is in the audit log.
	out, _, _ := runOnce(t, dir, baseEnv(), "/user root\nhistory 50\n")
	if !strings.Contains(out, "carol in shell: ops.sh \"opsonly\" -> refused") {
		t.Errorf("refusal not audited:\n%s", out)
	}
}

func TestApprovalFlow(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user alice", "/channel ops", "deploy web to prod")
	m := p.expect("^alice asked to run \"deploy web to prod\" \\(deploy.sh\\), which needs approval by ops\\. .*`approve ([A-Z0-9]{6})`")
	id := m[1]
	p.send("approve " + id)
	p.expect(`^Sorry alice, you cannot approve your own request; someone else in ops must\.$`)
	p.send("/user carol", "approve "+id)
	p.expect(`^Sorry carol, only members of ops may approve ` + id + `\.$`)
	p.send("pending")
	p.expect(`^` + id + `: alice asked "deploy web to prod" \(deploy.sh\) in ops; approvers: ops \(bob\); expires in `)
	p.send("/user bob", "/channel elsewhere", "approve "+id)
	p.expect(`^Approved ` + id + `: running "deploy web to prod" \(deploy.sh\) for alice\.$`)
	p.expect(`^\[#ops\] deployed web to prod for alice$|^deployed web to prod for alice$`)
	p.send("approve " + id)
	p.expect(`^There is no pending request ` + id)
	p.send("/user alice", "history 3")
	l := p.expect(`^#\d+ .* alice in ops: deploy.sh .*$`)[0]
	if !strings.Contains(l, "-> ok") || !strings.Contains(l, "approved by bob") || !strings.Contains(l, "[request "+id+"]") {
		t.Errorf("history line for the approved run: %q", l)
	}
	p.send("pending")
	p.expect(`^No requests are waiting for approval\.$`)
	p.close()
}

func TestDenyAndExpiry(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user alice", "deploy web to staging")
	id := p.expect("`approve ([A-Z0-9]{6})`")[1]
	p.send("/user carol", "deny "+id)
	p.expect(`^Sorry carol, only alice or a member of ops may deny ` + id + `\.$`)
	p.send("/user alice", "deny "+id+" wrong branch")
	p.expect(`^Denied ` + id + `: "deploy web to staging" \(deploy.sh\) asked by alice will not run\. Reason: wrong branch$`)
	p.send("/user bob", "approve "+id)
	p.expect(`^There is no pending request ` + id)
	p.send("deploy api to prod")
	id2 := p.expect("`approve ([A-Z0-9]{6})`")[1]
	p.send("/user alice", "deny "+id2)
	p.expect(`^Denied ` + id2)
	p.close()

	// A request that outlives approvals.ttl cannot be approved.
	dir2 := t.TempDir()
	p = securityBot(t, dir2, "")
	os.WriteFile(filepath.Join(dir2, "config.yaml"), []byte(strings.Replace(securityConfig, "approvals: {ttl: 1h}", "approvals: {ttl: 1s}", 1)), 0o600)
	p.close()
	p = startBot(t, dir2, baseEnv())
	p.send("/user alice", "deploy web to prod")
	id3 := p.expect("`approve ([A-Z0-9]{6})`")[1]
	// The requester is told when the time is up.
	p.expectWithin(`^Request `+id3+` \("deploy web to prod", asked by alice\) expired without approval\.$`, 5*time.Second)
	p.send("/user bob", "approve "+id3)
	p.expect(`^There is no pending request ` + id3)
	p.send("pending")
	p.expect(`^No requests are waiting for approval\.$`)
	p.send("/user root", "history 3")
	p.expect(`deploy.sh "deploy web to prod" -> expired \[request ` + id3 + `\]`)
	p.close()
}

func TestPendingApprovalSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user alice", "/channel ops", "deploy web to prod")
	id := p.expect("`approve ([A-Z0-9]{6})`")[1]
	if code, _ := p.close(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p = startBot(t, dir, baseEnv())
	p.send("/user bob", "pending")
	p.expect(`^` + id + `: alice asked "deploy web to prod"`)
	p.send("approve " + id)
	p.expect(`^Approved ` + id)
	p.expect(`deployed web to prod for alice$`)
	p.close()
}

func TestGroupChangesByAdminsOnly(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user bob", "group add ops carol")
	p.expect(`^Sorry bob, group is only for members of admins\.$`)
	p.send("/user carol", "opsonly")
	p.expect(`^Sorry carol, ops.sh is only for members of ops\.$`)
	p.send("/user root", "group add ops carol", "group remove ops bob", "group add admins dave")
	p.expect(`^Added carol to ops\.$`)
	p.expect(`^Removed bob from ops\.$`)
	p.expect(`^Added dave to admins\.$`)
	p.send("group list")
	p.expect(`^admins: dave, root$`)
	p.expect(`^dev: carol$`)
	p.expect(`^ops: alice, carol$`)
	p.close()
	// Chat changes persist.
	p = startBot(t, dir, baseEnv())
	p.send("/user carol", "opsonly")
	p.expect(`^ops ran$`)
	p.send("whoami")
	p.expect(`^You are carol \(id carol\), groups: dev, ops\. Principal shell:carol, no person`)
	p.send("/user bob", "opsonly")
	p.expect(`^Sorry bob, ops.sh is only for members of ops\.$`)
	p.close()
}

func TestChainApprovedOnceRunsAllSteps(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user alice", "release 1.2")
	id := p.expect("^alice asked to run \"release 1.2\" \\(release\\).*`approve ([A-Z0-9]{6})`")[1]
	p.send("/user bob", "approve "+id)
	p.expect(`^Approved ` + id)
	// Each step's output and outcome, in order; deploy's own @approve is waived.
	for _, want := range []string{`^built 1.2$`, `^release step 1/3 \(build 1.2\): ok in `, `^tested 1.2$`, `^release step 2/3 \(test 1.2\): ok in `,
		`^deployed 1.2 to prod for alice$`, `^release step 3/3 \(deploy 1.2 to prod\): ok in `, `^release finished: 3 steps ok in `} {
		p.expect(want)
	}
	time.Sleep(200 * time.Millisecond) // the chain's own entry is queued just after its last reply
	p.send("/user alice", "history 5")
	got := ""
	for range 5 {
		got += p.expect(`^#\d+ .*`)[0] + "\n"
	}
	for _, want := range []string{`release "release 1.2" -> ok`, `deploy.sh "deploy 1.2 to prod" -> ok`, "[chain release]", "approved by bob"} {
		if !strings.Contains(got, want) {
			t.Errorf("history lacks %q:\n%s", want, got)
		}
	}
	p.close()
}

func TestChainStopsAtFailingStep(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	p.send("/user alice", "shaky 9")
	p.expect(`^built 9$`)
	p.expect(`^shaky step 1/3 \(build 9\): ok in `)
	p.expect(`^fail.sh failed \(exit code 7\)\.`)
	p.expect(`^shaky step 2/3 \(fail 9\): failed with exit code 7 after .*; shaky stopped\.$`)
	p.send("ping")
	p.expect(`^PONG$`) // nothing of step 3 came before it
	p.close()
}

func TestChainStepRefusedStopsChain(t *testing.T) {
	dir := t.TempDir()
	p := securityBot(t, dir, "")
	// carol may run the chain (dev) but not its deploy step (ops).
	p.send("/user carol", "guarded")
	p.expect(`^built g$`)
	p.expect(`^guarded step 1/3 \(build g\): ok in `)
	p.expect(`^Sorry carol, deploy.sh is only for members of ops\.$`)
	p.expect(`^guarded step 2/3 \(deploy g to prod\): refused after .*; guarded stopped\.$`)
	p.send("ping")
	p.expect(`^PONG$`)
	// A chain without approval does not waive its steps' @approve.
	p.send("/user root", "guarded")
	p.expect(`^built g$`)
	p.expect("^root asked to run \"deploy g to prod\" \\(deploy.sh\\), which needs approval")
	p.expect(`^guarded step 2/3 \(deploy g to prod\): pending after .*; guarded stopped\.$`)
	p.close()
}

func TestSlackApprovalButtons(t *testing.T) {
	fs, p, dir := slackBot(t, "")
	writeScript(t, dir, "risky.sh", "#!/bin/sh\n# @respond ^risky$\n# @approve ops\necho \"risky ran for $WIREBOT_USER\"\n")
	time.Sleep(time.Second)
	fs.Message("U1", "C1", "!risky", "1700000000.000200")
	post := nextPost(t, fs)
	if !strings.Contains(post.Text, "alice asked to run \"risky\"") || !strings.Contains(post.Blocks, "wirebot_approve") || !strings.Contains(post.Blocks, "wirebot_deny") {
		t.Fatalf("approval request without buttons: %+v", post)
	}
	if post.Thread != "1700000000.000200" {
		t.Fatalf("approval request not in the thread: %+v", post)
	}
	id := strings.Split(strings.Split(post.Text, "`approve ")[1], "`")[0]
	// The requester's own click is refused like typing it.
	fs.Click("U1", "C1", "wirebot_approve", id, "1700000000.000200")
	expectPost(t, fs, "C1", "1700000000.000200", "Sorry alice, you cannot approve your own request; someone else in ops must.")
	// bob is in ops (by user name).
	fs.Click("U2", "C1", "wirebot_approve", id, "1700000000.000200")
	expectPost(t, fs, "C1", "1700000000.000200", "Approved "+id+": running \"risky\" (risky.sh) for alice.")
	expectPost(t, fs, "C1", "1700000000.000200", "risky ran for alice")
	// Deny button.
	fs.Message("U1", "C1", "!risky", "")
	post = nextPost(t, fs)
	id = strings.Split(strings.Split(post.Text, "`approve ")[1], "`")[0]
	fs.Click("U1", "C1", "wirebot_deny", id, "")
	expectPost(t, fs, "C1", "", "Denied "+id+": \"risky\" (risky.sh) asked by alice will not run.")
	stopBot(t, p)
}
