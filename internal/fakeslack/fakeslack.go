// Package fakeslack is a Slack stand-in for tests: the Socket Mode
// websocket (hello, envelopes, pings, disconnect) and the Web API methods
// wirebot uses, on an httptest server.
package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Post is one chat.postMessage call.
type Post struct {
	Channel string
	Text    string
	Thread  string
	Blocks  string
	At      time.Time // when it arrived
	// Via is "response_url" for a post made through a slash command's
	// response_url (Channel is then the command's channel), else "".
	Via          string
	ResponseType string
	// TS is the ts chat.postMessage answered: the posted message's id.
	TS string
}

// Server is a fake Slack.
type Server struct {
	*httptest.Server
	BotUserID string
	BotID     string
	BotName   string
	// Users and Channels answer users.info and conversations.info.
	Users    map[string]string // id -> unique name
	Channels map[string]string // id -> name

	Posts chan Post
	// NoAuthTest makes auth.test answer unknown_method, as a minimal
	// stand-in might.
	NoAuthTest bool
	// BeforePost, when set, sees each chat.postMessage before it is
	// answered: the bot is still inside its Send meanwhile.
	BeforePost func(Post)
	// NotIn lists channels the bot has not joined: chat.postMessage to
	// them answers not_in_channel, as Slack does.
	NotIn map[string]bool

	mu        sync.Mutex
	conn      *websocket.Conn
	connected chan struct{}
	acks      map[string]bool
	fail429   int
	refuse    int
	ts        atomic.Int64
	env       atomic.Int64
	// Connections counts websocket connections made; Live those open now.
	Connections atomic.Int64
	Live        atomic.Int64
	calls       map[string]int
	responses   map[string]*response // response_url id -> its command
	stop        chan struct{}
	closeOnce   sync.Once
}

// New starts a fake Slack. Close it when done.
func New() *Server {
	s := &Server{
		BotUserID: "UBOT", BotID: "BBOT", BotName: "wirebot",
		Users:     map[string]string{"U1": "alice", "U2": "bob", "U3": "carol"},
		Channels:  map[string]string{"C1": "ops", "C2": "dev", "D1": ""},
		Posts:     make(chan Post, 10000),
		acks:      map[string]bool{},
		calls:     map[string]int{},
		responses: map[string]*response{},
		NotIn:     map[string]bool{},
		stop:      make(chan struct{}),
		connected: make(chan struct{}, 100),
	}
	s.Users[s.BotUserID] = s.BotName
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/ws", s.ws)
	mux.HandleFunc("POST /response/{id}", s.response)
	s.Server = httptest.NewServer(mux)
	return s
}

// Close stops the server and its pinger. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(s.close)
}

func (s *Server) close() {
	close(s.stop)
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	s.Server.CloseClientConnections()
	s.Server.Close()
}

// APIURL is what slack.api_url should be.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// Fail429 makes the next n chat.postMessage calls answer 429 Retry-After: 1.
func (s *Server) Fail429(n int) {
	s.mu.Lock()
	s.fail429 = n
	s.mu.Unlock()
}

// Refuse makes the next n apps.connections.open calls answer 500, so
// that many connection attempts fail.
func (s *Server) Refuse(n int) {
	s.mu.Lock()
	s.refuse = n
	s.mu.Unlock()
}

// Calls is how often a Web API method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	_ = r.ParseForm()
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if tok := r.Form.Get("token"); tok != "" {
		auth = "Bearer " + tok
	}
	reply := func(v map[string]any) {
		v["ok"] = true
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	fail := func(e string) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": e})
	}
	switch method {
	case "apps.connections.open":
		if !strings.HasPrefix(auth, "Bearer xapp-") {
			fail("invalid_auth")
			return
		}
		s.mu.Lock()
		refuse := s.refuse > 0
		if refuse {
			s.refuse--
		}
		s.mu.Unlock()
		if refuse {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		reply(map[string]any{"url": "ws" + strings.TrimPrefix(s.URL, "http") + "/ws"})
	case "auth.test":
		if s.NoAuthTest {
			fail("unknown_method")
			return
		}
		if !strings.HasPrefix(auth, "Bearer xoxb-") {
			fail("invalid_auth")
			return
		}
		reply(map[string]any{"user_id": s.BotUserID, "bot_id": s.BotID, "user": s.BotName, "team": "Test", "team_id": "T1"})
	case "conversations.open":
		// A direct message channel per user: D + the user's id.
		users := r.Form.Get("users")
		if users == "" || strings.Contains(users, ",") {
			fail("invalid_users")
			return
		}
		if _, ok := s.Users[users]; !ok {
			fail("user_not_found")
			return
		}
		reply(map[string]any{"channel": map[string]any{"id": "D" + users, "is_im": true}})
	case "users.info":
		id := r.Form.Get("user")
		name, ok := s.Users[id]
		if !ok {
			fail("user_not_found")
			return
		}
		reply(map[string]any{"user": map[string]any{"id": id, "name": name, "is_bot": id == s.BotUserID,
			"profile": map[string]any{"display_name": "Display " + name, "real_name": "Real " + name}}})
	case "conversations.info":
		id := r.Form.Get("channel")
		name, ok := s.Channels[id]
		if !ok {
			fail("channel_not_found")
			return
		}
		reply(map[string]any{"channel": map[string]any{"id": id, "name": name, "is_im": strings.HasPrefix(id, "D")}})
	case "bots.info":
		reply(map[string]any{"bot": map[string]any{"id": r.Form.Get("bot"), "app_id": "AOTHER"}})
	case "chat.postMessage":
		s.mu.Lock()
		if s.fail429 > 0 {
			s.fail429--
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if s.NotIn[r.Form.Get("channel")] {
			s.mu.Unlock()
			fail("not_in_channel")
			return
		}
		s.mu.Unlock()
		p := Post{Channel: r.Form.Get("channel"), Text: r.Form.Get("text"), Thread: r.Form.Get("thread_ts"), Blocks: r.Form.Get("blocks"), At: time.Now()}
		if s.BeforePost != nil {
			s.BeforePost(p)
		}
		p.TS = s.nextTS()
		s.Posts <- p
		reply(map[string]any{"channel": p.Channel, "ts": p.TS})
	default:
		fail("unknown_method")
	}
}

type response struct {
	channel string
	used    int
}

// response takes a post to a slash command's response_url: JSON, at most
// five per command, as Slack's documentation says.
func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls["response_url"]++
	res, ok := s.responses[r.PathValue("id")]
	if ok {
		res.used++
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no_such_url", http.StatusNotFound)
		return
	}
	if res.used > 5 {
		http.Error(w, "used_url", http.StatusNotFound)
		return
	}
	var msg struct {
		Text         string          `json:"text"`
		ResponseType string          `json:"response_type"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&msg) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	blocks := ""
	if len(msg.Blocks) > 0 {
		blocks = string(msg.Blocks)
	}
	s.Posts <- Post{Channel: res.channel, Text: msg.Text, Blocks: blocks, At: time.Now(), Via: "response_url", ResponseType: msg.ResponseType}
	io.WriteString(w, "ok")
}

func (s *Server) nextTS() string {
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.ts.Add(1))
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) ws(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.Connections.Add(1)
	s.Live.Add(1)
	defer s.Live.Add(-1)
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
	s.write(c, map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A1"}, "debug_info": map[string]any{"host": "fake"}})
	done := make(chan struct{})
	// Socket Mode clients drop a connection that hears no ping: ping often.
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				err := c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				s.mu.Unlock()
				if err != nil {
					return
				}
			}
		}
	}()
	s.connected <- struct{}{}
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			close(done)
			return
		}
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(data, &ack) == nil && ack.EnvelopeID != "" {
			s.mu.Lock()
			s.acks[ack.EnvelopeID] = true
			s.mu.Unlock()
		}
	}
}

func (s *Server) write(c *websocket.Conn, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.WriteJSON(v)
}

// WaitConnected waits for the next websocket connection.
func (s *Server) WaitConnected(d time.Duration) bool {
	select {
	case <-s.connected:
		return true
	case <-time.After(d):
		return false
	}
}

func (s *Server) current() *websocket.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Event sends an events_api envelope with the given inner event.
func (s *Server) Event(event map[string]any) error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("no connection")
	}
	if _, ok := event["ts"]; !ok {
		event["ts"] = s.nextTS()
	}
	if _, ok := event["event_ts"]; !ok {
		event["event_ts"] = event["ts"]
	}
	id := "env-" + strconv.FormatInt(s.env.Add(1), 10)
	return s.write(c, map[string]any{
		"envelope_id": id, "type": "events_api", "accepts_response_payload": false, "retry_attempt": 0,
		"payload": map[string]any{"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event": event,
			"event_id": "Ev" + id, "event_time": time.Now().Unix()},
	})
}

// Message sends a message event from user in channel; thread may be "".
// It returns the message's ts.
func (s *Server) Message(user, channel, text, thread string) (string, error) {
	ts := s.nextTS()
	ev := map[string]any{"type": "message", "user": user, "channel": channel, "text": text, "ts": ts,
		"channel_type": map[bool]string{true: "im", false: "channel"}[strings.HasPrefix(channel, "D")]}
	if thread != "" {
		ev["thread_ts"] = thread
	}
	return ts, s.Event(ev)
}

// Mention sends a mention the way Slack does: as a message event and as an
// app_mention event with the same ts.
func (s *Server) Mention(user, channel, text string) error {
	ts := s.nextTS()
	full := "<@" + s.BotUserID + "> " + text
	if err := s.Event(map[string]any{"type": "message", "user": user, "channel": channel, "text": full, "ts": ts, "channel_type": "channel"}); err != nil {
		return err
	}
	return s.Event(map[string]any{"type": "app_mention", "user": user, "channel": channel, "text": full, "ts": ts})
}

// Slash sends a slash command envelope.
func (s *Server) Slash(user, channel, command, text string) error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("no connection")
	}
	id := "env-" + strconv.FormatInt(s.env.Add(1), 10)
	s.mu.Lock()
	s.responses[id] = &response{channel: channel}
	s.mu.Unlock()
	return s.write(c, map[string]any{"envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{"command": command, "text": text, "user_id": user, "user_name": s.Users[user],
			"channel_id": channel, "channel_name": s.Channels[channel], "team_id": "T1", "response_url": s.URL + "/response/" + id,
			"is_enterprise_install": false, "trigger_id": "trig", "api_app_id": "A1"}})
}

// Raw sends an envelope as given, such as one a client cannot parse.
func (s *Server) Raw(envelope map[string]any) error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("no connection")
	}
	return s.write(c, envelope)
}

// Click sends a block_actions interaction, as when a user presses a button.
func (s *Server) Click(user, channel, actionID, value, thread string) error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("no connection")
	}
	id := "env-" + strconv.FormatInt(s.env.Add(1), 10)
	return s.write(c, map[string]any{"envelope_id": id, "type": "interactive", "accepts_response_payload": false,
		"payload": map[string]any{"type": "block_actions", "user": map[string]any{"id": user, "name": s.Users[user]},
			"channel":   map[string]any{"id": channel, "name": s.Channels[channel]},
			"container": map[string]any{"type": "message", "channel_id": channel, "thread_ts": thread},
			"actions":   []map[string]any{{"action_id": actionID, "block_id": "wirebot", "value": value, "type": "button"}}}})
}

// Disconnect sends Slack's `disconnect` envelope.
func (s *Server) Disconnect() error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("no connection")
	}
	return s.write(c, map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "fake"}})
}

// Drop closes the websocket without a word.
func (s *Server) Drop() {
	if c := s.current(); c != nil {
		c.UnderlyingConn().Close()
	}
}

// Acked reports whether an envelope was acknowledged.
func (s *Server) Acked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[id]
}

// Next returns the next post, or fails after d.
func (s *Server) Next(d time.Duration) (Post, bool) {
	select {
	case p := <-s.Posts:
		return p, true
	case <-time.After(d):
		return Post{}, false
	}
}
