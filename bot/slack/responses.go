package slack

import (
	"sync"
	"time"
)

// A slash command's response_url takes at most responseUses posts within
// responseTTL of the command (Slack's documented limits).
const (
	responseUses = 5
	responseTTL  = 30 * time.Minute
)

// responses counts the uses of each response_url, so a reply goes to the
// channel once its URL is spent or expired.
type responses struct {
	mu   sync.Mutex
	urls map[string]*responseUse
}

type responseUse struct {
	first time.Time
	used  int
}

func newResponses() *responses { return &responses{urls: map[string]*responseUse{}} }

// take reports whether u may be used once more at now, and counts the use.
func (r *responses) take(u string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.urls {
		if now.Sub(v.first) > responseTTL {
			delete(r.urls, k)
		}
	}
	v, ok := r.urls[u]
	if !ok {
		v = &responseUse{first: now}
		r.urls[u] = v
	}
	if v.used >= responseUses {
		return false
	}
	v.used++
	return true
}
