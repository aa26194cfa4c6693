package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/wirebot/wirebot/bot"
	matrixadapter "github.com/wirebot/wirebot/bot/matrix"
)

// syncRepeater stands between the bot and Dendrite and does on purpose
// what Dendrite v0.13.8 sometimes does by itself: the /sync answer after
// the one that brought the message whose body is body brings that message
// again, in a timeline that begins with the bot's own join, as if the
// room were newly joined. It counts the events the bot sends.
type syncRepeater struct {
	next   *httputil.ReverseProxy
	body   string
	member json.RawMessage // the bot's m.room.member event in the room

	mu       sync.Mutex
	syncs    int             // /sync requests seen
	msg      json.RawMessage // the message, once seen
	room     string
	stage    int           // 0: message not seen, 1: seen, 2: repeated
	live     chan struct{} // closed at the bot's second /sync: it is live
	repeated chan struct{} // closed at the /sync after the repeat: all handled
	sends    []string      // bodies of the events the bot sent
}

func newSyncRepeater(t *testing.T, upstream, body string, member json.RawMessage) *syncRepeater {
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	s := &syncRepeater{body: body, member: member, live: make(chan struct{}), repeated: make(chan struct{})}
	s.next = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Accept-Encoding") // bodies to read in the clear
		},
		ModifyResponse: s.modify,
		ErrorLog:       log.New(io.Discard, "", 0), // long polls are cut when the bot stops
	}
	return s
}

func (s *syncRepeater) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/sync"):
		s.mu.Lock()
		s.syncs++
		if s.syncs == 2 {
			close(s.live)
		}
		if s.stage == 2 {
			select {
			case <-s.repeated:
			default:
				close(s.repeated)
			}
		}
		s.mu.Unlock()
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/"):
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var c struct{ Body string }
		_ = json.Unmarshal(b, &c)
		s.mu.Lock()
		s.sends = append(s.sends, c.Body)
		s.mu.Unlock()
	}
	s.next.ServeHTTP(w, r)
}

// modify rewrites /sync answers: it finds the message, then repeats it once.
func (s *syncRepeater) modify(resp *http.Response) error {
	if !strings.HasSuffix(resp.Request.URL.Path, "/sync") || resp.StatusCode != http.StatusOK {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	out := raw
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.stage {
	case 0:
		if room, msg := findMessage(raw, s.body); msg != nil {
			s.room, s.msg, s.stage = room, msg, 1
		}
	case 1:
		out, err = repeatInSync(raw, s.room, s.member, s.msg)
		if err != nil {
			return err
		}
		s.stage = 2
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

type syncShape struct {
	Rooms struct {
		Join map[string]struct {
			Timeline struct {
				Events []json.RawMessage `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// findMessage finds in a /sync answer the message event with body.
func findMessage(raw []byte, body string) (string, json.RawMessage) {
	var resp syncShape
	if json.Unmarshal(raw, &resp) != nil {
		return "", nil
	}
	for room, jr := range resp.Rooms.Join {
		for _, ev := range jr.Timeline.Events {
			var e struct {
				Type    string
				Content struct{ Body string }
			}
			if json.Unmarshal(ev, &e) == nil && e.Type == "m.room.message" && e.Content.Body == body {
				return room, ev
			}
		}
	}
	return "", nil
}

// repeatInSync puts events at the start of room's timeline in a /sync
// answer, making the room's entry if there is none.
func repeatInSync(raw []byte, room string, events ...json.RawMessage) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var rooms map[string]json.RawMessage
	if r, ok := top["rooms"]; ok && json.Unmarshal(r, &rooms) != nil {
		rooms = nil
	}
	if rooms == nil {
		rooms = map[string]json.RawMessage{}
	}
	var join map[string]map[string]json.RawMessage
	if j, ok := rooms["join"]; ok && json.Unmarshal(j, &join) != nil {
		join = nil
	}
	if join == nil {
		join = map[string]map[string]json.RawMessage{}
	}
	jr := join[room]
	if jr == nil {
		jr = map[string]json.RawMessage{}
	}
	var timeline map[string]json.RawMessage
	if t, ok := jr["timeline"]; ok && json.Unmarshal(t, &timeline) != nil {
		timeline = nil
	}
	if timeline == nil {
		timeline = map[string]json.RawMessage{}
	}
	var evs []json.RawMessage
	if e, ok := timeline["events"]; ok {
		_ = json.Unmarshal(e, &evs)
	}
	evs = append(append([]json.RawMessage{}, events...), evs...)
	set := func(m map[string]json.RawMessage, k string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		m[k] = b
	}
	set(timeline, "events", evs)
	set(jr, "timeline", timeline)
	join[room] = jr
	set(rooms, "join", join)
	set(top, "rooms", rooms)
	return json.Marshal(top)
}

// memberEvent is user's m.room.member event in room, as the homeserver
// holds it, read by u.
func (u *mxUser) memberEvent(room id.RoomID, user id.UserID) json.RawMessage {
	u.t.Helper()
	var state []json.RawMessage
	if _, err := u.cli.MakeRequest(context.Background(), http.MethodGet, u.cli.BuildClientURL("v3", "rooms", room, "state"), nil, &state); err != nil {
		u.t.Fatalf("room state: %v", err)
	}
	for _, ev := range state {
		var e struct {
			Type     string
			StateKey string `json:"state_key"`
		}
		if json.Unmarshal(ev, &e) == nil && e.Type == "m.room.member" && e.StateKey == string(user) {
			return ev
		}
	}
	u.t.Fatalf("no member event of %s in %s", user, room)
	return nil
}

// Dendrite can bring one message twice, the second time in a timeline
// that reads as a room newly joined; the adapter answers it once. Run in
// process through a proxy that repeats the message on purpose.
func TestMatrixRepeatedEventAnsweredOnce(t *testing.T) {
	srv := startDendrite(t, nil)
	alice := srv.user("alice")
	ops := alice.createRoom("ops", nil, false, nil)
	_, token := srv.registerBot()
	// The bot joins before it runs, so that its member event can be read.
	botCli, err := mautrix.NewClient(srv.url(), mxBot, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := botCli.JoinRoom(context.Background(), "#ops:localhost", nil); err != nil {
		t.Fatal(err)
	}
	alice.waitMember(ops, mxBot)
	const command = "wirebot deploy prod"
	rep := newSyncRepeater(t, srv.url(), command, alice.memberEvent(ops, mxBot))
	proxy := httptest.NewServer(rep)
	defer proxy.Close()

	a, err := matrixadapter.New(matrixadapter.Options{Homeserver: proxy.URL, AccessToken: token, BotName: "wirebot",
		Rooms: []string{"#ops:localhost"}, SyncTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string // ids of the messages received with the command
	in := inboxFunc(func(ctx context.Context, m bot.Message) {
		if m.FromSelf || m.Text != command {
			return
		}
		mu.Lock()
		got = append(got, m.ID)
		mu.Unlock()
		// Answered in line, as a reply in the sync loop is: by the bot's
		// next /sync it has been sent.
		if err := a.Send(ctx, bot.Reply{Channel: m.Channel, Text: "deployed"}); err != nil {
			t.Errorf("reply: %v", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx, in) })
	defer func() { cancel(); wg.Wait() }()

	select {
	case <-rep.live:
	case <-time.After(30 * time.Second):
		t.Fatal("the bot never went on to a second /sync")
	}
	msgID := alice.say(ops, command)
	select {
	case <-rep.repeated:
	case <-time.After(30 * time.Second):
		rep.mu.Lock()
		defer rep.mu.Unlock()
		t.Fatalf("the message was never repeated to the bot (stage %d)", rep.stage)
	}
	if m := alice.next(ops, mxBot, 15*time.Second); m.content.Body != "deployed" {
		t.Fatalf("reply %q", m.content.Body)
	}
	mu.Lock()
	received := append([]string(nil), got...)
	mu.Unlock()
	rep.mu.Lock()
	sends := append([]string(nil), rep.sends...)
	rep.mu.Unlock()
	if len(received) != 1 || received[0] != string(msgID) {
		t.Errorf("the bot received %v, want the message %s once", received, msgID)
	}
	if len(sends) != 1 || sends[0] != "deployed" {
		t.Errorf("the bot sent %q, want one reply", sends)
	}
}
