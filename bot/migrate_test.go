package bot

import (
	"errors"
	"testing"
	"time"
)

// A wirebot.db from before principals: a chat schedule and group changes
// keyed by bare ids are read as the (first) adapter's principals.
func TestOldStateReadAsTheAdaptersPrincipals(t *testing.T) {
	st, err := NewStore(NewMemKV(), 100)
	if err != nil {
		t.Fatal(err)
	}
	old := ChatSchedule{ID: "SOLD01", Spec: "@every 1h", Command: "ping", Channel: Channel{ID: "ops", Name: "ops"},
		Owner: User{ID: "alice", Name: "alice"}, Created: time.Now()}
	if err := st.PutChatSchedule(old); err != nil {
		t.Fatal(err)
	}
	if err := st.putJSON(bucketGroups, "ops", groupChange{Added: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	b := New(cfg, Options{Adapter: nopAdapter{}, Store: st})
	t.Cleanup(b.audit.Close)
	if err := b.sched.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.sched.stop)
	shell := func(id string) User { return User{ID: id, Name: id, Principal: Principal{"shell", id}} }
	if !b.access.InGroup(shell("carol"), "ops") || b.access.InGroup(shell("Carol"), "ops") {
		t.Fatal("the old group change is not shell:carol")
	}
	if _, err := b.sched.Remove(shell("ALICE"), "SOLD01"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("ALICE removes alice's old schedule: %v", err)
	}
	if _, err := b.sched.Remove(shell("alice"), "SOLD01"); err != nil {
		t.Fatalf("alice removes her old schedule: %v", err)
	}
}
