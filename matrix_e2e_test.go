package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/wirebot/wirebot/bot"
	matrixadapter "github.com/wirebot/wirebot/bot/matrix"
)

// dendrite is a real Matrix homeserver (Dendrite v0.13.8, SQLite, no
// federation) on a free loopback port, for one test.
type dendrite struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	secret string
	cmd    *exec.Cmd
	out    *os.File
}

// dendriteRateLimit turns Dendrite's per-user rate limiting on: at most
// threshold requests per cooloff. Test people are admins, whom Dendrite
// never limits, so only the bot meets it.
type dendriteRateLimit struct {
	threshold int
	cooloff   time.Duration
}

// dendriteBin finds a Dendrite tool: on PATH, else where `go install` puts
// it. Missing: the test fails in CI and is skipped elsewhere.
func dendriteBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	const install = "go install github.com/matrix-org/dendrite/cmd/dendrite@v0.13.8 github.com/matrix-org/dendrite/cmd/generate-keys@v0.13.8"
	if os.Getenv("CI") != "" {
		t.Fatalf("Dendrite's %s is not installed (%s); .ci/run builds it", name, install)
	}
	t.Skipf("Dendrite's %s is not installed: %s to run the Matrix tests (CI always runs them)", name, install)
	return ""
}

func startDendrite(t *testing.T, limit *dendriteRateLimit) *dendrite {
	t.Helper()
	bin := dendriteBin(t, "dendrite")
	keys := dendriteBin(t, "generate-keys")
	d := &dendrite{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), secret: "wirebot-test-secret"}
	key := filepath.Join(d.dir, "matrix_key.pem")
	if out, err := exec.Command(keys, "--private-key", key).CombinedOutput(); err != nil {
		t.Fatalf("generate-keys: %v\n%s", err, out)
	}
	rate := "enabled: false"
	if limit != nil {
		rate = fmt.Sprintf("enabled: true, threshold: %d, cooloff_ms: %d", limit.threshold, limit.cooloff.Milliseconds())
	}
	db := func(name string) string {
		return fmt.Sprintf("{connection_string: %q}", "file:"+filepath.Join(d.dir, name+".db"))
	}
	// Everything on loopback and in the test's folder: no federation, no
	// key servers, no statistics, no presence.
	conf := fmt.Sprintf(`version: 2
global:
  server_name: localhost
  private_key: %[1]q
  key_validity_period: 168h0m0s
  cache: {max_size_estimated: 32mb, max_age: 1h}
  trusted_third_party_id_servers: []
  disable_federation: true
  presence: {enable_inbound: false, enable_outbound: false}
  report_stats: {enabled: false}
  jetstream: {storage_path: %[2]q, topic_prefix: Dendrite}
  metrics: {enabled: false}
  dns_cache: {enabled: false}
app_service_api: {config_files: []}
client_api:
  registration_disabled: true
  guests_disabled: true
  registration_shared_secret: %[3]q
  rate_limiting: {%[4]s}
federation_api:
  database: %[5]s
  key_perspectives: []
  send_max_retries: 1
key_server:
  database: %[6]s
media_api:
  database: %[7]s
  base_path: %[8]q
mscs:
  mscs: []
  database: %[9]s
relay_api:
  database: %[10]s
room_server:
  database: %[11]s
sync_api:
  database: %[12]s
  search: {enabled: false}
user_api:
  bcrypt_cost: 4
  account_database: %[13]s
tracing: {enabled: false}
logging:
  - {type: std, level: warn}
`, key, filepath.Join(d.dir, "jetstream"), d.secret, rate, db("federation"), db("keys"), db("media"),
		filepath.Join(d.dir, "media"), db("mscs"), db("relay"), db("rooms"), db("sync"), db("users"))
	if err := os.WriteFile(filepath.Join(d.dir, "dendrite.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(d.dir, "dendrite.log"))
	if err != nil {
		t.Fatal(err)
	}
	d.out = out
	d.start()
	t.Cleanup(func() {
		d.stop()
		out.Close()
		if t.Failed() {
			log, _ := os.ReadFile(out.Name())
			t.Logf("dendrite log:\n%s", log)
		}
	})
	return d
}

func (d *dendrite) url() string { return fmt.Sprintf("http://127.0.0.1:%d", d.port) }

func (d *dendrite) start() {
	d.t.Helper()
	d.cmd = exec.Command(d.bin, "-config", filepath.Join(d.dir, "dendrite.yaml"),
		"-http-bind-address", fmt.Sprintf("127.0.0.1:%d", d.port), "-https-bind-address", "127.0.0.1:0")
	d.cmd.Dir = d.dir
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.url() + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(d.out.Name())
			d.t.Fatalf("dendrite did not answer on %s:\n%s", d.url(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts Dendrite down as an operator would (SIGTERM; KILL after 10 s).
// After a kill -9 Dendrite v0.13.8 sometimes stops delivering new events
// to /sync at all (its JetStream consumers stall), which no client can
// help, so the tests' outages are clean shutdowns.
func (d *dendrite) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

func (d *dendrite) restart() {
	d.stop()
	d.start()
}

// register makes an account by shared-secret registration (what
// Dendrite's create-account does) and returns its access token.
func (d *dendrite) register(localpart, password string, admin bool) string {
	d.t.Helper()
	endpoint := d.url() + "/_synapse/admin/v1/register"
	resp, err := http.Get(endpoint)
	if err != nil {
		d.t.Fatal(err)
	}
	var nonce struct{ Nonce string }
	_ = json.NewDecoder(resp.Body).Decode(&nonce)
	resp.Body.Close()
	kind := "notadmin"
	if admin {
		kind = "admin"
	}
	mac := hmac.New(sha1.New, []byte(d.secret))
	mac.Write([]byte(nonce.Nonce + "\x00" + localpart + "\x00" + password + "\x00" + kind))
	body, _ := json.Marshal(map[string]any{"nonce": nonce.Nonce, "username": localpart, "password": password,
		"admin": admin, "mac": hex.EncodeToString(mac.Sum(nil))})
	resp, err = http.Post(endpoint, "application/json", bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || reg.AccessToken == "" || resp.StatusCode != 200 {
		d.t.Fatalf("register %s: HTTP %d, %v", localpart, resp.StatusCode, err)
	}
	return reg.AccessToken
}

// mxMessage is a message a test person saw.
type mxMessage struct {
	room    id.RoomID
	id      id.EventID
	sender  id.UserID
	content event.MessageEventContent
}

// mxUser is a person on the test homeserver, with a sync loop that
// collects every message said in the rooms they are in.
type mxUser struct {
	t             *testing.T
	cli           *mautrix.Client
	msgs          chan mxMessage
	acceptInvites bool // set before the first invite: read by the sync loop
}

func (d *dendrite) user(localpart string) *mxUser { return d.userInvitable(localpart, false) }

// userInvitable is a person who, when accept is set, joins every room
// they are invited to.
func (d *dendrite) userInvitable(localpart string, accept bool) *mxUser {
	d.t.Helper()
	token := d.register(localpart, localpart+"-password", true)
	cli, err := mautrix.NewClient(d.url(), id.UserID("@"+localpart+":localhost"), token)
	if err != nil {
		d.t.Fatal(err)
	}
	u := &mxUser{t: d.t, cli: cli, msgs: make(chan mxMessage, 10000), acceptInvites: accept}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	first, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: 0})
	if err != nil {
		d.t.Fatal(err)
	}
	since := first.NextBatch
	wg.Go(func() {
		// Dendrite can send an event twice: in the timeline of a room
		// newly joined and again in the next sync. A client goes by
		// event id, and so does this one.
		seen := map[id.EventID]bool{}
		for ctx.Err() == nil {
			resp, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 1000})
			if err != nil {
				select { // the server is down for a while in some tests
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			since = resp.NextBatch
			if u.acceptInvites {
				for roomID := range resp.Rooms.Invite {
					_, _ = cli.JoinRoomByID(ctx, roomID)
				}
			}
			for roomID, jr := range resp.Rooms.Join {
				for _, ev := range jr.Timeline.Events {
					if ev.Type != event.EventMessage || seen[ev.ID] {
						continue
					}
					seen[ev.ID] = true
					m := mxMessage{room: roomID, id: ev.ID, sender: ev.Sender}
					_ = json.Unmarshal(ev.Content.VeryRaw, &m.content)
					u.msgs <- m
				}
			}
		}
	})
	d.t.Cleanup(func() { cancel(); wg.Wait() })
	return u
}

// createRoom makes a room; alias "" makes none. invite and direct invite
// others to it (as a direct chat).
func (u *mxUser) createRoom(alias string, invite []id.UserID, direct bool, extra map[string]any) id.RoomID {
	u.t.Helper()
	req := map[string]any{"preset": "public_chat", "visibility": "private"}
	if alias != "" {
		req["room_alias_name"] = alias
	}
	if len(invite) > 0 {
		req["invite"] = invite
		req["is_direct"] = direct
	}
	if direct {
		req["preset"] = "trusted_private_chat"
	}
	for k, v := range extra {
		req[k] = v
	}
	var resp struct {
		RoomID id.RoomID `json:"room_id"`
	}
	if _, err := u.cli.MakeRequest(context.Background(), http.MethodPost, u.cli.BuildClientURL("v3", "createRoom"), req, &resp); err != nil {
		u.t.Fatalf("create room %q: %v", alias, err)
	}
	return resp.RoomID
}

// send posts a message event with the given content and returns its id.
func (u *mxUser) send(room id.RoomID, content map[string]any) id.EventID {
	u.t.Helper()
	resp, err := u.cli.SendMessageEvent(context.Background(), room, event.EventMessage, content)
	if err != nil {
		u.t.Fatalf("%s: send: %v", u.cli.UserID, err)
	}
	return resp.EventID
}

func (u *mxUser) say(room id.RoomID, text string) id.EventID {
	u.t.Helper()
	return u.send(room, map[string]any{"msgtype": "m.text", "body": text})
}

// next waits for the next message from sender in room and returns it.
func (u *mxUser) next(room id.RoomID, sender id.UserID, d time.Duration) mxMessage {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-u.msgs:
			if m.room == room && m.sender == sender {
				return m
			}
		case <-timer.C:
			u.t.Fatalf("%s: no message from %s in %s within %s", u.cli.UserID, sender, room, d)
		}
	}
}

// waitMember waits until user has joined room.
func (u *mxUser) waitMember(room id.RoomID, user id.UserID) {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := u.cli.JoinedMembers(context.Background(), room)
		if err == nil {
			if _, ok := resp.Joined[user]; ok {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.t.Fatalf("%s never joined %s", user, room)
}

const mxBot = id.UserID("@wirebot:localhost")

// matrixBotConfig is what a Matrix test bot is started with.
type matrixBotConfig struct {
	password string // log in with it; else an access token is registered
	token    string
	rooms    []string
	extra    string // more config lines
}

// registerBot makes the bot's account (not an admin: rate limits apply).
func (d *dendrite) registerBot() (password, token string) {
	return "wirebot-password", d.register("wirebot", "wirebot-password", false)
}

func matrixBot(t *testing.T, srv *dendrite, dir string, c matrixBotConfig) *botProc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	writeScript(t, dir, "echo.sh", "#!/bin/sh\n# @respond ^echo (.+)$\nprintf '%s (%s in %s)\\n' \"$1\" \"$WIREBOT_USER\" \"$WIREBOT_CHANNEL\"\n")
	writeScript(t, dir, "three.sh", "#!/bin/sh\n# @respond ^three$\nprintf 'one\\ntwo <b>&\\nthree\\n'\n")
	// 200 lines of 99 characters and a newline: 20,000 characters.
	writeScript(t, dir, "long.sh", "#!/bin/sh\n# @respond ^long( [0-9]+)?$\nn=${1:-200}\ni=1\nwhile [ $i -le $n ]; do printf '%05d %093d\\n' $i 0; i=$((i+1)); done\n")
	writeScript(t, dir, "coffee.sh", "#!/bin/sh\n# @hear \\bcoffee\\b\necho coffee heard\n")
	writeScript(t, dir, "loop.sh", "#!/bin/sh\n# @hear \\bloop\\b\necho loop heard\n")
	writeScript(t, dir, "wait.sh", "#!/bin/sh\n# @respond ^wait$\ntouch \"$WAIT_DIR/started\"\nwhile [ ! -f \"$WAIT_DIR/go\" ]; do sleep 0.05; done\necho late reply\n")
	rooms, _ := json.Marshal(c.rooms)
	cfg := fmt.Sprintf("adapter: matrix\nmatrix: {homeserver: %q, user_id: %q, access_token: %q, password: %q, rooms: %s}\n"+
		"http: {listen: \"127.0.0.1:0\"}\nscripts: {max_output: 1000000, env: {WAIT_DIR: %q}}\n%s",
		srv.url(), mxBot, c.token, c.password, rooms, dir, c.extra)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBot(t, dir, baseEnv())
}

// startMatrixScene starts Dendrite, alice with room #ops, and the bot in it.
func startMatrixScene(t *testing.T, limit *dendriteRateLimit, c matrixBotConfig) (*dendrite, *mxUser, id.RoomID, *botProc, string) {
	t.Helper()
	srv := startDendrite(t, limit)
	alice := srv.user("alice")
	ops := alice.createRoom("ops", nil, false, nil)
	password, token := srv.registerBot()
	if c.password == "" && c.token == "" {
		c.password = password
	}
	if c.token == "use" {
		c.token = token
	}
	if c.rooms == nil {
		c.rooms = []string{"#ops:localhost"}
	}
	p := matrixBot(t, srv, "", c)
	base := httpAddr(t, p)
	alice.waitMember(ops, mxBot)
	waitHealthz(t, base, 200, 30*time.Second)
	return srv, alice, ops, p, base
}

func expectBody(t *testing.T, m mxMessage, want string) {
	t.Helper()
	if m.content.Body != want {
		t.Fatalf("reply %q, want %q", m.content.Body, want)
	}
	if m.content.MsgType != event.MsgNotice {
		t.Fatalf("reply %q is %s, want m.notice", m.content.Body, m.content.MsgType)
	}
}

// aliceMayInvite puts alice in a group: only people who may use the bot
// may invite it (see TestMatrixInvite).
const aliceMayInvite = "groups: {team: [matrix:@alice:localhost]}\n"

func TestMatrixAddressingDirectRoomsAndBots(t *testing.T) {
	srv, alice, ops, p, _ := startMatrixScene(t, nil, matrixBotConfig{extra: aliceMayInvite})
	start := time.Now()
	alice.say(ops, "wirebot ping")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "PONG")
	t.Logf("matrix: first reply (ping, idle bot) after %s", time.Since(start))
	for _, text := range []string{"wirebot: echo a", "@wirebot echo b", "!echo c", "@wirebot:localhost: echo d"} {
		alice.say(ops, text)
		want := strings.Fields(text)[len(strings.Fields(text))-1] + " (@alice:localhost in ops:localhost)"
		expectBody(t, alice.next(ops, mxBot, 15*time.Second), want)
	}
	// A pill, as Element sends a mention: body and formatted body.
	alice.send(ops, map[string]any{"msgtype": "m.text", "body": "Wire Bot: echo <pill> & more",
		"format": "org.matrix.custom.html", "formatted_body": `<a href="https://matrix.to/#/@wirebot:localhost">Wire Bot</a>: echo &lt;pill&gt; &amp; more`})
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "<pill> & more (@alice:localhost in ops:localhost)")
	// Unaddressed: only hear handlers answer; the bot's own and other
	// bots' messages (m.notice) are ignored.
	alice.say(ops, "hello there")
	alice.say(ops, "who wants coffee")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "coffee heard")
	alice.say(ops, "loop")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "loop heard")
	carol := srv.user("carol")
	if _, err := carol.cli.JoinRoom(context.Background(), string(ops), nil); err != nil {
		t.Fatal(err)
	}
	carol.send(ops, map[string]any{"msgtype": "m.notice", "body": "wirebot ping"})
	alice.say(ops, "wirebot echo last")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "last (@alice:localhost in ops:localhost)")

	// A direct room: the bot accepts the invite; everything is addressed.
	dm := alice.createRoom("", []id.UserID{mxBot}, true, nil)
	alice.waitMember(dm, mxBot)
	alice.say(dm, "echo in private")
	expectBody(t, alice.next(dm, mxBot, 15*time.Second), fmt.Sprintf("in private (@alice:localhost in %s)", dm))
	alice.say(dm, "ping")
	expectBody(t, alice.next(dm, mxBot, 15*time.Second), "PONG")
	stopBot(t, p)
	if strings.Contains(p.stderr.String(), "wirebot-password") {
		t.Fatal("the Matrix password appeared in the log")
	}
}

func TestMatrixMultiLineAndLongReplies(t *testing.T) {
	_, alice, ops, p, _ := startMatrixScene(t, nil, matrixBotConfig{token: "use"})
	alice.say(ops, "wirebot three")
	m := alice.next(ops, mxBot, 15*time.Second)
	expectBody(t, m, "one\ntwo <b>&\nthree")
	if m.content.Format != event.FormatHTML || m.content.FormattedBody != "<pre><code>one\ntwo &lt;b&gt;&amp;\nthree</code></pre>" {
		t.Fatalf("formatted %q %q", m.content.Format, m.content.FormattedBody)
	}
	var want []string
	for i := 1; i <= 200; i++ {
		want = append(want, fmt.Sprintf("%05d %093d", i, 0))
	}
	start := time.Now()
	alice.say(ops, "wirebot long")
	var got []string
	for len(got) < len(want) {
		got = append(got, strings.Split(alice.next(ops, mxBot, 30*time.Second).content.Body, "\n")...)
	}
	t.Logf("matrix: 20,000-character reply complete after %s", time.Since(start))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the long reply arrived changed: %d lines", len(got))
	}
	// 2,000 lines (200,000 characters) need several events, in order.
	alice.say(ops, "wirebot long 2000")
	got, parts := nil, 0
	for len(got) < 2000 {
		got = append(got, strings.Split(alice.next(ops, mxBot, 30*time.Second).content.Body, "\n")...)
		parts++
	}
	for i, l := range got {
		if l != fmt.Sprintf("%05d %093d", i+1, 0) {
			t.Fatalf("line %d is %q", i+1, l)
		}
	}
	if parts < 3 {
		t.Fatalf("200,000 characters came in %d events", parts)
	}
	stopBot(t, p)
}

func TestMatrixThreadsAndReplies(t *testing.T) {
	_, alice, ops, p, _ := startMatrixScene(t, nil, matrixBotConfig{})
	root := alice.say(ops, "deploy discussion")
	alice.send(ops, map[string]any{"msgtype": "m.text", "body": "wirebot echo threaded",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root, "is_falling_back": true,
			"m.in_reply_to": map[string]any{"event_id": root}}})
	m := alice.next(ops, mxBot, 15*time.Second)
	expectBody(t, m, "threaded (@alice:localhost in ops:localhost)")
	if m.content.RelatesTo.GetThreadParent() != root {
		t.Fatalf("reply in thread %q, want %q", m.content.RelatesTo.GetThreadParent(), root)
	}
	// A reply (not a thread) with its fallback: answered at top level.
	alice.send(ops, map[string]any{"msgtype": "m.text", "body": "> <@alice:localhost> deploy discussion\n\nwirebot ping",
		"format": "org.matrix.custom.html", "formatted_body": "<mx-reply><blockquote>deploy discussion</blockquote></mx-reply>wirebot ping",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": root}}})
	m = alice.next(ops, mxBot, 15*time.Second)
	expectBody(t, m, "PONG")
	if m.content.RelatesTo.GetThreadParent() != "" {
		t.Fatalf("top-level reply went to thread %q", m.content.RelatesTo.GetThreadParent())
	}
	stopBot(t, p)
}

func TestMatrixRestartAnswersNothingOld(t *testing.T) {
	srv := startDendrite(t, nil)
	alice := srv.user("alice")
	ops := alice.createRoom("ops", nil, false, nil)
	alice.say(ops, "wirebot echo said before the bot ever started")
	password, _ := srv.registerBot()
	dir := t.TempDir()
	c := matrixBotConfig{password: password, rooms: []string{"#ops:localhost"}}
	p := matrixBot(t, srv, dir, c)
	alice.waitMember(ops, mxBot)
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	alice.say(ops, "wirebot echo one")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "one (@alice:localhost in ops:localhost)")
	stopBot(t, p)
	alice.say(ops, "wirebot echo said while the bot was away")
	p = matrixBot(t, srv, dir, c)
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	alice.say(ops, "wirebot echo two")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "two (@alice:localhost in ops:localhost)")
	alice.say(ops, "wirebot ping")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "PONG")
	stopBot(t, p)
}

func TestMatrixServerDownAndBack(t *testing.T) {
	srv, alice, ops, p, base := startMatrixScene(t, nil, matrixBotConfig{token: "use"})
	dir := p.cmd.Dir
	alice.say(ops, "wirebot wait")
	deadline := time.Now().Add(15 * time.Second)
	for _, err := os.Stat(filepath.Join(dir, "started")); err != nil; _, err = os.Stat(filepath.Join(dir, "started")) {
		if time.Now().After(deadline) {
			t.Fatal("the wait script never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.stop()
	waitHealthz(t, base, 503, 30*time.Second)
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reply is made while the server is down, and waits.
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(p.stderr.String(), "send failed, retrying") {
		if time.Now().After(deadline) {
			t.Fatalf("no retried send in the log:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.start()
	expectBody(t, alice.next(ops, mxBot, 30*time.Second), "late reply")
	waitHealthz(t, base, 200, 30*time.Second)
	alice.say(ops, "wirebot ping")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "PONG")
	// A restart while idle: reconnected and answering.
	srv.restart()
	waitHealthz(t, base, 200, 30*time.Second)
	alice.say(ops, "wirebot echo back")
	// The restart can cut the PONG's send after Dendrite stored the event
	// and before it answered: the bot retries with the same transaction id,
	// as the spec asks, but Dendrite keeps transaction ids in memory only,
	// so the retried PONG shows a second time. One such repeat is the
	// server's doing; anything else in its place is not.
	m := alice.next(ops, mxBot, 30*time.Second)
	if m.content.Body == "PONG" {
		m = alice.next(ops, mxBot, 30*time.Second)
	}
	expectBody(t, m, "back (@alice:localhost in ops:localhost)")
	if _, body := do(t, "GET", base+"/metrics", ""); !strings.Contains(body, "wirebot_adapter_reconnects_total 2") {
		t.Errorf("want 2 reconnects counted:\n%s", grepLines(body, "reconnects"))
	}
	stopBot(t, p)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// sendLimiter stands between the bot and Dendrite and answers event sends
// beyond allowed per window with M_LIMIT_EXCEEDED and retry_after_ms, as
// Synapse does (Dendrite v0.13.8 limits joins and the like, not sends). It
// counts sends that came back before the time it asked for.
type sendLimiter struct {
	next       http.Handler
	allowed    int
	window     time.Duration
	retryAfter time.Duration

	mu           sync.Mutex
	hold         bool // every send is limited while set
	sent         []time.Time
	limited      int
	early        int
	blockedUntil time.Time
}

func (l *sendLimiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/") {
		l.mu.Lock()
		now := time.Now()
		for len(l.sent) > 0 && now.Sub(l.sent[0]) > l.window {
			l.sent = l.sent[1:]
		}
		if now.Before(l.blockedUntil) {
			l.early++
		}
		if l.hold || now.Before(l.blockedUntil) || len(l.sent) >= l.allowed {
			l.limited++
			l.blockedUntil = now.Add(l.retryAfter)
			l.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":%d}`, l.retryAfter.Milliseconds())
			return
		}
		l.sent = append(l.sent, now)
		l.mu.Unlock()
	}
	l.next.ServeHTTP(w, r)
}

func TestMatrixRateLimitHonouredNothingDropped(t *testing.T) {
	// Dendrite's own limit (one request per 300ms) meets the bot's joins.
	srv := startDendrite(t, &dendriteRateLimit{threshold: 1, cooloff: 300 * time.Millisecond})
	alice := srv.user("alice")
	var rooms []id.RoomID
	var aliases []string
	for i := range 4 {
		rooms = append(rooms, alice.createRoom(fmt.Sprintf("r%d", i), nil, false, nil))
		aliases = append(aliases, fmt.Sprintf("#r%d:localhost", i))
	}
	_, token := srv.registerBot()
	target, _ := url.Parse(srv.url())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the bot's long polls are cut when it stops
	lim := &sendLimiter{next: rp, allowed: 2, window: time.Second, retryAfter: 700 * time.Millisecond}
	proxy := httptest.NewServer(lim)
	defer proxy.Close()
	p := matrixBot(t, &dendrite{t: t, port: proxy.Listener.Addr().(*net.TCPAddr).Port}, "", matrixBotConfig{token: token, rooms: aliases})
	for _, r := range rooms {
		alice.waitMember(r, mxBot)
	}
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	if !strings.Contains(p.stderr.String(), "M_LIMIT_EXCEEDED") {
		t.Fatalf("Dendrite never limited the bot's joins, so they tested nothing:\n%s", p.stderr.String())
	}
	ops := rooms[0]
	for i := range 8 {
		alice.say(ops, fmt.Sprintf("wirebot echo n%d", i))
	}
	seen := map[string]bool{}
	for range 8 {
		seen[alice.next(ops, mxBot, 30*time.Second).content.Body] = true
	}
	for i := range 8 {
		if !seen[fmt.Sprintf("n%d (@alice:localhost in r0:localhost)", i)] {
			t.Fatalf("reply %d lost; got %v", i, seen)
		}
	}
	// One reply of several events keeps its order through the limits.
	alice.say(ops, "wirebot long 1000")
	var got []string
	for len(got) < 1000 {
		got = append(got, strings.Split(alice.next(ops, mxBot, 30*time.Second).content.Body, "\n")...)
	}
	for i, l := range got {
		if l != fmt.Sprintf("%05d %093d", i+1, 0) {
			t.Fatalf("line %d is %q", i+1, l)
		}
	}
	lim.mu.Lock()
	limited, early := lim.limited, lim.early
	lim.mu.Unlock()
	t.Logf("matrix: %d sends answered M_LIMIT_EXCEEDED", limited)
	if limited == 0 {
		t.Fatal("no send was rate limited, so this tested nothing")
	}
	if early > 0 {
		t.Fatalf("%d sends came back before retry_after_ms had passed", early)
	}
	stopBot(t, p)
}

func TestMatrixEncryptedRoomSaidOnce(t *testing.T) {
	srv := startDendrite(t, nil)
	alice := srv.user("alice")
	password, _ := srv.registerBot()
	secret := alice.createRoom("", []id.UserID{mxBot}, false, map[string]any{"name": "secret",
		"initial_state": []map[string]any{{"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
	dir := t.TempDir()
	c := matrixBotConfig{password: password, rooms: []string{}, extra: aliceMayInvite}
	p := matrixBot(t, srv, dir, c)
	alice.waitMember(secret, mxBot)
	m := alice.next(secret, mxBot, 15*time.Second)
	if !strings.Contains(m.content.Body, "encrypted") {
		t.Fatalf("notice %q", m.content.Body)
	}
	if !strings.Contains(p.stderr.String(), "encrypted") {
		t.Fatal("not in the log")
	}
	stopBot(t, p)
	p = matrixBot(t, srv, dir, c)
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	dm := alice.createRoom("", []id.UserID{mxBot}, true, nil)
	alice.waitMember(dm, mxBot)
	alice.say(dm, "ping")
	expectBody(t, alice.next(dm, mxBot, 15*time.Second), "PONG")
	for len(alice.msgs) > 0 {
		if m := <-alice.msgs; m.room == secret && m.sender == mxBot {
			t.Fatalf("said again after a restart: %q", m.content.Body)
		}
	}
	stopBot(t, p)
}

// The DirectMessager ability (what link uses for its codes), driven in
// process: a direct room is made with the person once, then reused.
func TestMatrixSendDirect(t *testing.T) {
	srv := startDendrite(t, nil)
	alice := srv.userInvitable("alice", true)
	_, token := srv.registerBot()
	a, err := matrixadapter.New(matrixadapter.Options{Homeserver: srv.url(), AccessToken: token, BotName: "wirebot", SyncTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx, inboxFunc(func(context.Context, bot.Message) {})) })
	defer func() { cancel(); wg.Wait() }()
	alicePrincipal := bot.Principal{Adapter: "matrix", ID: "@alice:localhost"}
	if err := a.SendDirect(ctx, alicePrincipal, "your code is 123456"); err != nil {
		t.Fatal(err)
	}
	first := alice.nextFrom(mxBot, 30*time.Second)
	if first.content.Body != "your code is 123456" {
		t.Fatalf("direct message %q", first.content.Body)
	}
	if err := a.SendDirect(ctx, alicePrincipal, "and again"); err != nil {
		t.Fatal(err)
	}
	if m := alice.nextFrom(mxBot, 30*time.Second); m.room != first.room || m.content.Body != "and again" {
		t.Fatalf("second direct message %q in %s, want the same room %s", m.content.Body, m.room, first.room)
	}
	if err := a.SendDirect(ctx, bot.Principal{Adapter: "irc", ID: "alice"}, "x"); err == nil {
		t.Fatal("sent a Matrix direct message to an IRC user")
	}
}

type inboxFunc func(context.Context, bot.Message)

func (f inboxFunc) Receive(ctx context.Context, m bot.Message) { f(ctx, m) }

// nextFrom waits for the next message from sender in any room.
func (u *mxUser) nextFrom(sender id.UserID, d time.Duration) mxMessage {
	u.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-u.msgs:
			if m.sender == sender {
				return m
			}
		case <-timer.C:
			u.t.Fatalf("%s: no message from %s within %s", u.cli.UserID, sender, d)
		}
	}
}

// A token the homeserver refuses stops the bot (exit 1) naming the key,
// never the token.
func TestMatrixBadTokenIsFatal(t *testing.T) {
	srv := startDendrite(t, nil)
	p := matrixBot(t, srv, "", matrixBotConfig{token: "syt_not_a_real_token_42", rooms: []string{}})
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the bot kept running with a refused token")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	log := p.stderr.String()
	if !strings.Contains(log, "matrix.access_token") || strings.Contains(log, "syt_not_a_real_token_42") {
		t.Fatalf("log:\n%s", log)
	}
}

// While one reply waits out a rate limit, the sync loop waits with it; the
// messages said meanwhile (more than a default sync holds) are all
// answered once it goes on.
func TestMatrixBusyRoomLosesNothing(t *testing.T) {
	srv := startDendrite(t, nil)
	alice := srv.user("alice")
	ops := alice.createRoom("ops", nil, false, nil)
	_, token := srv.registerBot()
	target, _ := url.Parse(srv.url())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	lim := &sendLimiter{next: rp, allowed: 1000, window: time.Second, retryAfter: 100 * time.Millisecond}
	proxy := httptest.NewServer(lim)
	defer proxy.Close()
	p := matrixBot(t, &dendrite{t: t, port: proxy.Listener.Addr().(*net.TCPAddr).Port}, "", matrixBotConfig{token: token, rooms: []string{"#ops:localhost"}})
	alice.waitMember(ops, mxBot)
	waitHealthz(t, httpAddr(t, p), 200, 30*time.Second)
	lim.mu.Lock()
	lim.hold = true
	lim.mu.Unlock()
	alice.say(ops, "wirebot ping") // answered inline: the sync loop waits for its send
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.stderr.String(), "M_LIMIT_EXCEEDED") {
		if time.Now().After(deadline) {
			t.Fatal("the reply to ping was never held back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 40 {
		alice.say(ops, fmt.Sprintf("!echo busy%d", i))
	}
	lim.mu.Lock()
	lim.hold = false
	lim.mu.Unlock()
	seen := map[string]bool{}
	for range 41 {
		seen[alice.next(ops, mxBot, 30*time.Second).content.Body] = true
	}
	for i := range 40 {
		if !seen[fmt.Sprintf("busy%d (@alice:localhost in ops:localhost)", i)] {
			t.Fatalf("message %d went unanswered; got %d replies", i, len(seen))
		}
	}
	stopBot(t, p)
}
