package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wirebot/wirebot/bot"
)

// FuzzConfigFromVariables loads the config from one WIREBOT_ variable. It
// must never panic, and an error about a key that may hold a secret must
// not show any word of the value beyond YAML's own and the config's key
// names (issue 9 items 7 and 8).
func FuzzConfigFromVariables(f *testing.F) {
	for _, seed := range [][2]string{
		{"WEBHOOKS", "[{name: x, secret: LEAKED9"},
		{"WEBHOOKS", "[{name: x, secret: *LEAKED9}]"},
		{"WEBHOOKS", `[{name: x, secret: "LEAKED9\q"}]`},
		{"WEBHOOKS", "[{name: x, secret:LEAKED9}]"},
		{"WEBHOOKS", "[{name: x, secret: [LEAKED9]}]"},
		{"WEBHOOKS", "- name: x\n  secret: LEAKED9\n dedupe: 1m"},
		{"WEBHOOKS", `[{"name": "x", "secret": "LEAKED9", "dedupe": "soon"}]`},
		{"SCRIPTS_ENV", "{TOKEN: LEAKED9"},
		{"SCRIPTS_ENV", "{TOKEN=LEAKED9}"},
		{"SCRIPTS_ENV", "{TOKEN: \tLEAKED9: x}"},
		{"SLACK_BOT_TOKEN", "xoxb-LEAKED9"},
		{"SLACK_BOT_TOKEN_FILE", "/nonexistent"},
		{"IRC_PASSWORD", "LEAKED9"},
		{"SCRIPTS_TIMEOUT", "banana"},
		{"GROUPS", "{ops: [alice, bob]}"},
		{"SCHEDULES", "[{cron: '* * *', channel: x, command: y}]"},
		{"ADMINS", "alice,bob"},
		{"SCRIPTS_TIMOUT", "1s"},
	} {
		f.Add(seed[0], seed[1])
	}
	allowed := map[string]bool{}
	for _, w := range strings.Fields(yamlWords) {
		allowed[w] = true
	}
	var tags func(t reflect.Type)
	tags = func(t reflect.Type) {
		for i := range t.NumField() {
			fl := t.Field(i)
			for _, w := range strings.FieldsFunc(fl.Tag.Get("mapstructure"), notWordRune) {
				allowed[w] = true
			}
			switch {
			case fl.Type.Kind() == reflect.Struct:
				tags(fl.Type)
			case fl.Type.Kind() == reflect.Slice && fl.Type.Elem().Kind() == reflect.Struct:
				tags(fl.Type.Elem())
			}
		}
	}
	tags(reflect.TypeOf(bot.Config{}))
	f.Fuzz(func(t *testing.T, name, value string) {
		if strings.ContainsAny(name, "=\x00") || strings.Contains(value, "\x00") {
			return
		}
		name = "WIREBOT_" + strings.ToUpper(name)
		_, err := loadConfig("", []string{name + "=" + value})
		if err == nil {
			return
		}
		keys := map[string]envKey{}
		envKeys(reflect.TypeOf(bot.Config{}), "", "", keys)
		k, ok := keys[strings.TrimPrefix(name, "WIREBOT_")]
		if !ok || k.fromFile || !mayHoldSecret(k.path, reflect.TypeOf(bot.Config{})) {
			return
		}
		msg := err.Error()
		// The secrets in the value: when it parses, the values of secret
		// keys (a webhook's secret, every scripts.env value, the whole of
		// a secret scalar); when it does not, every word of it.
		var secrets []string
		var parsed any
		switch {
		case !structured(k.typ):
			secrets = []string{value}
		case yaml.Unmarshal([]byte(value), &parsed) != nil:
			for _, w := range strings.FieldsFunc(value, notWordRune) {
				if !allowed[w] && !allowed[strings.ToLower(w)] && !strings.Contains(name, w) {
					secrets = append(secrets, w)
				}
			}
		case k.path == "scripts.env":
			if m, ok := parsed.(map[string]any); ok {
				for _, v := range m {
					secrets = append(secrets, fmt.Sprint(v))
				}
			}
		default:
			if items, ok := parsed.([]any); ok {
				for _, it := range items {
					if m, ok := it.(map[string]any); ok && m["secret"] != nil {
						secrets = append(secrets, fmt.Sprint(m["secret"]))
					}
				}
			}
		}
		for _, sec := range secrets {
			if len(sec) >= 6 && strings.Contains(msg, sec) {
				t.Fatalf("%s=%q: the error shows the secret %q: %s", name, value, sec, msg)
			}
		}
	})
}

func notWordRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80)
}
