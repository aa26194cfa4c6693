package bot

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := NewBackoff()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got []time.Duration
	step := func(up bool, held time.Duration) {
		if up {
			b.Up(now)
		}
		now = now.Add(held)
		w := b.Down(now)
		got = append(got, w)
		now = now.Add(w)
	}
	want := func(ws ...time.Duration) {
		t.Helper()
		if len(got) != len(ws) {
			t.Fatalf("got %v, want %v", got, ws)
		}
		for i := range ws {
			if got[i] != ws[i] {
				t.Fatalf("got %v, want %v", got, ws)
			}
		}
		got = nil
	}
	s := time.Second
	// An outage: failed attempts double the wait, up to the maximum.
	for range 10 {
		step(false, 10*time.Millisecond)
	}
	want(s, 2*s, 4*s, 8*s, 16*s, 32*s, 64*s, 120*s, 120*s, 120*s)
	// A connection that held for a minute: the next outage starts over.
	step(true, time.Minute)
	step(false, 0)
	want(s, 2*s)
	// A connection that drops at once does not reset the backoff: a
	// flapping server is not hammered.
	step(true, 5*time.Second)
	want(4 * s)
	step(true, 59*time.Second)
	want(8 * s)
	step(true, 61*time.Second)
	want(s)
}
