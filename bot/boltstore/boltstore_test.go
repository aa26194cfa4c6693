package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/storetest"
)

func TestBoltKV(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bot.KV {
		kv, err := OpenKV(filepath.Join(t.TempDir(), "w.db"))
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
}

func TestBoltKeepsWhatWasCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("ns", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, 10); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get("ns", "k"); err != nil || v != "v" {
		t.Fatalf("after reopen: %q %v", v, err)
	}
}
