package matrix

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestSeenEventsOnceAndBounded(t *testing.T) {
	s := newSeenEvents(3)
	if !s.add("$a") || s.add("$a") {
		t.Fatal("$a: new, then seen")
	}
	for range 2 {
		if !s.add("") {
			t.Fatal("an empty id is never remembered")
		}
	}
	s.add("$b")
	s.add("$c")
	if s.add("$b") || s.add("$c") || s.add("$a") {
		t.Fatal("the last three are remembered")
	}
	if !s.add("$d") { // forgets $a, the oldest
		t.Fatal("$d is new")
	}
	if !s.add("$a") { // forgets $b
		t.Fatal("$a should have been forgotten, the oldest of four")
	}
	if s.add("$c") || s.add("$d") || !s.add("$b") {
		t.Fatal("after $a again: $c, $d remembered, $b forgotten")
	}
	// A stranger saying a great deal grows nothing.
	s = newSeenEvents(seenCapacity)
	for i := range 10 * seenCapacity {
		s.add(id.EventID(fmt.Sprintf("$e%d", i)))
	}
	if len(s.ids) != seenCapacity || len(s.ring) != seenCapacity {
		t.Fatalf("remembers %d ids in a ring of %d, want %d", len(s.ids), len(s.ring), seenCapacity)
	}
	if !s.add("$e0") || s.add(id.EventID(fmt.Sprintf("$e%d", 10*seenCapacity-1))) {
		t.Fatal("the oldest forgotten, the newest remembered")
	}
}
