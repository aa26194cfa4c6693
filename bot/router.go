package bot

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Kind says which messages a route listens to.
type Kind int

const (
	// Respond routes match the command text of addressed messages.
	Respond Kind = iota
	// Hear routes match the whole text of every message.
	Hear
)

func (k Kind) String() string {
	if k == Hear {
		return "hear"
	}
	return "respond"
}

// Route ties one pattern to the command it runs.
type Route struct {
	Kind    Kind
	Pattern *Pattern
	Command *Command
}

// Match is a route that matched a text, with its capture groups.
type Match struct {
	Route *Route
	Text  string            // the text the pattern matched against
	Args  []string          // capture groups in order, "" when a group did not take part
	Named map[string]string // named groups, "" when they did not take part
}

// Table is an immutable, indexed set of routes. Build a new one to change
// it; the bot swaps tables atomically, so routing never waits for a reload.
type Table struct {
	routes  []*Route
	respond index
	hear    index
}

// index narrows the routes worth trying for a text by the literal each
// pattern needs, so that a message that matches nothing costs a few map
// look-ups rather than a pass over every regex.
type index struct {
	prefix trie             // required lower-case prefixes
	inside map[string][]int // first 3 lower-case bytes of a required inner literal
	always []int            // routes without a usable literal
	hints  []literalHint    // per route position in Table.routes
}

const gram = 3

// NewTable indexes routes. Their order is their precedence: for an addressed
// message the first matching respond route wins.
func NewTable(routes []*Route) *Table {
	t := &Table{routes: routes}
	t.respond = newIndex(routes, Respond)
	t.hear = newIndex(routes, Hear)
	return t
}

func newIndex(routes []*Route, kind Kind) index {
	ix := index{inside: map[string][]int{}, hints: make([]literalHint, len(routes))}
	for i, r := range routes {
		if r.Kind != kind {
			continue
		}
		h := r.Pattern.hint
		ix.hints[i] = h
		switch {
		case h.prefix != "":
			ix.prefix.add(h.prefix, i)
		case len(h.inside) >= gram:
			k := h.inside[:gram]
			ix.inside[k] = append(ix.inside[k], i)
		default:
			ix.always = append(ix.always, i)
		}
	}
	return ix
}

// Routes returns the routes in precedence order.
func (t *Table) Routes() []*Route { return t.routes }

// candidates appends to buf the positions of routes that may match text, in
// precedence order.
func (ix *index) candidates(text string, buf []int) []int {
	lower, ok := lowerASCII(text)
	if !ok {
		// Non-ASCII text: case folding may match where lower-casing does
		// not, so try every route of this kind.
		for i := range ix.hints {
			buf = append(buf, i)
		}
		return buf
	}
	buf = append(buf, ix.always...)
	buf = ix.prefix.walk(lower, buf)
	if len(ix.inside) > 0 {
		for p := 0; p+gram <= len(lower); p++ {
			for _, i := range ix.inside[lower[p:p+gram]] {
				if strings.Contains(lower[p:], ix.hints[i].inside) && !slices.Contains(buf, i) {
					buf = append(buf, i)
				}
			}
		}
	}
	slices.Sort(buf)
	return buf
}

// Respond returns the first respond route that matches the command text of
// an addressed message.
func (t *Table) Respond(command string) (Match, bool) {
	var arr [16]int
	for _, i := range t.respond.candidates(command, arr[:0]) {
		r := t.routes[i]
		if r.Kind != Respond {
			continue
		}
		if m, ok := match(r, command); ok {
			return m, true
		}
	}
	return Match{}, false
}

// Hear returns every hear route that matches text.
func (t *Table) Hear(text string) []Match {
	var arr [16]int
	var out []Match
	for _, i := range t.hear.candidates(text, arr[:0]) {
		r := t.routes[i]
		if r.Kind != Hear {
			continue
		}
		if m, ok := match(r, text); ok {
			out = append(out, m)
		}
	}
	return out
}

func match(r *Route, text string) (Match, bool) {
	idx := r.Pattern.FindStringSubmatchIndex(text)
	if idx == nil {
		return Match{}, false
	}
	n := len(idx)/2 - 1
	m := Match{Route: r, Text: text, Args: make([]string, n), Named: map[string]string{}}
	for g := 1; g <= n; g++ {
		if idx[2*g] >= 0 {
			m.Args[g-1] = text[idx[2*g]:idx[2*g+1]]
		}
	}
	for g, name := range r.Pattern.SubexpNames() {
		if name != "" {
			m.Named[name] = m.Args[g-1]
		}
	}
	return m, true
}

// lowerASCII lower-cases text, reporting false when it is not plain ASCII.
// It does not allocate when text is already lower case.
func lowerASCII(s string) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return "", false
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if !upper {
		return s, true
	}
	return strings.ToLower(s), true
}

// trie holds route positions under the literal prefixes they require.
type trie struct {
	routes []int
	next   map[byte]*trie
}

func (t *trie) add(prefix string, route int) {
	n := t
	for i := 0; i < len(prefix); i++ {
		if n.next == nil {
			n.next = map[byte]*trie{}
		}
		c, ok := n.next[prefix[i]]
		if !ok {
			c = &trie{}
			n.next[prefix[i]] = c
		}
		n = c
	}
	n.routes = append(n.routes, route)
}

// walk appends the routes of every prefix of text.
func (t *trie) walk(text string, buf []int) []int {
	n := t
	for i := 0; i < len(text) && n.next != nil; i++ {
		if n = n.next[text[i]]; n == nil {
			break
		}
		buf = append(buf, n.routes...)
	}
	return buf
}
