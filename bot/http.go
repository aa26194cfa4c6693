package bot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxHookBody is the largest webhook body accepted.
const maxHookBody = 1 << 20

// WebhookUser is who a webhook's command runs as.
var WebhookUser = User{ID: "webhook", Name: "webhook"}

// HTTPServer serves /healthz, /metrics and /hooks/NAME.
type HTTPServer struct {
	b   *Bot
	ln  net.Listener
	srv *http.Server

	mu   sync.Mutex
	seen map[string]time.Time // hook + body hash -> when first seen
}

// NewHTTPServer listens on addr.
func NewHTTPServer(b *Bot, addr string) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http.listen %s: %w", addr, err)
	}
	h := &HTTPServer{b: b, ln: ln, seen: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		b.metrics.WritePrometheus(w)
	})
	mux.HandleFunc("POST /hooks/{name}", h.hook)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return h, nil
}

// Addr is where the server listens.
func (h *HTTPServer) Addr() string { return h.ln.Addr().String() }

// Serve answers until Close.
func (h *HTTPServer) Serve() error {
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Close stops the server, letting requests in progress finish.
func (h *HTTPServer) Close(ctx context.Context) error { return h.srv.Shutdown(ctx) }

func (h *HTTPServer) healthz(w http.ResponseWriter, _ *http.Request) {
	c, ok := h.b.adapter.(Connected)
	if ok && !c.Connected() {
		http.Error(w, "not connected to "+h.b.adapter.Name(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: connected to %s\n", h.b.adapter.Name())
}

// SetScriptHooks replaces the scripts that declare @webhook NAME.
func (b *Bot) SetScriptHooks(hooks map[string][]*Command) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hooks = hooks
}

func (b *Bot) scriptHooks(name string) []*Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hooks[name]
}

func (b *Bot) webhook(name string) (Webhook, bool) {
	for _, wh := range b.cfg.Webhooks {
		if wh.Name == name {
			return wh, true
		}
	}
	return Webhook{}, false
}

// authorized checks X-Hub-Signature-256 (HMAC-SHA256 of the body) or a
// bearer token, in constant time.
func authorized(r *http.Request, secret string, body []byte) bool {
	if sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="); ok {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := hex.EncodeToString(mac.Sum(nil))
		return hmac.Equal([]byte(strings.ToLower(sig)), []byte(want))
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) == 1
	}
	return false
}

func (h *HTTPServer) hook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	result := "accepted"
	defer func() { h.b.metrics.webhook(name, result) }()
	wh, ok := h.b.webhook(name)
	if !ok {
		result = "unknown"
		http.Error(w, fmt.Sprintf("no webhook %q: add it under webhooks: with a secret", name), http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			result = "too_large"
			http.Error(w, "body over 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		result = "bad_request"
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !authorized(r, wh.Secret.Reveal(), body) {
		result = "unauthorized"
		http.Error(w, "bad or missing signature (X-Hub-Signature-256) or bearer token", http.StatusUnauthorized)
		return
	}
	if wh.Dedupe > 0 && h.duplicate(name, body, wh.Dedupe) {
		result = "duplicate"
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "duplicate within dedupe window: nothing run")
		return
	}
	n, err := h.b.runHook(wh, body)
	if errors.Is(err, errStopping) {
		result = "stopping"
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "accepted: %d runs started\n", n)
}

// duplicate reports whether the same body came for this hook within window,
// remembering it when not.
func (h *HTTPServer) duplicate(name string, body []byte, window time.Duration) bool {
	sum := sha256.Sum256(body)
	key := name + "/" + hex.EncodeToString(sum[:])
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.seen {
		if now.Sub(t) > 24*time.Hour || (strings.HasPrefix(k, name+"/") && now.Sub(t) > window) {
			delete(h.seen, k)
		}
	}
	if t, ok := h.seen[key]; ok && now.Sub(t) <= window {
		return true
	}
	h.seen[key] = now
	return false
}

// runHook starts every script that declares @webhook NAME (body on stdin)
// and the hook's command (routed as if the user webhook had typed it).
func (b *Bot) runHook(wh Webhook, body []byte) (int, error) {
	b.intake.RLock()
	defer b.intake.RUnlock()
	if b.stopping {
		return 0, errStopping
	}
	msg := Message{User: WebhookUser, Channel: ChannelNamed(wh.Channel), Adapter: b.adapter.Name()}
	n := 0
	for _, cmd := range b.scriptHooks(wh.Name) {
		r := &Request{Message: msg, Command: "", Kind: Respond, Trigger: TriggerWebhook, Target: cmd, Stdin: bytes.Clone(body)}
		r.Message.Text = ""
		b.start(r)
		n++
	}
	if wh.Command != "" {
		r := &Request{Message: msg, Command: wh.Command, Trigger: TriggerWebhook}
		r.Message.Text = wh.Command
		if b.Dispatch(r) {
			n++
		} else {
			b.log.Warn("webhook command matches nothing", "hook", wh.Name, "command", wh.Command)
			b.send(msg, fmt.Sprintf("Webhook %s: %q matches no command.", wh.Name, wh.Command))
		}
	}
	return n, nil
}
