package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wirebot/wirebot/bot"
)

// maxAPIBody caps a value or a say text sent to the script API.
const maxAPIBody = 1 << 20

// API is the script API: what `wirebot brain` and `wirebot say` talk to.
// It listens on loopback only and answers only a live run's token.
type API struct {
	bot   *bot.Bot
	store *bot.Store
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	url   string

	mu   sync.Mutex
	runs map[string]*apiRun // by token
}

type apiRun struct {
	ns  string // the script's namespace
	msg bot.Message
}

// NewAPI listens on a free loopback port.
func NewAPI(b *bot.Bot, s *bot.Store) (*API, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the script API: %w", err)
	}
	a := &API{bot: b, store: s, log: b.Logger(), ln: ln, url: "http://" + ln.Addr().String(), runs: map[string]*apiRun{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/brain", a.auth(a.get))
	mux.HandleFunc("PUT /v1/brain", a.auth(a.set))
	mux.HandleFunc("DELETE /v1/brain", a.auth(a.del))
	mux.HandleFunc("GET /v1/brain/keys", a.auth(a.list))
	mux.HandleFunc("POST /v1/brain/incr", a.auth(a.incr))
	mux.HandleFunc("POST /v1/say", a.auth(a.say))
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return a, nil
}

// URL is the base URL scripts get as WIREBOT_API_URL.
func (a *API) URL() string { return a.url }

// Serve answers requests until Close.
func (a *API) Serve() error {
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the script API: %w", err)
	}
	return nil
}

// Close stops the API.
func (a *API) Close(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// Issue makes a token for one run of a script and returns the variables
// that carry it; revoke ends the token's life.
func (a *API) Issue(r *bot.Request) (env []string, revoke func()) {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	a.mu.Lock()
	a.runs[token] = &apiRun{ns: r.Target.Name, msg: r.Message}
	a.mu.Unlock()
	return []string{"WIREBOT_API_URL=" + a.url, "WIREBOT_API_TOKEN=" + token}, func() {
		a.mu.Lock()
		delete(a.runs, token)
		a.mu.Unlock()
	}
}

func (a *API) lookup(token string) *apiRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Tokens are 192 random bits that live for one run: a map look-up
	// leaks nothing an attacker could use.
	return a.runs[token]
}

type apiHandler func(w http.ResponseWriter, r *http.Request, run *apiRun)

func (a *API) auth(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			http.Error(w, "missing token: the script API answers only scripts the bot is running", http.StatusUnauthorized)
			return
		}
		run := a.lookup(token)
		if run == nil {
			http.Error(w, "unknown or expired token: the run it belonged to has ended", http.StatusUnauthorized)
			return
		}
		h(w, r, run)
	}
}

func namespace(r *http.Request, run *apiRun) string {
	if r.URL.Query().Get("global") == "1" {
		return bot.GlobalNamespace
	}
	return "script:" + run.ns
}

func keyOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	k := r.URL.Query().Get("key")
	if k == "" {
		http.Error(w, "missing key", http.StatusBadRequest)
		return "", false
	}
	return k, true
}

func (a *API) get(w http.ResponseWriter, r *http.Request, run *apiRun) {
	k, ok := keyOf(w, r)
	if !ok {
		return
	}
	v, err := a.store.Get(namespace(r, run), k)
	if errors.Is(err, bot.ErrNotFound) {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	if err != nil {
		a.fail(w, "brain get", err)
		return
	}
	io.WriteString(w, v)
}

func (a *API) set(w http.ResponseWriter, r *http.Request, run *apiRun) {
	k, ok := keyOf(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		http.Error(w, "value over 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	if err := a.store.Set(namespace(r, run), k, string(body)); err != nil {
		a.fail(w, "brain set", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) incr(w http.ResponseWriter, r *http.Request, run *apiRun) {
	k, ok := keyOf(w, r)
	if !ok {
		return
	}
	delta := int64(1)
	if d := r.URL.Query().Get("by"); d != "" {
		var err error
		if delta, err = strconv.ParseInt(d, 10, 64); err != nil {
			http.Error(w, fmt.Sprintf("by=%s is not an integer", clip(d)), http.StatusBadRequest)
			return
		}
	}
	n, err := a.store.Incr(namespace(r, run), k, delta)
	// API errors never echo stored values: a value may be a MiB.
	switch {
	case errors.Is(err, bot.ErrNotNumber):
		http.Error(w, "the value of "+clip(k)+" is not an integer", http.StatusConflict)
		return
	case errors.Is(err, bot.ErrOverflow):
		http.Error(w, fmt.Sprintf("incr %s by %d would overflow a 64-bit integer; the value is unchanged", clip(k), delta), http.StatusConflict)
		return
	}
	if err != nil {
		a.fail(w, "brain incr", err)
		return
	}
	fmt.Fprintf(w, "%d", n)
}

func (a *API) del(w http.ResponseWriter, r *http.Request, run *apiRun) {
	k, ok := keyOf(w, r)
	if !ok {
		return
	}
	found, err := a.store.Delete(namespace(r, run), k)
	if err != nil {
		a.fail(w, "brain del", err)
		return
	}
	if !found {
		http.Error(w, "no such key", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) list(w http.ResponseWriter, r *http.Request, run *apiRun) {
	keys, err := a.store.Keys(namespace(r, run), r.URL.Query().Get("prefix"))
	if err != nil {
		a.fail(w, "brain list", err)
		return
	}
	for _, k := range keys {
		io.WriteString(w, k+"\n")
	}
}

func (a *API) say(w http.ResponseWriter, r *http.Request, run *apiRun) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		http.Error(w, "text over 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	// --channel takes ADAPTER:CHANNEL, or a bare channel on the first
	// adapter; the run's own channel keeps its thread.
	adapter := run.msg.Adapter
	reply := bot.Reply{Channel: run.msg.Channel, Thread: run.msg.Thread, Text: string(body), Via: run.msg.Via}
	if ch := strings.TrimSpace(r.URL.Query().Get("channel")); ch != "" {
		t := a.bot.Target(ch)
		if t.Adapter != adapter || (t.Channel.ID != run.msg.Channel.Label() && t.Channel.ID != run.msg.Channel.ID) {
			adapter, reply = t.Adapter, bot.Reply{Channel: t.Channel, Text: string(body)}
		}
	}
	if strings.TrimSpace(reply.Text) == "" {
		http.Error(w, "nothing to say", http.StatusBadRequest)
		return
	}
	if err := a.bot.Say(r.Context(), adapter, reply); err != nil {
		a.fail(w, "say", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) fail(w http.ResponseWriter, what string, err error) {
	ref := bot.Ref()
	a.log.Error("script API "+what, "ref", ref, "err", err)
	http.Error(w, fmt.Sprintf("%s failed (ref %s)", what, ref), http.StatusInternalServerError)
}

// clip shortens what a request sent, for an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "..."
}
