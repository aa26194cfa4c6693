package bot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverShows(t *testing.T) {
	cfg := Defaults()
	cfg.Slack.BotToken = "xoxb-very-secret"
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Debug("config", "token", cfg.Slack.BotToken, "slack", cfg.Slack)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "token", cfg.Slack.BotToken, "slack", cfg.Slack)
	fmt.Fprintf(&buf, "%v %+v %#v %s\n", cfg.Slack, cfg.Slack, cfg.Slack, cfg.Slack.BotToken)
	data, _ := json.Marshal(cfg.Slack)
	buf.Write(data)
	if strings.Contains(buf.String(), "very-secret") {
		t.Fatalf("secret shown:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "REDACTED") {
		t.Fatalf("no REDACTED marker:\n%s", buf.String())
	}
	if cfg.Slack.BotToken.Reveal() != "xoxb-very-secret" {
		t.Fatal("Reveal lost the value")
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cfg := Defaults()
	cfg.Adapter = "telegram"
	cfg.Scripts.MaxConcurrent = 0
	cfg.Scripts.EnvPassthrough = []string{"WIREBOT_SLACK_BOT_TOKEN"}
	cfg.Schedules = []Schedule{{Name: "x", Cron: "61 * * * *", Channel: Channels{"ops"}, Command: "ping"}}
	cfg.Chains = []Chain{{Name: "c", Respond: `^c (?P<v>\S+)$`, Steps: []string{"build {version}"}}}
	cfg.Webhooks = []Webhook{{Name: "h"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"adapter:", "scripts.max_concurrent:", "scripts.env_passthrough:", "schedules[0].cron:", "chains[0].steps[0]:", "webhooks[0].secret:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	good := Defaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}
