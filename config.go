package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/wirebot/wirebot/bot"
)

// configSearch is where the config file is looked for when neither --config
// nor $WIREBOT_CONFIG names one.
var configSearch = []string{"config.yaml", "/etc/wirebot/config.yaml"}

// usageError is bad usage or bad config: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// findConfig returns the config file to read, or "" to run on defaults.
func findConfig(flagPath string, getenv func(string) string) (string, error) {
	for _, explicit := range []string{flagPath, getenv("WIREBOT_CONFIG")} {
		if explicit == "" {
			continue
		}
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("config file %s: %w", explicit, err)
		}
		return explicit, nil
	}
	for _, p := range configSearch {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("config file %s: %w", p, err)
		}
	}
	return "", nil
}

// loadConfig reads the config file (if any) and WIREBOT_* variables over the
// defaults, and validates the result. Every error names the file or key.
func loadConfig(path string, environ []string) (bot.Config, error) {
	v := viper.New()
	defaults := bot.Defaults()
	setDefaults(v, "", reflect.ValueOf(defaults))
	// WIREBOT_* variables override the file. They are applied by hand
	// rather than with AutomaticEnv so that run() takes its environment as
	// an argument, like its other inputs.
	fromEnv := map[string]bool{}
	for _, kv := range environ {
		k, val, _ := strings.Cut(kv, "=")
		if key, ok := envKey(v, k); ok {
			v.Set(key, val)
			fromEnv[key] = true
		}
	}
	var raw map[string]any
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return bot.Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return bot.Config{}, fmt.Errorf("%s: %w", path, err)
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(strings.NewReader(string(data))); err != nil {
			return bot.Config{}, fmt.Errorf("%s: %w", path, err)
		}
		if unknown := unknownKeys(raw, "", reflect.TypeOf(defaults)); len(unknown) > 0 {
			var errs []error
			for _, k := range unknown {
				errs = append(errs, fmt.Errorf("%s: unknown key %q", path, k))
			}
			return bot.Config{}, errors.Join(errs...)
		}
	}
	cfg := defaults
	err := v.Unmarshal(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		yamlStringHook,
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "decoding failed due to the following error(s):\n\n", "")
		return bot.Config{}, fmt.Errorf("%s: %s", orDefaults(path), msg)
	}
	// viper lower-cases map keys; variable names in scripts.env keep their case.
	if env := scriptsEnv(raw); env != nil && !fromEnv["scripts.env"] {
		cfg.Scripts.Env = env
	}
	if err := cfg.Validate(); err != nil {
		return bot.Config{}, prefixErrors(orDefaults(path), err)
	}
	return cfg, nil
}

func orDefaults(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func prefixErrors(prefix string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// envKey maps WIREBOT_SLACK_BOT_TOKEN to slack.bot_token for known keys.
func envKey(v *viper.Viper, name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "WIREBOT_")
	if !ok || rest == "CONFIG" {
		return "", false
	}
	for _, k := range v.AllKeys() {
		if strings.EqualFold(strings.ReplaceAll(k, ".", "_"), rest) {
			return k, true
		}
	}
	return "", false
}

// setDefaults gives viper a default for every key of the config struct, so
// that WIREBOT_* variables override keys the file does not mention
// (spf13/viper#761).
func setDefaults(v *viper.Viper, prefix string, val reflect.Value) {
	t := val.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		fv := val.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			setDefaults(v, key+".", fv)
			continue
		}
		v.SetDefault(key, fv.Interface())
	}
}

// unknownKeys lists keys in the file that the config does not have: a typo
// would otherwise be ignored without a word.
func unknownKeys(raw map[string]any, prefix string, t reflect.Type) []string {
	fields := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		fields[f.Tag.Get("mapstructure")] = f
	}
	var out []string
	for k, val := range raw {
		f, ok := fields[k]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			if sub, ok := val.(map[string]any); ok {
				out = append(out, unknownKeys(sub, prefix+k+".", ft)...)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if items, ok := val.([]any); ok {
				for i, it := range items {
					if sub, ok := it.(map[string]any); ok {
						out = append(out, unknownKeys(sub, fmt.Sprintf("%s%s[%d].", prefix, k, i), ft.Elem())...)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func scriptsEnv(raw map[string]any) map[string]string {
	s, ok := raw["scripts"].(map[string]any)
	if !ok {
		return nil
	}
	e, ok := s["env"].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(e))
	for k, v := range e {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// yamlStringHook lets a variable give a structured key as YAML or JSON:
// WIREBOT_GROUPS='{ops: [alice, bob]}'.
func yamlStringHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(reflect.ValueOf(data).String())
	structured := to.Kind() == reflect.Map || (to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.Struct)
	if to.Kind() == reflect.Slice && (strings.HasPrefix(s, "[") || strings.HasPrefix(s, "-")) {
		structured = true
	}
	if !structured {
		return data, nil
	}
	if s == "" {
		return reflect.MakeMap(reflect.MapOf(reflect.TypeOf(""), reflect.TypeOf((*any)(nil)).Elem())).Interface(), nil
	}
	var out any
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("parse %q as YAML: %w", s, err)
	}
	return out, nil
}
