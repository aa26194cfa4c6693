package events

import (
	"errors"
	"fmt"
	"strings"
	"time"

	template "github.com/wirebot/wirebot/internal/jsontemplate"
)

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"upper": func(v any) string { return strings.ToUpper(str(v)) },
		"lower": func(v any) string { return strings.ToLower(str(v)) },
		// join LIST SEP
		"join": func(list any, sep string) string {
			items, ok := list.([]any)
			if !ok {
				return str(list)
			}
			s := make([]string, len(items))
			for i, x := range items {
				s[i] = str(x)
			}
			return strings.Join(s, sep)
		},
		// default DEFAULT VALUE: VALUE unless it is missing or empty.
		"default": func(def any, v ...any) any {
			if len(v) == 0 || empty(v[0]) {
				return def
			}
			return v[0]
		},
		// since TIME: how long ago an RFC 3339 time was, e.g. "5m0s".
		"since": func(v any) string {
			t, err := time.Parse(time.RFC3339Nano, str(v))
			if err != nil || t.IsZero() || t.Year() < 2 {
				return ""
			}
			return time.Since(t).Round(time.Second).String()
		},
	}
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
	}
	return fmt.Sprint(v)
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case bool:
		return !x
	case float64:
		return x == 0
	}
	return false
}

func compileTemplate(name, src string) (*template.Template, error) {
	t, err := template.New(name).Funcs(templateFuncs()).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return t, nil
}

// capped is a writer that refuses past maxMessage bytes.
type capped struct{ b strings.Builder }

var errTooLong = errors.New("over 16 KiB")

func (c *capped) Write(p []byte) (int, error) {
	if c.b.Len()+len(p) > maxMessage {
		return 0, errTooLong
	}
	return c.b.Write(p)
}

func execTemplate(t *template.Template, data map[string]any) (string, error) {
	var c capped
	if err := t.Execute(&c, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return strings.ReplaceAll(c.b.String(), "<no value>", ""), nil
}
