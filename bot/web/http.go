// Package web is the HTTP server: /healthz, /metrics, /hooks and the
// script API.
package web

import (
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

	"github.com/wirebot/wirebot/bot"
)

// maxHookBody is the largest webhook body accepted.
const maxHookBody = 1 << 20

// HTTPServer serves /healthz, /metrics and /hooks/NAME.
type HTTPServer struct {
	b   *bot.Bot
	ln  net.Listener
	srv *http.Server

	mu   sync.Mutex
	seen map[string]time.Time // hook + body hash -> when first seen
}

// NewHTTPServer listens on addr.
func NewHTTPServer(b *bot.Bot, addr string) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on http.listen %s: %w", addr, err)
	}
	h := &HTTPServer{b: b, ln: ln, seen: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		b.Metrics().WritePrometheus(w)
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
	name, ok := h.b.Healthy()
	if !ok {
		http.Error(w, "not connected to "+name, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: connected to %s\n", name)
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
	defer func() { h.b.Metrics().Webhook(name, result) }()
	wh, ok := h.b.Webhook(name)
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
	n, err := h.b.RunHook(wh, body)
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
