package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestShellAtATerminal: under a pseudo-terminal the shell shows a
// "wirebot> " prompt, takes a line edited with backspace, keeps info logs
// out of the conversation, and prints a late reply above a fresh prompt
// (issue 14).
func TestShellAtATerminal(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "late.sh", "#!/bin/sh\n# @respond ^late$\nwhile [ ! -e "+dir+"/go ]; do sleep 0.05; done\necho late reply\n")
	cmd := exec.Command(binary)
	cmd.Dir, cmd.Env = dir, baseEnv("TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); tty.Close() }()
	var mu sync.Mutex
	var buf bytes.Buffer
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(what string, from int) int {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			if i := strings.Index(out[from:], what); i >= 0 {
				return from + i + len(what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no %q on the terminal; saw %q", what, buf.String()[from:])
		return 0
	}
	at := waitFor("wirebot> ", 0)
	tty.WriteString("pinx\x7fg\r") // a typo, backspace, the fix
	at = waitFor("PONG", at)
	at = waitFor("wirebot> ", at)
	tty.WriteString("late\r")
	at = waitFor("wirebot> ", at)
	if err := exec.Command("touch", dir+"/go").Run(); err != nil {
		t.Fatal(err)
	}
	at = waitFor("late reply", at)
	waitFor("wirebot> ", at) // a fresh prompt below the late reply
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, "level=INFO") || strings.Contains(out, "I don't know") {
		t.Errorf("the conversation has log lines or a misread line:\n%q", out)
	}
	tty.WriteString("\x04") // Ctrl-D ends it
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after Ctrl-D: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("no exit after Ctrl-D")
	}
}
