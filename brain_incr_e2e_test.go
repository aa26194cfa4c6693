package main

import (
	"strings"
	"testing"
)

// TestBrainIncrRefusesToOverflow: incr past int64 exits 1 with a short
// message and keeps the value; a huge non-number is not echoed back
// (issue 9 item 13).
func TestBrainIncrRefusesToOverflow(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "num.sh", `#!/usr/bin/env bash
# @respond ^num (\S+) (\S+)$
cd "$(mktemp -d)"
if [ "$1" = big ]; then
  head -c 1048000 /dev/zero | tr '\0' x | wirebot brain set n
else
  wirebot brain set n "$1"
fi
v=$(wirebot brain incr n "$2" 2>err.txt); echo "exit $? out [$v] err $(wc -c <err.txt) $(head -c 300 err.txt)"
echo "value $(wirebot brain get n | head -c 30)"
`)
	p := startBot(t, dir, baseEnv())
	for _, tc := range []struct{ set, by, value, want string }{
		{"9223372036854775807", "1", "9223372036854775807", "overflow"},
		{"9223372036854775806", "1", "9223372036854775807", ""},
		{"-9223372036854775808", "-1", "-9223372036854775808", "overflow"},
		{"-9223372036854775807", "-1", "-9223372036854775808", ""},
		{"1", "9223372036854775807", "1", "overflow"},
		{"big", "1", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "not an integer"},
	} {
		p.send("num " + tc.set + " " + tc.by)
		m := p.expect(`^exit (\d+) out \[(.*)\] err (\d+) ?(.*)$`)
		if tc.want == "" {
			if m[1] != "0" || m[2] != tc.value || m[3] != "0" {
				t.Errorf("%s + %s: %q", tc.set, tc.by, m)
			}
		} else if m[1] != "1" || m[2] != "" || len(m[3]) > 3 || !strings.Contains(m[4], tc.want) || strings.Contains(m[4], "xxxxxxxx") {
			t.Errorf("%s + %s: want exit 1 and a short %q, got %q", tc.set, tc.by, tc.want, m)
		}
		p.expect(`^value ` + tc.value + `$`)
	}
	p.close()
}
