package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wirebot/wirebot/bot"
)

// wfAdapter is an adapter that drops replies.
type wfAdapter struct{}

func (wfAdapter) Name() string                               { return "fuzz" }
func (wfAdapter) Run(ctx context.Context, _ bot.Inbox) error { <-ctx.Done(); return nil }
func (wfAdapter) Send(context.Context, bot.Reply) error      { return nil }

// GitHub's documented test vector (docs: "Validating webhook deliveries").
const (
	wfSecret = "It's a Secret to Everybody"
	wfBody   = "Hello, World!"
	wfSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func wfServer(t testing.TB) *HTTPServer {
	t.Helper()
	cfg := bot.Defaults()
	cfg.Webhooks = []bot.Webhook{{Name: "gh", Secret: bot.Secret(wfSecret), Channel: bot.Channels{"#ops"}}}
	b := bot.New(cfg, bot.Options{Adapter: wfAdapter{}})
	h, err := NewHTTPServer(b, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.ln.Close() })
	return h
}

func wfSign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(wfSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookGitHubVector(t *testing.T) {
	if got := wfSign([]byte(wfBody)); got != wfSig {
		t.Fatalf("vector: %s", got)
	}
	h := wfServer(t)
	for _, sig := range []string{wfSig, strings.ToUpper(wfSig[:7]) + wfSig[7:]} {
		req := httptest.NewRequest("POST", "/hooks/gh", strings.NewReader(wfBody))
		req.Header.Set("X-Hub-Signature-256", sig)
		w := httptest.NewRecorder()
		h.srv.Handler.ServeHTTP(w, req)
		if want := 202; sig != wfSig {
			want = 401 // the prefix is "sha256=", exactly
			if w.Code != want {
				t.Errorf("%s: %d, want %d", sig, w.Code, want)
			}
		} else if w.Code != want {
			t.Errorf("documented vector: %d, want %d: %s", w.Code, want, w.Body)
		}
	}
}

// FuzzWebhookRequest drives the hook handler with any body, signature and
// Authorization header: it never panics, never accepts a request that
// holds neither the secret nor the body's HMAC, and always accepts a
// correctly signed body of an allowed size.
func FuzzWebhookRequest(f *testing.F) {
	f.Add([]byte(wfBody), wfSig, "", false)
	f.Add([]byte(wfBody), "", "Bearer "+wfSecret, false)
	f.Add([]byte(wfBody), "", "bearer "+wfSecret, false)
	f.Add([]byte(`{"a":1}`), "sha256=", "Basic x", true)
	f.Add([]byte("payload=%7B%7D"), "sha256="+strings.Repeat("0", 64), "Bearer", false)
	f.Add([]byte{}, "sha1=abc", "Bearer  "+wfSecret+" ", true)
	f.Add([]byte(wfBody), strings.ToUpper(wfSig), "", false)
	f.Add([]byte(wfBody), "sha256="+strings.ToUpper(wfSig[7:]), "", false)
	h := wfServer(f)
	f.Fuzz(func(t *testing.T, body []byte, sig, auth string, signIt bool) {
		if signIt {
			sig = wfSign(body)
		}
		req := httptest.NewRequest("POST", "/hooks/gh", bytes.NewReader(body))
		if sig != "" {
			req.Header["X-Hub-Signature-256"] = []string{sig}
		}
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		h.srv.Handler.ServeHTTP(w, req)
		holdsSecret := strings.Contains(auth, wfSecret)
		// The hex may be in either case; the prefix is exactly "sha256=".
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		signed := ok && strings.EqualFold(hexSig, strings.TrimPrefix(wfSign(body), "sha256="))
		switch w.Code {
		case http.StatusAccepted:
			if !holdsSecret && !signed {
				t.Fatalf("accepted without the secret or a valid signature: auth %q sig %q", auth, sig)
			}
		case http.StatusUnauthorized:
			if signed && !strings.Contains(strings.ToLower(auth), "bearer") {
				t.Fatalf("valid signature refused: %d %s", w.Code, w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}
