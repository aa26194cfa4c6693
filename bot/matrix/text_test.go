package matrix

import (
	"encoding/json"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const self = id.UserID("@wirebot:example.org")

func TestPlainText(t *testing.T) {
	reply := &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: "$x"}}
	for _, tc := range []struct {
		name string
		c    event.MessageEventContent
		want string
	}{
		{"plain", event.MessageEventContent{Body: "wirebot: ping"}, "wirebot: ping"},
		{"markdown kept as typed", event.MessageEventContent{Body: "!echo 2*3*4", Format: event.FormatHTML, FormattedBody: "!echo 2<em>3</em>4"}, "!echo 2*3*4"},
		{"pill to the bot by display name", event.MessageEventContent{Body: "WireBot Ops: ping", Format: event.FormatHTML,
			FormattedBody: `<a href="https://matrix.to/#/@wirebot:example.org">WireBot Ops</a>: ping`}, "@wirebot: ping"},
		{"bot's user id typed", event.MessageEventContent{Body: "@wirebot:example.org: ping"}, "@wirebot: ping"},
		{"bot's user id, longer name", event.MessageEventContent{Body: "@wirebot:example.orgx ping"}, "@wirebot:example.orgx ping"},
		{"other pill as shown", event.MessageEventContent{Body: "!echo hi @alice:example.org", Format: event.FormatHTML,
			FormattedBody: `!echo hi <a href="https://matrix.to/#/@alice:example.org">Alice</a>`}, "!echo hi Alice"},
		{"reply fallback dropped", event.MessageEventContent{Body: "> <@alice:example.org> old\n\nwirebot ping", Format: event.FormatHTML,
			FormattedBody: "<mx-reply><blockquote>old</blockquote></mx-reply>wirebot ping", RelatesTo: reply}, "wirebot ping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plainText(&tc.c, self, "wirebot"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSplitKeepsEverythingAndFits(t *testing.T) {
	var lines []string
	for i := range 2000 {
		lines = append(lines, strings.Repeat("<&>\"", i%40)+"x")
	}
	text := strings.Join(lines, "\n")
	parts := split(text, maxEventCost)
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	if got := strings.Join(parts, "\n"); got != text {
		t.Fatal("parts joined are not the text")
	}
	for i, p := range parts {
		data, _ := json.Marshal(noticeFor(p, "$thread"))
		if len(data) > 60000 {
			t.Fatalf("part %d encodes to %d bytes", i, len(data))
		}
	}
	if got := split("one line", maxEventCost); len(got) != 1 || got[0] != "one line" {
		t.Fatalf("short: %q", got)
	}
	long := strings.Repeat("é<", 40000)
	parts = split(long, maxEventCost)
	if strings.Join(parts, "") != long {
		t.Fatal("a cut line lost characters")
	}
	for i, p := range parts {
		if data, _ := json.Marshal(noticeFor(p, "")); len(data) > 60000 {
			t.Fatalf("piece %d encodes to %d bytes", i, len(data))
		}
	}
}

func TestNoticeFormats(t *testing.T) {
	n := noticeFor("a <b>\nc", "")
	if n.MsgType != event.MsgNotice || n.Format != event.FormatHTML || n.FormattedBody != "<pre><code>a &lt;b&gt;\nc</code></pre>" {
		t.Fatalf("multi-line: %+v", n)
	}
	if n := noticeFor("**not bold**", ""); n.Format != "" || n.Body != "**not bold**" {
		t.Fatalf("one line: %+v", n)
	}
	n = noticeFor("x", "$root")
	if n.RelatesTo.Type != event.RelThread || n.RelatesTo.EventID != "$root" {
		t.Fatalf("thread: %+v", n.RelatesTo)
	}
}
