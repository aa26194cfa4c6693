package slack

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	users := map[string]string{"UBOT": "wirebot", "U1": "alice"}
	user := func(id string) string {
		if n, ok := users[id]; ok {
			return n
		}
		return id
	}
	channel := func(id string) string { return map[string]string{"C1": "ops"}[id] }
	tests := []struct{ in, want string }{
		{"<@UBOT> deploy web &amp; api", "@wirebot deploy web & api"},
		{"if a &lt; b &amp;&amp; c &gt; d", "if a < b && c > d"},
		{"check <https://example.com/a?b=1&amp;c=2|example.com/a>", "check https://example.com/a?b=1&c=2"},
		{"check <https://example.com>", "check https://example.com"},
		{"mail <mailto:bob@example.com|bob@example.com>", "mail bob@example.com"},
		{"ping <@U1> and <@U2|carol>", "ping @alice and @carol"},
		{"in <#C1> or <#C9|dev>", "in #ops or #dev"},
		{"<!here> alert <!subteam^S1|@oncall>", "@here alert @oncall"},
		{"unclosed < bracket &gt;", "unclosed < bracket >"},
		{"$(rm -rf /) `x`", "$(rm -rf /) `x`"},
	}
	for _, tt := range tests {
		if got := decode(tt.in, user, channel); got != tt.want {
			t.Errorf("decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChunksKeepEverything(t *testing.T) {
	var lines []string
	for i := 0; len(strings.Join(lines, "\n")) < 10000; i++ {
		lines = append(lines, strings.Repeat("x", i%80)+"é")
	}
	text := strings.Join(lines, "\n")
	parts := chunks(text)
	if len(parts) < 3 {
		t.Fatalf("%d parts for %d chars", len(parts), len(text))
	}
	var back []string
	for _, p := range parts {
		if len([]rune(p)) > maxChunk {
			t.Fatalf("part of %d chars", len([]rune(p)))
		}
		if !strings.HasPrefix(p, "```\n") || !strings.HasSuffix(p, "\n```") {
			t.Fatalf("multi-line part not in a code block: %q", p[:20])
		}
		back = append(back, strings.TrimSuffix(strings.TrimPrefix(p, "```\n"), "\n```"))
	}
	if strings.Join(back, "\n") != text {
		t.Fatal("parts do not add up to the reply")
	}
	one := strings.Repeat("y", 9000)
	if got := strings.Join(chunks(one), ""); got != one {
		t.Fatal("a long single line lost characters")
	}
	if p := chunks("short"); len(p) != 1 || p[0] != "short" {
		t.Fatalf("short reply: %q", p)
	}
}
