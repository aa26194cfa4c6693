package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/events"
	"github.com/wirebot/wirebot/handlers"
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

// envNotConfig reports whether a WIREBOT_ variable is never a config key.
func envNotConfig(name string) bool {
	switch name {
	case "WIREBOT_CONFIG", "WIREBOT_API_URL", "WIREBOT_API_TOKEN":
		return true
	}
	return false
}

// loadConfig reads the config file (if any) and WIREBOT_* variables over the
// defaults, and validates the result. Every error names the file and key, or
// the variable, at fault, and none shows the value of a key that may hold a
// secret.
func loadConfig(path string, environ []string) (bot.Config, error) {
	v := viper.New()
	defaults := bot.Defaults()
	ct := reflect.TypeOf(defaults)
	setDefaults(v, "", reflect.ValueOf(defaults))
	src := orDefaults(path)
	var raw map[string]any
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return bot.Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return bot.Config{}, fmt.Errorf("%s: %s", path, yamlProblem(err, ""))
		}
		var errs []error
		for _, k := range unknownKeys(raw, "", ct) {
			errs = append(errs, fmt.Errorf("%s: unknown key %q", path, k))
		}
		for _, err := range resolveSecretFiles(raw, "", "", ct) {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		if len(errs) > 0 {
			return bot.Config{}, errors.Join(errs...)
		}
	}
	// viper lower-cases map keys; variable names in scripts.env keep their
	// case. Taken before viper sees (and rewrites) the map.
	fileScriptsEnv := scriptsEnv(raw)
	if raw != nil {
		if err := v.MergeConfigMap(raw); err != nil {
			return bot.Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	// WIREBOT_* variables override the file. They are applied by hand
	// rather than with AutomaticEnv so that run() takes its environment as
	// an argument, like its other inputs.
	fromEnv, err := applyEnv(v, ct, environ)
	if err != nil {
		return bot.Config{}, err
	}
	cfg := defaults
	err = v.Unmarshal(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook,
		yamlStringHook,
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return bot.Config{}, decodeErrors(err, ct, src, fromEnv)
	}
	if fileScriptsEnv != nil && fromEnv["scripts.env"] == "" {
		cfg.Scripts.Env = fileScriptsEnv
	}
	var problems []error
	if err := cfg.Validate(); err != nil {
		problems = leafErrors(err)
	}
	// Webhooks' when, message and key are compiled here, as at start.
	problems = append(problems, events.Check(cfg)...)
	if len(problems) > 0 {
		var errs []error
		for _, e := range problems {
			where := src
			var ce *bot.ConfigError
			if errors.As(e, &ce) {
				where = sourceOf(ce.Key, src, fromEnv)
			}
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
		return bot.Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// applyEnv sets every WIREBOT_* variable's key in v and returns which
// variable set which key. A variable that names no key is an error.
func applyEnv(v *viper.Viper, ct reflect.Type, environ []string) (map[string]string, error) {
	keys := map[string]envKey{}
	envKeys(ct, "", "", keys)
	inRun := getenvFrom(environ)("WIREBOT_API_TOKEN") != ""
	vars := map[string]string{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WIREBOT_") || envNotConfig(name) {
			continue
		}
		// Inside a script that the bot runs (`wirebot check` called from a
		// script), the run's own variables are not config.
		if inRun && handlers.RunVariable(name) {
			continue
		}
		vars[name] = val
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	fromEnv := map[string]string{}
	var errs []error
	for _, name := range names {
		val := vars[name]
		k, ok := keys[strings.ToUpper(strings.TrimPrefix(name, "WIREBOT_"))]
		if !ok {
			msg := fmt.Sprintf("%s: no config key has this name", name)
			if near := nearestVar(name, keys); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		if prev, both := fromEnv[k.path]; both {
			errs = append(errs, fmt.Errorf("%s and %s both set %s: set one", prev, name, k.path))
			continue
		}
		if k.fromFile {
			secret, err := readSecretFile(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", name, k.path+"_file", err))
				continue
			}
			v.Set(k.path, secret)
			fromEnv[k.path] = name
			continue
		}
		if structured(k.typ) && strings.TrimSpace(val) != "" {
			var parsed any
			if err := yaml.Unmarshal([]byte(val), &parsed); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s is not valid YAML or JSON: %s", name, k.path, yamlProblem(err, val)))
				continue
			}
			var perrs []error
			changed := false
			if k.typ.Kind() == reflect.Slice && k.typ.Elem().Kind() == reflect.Struct {
				items, _ := parsed.([]any)
				for i, it := range items {
					m, ok := it.(map[string]any)
					if !ok {
						continue
					}
					at := fmt.Sprintf("%s[%d].", k.path, i)
					for _, u := range unknownKeys(m, at, k.typ.Elem()) {
						perrs = append(perrs, fmt.Errorf("%s: unknown key %q", name, u))
					}
					for _, err := range resolveSecretFiles(m, k.path+"[].", at, k.typ.Elem()) {
						perrs = append(perrs, fmt.Errorf("%s: %w", name, err))
					}
					changed = true
				}
			}
			if len(perrs) > 0 {
				errs = append(errs, perrs...)
				continue
			}
			if changed && parsed != nil {
				out, err := yaml.Marshal(parsed)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", name, k.path, err))
					continue
				}
				val = string(out)
			}
		}
		v.Set(k.path, val)
		fromEnv[k.path] = name
	}
	return fromEnv, errors.Join(errs...)
}

// envKey is a config key as a variable names it.
type envKey struct {
	path     string // slack.bot_token
	typ      reflect.Type
	fromFile bool // the variable names a file holding the secret at path
}

// envKeys lists every key a variable may set, by the variable's name without
// WIREBOT_: SLACK_BOT_TOKEN, SLACK_BOT_TOKEN_FILE, ...
func envKeys(t reflect.Type, prefix, pattern string, out map[string]envKey) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		key, pat := prefix+tag, pattern+tag
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			envKeys(f.Type, key+".", pat+".", out)
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		out[name] = envKey{path: key, typ: f.Type}
		if isSecret(pat, f.Type) {
			out[name+"_FILE"] = envKey{path: key, typ: f.Type, fromFile: true}
		}
	}
}

// isSecret reports whether the key (its path with [] for list items) holds
// a secret: its type is bot.Secret, or bot.SecretKeys lists it.
func isSecret(pattern string, t reflect.Type) bool {
	return t == reflect.TypeOf(bot.Secret("")) || slices.Contains(bot.SecretKeys(), pattern)
}

func structured(t reflect.Type) bool {
	return t.Kind() == reflect.Map || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct)
}

// nearestVar suggests the variable closest to a mistyped one.
func nearestVar(name string, keys map[string]envKey) string {
	rest := strings.ToUpper(strings.TrimPrefix(name, "WIREBOT_"))
	best, bestD := "", 4
	for k := range keys {
		if d := editDistance(rest, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return "WIREBOT_" + best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// resolveSecretFiles replaces each KEY_file in m (a map for the struct type
// t, at display path at and pattern path pattern) by KEY with the file's
// contents, for every key that holds a secret.
func resolveSecretFiles(m map[string]any, pattern, at string, t reflect.Type) []error {
	var errs []error
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		switch {
		case f.Type.Kind() == reflect.Struct:
			if sub, ok := m[tag].(map[string]any); ok {
				errs = append(errs, resolveSecretFiles(sub, pattern+tag+".", at+tag+".", f.Type)...)
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if items, ok := m[tag].([]any); ok {
				for j, it := range items {
					if sub, ok := it.(map[string]any); ok {
						errs = append(errs, resolveSecretFiles(sub, pattern+tag+"[].", fmt.Sprintf("%s%s[%d].", at, tag, j), f.Type.Elem())...)
					}
				}
			}
		case isSecret(pattern+tag, f.Type):
			fv, ok := m[tag+"_file"]
			if !ok {
				continue
			}
			key := at + tag
			if cur, set := m[tag]; set && cur != nil && cur != "" {
				errs = append(errs, fmt.Errorf("%s and %s_file are both set: set one", key, key))
				continue
			}
			p, ok := fv.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("%s_file: must be a file name", key))
				continue
			}
			secret, err := readSecretFile(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_file: %w", key, err))
				continue
			}
			delete(m, tag+"_file")
			m[tag] = secret
		}
	}
	return errs
}

// readSecretFile reads a secret from a file, less one trailing newline.
func readSecretFile(p string) (string, error) {
	if p == "" {
		return "", errors.New("the file name is empty")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("read %s: %w", p, pe.Err)
		}
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

var (
	quotedRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile("'[^']*'|`[^`]*`|\"[^\"]*\"") })
	lineRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line \d+`) })
	indexRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[\d+\]`) })
	// keyNameRE is a key shown in an error: a plain name.
	keyNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) })
)

// yamlProblem is a YAML error without any part of the text that was parsed:
// the text may hold secrets. Quoted parts are dropped; if a word of value
// still shows, only the line is kept.
func yamlProblem(err error, value string) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = quotedRE().ReplaceAllString(msg, "...")
	for _, w := range strings.FieldsFunc(value, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80)
	}) {
		if len(w) >= 3 && strings.Contains(msg, w) && !strings.Contains(yamlWords, w) {
			if m := lineRE().FindString(msg); m != "" {
				return "syntax error at " + m
			}
			return "syntax error"
		}
	}
	return msg
}

// yamlWords are words YAML's error messages are made of: a value that
// contains them does not make the message suspect.
const yamlWords = "line column did not find expected key node content found character that cannot start any token " +
	"mapping values are not allowed in this context could while parsing a block flow sequence collection " +
	"scanning simple end of stream unexpected document start plain scalar quoted escape unknown alias anchor " +
	"undefined tag handle directive comment between entries unmarshal errors into invalid leading"

// decodeErrors turns mapstructure's errors into one per key, each naming
// the file or variable that set it, and the value only when no secret can
// be in it.
func decodeErrors(err error, ct reflect.Type, src string, fromEnv map[string]string) error {
	var errs []error
	for _, e := range leafErrors(err) {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			errs = append(errs, fmt.Errorf("%s: %s", src, strings.ReplaceAll(e.Error(), "decoding failed due to the following error(s):\n\n", "")))
			continue
		}
		key := de.Name()
		msg := de.Unwrap().Error()
		var pe *mapstructure.ParseError
		if errors.As(de.Unwrap(), &pe) && !mayHoldSecret(key, ct) {
			msg = fmt.Sprintf("%s is not a valid %s", strconv.Quote(fmt.Sprint(pe.Value)), pe.Expected.Type())
		}
		errs = append(errs, fmt.Errorf("%s: %s: %s", sourceOf(key, src, fromEnv), key, msg))
	}
	return errors.Join(errs...)
}

// leafErrors flattens joined errors.
func leafErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			if _, ok := u.(interface{ Unwrap() []error }); ok {
				walk(u)
				return
			}
		}
		out = append(out, e)
	}
	walk(err)
	return out
}

// mayHoldSecret reports whether key (such as webhooks[0].secret or
// scripts.env) is, or contains, a key that holds a secret. scripts.env
// values are given to scripts and may be tokens.
func mayHoldSecret(key string, ct reflect.Type) bool {
	pattern := indexRE().ReplaceAllString(key, "[]")
	if strings.HasPrefix(pattern, "scripts.env") {
		return true
	}
	for _, s := range secretPatterns(ct, "") {
		if s == pattern || strings.HasPrefix(s, pattern+".") || strings.HasPrefix(s, pattern+"[]") || strings.HasPrefix(pattern, s) {
			return true
		}
	}
	return false
}

// secretPatterns lists every key that holds a secret, with [] for list items.
func secretPatterns(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, secretPatterns(f.Type, key+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, secretPatterns(f.Type.Elem(), key+"[].")...)
		case isSecret(key, f.Type):
			out = append(out, key)
		}
	}
	return out
}

// sourceOf names where key was set: the variable that set it or one of the
// keys above it, else the config file.
func sourceOf(key, src string, fromEnv map[string]string) string {
	for k := key; k != ""; {
		if name, ok := fromEnv[k]; ok {
			return name
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return src
}

func orDefaults(path string) string {
	if path == "" {
		return "config"
	}
	return path
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
// would otherwise be ignored without a word. KEY_file is known for every
// key that holds a secret.
func unknownKeys(raw map[string]any, prefix string, t reflect.Type) []string {
	return unknownKeysAt(raw, prefix, indexRE().ReplaceAllString(prefix, "[]"), t)
}

func unknownKeysAt(raw map[string]any, prefix, pattern string, t reflect.Type) []string {
	fields := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		fields[tag] = f
		if isSecret(pattern+tag, f.Type) {
			fields[tag+"_file"] = reflect.StructField{Type: reflect.TypeOf("")}
		}
	}
	var out []string
	for k, val := range raw {
		f, ok := fields[k]
		if !ok {
			// A key that is no name, or has no value, may be a value
			// that lost its separator (secret:xoxb-...): not shown.
			if !keyNameRE().MatchString(k) || val == nil {
				k = "(a key that is not a name)"
			}
			out = append(out, prefix+k)
			continue
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			if sub, ok := val.(map[string]any); ok {
				out = append(out, unknownKeysAt(sub, prefix+k+".", pattern+k+".", ft)...)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if items, ok := val.([]any); ok {
				for i, it := range items {
					if sub, ok := it.(map[string]any); ok {
						out = append(out, unknownKeysAt(sub, fmt.Sprintf("%s%s[%d].", prefix, k, i), pattern+k+"[].", ft.Elem())...)
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

// durationHook parses durations, naming the value when it is not one: a
// duration is never a secret.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	s := strings.TrimSpace(reflect.ValueOf(data).String())
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration (such as 30s, 5m or 1h)", s)
	}
	return d, nil
}

// yamlStringHook lets a variable give a structured key as YAML or JSON:
// WIREBOT_GROUPS='{ops: [alice, bob]}'.
func yamlStringHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(reflect.ValueOf(data).String())
	isStructured := structured(to)
	if to.Kind() == reflect.Slice && (strings.HasPrefix(s, "[") || strings.HasPrefix(s, "-")) {
		isStructured = true
	}
	if !isStructured {
		return data, nil
	}
	if s == "" {
		return reflect.MakeMap(reflect.MapOf(reflect.TypeOf(""), reflect.TypeOf((*any)(nil)).Elem())).Interface(), nil
	}
	var out any
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %s", yamlProblem(err, s))
	}
	if out == nil { // only a comment, or null: empty (a nil here panics mapstructure)
		if to.Kind() == reflect.Slice {
			return []any{}, nil
		}
		return map[string]any{}, nil
	}
	return out, nil
}
