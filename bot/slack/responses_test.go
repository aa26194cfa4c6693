package slack

import (
	"testing"
	"time"
)

func TestResponsesUsesAndExpiry(t *testing.T) {
	r := newResponses()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range responseUses {
		if !r.take("u1", now) {
			t.Fatalf("use %d refused", i+1)
		}
	}
	if r.take("u1", now) {
		t.Fatal("a sixth use allowed")
	}
	if !r.take("u2", now) {
		t.Fatal("another URL refused")
	}
	if !r.take("u1", now.Add(responseTTL+time.Second)) {
		t.Fatal("an expired entry was not forgotten")
	}
	if len(r.urls) != 1 {
		t.Fatalf("%d entries kept, want 1", len(r.urls))
	}
}
