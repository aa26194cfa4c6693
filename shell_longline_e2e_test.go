package main

import (
	"strings"
	"testing"
)

// TestShellReadsLinesOfAnyLength: a 10 MB line is one message and later
// lines are still answered (issue 9 item 11).
func TestShellReadsLinesOfAnyLength(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "len.sh", "#!/bin/sh\n# @respond ^len (x+)$\nprintf 'len %s\\n' \"$(printf %s \"$WIREBOT_COMMAND\" | wc -c)\"\n")
	input := "len " + strings.Repeat("x", 10<<20) + "\nping\n"
	out, stderr, code := runOnce(t, dir, baseEnv(), input)
	// Two replies: one for the long line (its script cannot start with a
	// 10 MB variable, and says so), one for ping.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(out, "PONG\n") || !strings.Contains(out, "len.sh") {
		t.Fatalf("exit %d, out %.300q, stderr %.2000s", code, out, stderr)
	}
}
