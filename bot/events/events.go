// Package events thinks about a webhook's request before anything posts
// or runs: it parses the body by the hook's format, filters it with the
// hook's `when`, renders its `message`, throttles per `key`, and keeps
// Alertmanager's groups in threads (SPEC: Events).
package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/wirebot/wirebot/bot"
	template "github.com/wirebot/wirebot/internal/jsontemplate"
)

// Formats a hook may declare.
const (
	FormatRaw          = "raw"
	FormatJSON         = "json"
	FormatGitHub       = "github"
	FormatAlertmanager = "alertmanager"
)

// Bounds on what one event may cost.
const (
	maxWhenNodes   = 1000      // AST nodes of a `when`
	whenBudget     = 1_000_000 // expr's memory budget per evaluation
	maxStepsPerRun = 1_000_000 // closure iterations per evaluation
	maxMessage     = 16 << 10  // bytes of a rendered message or key
	whenTimeout    = 100 * time.Millisecond
)

// ErrBadBody is a body the hook's format cannot parse: the sender gets 400.
var ErrBadBody = errors.New("body does not parse")

// FieldError is a problem with one key of a webhook entry.
type FieldError struct {
	Field string // e.g. "when"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Hook is one webhook's compiled format, filter, templates and throttle.
type Hook struct {
	Name     string
	Format   string
	Throttle time.Duration
	when     *vm.Program
	message  *template.Template
	key      *template.Template
	headers  map[string]bool // request headers scripts may see, canonical
}

// Compile checks and compiles a webhook entry's event keys. Errors name
// the key and, for `when` and templates, the line and column.
func Compile(wh bot.Webhook) (*Hook, error) {
	h := &Hook{Name: wh.Name, Format: wh.Format, Throttle: wh.Throttle, headers: map[string]bool{}}
	switch h.Format {
	case "":
		h.Format = FormatRaw
	case FormatRaw, FormatJSON, FormatGitHub, FormatAlertmanager:
	default:
		return nil, &FieldError{"format", fmt.Errorf("%q is not one of raw, json, github, alertmanager", wh.Format)}
	}
	if wh.When != "" {
		p, err := CompileWhen(wh.When)
		if err != nil {
			return nil, &FieldError{"when", err}
		}
		h.when = p
	}
	msg := wh.Message
	if msg == "" && h.Format == FormatAlertmanager {
		msg = defaultAlertmanagerMessage
	}
	if msg != "" {
		t, err := compileTemplate("message", msg)
		if err != nil {
			return nil, &FieldError{"message", err}
		}
		h.message = t
	}
	if wh.Key != "" {
		t, err := compileTemplate("key", wh.Key)
		if err != nil {
			return nil, &FieldError{"key", err}
		}
		h.key = t
	}
	for _, name := range append([]string{"Content-Type", "User-Agent", "X-GitHub-Event", "X-GitHub-Delivery", "X-Request-Id"}, wh.Headers...) {
		c := canonical(name)
		if secretHeader(c) {
			return nil, &FieldError{"headers", fmt.Errorf("%s is never given to scripts", c)}
		}
		h.headers[c] = true
	}
	return h, nil
}

// Posts reports whether the hook posts a message of its own.
func (h *Hook) Posts() bool { return h.message != nil }

const defaultAlertmanagerMessage = `[{{upper .status}}{{if eq .status "firing"}}:{{len .alerts}}{{end}}] ` +
	`{{range $k, $v := .groupLabels}}{{$k}}={{$v}} {{end}}` +
	`{{with .commonAnnotations.summary}}- {{.}}{{end}}`

// Event is one parsed request.
type Event struct {
	Hook string
	// Name is GitHub's event (X-GitHub-Event) or Alertmanager's status.
	Name string
	// Data is what `when`, `message` and `key` see: the body's fields by
	// their JSON names, `headers`, `event` and `hook`.
	Data map[string]any
	// Headers are the request headers scripts may see.
	Headers map[string]string
	// Group is Alertmanager's groupKey; Resolved says its status is resolved.
	Group    string
	Resolved bool
	body     []byte
}

// Ping reports a GitHub ping: answered 200, nothing run.
func (e *Event) Ping() bool { return e.Name == "ping" && e.Data["event"] == "ping" }

// Env are the WIREBOT_* variables a webhook script sees for the event.
func (e *Event) Env() []string {
	env := []string{"WIREBOT_HOOK=" + e.Hook, "WIREBOT_EVENT=" + e.Name}
	names := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, "WIREBOT_HEADER_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))+"="+e.Headers[k])
	}
	return env
}

func canonical(h string) string {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(h)), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func secretHeader(canon string) bool {
	switch canon {
	case "Authorization", "Cookie", "Proxy-Authorization", "X-Hub-Signature", "X-Hub-Signature-256":
		return true
	}
	return strings.Contains(strings.ToLower(canon), "signature") || strings.Contains(strings.ToLower(canon), "token")
}

// Parse reads a request's headers and body by the hook's format.
func (h *Hook) Parse(header map[string][]string, body []byte) (*Event, error) {
	ev := &Event{Hook: h.Name, Headers: map[string]string{}, body: body}
	hdrs := map[string]any{}
	for k, v := range header {
		c := canonical(k)
		if secretHeader(c) || len(v) == 0 {
			continue
		}
		hdrs[c] = v[0]
		if h.headers[c] {
			ev.Headers[c] = v[0]
		}
	}
	get := func(name string) string { s, _ := hdrs[name].(string); return s }
	data := map[string]any{}
	switch h.Format {
	case FormatRaw:
		// The body as is, and its fields when it happens to be JSON, so
		// a when or a silence's where can still name them.
		data["body"] = string(body)
		if len(body) > 0 && (body[0] == '{' || body[0] == ' ' || body[0] == '\n') {
			_ = decodeInto(data, body)
		}
	case FormatJSON, FormatAlertmanager:
		if err := decodeInto(data, body); err != nil {
			return nil, err
		}
	case FormatGitHub:
		payload := body
		if ct := get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			form, err := url.ParseQuery(string(body))
			if err != nil || !form.Has("payload") {
				return nil, fmt.Errorf("%w: a form-encoded GitHub body needs payload=", ErrBadBody)
			}
			payload = []byte(form.Get("payload"))
		}
		if err := decodeInto(data, payload); err != nil {
			return nil, err
		}
		ev.Name = get("X-Github-Event")
		data["event"] = ev.Name
	}
	if h.Format == FormatAlertmanager {
		ev.Name, _ = data["status"].(string)
		ev.Group, _ = data["groupKey"].(string)
		ev.Resolved = ev.Name == "resolved"
		if ev.Group == "" {
			return nil, fmt.Errorf("%w: no groupKey: not Alertmanager's webhook JSON", ErrBadBody)
		}
	}
	data["headers"] = hdrs
	data["hook"] = h.Name
	ev.Data = data
	return ev, nil
}

// decodeInto puts a JSON body's fields into data; a body that is not an
// object is data["body"].
func decodeInto(data map[string]any, body []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBody, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON value", ErrBadBody)
	}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			data[k] = x
		}
		return nil
	}
	data["body"] = v
	return nil
}

// Match evaluates the hook's `when` (true when there is none).
func (h *Hook) Match(ctx context.Context, ev *Event) (bool, error) {
	if h.when == nil {
		return true, nil
	}
	return evalWhen(ctx, h.when, ev.Data)
}

// Render is the hook's message for the event ("" when it has none).
func (h *Hook) Render(ev *Event) (string, error) {
	if h.message == nil {
		return "", nil
	}
	return execTemplate(h.message, ev.Data)
}

// Key names what the event is about, for throttles and threads.
func (h *Hook) Key(ev *Event) (string, error) {
	if h.key != nil {
		return execTemplate(h.key, ev.Data)
	}
	switch {
	case ev.Group != "":
		return ev.Group, nil
	case h.Format == FormatGitHub:
		repo := ""
		if r, ok := ev.Data["repository"].(map[string]any); ok {
			repo, _ = r["full_name"].(string)
		}
		return repo + " " + ev.Name, nil
	}
	sum := sha256.Sum256(ev.body)
	return hex.EncodeToString(sum[:8]), nil
}
