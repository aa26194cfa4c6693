package bot

import "testing"

func TestAdapterStateKeptApartFromScripts(t *testing.T) {
	kv := NewMemKV()
	s, err := NewStore(kv, 10)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.AdapterState("matrix", "next_batch"); err != nil || v != "" {
		t.Fatalf("before: %q, %v", v, err)
	}
	if err := s.SetAdapterState("matrix", "next_batch", "s42"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.Keys("script:matrix", ""); len(keys) != 0 {
		t.Fatalf("a script named matrix sees the adapter's state: %v", keys)
	}
	if keys, _ := s.Keys(GlobalNamespace, ""); len(keys) != 0 {
		t.Fatalf("the global namespace sees the adapter's state: %v", keys)
	}
	// A new Store on the same KV (what a restart is) reads it back.
	if s, err = NewStore(kv, 10); err != nil {
		t.Fatal(err)
	}
	if v, err := s.AdapterState("matrix", "next_batch"); err != nil || v != "s42" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	if v, _ := s.AdapterState("irc", "next_batch"); v != "" {
		t.Fatalf("another adapter sees it: %q", v)
	}
}
