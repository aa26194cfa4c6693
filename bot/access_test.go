package bot

import (
	"slices"
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
