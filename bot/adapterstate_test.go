package bot

import (
	"path/filepath"
	"testing"
)

func TestAdapterStateSurvivesReopenAndIsApartFromScripts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := OpenStore(path, 10)
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
	s.Close()
	if s, err = OpenStore(path, 10); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.AdapterState("matrix", "next_batch"); err != nil || v != "s42" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	if v, _ := s.AdapterState("irc", "next_batch"); v != "" {
		t.Fatalf("another adapter sees it: %q", v)
	}
}
