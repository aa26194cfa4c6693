package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// membership is what room's state says of user's membership, as who sees
// it; "" when there is no member event (or who may not read it).
func membership(who *mxUser, room id.RoomID, user id.UserID) event.Membership {
	who.t.Helper()
	var c event.MemberEventContent
	if err := who.cli.StateEvent(context.Background(), room, event.StateMember, string(user), &c); err != nil {
		return ""
	}
	return c.Membership
}

// waitRefused waits until the bot's membership of room, as who sees it,
// has gone from invited to left, failing at once if the bot joins.
func waitRefused(t *testing.T, who *mxUser, room id.RoomID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		switch m := membership(who, room, mxBot); m {
		case event.MembershipJoin:
			t.Fatalf("the bot joined %s at the invite of %s, who may not use it", room, who.cli.UserID)
		case event.MembershipLeave:
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot neither joined nor refused %s within 30s (membership %q)", room, membership(who, room, mxBot))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expectSilence fails if the bot says anything in room within d.
func expectSilence(t *testing.T, who *mxUser, room id.RoomID, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-who.msgs:
			if m.room == room && m.sender == mxBot {
				t.Fatalf("the bot answered %q in %s, a room it was refused into", m.content.Body, room)
			}
		case <-timer.C:
			return
		}
	}
}

// Invites: the bot joins rooms it is invited to by people who may use it
// (admins, group members, people of the config) and refuses everyone
// else's, logging who invited it where once. A group change made in chat
// counts from the next invite on.
func TestMatrixInvite(t *testing.T) {
	extra := "admins: [matrix:@alice:localhost]\n" +
		"groups: {oncall: [matrix:@bob:localhost]}\n" +
		"people: {dave: [matrix:@dave:localhost]}\n"
	srv, alice, ops, p, _ := startMatrixScene(t, nil, matrixBotConfig{extra: extra})
	mallory := srv.user("mallory")
	bob := srv.user("bob")
	dave := srv.user("dave")

	// A stranger's room and a stranger's direct room: refused.
	lair := mallory.createRoom("lair", []id.UserID{mxBot}, false, nil)
	waitRefused(t, mallory, lair)
	dm := mallory.createRoom("", []id.UserID{mxBot}, true, nil)
	waitRefused(t, mallory, dm)
	mallory.say(lair, "wirebot ping")
	mallory.say(dm, "ping")
	// Meanwhile the bot goes on syncing (it answers in #ops), and never
	// answers the stranger.
	alice.say(ops, "wirebot ping")
	expectBody(t, alice.next(ops, mxBot, 15*time.Second), "PONG")
	expectSilence(t, mallory, lair, 3*time.Second)
	expectSilence(t, mallory, dm, 0)
	if _, ok := joinedMembers(t, mallory, lair)[mxBot]; ok {
		t.Fatalf("the bot is among the members of %s", lair)
	}
	for _, room := range []id.RoomID{lair, dm} {
		lines := grepLines(p.stderr.String(), string(room))
		if n := strings.Count(lines, "invite refused"); n != 1 || !strings.Contains(lines, "@mallory:localhost") || !strings.Contains(lines, "level=INFO") {
			t.Fatalf("want one info line naming @mallory:localhost and %s, got %d:\n%s", room, n, lines)
		}
	}

	// A group member's room and a person's direct room: joined, answered.
	war := bob.createRoom("war", []id.UserID{mxBot}, false, nil)
	bob.waitMember(war, mxBot)
	bob.say(war, "wirebot ping")
	expectBody(t, bob.next(war, mxBot, 15*time.Second), "PONG")
	ddm := dave.createRoom("", []id.UserID{mxBot}, true, nil)
	dave.waitMember(ddm, mxBot)
	dave.say(ddm, "ping")
	expectBody(t, dave.next(ddm, mxBot, 15*time.Second), "PONG")

	// An admin puts the stranger in a group in chat: the next invite is
	// read against the groups as they are now.
	alice.say(ops, "wirebot group add oncall matrix:@mallory:localhost")
	if m := alice.next(ops, mxBot, 15*time.Second); !strings.Contains(m.content.Body, "mallory") {
		t.Fatalf("group add answered %q", m.content.Body)
	}
	den := mallory.createRoom("den", []id.UserID{mxBot}, false, nil)
	mallory.waitMember(den, mxBot)
	mallory.say(den, "wirebot ping")
	expectBody(t, mallory.next(den, mxBot, 15*time.Second), "PONG")
	stopBot(t, p)
}

func joinedMembers(t *testing.T, who *mxUser, room id.RoomID) map[id.UserID]struct{} {
	t.Helper()
	resp, err := who.cli.JoinedMembers(context.Background(), room)
	if err != nil {
		t.Fatalf("%s: joined members of %s: %v", who.cli.UserID, room, err)
	}
	out := map[id.UserID]struct{}{}
	for u := range resp.Joined {
		out[u] = struct{}{}
	}
	return out
}
