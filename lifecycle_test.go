package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The whole program, in process (so under -race), from start to the end of
// its input: every goroutine it starts (watcher, script API, HTTP server,
// scheduler, sweeper, audit writer, runs) is gone when run returns.
func TestRunLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\n# @cron @every 1h #ops\necho \"$1\"\n")
	cfg := "scripts_dir: " + filepath.Join(dir, "scripts") + "\ndata_file: " + filepath.Join(dir, "w.db") +
		"\nhttp: {listen: \"127.0.0.1:0\"}\nschedules: [{name: s, cron: \"@hourly\", channel: ops, command: ping}]\n"
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	in := strings.NewReader("ping\necho hello\nremember x is y\nwhat is x\nnonsense\n")
	code := run(context.Background(), []string{"run", "--config", filepath.Join(dir, "c.yaml")}, in, &out, &errb, baseEnv())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"PONG\n", "hello\n", "OK, x is y.\n", "x is y\n", `I don't know "nonsense"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
