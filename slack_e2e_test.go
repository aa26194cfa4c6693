package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// slackBot starts the binary against a fake Slack and waits for it to connect.
func slackBot(t *testing.T, extraConfig string) (*fakeslack.Server, *botProc, string) {
	t.Helper()
	return slackBotSetup(t, extraConfig, nil)
}

// slackBotSetup is slackBot with a chance to set up the fake before the
// bot connects to it.
func slackBotSetup(t *testing.T, extraConfig string, setup func(*fakeslack.Server)) (*fakeslack.Server, *botProc, string) {
	t.Helper()
	fs := fakeslack.New()
	t.Cleanup(fs.Close)
	if setup != nil {
		setup(fs)
	}
	dir := t.TempDir()
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s\\n' \"$1\"\n")
	writeScript(t, dir, "coffee.sh", "#!/bin/sh\n# @hear \\bcoffee\\b\necho \"coffee for $WIREBOT_USER in $WIREBOT_CHANNEL\"\n")
	writeScript(t, dir, "args.sh", "#!/bin/sh\n# @respond ^args (.*)$\nprintf 'arg=[%s] text=[%s] command=[%s] thread=[%s]\\n' \"$1\" \"$WIREBOT_TEXT\" \"$WIREBOT_COMMAND\" \"$WIREBOT_THREAD\"\n")
	writeScript(t, dir, "long.sh", "#!/bin/sh\n# @respond ^long$\nfor i in $(seq 1 500); do printf 'line %04d of the long reply\\n' $i; done\n")
	writeScript(t, dir, "secret.sh", "#!/bin/sh\n# @respond ^secret$\n# @allow ops\necho the secret\n")
	cfg := "adapter: slack\nslack:\n  bot_token: xoxb-test-token\n  app_token: xapp-test-token\n  api_url: " + fs.APIURL() + "\ngroups:\n  ops: [bob]\n" + extraConfig
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv())
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatalf("bot did not connect to the fake Slack\n%s", p.stderr.String())
	}
	return fs, p, dir
}

func nextPost(t *testing.T, fs *fakeslack.Server) fakeslack.Post {
	t.Helper()
	p, ok := fs.Next(10 * time.Second)
	if !ok {
		t.Fatal("no post within 10s")
	}
	return p
}

func expectPost(t *testing.T, fs *fakeslack.Server, channel, thread, text string) fakeslack.Post {
	t.Helper()
	p := nextPost(t, fs)
	if p.Channel != channel || p.Thread != thread || p.Text != text {
		t.Fatalf("post = %+v, want channel %q thread %q text %q", p, channel, thread, text)
	}
	return p
}

func stopBot(t *testing.T, p *botProc) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("bot did not stop on SIGINT")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGINT\n%s", code, p.stderr.String())
	}
	if strings.Contains(p.stderr.String(), "xoxb-test-token") || strings.Contains(p.stderr.String(), "xapp-test-token") {
		t.Fatal("a token appeared in the log")
	}
}

func TestSlackDirectMentionAliasHear(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	// Direct message: addressed without a name.
	fs.Message("U1", "D1", "ping", "")
	expectPost(t, fs, "D1", "", "PONG")
	// Mention, delivered as message and app_mention: answered once.
	fs.Mention("U1", "C1", "echo hello there")
	expectPost(t, fs, "C1", "", "hello there")
	// Alias in a channel.
	fs.Message("U2", "C1", "!echo via alias", "")
	expectPost(t, fs, "C1", "", "via alias")
	// Unaddressed channel message: only hear patterns.
	fs.Message("U2", "C2", "echo not for the bot", "")
	fs.Message("U2", "C2", "who wants coffee?", "")
	expectPost(t, fs, "C2", "", "coffee for bob in dev")
	// The bot's own messages are ignored.
	fs.Message("UBOT", "C1", "!echo loop", "")
	// Other bots are ignored by default.
	fs.Event(map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "BOTHER", "channel": "C1", "text": "!echo from a bot"})
	fs.Message("U1", "C1", "!ping", "")
	expectPost(t, fs, "C1", "", "PONG")
	// Slash command: addressed.
	fs.Slash("U1", "C1", "/wirebot", "echo slashed")
	expectPost(t, fs, "C1", "", "slashed")
	if extra, ok := fs.Next(500 * time.Millisecond); ok {
		t.Fatalf("unexpected extra post %+v (mention twice, own or bot message answered?)", extra)
	}
	stopBot(t, p)
}

func TestSlackThreadsAndDecoding(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	// In a thread: the reply goes to the thread.
	fs.Message("U1", "C1", "!echo in thread", "1700000000.000100")
	expectPost(t, fs, "C1", "1700000000.000100", "in thread")
	// Escapes and links decoded before a script sees them.
	fs.Message("U1", "C1", "<@UBOT> args a &lt;b&gt; &amp; <https://example.com/x?a=1&amp;b=2|example.com/x> <@U2> $(id)", "")
	want := "arg=[a <b> & https://example.com/x?a=1&b=2 @bob $(id)] text=[@wirebot args a <b> & https://example.com/x?a=1&b=2 @bob $(id)] command=[args a <b> & https://example.com/x?a=1&b=2 @bob $(id)] thread=[]"
	expectPost(t, fs, "C1", "", want)
	stopBot(t, p)
}

func TestSlackReconnects(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	fs.Drop()
	if !fs.WaitConnected(20 * time.Second) {
		t.Fatal("no reconnect after a dropped socket")
	}
	fs.Message("U1", "D1", "echo after drop", "")
	expectPost(t, fs, "D1", "", "after drop")
	fs.Disconnect()
	if !fs.WaitConnected(20 * time.Second) {
		t.Fatal("no reconnect after a disconnect envelope")
	}
	fs.Message("U1", "D1", "echo after disconnect", "")
	expectPost(t, fs, "D1", "", "after disconnect")
	stopBot(t, p)
}

func TestSlackRateLimitAndLongReply(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	fs.Fail429(2)
	start := time.Now()
	fs.Message("U1", "D1", "echo patience", "")
	expectPost(t, fs, "D1", "", "patience")
	if time.Since(start) < 2*time.Second {
		t.Errorf("posted before Retry-After had passed twice")
	}
	fs.Message("U1", "D1", "long", "")
	var got []string
	var times []time.Time
	for {
		post := nextPost(t, fs)
		times = append(times, post.At)
		if !strings.HasPrefix(post.Text, "```\n") || !strings.HasSuffix(post.Text, "\n```") {
			t.Fatalf("multi-line part not in a code block: %.40q", post.Text)
		}
		if len([]rune(post.Text)) > 4000 {
			t.Fatalf("part of %d characters", len([]rune(post.Text)))
		}
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(post.Text, "```\n"), "\n```"))
		if strings.Contains(post.Text, "line 0500") {
			break
		}
	}
	var want []string
	for i := 1; i <= 500; i++ {
		want = append(want, fmt.Sprintf("line %04d of the long reply", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("long reply did not arrive whole: %d parts", len(got))
	}
	if n := len(strings.Join(want, "\n")); n < 10000 {
		t.Fatalf("reply of %d characters does not test the limit", n)
	}
	// Paced: a burst of 3, then about one a second.
	for i := 3; i < len(times); i++ {
		if gap := times[i].Sub(times[i-3]); gap < 900*time.Millisecond { // 4 posts need a token bucket of 3 plus one refill
			t.Errorf("posts %d and %d to one channel only %s apart", i-3, i, gap)
		}
	}
	stopBot(t, p)
}

func TestSlackAllowWithUserName(t *testing.T) {
	fs, p, _ := slackBot(t, "")
	fs.Message("U1", "D1", "secret", "")
	expectPost(t, fs, "D1", "", "Sorry alice, secret.sh is only for members of ops.")
	fs.Message("U2", "D1", "secret", "")
	expectPost(t, fs, "D1", "", "the secret")
	fs.Message("U2", "D1", "whoami", "")
	expectPost(t, fs, "D1", "", "You are bob (id U2), groups: ops. Principal slack:U2, no person (link one with: link PERSON).")
	stopBot(t, p)
}

// The bot answers a mention of its Slack user even when that user's name
// is not the configured name.
func TestSlackMentionWithOtherBotUserName(t *testing.T) {
	fs, p, _ := slackBot(t, "name: hal\n")
	fs.Mention("U1", "C1", "echo by mention")
	expectPost(t, fs, "C1", "", "by mention")
	fs.Message("U1", "C1", "hal: echo by name", "")
	expectPost(t, fs, "C1", "", "by name")
	stopBot(t, p)
}

func TestSlackListenToBots(t *testing.T) {
	fs, p, _ := slackBot(t, "listen_to_bots: true\n")
	fs.Event(map[string]any{"type": "message", "subtype": "bot_message", "bot_id": "BOTHER", "channel": "C1", "text": "!echo from a bot"})
	expectPost(t, fs, "C1", "", "from a bot")
	// Still never its own.
	fs.Event(map[string]any{"type": "message", "bot_id": "BBOT", "user": "UBOT", "channel": "C1", "text": "!echo self"})
	fs.Message("U1", "C1", "!ping", "")
	expectPost(t, fs, "C1", "", "PONG")
	stopBot(t, p)
}

// A Slack stand-in without auth.test still works; a bad token does not.
func TestSlackAuth(t *testing.T) {
	fs := fakeslack.New()
	defer fs.Close()
	fs.NoAuthTest = true
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	cfg := "adapter: slack\nslack: {bot_token: xoxb-t, app_token: xapp-t, api_url: " + fs.APIURL() + "}\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	p := startBot(t, dir, baseEnv())
	if !fs.WaitConnected(10 * time.Second) {
		t.Fatalf("no connection without auth.test\n%s", p.stderr.String())
	}
	fs.Message("U1", "D1", "ping", "")
	expectPost(t, fs, "D1", "", "PONG")
	stopBot(t, p)

	fs2 := fakeslack.New()
	defer fs2.Close()
	cfg = "adapter: slack\nslack: {bot_token: bad-token, app_token: xapp-t, api_url: " + fs2.APIURL() + "}\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600)
	_, stderr, code := runOnce(t, dir, baseEnv(), "")
	if code != 1 || !strings.Contains(stderr, "invalid_auth (check slack.bot_token)") || strings.Contains(stderr, "bad-token") {
		t.Fatalf("bad token: exit %d, %q", code, stderr)
	}
}
