// Package web is the HTTP server: /healthz, /metrics, /hooks and the
// script API.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// Events thinks about a hook's request before anything posts or runs
// (bot/events implements it; main wires it).
type Events interface {
	Handle(ctx context.Context, wh bot.Webhook, header map[string][]string, body []byte) bot.HookOutcome
}

// HTTPServer serves /healthz, /metrics and /hooks/NAME.
type HTTPServer struct {
	b   *bot.Bot
	ln  net.Listener
	srv *http.Server

	large gate // slots for large bodies whose signature is unknown

	// Events, when set before Serve, handles formats, when, message,
	// throttles and threads.
	Events Events

	mu   sync.Mutex
	seen map[string]time.Time // hook + body hash -> when first seen
}

// NewHTTPServer listens on addr.
func NewHTTPServer(b *bot.Bot, addr string) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http.listen %s: %w", addr, err)
	}
	h := &HTTPServer{b: b, ln: ln, seen: map[string]time.Time{}, large: newGate(largeSlots)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		b.Metrics().WritePrometheus(w)
	})
	mux.HandleFunc("POST /hooks/{name}", h.hook)
	h.srv = &http.Server{
		Handler: mux,
		// Slow or idle clients cost a goroutine and a few KiB each, and
		// not for long (SPEC: Hardening). A hook's handler sets its own
		// body deadline; ReadTimeout is the backstop for the rest.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       bodyDeadline + 5*time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       15 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
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
	name, ok := h.b.Healthy()
	if !ok {
		http.Error(w, "not connected to "+name, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: connected to %s\n", name)
}

// credentials is what a request offers to prove it knows the hook's
// secret: a bearer token (checked before the body is read) or an
// X-Hub-Signature-256 HMAC (which needs the body).
type credentials struct {
	bearer    string // the token of "Authorization: Bearer TOKEN"
	hasBearer bool
	sig       []byte // the decoded HMAC of X-Hub-Signature-256
}

func credentialsOf(r *http.Request) credentials {
	var c credentials
	// RFC 9110 11.1: the scheme is case-insensitive.
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "bearer") {
		c.bearer, c.hasBearer = strings.TrimSpace(tok), true
	}
	if hexSig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="); ok && len(hexSig) == 2*sha256.Size {
		if sig, err := hex.DecodeString(hexSig); err == nil {
			c.sig = sig
		}
	}
	return c
}

// bearerOK checks the token in constant time.
func bearerOK(c credentials, secret string) bool {
	return c.hasBearer && subtle.ConstantTimeCompare([]byte(c.bearer), []byte(secret)) == 1
}

// signatureOK checks the HMAC-SHA256 of body in constant time.
func signatureOK(c credentials, secret string, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return c.sig != nil && hmac.Equal(c.sig, mac.Sum(nil))
}

// refuse answers an error and closes the connection: whatever is left of
// the body is not read.
func refuse(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Connection", "close")
	http.Error(w, text, code)
}

func (h *HTTPServer) hook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wh, ok := h.b.Webhook(name)
	label := name
	if !ok {
		// Label values come only from the config: a stranger's path
		// makes no new series.
		label = "_unknown"
	}
	result := "accepted"
	defer func() { h.b.Metrics().Webhook(label, result) }()
	if !ok {
		result = "unknown"
		refuse(w, http.StatusNotFound, "no such webhook: add it under webhooks: with a secret")
		return
	}
	// The whole body within bodyDeadline of the headers, or 408.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyDeadline))
	limit := wh.BodyLimit()
	tooLarge := fmt.Sprintf("body over %d bytes (max_body)", limit)
	if r.ContentLength > limit {
		result = "too_large"
		refuse(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	secret := wh.Secret.Reveal()
	cred := credentialsOf(r)
	if cred.hasBearer && !bearerOK(cred, secret) || !cred.hasBearer && cred.sig == nil {
		result = "unauthorized"
		refuse(w, http.StatusUnauthorized, "bad or missing signature (X-Hub-Signature-256) or bearer token")
		return
	}
	authed := cred.hasBearer // checked above
	body, err := readBody(r.Context(), r.Body, r.ContentLength, limit, h.large, !authed)
	switch {
	case errors.Is(err, errBodyTooLarge):
		result = "too_large"
		refuse(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	case errors.Is(err, errBodyTimeout):
		result = "timeout"
		refuse(w, http.StatusRequestTimeout, fmt.Sprintf("body not sent within %s", bodyDeadline))
		return
	case errors.Is(err, errBusy):
		result = "busy"
		w.Header().Set("Retry-After", "1")
		refuse(w, http.StatusServiceUnavailable, "too many large bodies being read: try again")
		return
	case err != nil:
		result = "bad_request"
		refuse(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if !authed && !signatureOK(cred, secret, body) {
		result = "unauthorized"
		refuse(w, http.StatusUnauthorized, "bad or missing signature (X-Hub-Signature-256) or bearer token")
		return
	}
	if wh.Dedupe > 0 && h.duplicate(name, body, wh.Dedupe) {
		result = "duplicate"
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "duplicate within dedupe window: nothing run")
		return
	}
	out := bot.HookOutcome{Result: "accepted", Status: http.StatusAccepted, Run: true}
	if h.Events != nil {
		// Parses the body by the hook's format, then asks Silenced.
		out = h.Events.Handle(h.b.RunContext(), wh, r.Header, body)
	} else if id, ok := h.b.Silenced(wh.Name, eventEnv(r, body), time.Now()); ok {
		out = bot.HookOutcome{Result: "silenced", Status: http.StatusAccepted, Text: "silenced by " + id + ": nothing run"}
	}
	result = out.Result
	if !out.Run {
		w.WriteHeader(out.Status)
		fmt.Fprintln(w, out.Text)
		return
	}
	n, err := h.b.RunHook(wh, body, out.Env...)
	if errors.Is(err, bot.ErrStopping) {
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

// eventEnv is the data a silence's where sees: the fields of a JSON object
// body and the request's headers. (The hook's format parsing, in
// bot/events, gives the same data to `when` and takes this over.)
func eventEnv(r *http.Request, body []byte) map[string]any {
	env := map[string]any{}
	var fields map[string]any
	if json.Unmarshal(body, &fields) == nil {
		maps.Copy(env, fields)
	}
	headers := map[string]any{}
	for k, v := range r.Header {
		// Never the credentials: a where could guess at them.
		if k == "Authorization" || k == "Cookie" || strings.HasPrefix(k, "X-Hub-Signature") {
			continue
		}
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	env["headers"] = headers
	return env
}
