package bot

import (
	"strings"
	"testing"
)

func TestAddress(t *testing.T) {
	tests := []struct {
		text      string
		direct    bool
		command   string
		addressed bool
	}{
		{"wirebot ping", false, "ping", true},
		{"wirebot: ping", false, "ping", true},
		{"wirebot, ping", false, "ping", true},
		{"@wirebot ping", false, "ping", true},
		{"@wirebot: ping", false, "ping", true},
		{"WireBot ping", false, "ping", true},
		{"  wirebot   ping  ", false, "ping", true},
		{"!ping", false, "ping", true},
		{"! ping", false, "ping", true},
		{"wirebot", false, "", true},
		{"wirebotping", false, "", false},
		{"wirebots ping", false, "", false},
		{"ping", false, "", false},
		{"hey wirebot ping", false, "", false},
		{"ping", true, "ping", true},
		{"wirebot ping", true, "ping", true},
		{"!ping", true, "ping", true},
		{"", false, "", false},
		{"wirebot:ping", false, "ping", true},
		{"wirebot\tping", false, "ping", true},
	}
	for _, tt := range tests {
		got, ok := Address(tt.text, "wirebot", "!", tt.direct)
		if got != tt.command || ok != tt.addressed {
			t.Errorf("Address(%q, direct=%v) = %q, %v; want %q, %v", tt.text, tt.direct, got, ok, tt.command, tt.addressed)
		}
	}
}

func TestAddressNoAlias(t *testing.T) {
	if _, ok := Address("!ping", "wirebot", "", false); ok {
		t.Fatal("an empty alias must not address every message")
	}
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{"wirebot ping", "@wirebot: deploy x", "!ping", "plain text", "wirebot", "  !  x", "wirebot\u00a0x", "@@wirebot x"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, direct bool) {
		cmd, ok := Address(text, "wirebot", "!", direct)
		if direct && !ok {
			t.Fatalf("direct message %q not addressed", text)
		}
		if !ok && cmd != "" {
			t.Fatalf("unaddressed %q gave command %q", text, cmd)
		}
		if cmd != strings.TrimSpace(cmd) {
			t.Fatalf("command %q of %q not trimmed", cmd, text)
		}
		if !strings.Contains(text, cmd) {
			t.Fatalf("command %q is not part of %q", cmd, text)
		}
		if ok && !direct {
			lt := strings.ToLower(strings.TrimLeft(text, " \t\n\r\v\f\u0085\u00a0"))
			if !strings.HasPrefix(lt, "wirebot") && !strings.HasPrefix(lt, "@wirebot") && !strings.HasPrefix(lt, "!") {
				t.Fatalf("%q addressed without name or alias", text)
			}
		}
	})
}
