package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cgroup2Mount is where the unified cgroup hierarchy is mounted, as
// /proc/self/mountinfo says; /sys/fs/cgroup when it says nothing.
func cgroup2Mount(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("no /proc/self/mountinfo: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		before, after, ok := strings.Cut(l, " - ")
		if !ok || !strings.HasPrefix(after, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(before); len(f) >= 5 {
			return f[4]
		}
	}
	return "/sys/fs/cgroup"
}

// quietWrap returns a command prefix that runs the binary as inside a
// container whose cgroup has no pressure files (what made VictoriaMetrics
// log "metrics: disable exposing PSI metrics" at every start): a private
// mount namespace with an empty directory over the cgroup2 mount. Without
// unshare it runs the binary as it is.
func quietWrap(t *testing.T) []string {
	t.Helper()
	empty := t.TempDir()
	mnt := cgroup2Mount(t)
	probe := exec.Command("unshare", "-m", "sh", "-c", "mount --bind "+empty+" "+mnt)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Logf("cannot simulate a container without PSI files (%v: %s); checking stderr as it is", err, out)
		return nil
	}
	return []string{"unshare", "-m", "sh", "-c", "mount --bind " + empty + " " + mnt + ` && exec "$0" "$@"`}
}

// TestClientCommandsKeepStderrQuiet: nothing but errors reaches the stderr of
// brain, say, version and check (issue 9 item 18), even in a container.
func TestClientCommandsKeepStderrQuiet(t *testing.T) {
	wrap := quietWrap(t)
	dir := t.TempDir()
	writeScript(t, dir, "noisy.sh", `#!/bin/sh
# @respond ^noisy$
e=$(mktemp)
wirebot brain set k v 2>>"$e"
wirebot brain get k >/dev/null 2>>"$e"
wirebot brain incr n >/dev/null 2>>"$e"
wirebot brain list >/dev/null 2>>"$e"
wirebot say progress 2>>"$e"
wirebot version >/dev/null 2>>"$e"
echo "stderr [$(cat "$e")]"
`)
	cmd := func(args ...string) *exec.Cmd {
		all := append(append(append([]string{}, wrap...), binary), args...)
		c := exec.Command(all[0], all[1:]...)
		c.Dir = dir
		c.Env = baseEnv()
		return c
	}
	for _, args := range [][]string{{"version"}, {"check"}} {
		c := cmd(args...)
		var errb strings.Builder
		c.Stderr = &errb
		if err := c.Run(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, errb.String())
		}
		if errb.Len() != 0 {
			t.Errorf("%v wrote to stderr: %q", args, errb.String())
		}
	}
	c := cmd("--config", filepath.Join(dir, "none.yaml"))
	c.Args = c.Args[:len(c.Args)-2] // run on defaults
	c.Stdin = strings.NewReader("noisy\n")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("bot: %v", err)
	}
	if !strings.Contains(string(out), "progress\n") || !strings.Contains(string(out), "stderr []\n") {
		t.Fatalf("client commands in a script wrote to stderr:\n%s", out)
	}
}
