package slack

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// cache keeps names resolved from ids for a while.
type cache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]entry
}

type entry struct {
	name    string
	isBot   bool
	expires time.Time
}

func newCache(ttl time.Duration) *cache { return &cache{ttl: ttl, m: map[string]entry{}} }

func (c *cache) get(id string) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Now().After(e.expires) {
		return entry{}, false
	}
	return e, true
}

func (c *cache) put(id, name string) { c.putEntry(id, entry{name: name}) }

func (c *cache) putEntry(id string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.expires = time.Now().Add(c.ttl)
	c.m[id] = e
}

// dedupe remembers keys for a while, to handle an event once when Slack
// delivers it twice.
type dedupe struct {
	ttl  time.Duration
	mu   sync.Mutex
	seen map[string]time.Time
	last time.Time
}

func newDedupe(ttl time.Duration) *dedupe { return &dedupe{ttl: ttl, seen: map[string]time.Time{}} }

// first reports whether key is new, and remembers it.
func (d *dedupe) first(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if now.Sub(d.last) > d.ttl {
		for k, t := range d.seen {
			if now.Sub(t) > d.ttl {
				delete(d.seen, k)
			}
		}
		d.last = now
	}
	if _, ok := d.seen[key]; ok {
		return false
	}
	d.seen[key] = now
	return true
}

// slogger lets slacker log through the bot's logger.
type slogger struct {
	l interface {
		Info(string, ...any)
		Debug(string, ...any)
		Error(string, ...any)
	}
}

func (s slogger) Info(args ...any) { s.l.Info(strings.TrimSpace(fmt.Sprint(args...))) }
func (s slogger) Infof(format string, args ...any) {
	s.l.Info(strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (s slogger) Debug(args ...any) { s.l.Debug(strings.TrimSpace(fmt.Sprint(args...))) }
func (s slogger) Debugf(format string, args ...any) {
	s.l.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (s slogger) Error(args ...any) { s.l.Error(strings.TrimSpace(fmt.Sprint(args...))) }
func (s slogger) Errorf(format string, args ...any) {
	s.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}
