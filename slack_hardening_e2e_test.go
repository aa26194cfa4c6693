package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// waitStderr waits until the bot's log contains every one of parts on one line.
func waitStderr(t *testing.T, p *botProc, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			all := true
			for _, s := range parts {
				all = all && strings.Contains(l, s)
			}
			if all {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %s", parts, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A slash command in a channel the bot has not joined is answered through
// its response_url, visibly to the channel, and never by chat.postMessage
// (which Slack refuses there).
func TestSlackSlashCommandAnswersThroughResponseURL(t *testing.T) {
	fs, p, _ := slackBotSetup(t, "", func(fs *fakeslack.Server) {
		fs.Channels["C9"] = "elsewhere"
		fs.NotIn["C9"] = true
	})
	fs.Slash("U1", "C9", "/wirebot", "echo from afar")
	post := nextPost(t, fs)
	if post.Via != "response_url" || post.Channel != "C9" || post.Text != "from afar" || post.ResponseType != "in_channel" {
		t.Fatalf("post = %+v, want \"from afar\" through C9's response_url, in_channel", post)
	}
	// A long reply: every part through the response_url, in order.
	fs.Slash("U1", "C9", "/wirebot", "long")
	var got []string
	for !strings.Contains(strings.Join(got, ""), "line 0500") {
		post := nextPost(t, fs)
		if post.Via != "response_url" {
			t.Fatalf("part %d not through the response_url: %+v", len(got)+1, post)
		}
		got = append(got, post.Text)
	}
	if n := fs.Calls("chat.postMessage"); n != 0 {
		t.Fatalf("chat.postMessage called %d times for slash commands", n)
	}
	// A message in a joined channel still goes by chat.postMessage.
	fs.Message("U1", "C1", "!ping", "")
	if post := expectPost(t, fs, "C1", "", "PONG"); post.Via != "" {
		t.Fatalf("channel message answered via %q", post.Via)
	}
	stopBot(t, p)
	if strings.Contains(p.stderr.String(), "/response/") {
		t.Fatal("a response_url appeared in the log")
	}
}

// An envelope slack-go cannot parse is a warning naming its type (a user
// is waiting for it), and it is acknowledged so Slack does not resend it.
func TestSlackUnparsableEnvelopeIsAWarning(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	fs.Raw(map[string]any{"envelope_id": "env-bad", "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{"command": "/wirebot", "text": 42, "user_id": "U1", "channel_id": "C1"}})
	waitStderr(t, p, 10*time.Second, "level=WARN", "cannot parse", "type=slash_commands", "envelope_id=env-bad")
	fs.Raw(map[string]any{"envelope_id": "env-new", "type": "brand_new_kind", "payload": map[string]any{}})
	waitStderr(t, p, 10*time.Second, "level=WARN", "cannot parse", "type=brand_new_kind")
	deadline := time.Now().Add(10 * time.Second)
	for !fs.Acked("env-bad") || !fs.Acked("env-new") {
		if time.Now().After(deadline) {
			t.Fatal("unparsable envelopes not acknowledged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Still answering.
	fs.Message("U1", "D1", "ping", "")
	expectPost(t, fs, "D1", "", "PONG")
	stopBot(t, p)
}
