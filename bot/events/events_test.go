package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wirebot/wirebot/bot"
)

func mustHook(t testing.TB, wh bot.Webhook) *Hook {
	t.Helper()
	h, err := Compile(wh)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestWhenFiltersAlertmanager(t *testing.T) {
	h := mustHook(t, bot.Webhook{Name: "am", Format: "alertmanager", When: `status == "firing" && commonLabels.severity == "critical"`})
	for body, want := range map[string]bool{
		`{"status":"firing","groupKey":"g","commonLabels":{"severity":"critical"},"alerts":[{}]}`: true,
		`{"status":"firing","groupKey":"g","commonLabels":{"severity":"warning"},"alerts":[{}]}`:  false,
		`{"status":"resolved","groupKey":"g","commonLabels":{"severity":"critical"}}`:             false,
		`{"status":"firing","groupKey":"g"}`:                                                      false,
	} {
		ev, err := h.Parse(nil, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Match(context.Background(), ev)
		if got != want {
			t.Errorf("%s: %v (%v), want %v", body, got, err, want)
		}
	}
}

func TestWhenErrorsHavePositions(t *testing.T) {
	for src, want := range map[string]string{
		`status == `:          "(1:",
		`status == "x" &&& 1`: "(1:",
		"a ==\n  (b":          "(2:",
	} {
		_, err := Compile(bot.Webhook{Name: "x", When: src})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "when" || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a when error with %q", src, err, want)
		}
	}
	_, err := Compile(bot.Webhook{Name: "x", Message: "{{.a"})
	if err == nil || !strings.Contains(err.Error(), "message:1:") {
		t.Errorf("bad message: %v", err)
	}
}

func TestWhenIsTimeBounded(t *testing.T) {
	h := mustHook(t, bot.Webhook{Name: "x", Format: "json", When: `all(items, {all(items, {all(items, {# >= 0})})})`})
	items := make([]string, 3000)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	ev, err := h.Parse(nil, []byte(`{"items":[`+strings.Join(items, ",")+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Match(context.Background(), ev); !errors.Is(err, errWhenTooSlow) {
		t.Fatalf("27e9 steps: %v, want the time bound", err)
	}
}

func TestGitHubFormEncodedAndPing(t *testing.T) {
	h := mustHook(t, bot.Webhook{Name: "gh", Format: "github", Message: `{{.repository.full_name}}: {{.pusher.name}} pushed {{len .commits}} commits to {{.ref}}`})
	body := "payload=" + strings.NewReplacer(`{`, "%7B", `}`, "%7D", `"`, "%22", ":", "%3A", ",", "%2C", "/", "%2F", " ", "+", "[", "%5B", "]", "%5D").
		Replace(`{"ref":"refs/heads/main","repository":{"full_name":"acme/web"},"pusher":{"name":"ann"},"commits":[{},{}]}`)
	ev, err := h.Parse(map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Github-Event": {"push"}}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := h.Render(ev)
	if err != nil || msg != "acme/web: ann pushed 2 commits to refs/heads/main" {
		t.Fatalf("%q %v", msg, err)
	}
	if k, _ := h.Key(ev); k != "acme/web push" {
		t.Errorf("key %q", k)
	}
	ping, _ := h.Parse(map[string][]string{"X-GitHub-Event": {"ping"}}, []byte(`{"zen":"x"}`))
	if !ping.Ping() {
		t.Error("ping not seen")
	}
}

func TestTemplateHelpers(t *testing.T) {
	h := mustHook(t, bot.Webhook{Name: "x", Format: "json", Message: `{{upper .a}} {{lower .b}} {{join .l ", "}} {{default "none" .missing}} {{since .t}}`})
	ev, _ := h.Parse(nil, []byte(`{"a":"hi","b":"LO","l":["x","y"],"t":"2000-01-01T00:00:00Z"}`))
	got, err := h.Render(ev)
	if err != nil || !strings.HasPrefix(got, "HI lo x, y none ") || strings.HasSuffix(got, " ") {
		t.Fatalf("%q %v", got, err)
	}
}

func TestScriptEnvHasNoSecrets(t *testing.T) {
	h := mustHook(t, bot.Webhook{Name: "gh", Format: "github", Headers: []string{"x-extra"}})
	ev, _ := h.Parse(map[string][]string{"X-Github-Event": {"push"}, "Authorization": {"Bearer s"}, "X-Hub-Signature-256": {"sha256=x"}, "X-Extra": {"1"}, "Cookie": {"c"}, "X-Other": {"no"}}, []byte(`{}`))
	env := strings.Join(ev.Env(), "\n")
	for _, want := range []string{"WIREBOT_HOOK=gh", "WIREBOT_EVENT=push", "WIREBOT_HEADER_X_GITHUB_EVENT=push", "WIREBOT_HEADER_X_EXTRA=1"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	for _, bad := range []string{"Bearer", "sha256", "COOKIE", "X_OTHER"} {
		if strings.Contains(env, bad) {
			t.Errorf("env has %s:\n%s", bad, env)
		}
	}
	if _, err := Compile(bot.Webhook{Name: "x", Headers: []string{"authorization"}}); err == nil {
		t.Error("Authorization allowed to scripts")
	}
}

func BenchmarkWhen(b *testing.B) {
	h := mustHook(b, bot.Webhook{Name: "m", Format: "json", When: `status == "down" && service in ["web", "db"] && latency_ms > 500`})
	ev, _ := h.Parse(nil, []byte(`{"status":"down","service":"web","latency_ms":900,"region":"eu"}`))
	ctx := context.Background()
	for b.Loop() {
		if ok, err := h.Match(ctx, ev); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
