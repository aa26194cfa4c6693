package bot

import (
	"slices"
	"sync"
	"testing"
)

func TestGroupMembership(t *testing.T) {
	s := openTemp(t, 10)
	dir := testDirectory(t, []string{"slack"}, nil)
	a, err := NewAccess(dir, []string{"root", "@U0ADMIN"}, map[string][]string{"Ops": {"alice", "U2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.UseStore(s); err != nil {
		t.Fatal(err)
	}
	alice, bob := user("slack", "U1", "alice"), user("slack", "U2", "bob")
	carol := user("slack", "U3", "carol")
	admin := user("slack", "U0ADMIN", "someone")

	steps := []struct {
		do      func() (bool, error)
		changed bool
	}{
		{func() (bool, error) { return a.Add("ops", "carol") }, true},
		{func() (bool, error) { return a.Add("OPS", "@carol") }, false},  // already there
		{func() (bool, error) { return a.Remove("ops", "alice") }, true}, // from config
		{func() (bool, error) { return a.Remove("ops", "alice") }, false},
		{func() (bool, error) { return a.Add("ops", "alice") }, true}, // back again
		{func() (bool, error) { return a.Remove("ops", "U2") }, true},
		{func() (bool, error) { return a.Add("dev", "bob") }, true}, // a group made in chat
	}
	for i, st := range steps {
		changed, err := st.do()
		if err != nil || changed != st.changed {
			t.Fatalf("step %d: changed=%v err=%v, want %v", i, changed, err, st.changed)
		}
	}
	check := func(a *Access) {
		t.Helper()
		if !a.InGroup(alice, "ops") || a.InGroup(bob, "ops") || !a.InGroup(carol, "Ops") {
			t.Fatalf("ops members: %v", a.All()["ops"])
		}
		if !a.InGroup(bob, "dev") || !a.IsAdmin(admin) || a.IsAdmin(alice) {
			t.Fatal("dev or admins wrong")
		}
		if !a.Allowed(admin, []string{"nosuchgroup"}) || a.Allowed(bob, []string{"ops"}) || !a.Allowed(bob, nil) {
			t.Fatal("Allowed wrong")
		}
		if a.CanApprove(admin, []string{"ops"}) {
			t.Fatal("an admin outside the group may not approve for it")
		}
		if got := a.Groups(bob); !slices.Equal(got, []string{"dev"}) {
			t.Fatalf("bob's groups %v", got)
		}
	}
	check(a)
	// The chat changes come back from the store.
	b, err := NewAccess(dir, []string{"root", "@U0ADMIN"}, map[string][]string{"ops": {"alice", "U2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UseStore(s); err != nil {
		t.Fatal(err)
	}
	check(b)
	if _, err := a.Add("ops", " "); err == nil {
		t.Fatal("empty user accepted")
	}
}

// Who may invite the bot: admins, group members and people (of the config
// or linked in chat), the rules read as they are at the time of asking.
// Look-alikes of any of them are strangers.
func TestMayInvite(t *testing.T) {
	dir := testDirectory(t, []string{"matrix"}, map[string][]string{"dave": {"matrix:@dave:example.org"}})
	a, err := NewAccess(dir, []string{"matrix:@alice:example.org"}, map[string][]string{
		"oncall": {"matrix:@bob:example.org"},
		"empty":  nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	mx := func(id string) User { return user("matrix", id, id) }
	cases := []struct {
		who  User
		want bool
	}{
		{mx("@alice:example.org"), true}, // admin
		{mx("@bob:example.org"), true},   // group member
		{mx("@dave:example.org"), true},  // person
		{mx("@mallory:example.org"), false},
		{mx("@Alice:example.org"), false},                                 // another user to Matrix
		{mx("@\u0430lice:example.org"), false},                            // Cyrillic а
		{mx("@alice:example.org.evil"), false},                            // another server
		{user("matrix", "@eve:example.org", "@alice:example.org"), false}, // a name is not an id
		{user("irc", "@alice:example.org", "@alice:example.org"), false},  // another adapter's user
		{User{Name: "@alice:example.org"}, false},                         // no principal
	}
	for _, c := range cases {
		if got := a.MayInvite(c.who); got != c.want {
			t.Errorf("MayInvite(%+v) = %v, want %v", c.who, got, c.want)
		}
	}

	// Changes made in chat count from the next invite on.
	carol := mx("@carol:example.org")
	if a.MayInvite(carol) {
		t.Fatal("carol may invite before anything changed")
	}
	if _, err := a.Add("empty", "matrix:@carol:example.org"); err != nil {
		t.Fatal(err)
	}
	if !a.MayInvite(carol) {
		t.Fatal("carol, added to a group in chat, may not invite")
	}
	if _, err := a.Remove("empty", "matrix:@carol:example.org"); err != nil {
		t.Fatal(err)
	}
	if a.MayInvite(carol) {
		t.Fatal("carol, removed from the group, may still invite")
	}
	if _, err := a.Remove("oncall", "matrix:@bob:example.org"); err != nil {
		t.Fatal(err)
	}
	if a.MayInvite(mx("@bob:example.org")) {
		t.Fatal("bob, removed from oncall in chat, may still invite")
	}
	// Invites are read while groups change in chat (run with -race).
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			_, _ = a.Add("oncall", "matrix:@carol:example.org")
			_, _ = a.Remove("oncall", "matrix:@carol:example.org")
		}
	})
	for range 200 {
		a.MayInvite(carol)
		if !a.MayInvite(mx("@alice:example.org")) {
			t.Fatal("the admin may not invite while a group changes")
		}
	}
	wg.Wait()
	// A principal linked to a person in chat is that person.
	dir.AddLink("dave", Principal{Adapter: "matrix", ID: "@dave:other.org"})
	a.refresh()
	if !a.MayInvite(mx("@dave:other.org")) {
		t.Fatal("dave's linked principal may not invite")
	}
}
