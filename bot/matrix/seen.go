package matrix

import "maunium.net/go/mautrix/id"

// seenEvents remembers the ids of the last timeline events handled, so
// that an event the homeserver brings again is not handled again:
// Dendrite v0.13.8 sometimes sends one in the timeline of a room newly
// joined and again in the next sync, and a command answered twice is a
// command run twice. Its memory is bounded: a ring of the last ids and a
// map over it, the oldest forgotten first, so that no one can grow it by
// talking. Not safe for concurrent use: only the sync loop uses it.
type seenEvents struct {
	ids  map[id.EventID]struct{}
	ring []id.EventID // len is the capacity; "" where not yet filled
	next int          // where the next id goes in ring
}

// seenCapacity is how many event ids are remembered: several syncs' worth
// of full timelines (timelineLimit), and a repeat comes in the next one.
const seenCapacity = 4096

func newSeenEvents(n int) *seenEvents {
	return &seenEvents{ids: make(map[id.EventID]struct{}, n), ring: make([]id.EventID, n)}
}

// add remembers ev and reports whether it is new. An empty id (no event
// lacks one) is always new and never remembered.
func (s *seenEvents) add(ev id.EventID) bool {
	if ev == "" {
		return true
	}
	if _, ok := s.ids[ev]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = ev
	s.ids[ev] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
	return true
}
