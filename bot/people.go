package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Directory knows who is who: the people of the config (`people: {alice:
// [slack:U024BE7LH, irc:alice]}`) and the links made in chat, and answers
// the one question every access decision asks: are these two users the
// same person (Same)?
type Directory struct {
	adapters []string // the adapters that run, the first being the default

	mu     sync.RWMutex
	cm     CaseMapping            // the IRC server's case mapping
	config map[string][]string    // person -> principals as written in the config
	links  map[string][]Principal // person -> principals linked in chat
	byID   map[Principal]string   // principal -> person
	byName map[Principal]string   // {adapter, unique user name} -> person (slack:NAME)
}

// slackIDRE is what a Slack user id looks like; anything else after
// `slack:` is a user name, resolved by matching the user's unique name.
var slackIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[UWB][A-Z0-9]+$`) })

// NewDirectory builds the directory of people for the adapters that run.
// people's entries must be principals (ADAPTER:ID); a problem is a
// *ConfigError naming the entry.
func NewDirectory(adapters []string, people map[string][]string) (*Directory, error) {
	d := &Directory{adapters: slices.Clone(adapters), config: map[string][]string{}, links: map[string][]Principal{}}
	var errs []string
	for name, entries := range people {
		if err := checkPersonName(name); err != nil {
			return nil, &ConfigError{Key: "people", Problem: err.Error()}
		}
		for _, e := range entries {
			e = strings.TrimSpace(e)
			if _, err := ParsePrincipal(e, CaseRFC1459); err != nil {
				errs = append(errs, fmt.Sprintf("people.%s: %q is not a principal: write ADAPTER:ID (slack:U024BE7LH, irc:alice, xmpp:alice@example.org, matrix:@alice:example.org, shell:alice)", name, e))
				continue
			}
			d.config[name] = append(d.config[name], e)
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, &ConfigError{Key: "people", Problem: strings.Join(errs, "; ")}
	}
	if err := d.rebuild(); err != nil {
		return nil, err
	}
	return d, nil
}

func checkPersonName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a person has an empty name")
	case strings.ContainsAny(name, ":, \t\n@"):
		return fmt.Errorf("%q is not a usable person name (no ':', ',', '@' or spaces)", name)
	case name == "admins":
		return fmt.Errorf("%q is the name of the admins group, not a person", name)
	}
	return nil
}

// rebuild recomputes the indexes from the config and the links. d.mu must
// be held for writing (or d not yet shared).
func (d *Directory) rebuild() error {
	byID, byName := map[Principal]string{}, map[Principal]string{}
	claim := func(m map[Principal]string, p Principal, person string) error {
		if other, ok := m[p]; ok && other != person {
			return &ConfigError{Key: "people", Problem: fmt.Sprintf("%s is listed for both %s and %s", p, min(other, person), max(other, person))}
		}
		m[p] = person
		return nil
	}
	names := make([]string, 0, len(d.config))
	for name := range d.config {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, e := range d.config[name] {
			p, err := ParsePrincipal(e, d.cm)
			if err != nil {
				return &ConfigError{Key: "people." + name, Problem: err.Error()}
			}
			if p.Adapter == "slack" && !slackIDRE().MatchString(p.ID) {
				err = claim(byName, p, name)
			} else {
				err = claim(byID, p, name)
			}
			if err != nil {
				return err
			}
		}
	}
	for name, ps := range d.links {
		for _, p := range ps {
			p.ID = NormalizeID(p.Adapter, p.ID, d.cm)
			if _, ok := byID[p]; !ok {
				byID[p] = name
			}
		}
	}
	d.byID, d.byName = byID, byName
	return nil
}

// SetCaseMapping makes IRC principals compare under the server's rule.
func (d *Directory) SetCaseMapping(cm CaseMapping) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cm == cm {
		return
	}
	d.cm = cm
	_ = d.rebuild() // the config parsed once already; a clash here keeps the first claim
}

// CaseMapping returns the IRC case mapping in force.
func (d *Directory) CaseMapping() CaseMapping {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cm
}

// Adapters lists the adapters that run, the default first.
func (d *Directory) Adapters() []string { return d.adapters }

// IsPerson reports whether name is a person of the config or of a link.
func (d *Directory) IsPerson(name string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.config[name]
	if !ok {
		_, ok = d.links[name]
	}
	return ok
}

// People lists every person's name, sorted.
func (d *Directory) People() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []string
	for n := range d.config {
		out = append(out, n)
	}
	for n := range d.links {
		if _, ok := d.config[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// principal is u's principal. A user made in process without one (an id
// from before principals existed) is read as the first adapter's user of
// that id; a user without an id has none.
func (d *Directory) principal(u User) Principal {
	if !u.Principal.IsZero() || u.ID == "" {
		return u.Principal
	}
	kind := "shell"
	if len(d.adapters) > 0 {
		kind = d.adapters[0]
	}
	return Principal{Adapter: kind, ID: NormalizeID(kind, u.ID, d.CaseMapping())}
}

// PersonOf returns the person u is, or "" when u is nobody's principal.
// u's unique user name counts for `slack:NAME` entries.
func (d *Directory) PersonOf(u User) string {
	u.Principal = d.principal(u)
	if u.Principal.IsZero() || u.Principal.Reserved() {
		return ""
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if p, ok := d.byID[u.Principal]; ok {
		return p
	}
	if u.Name != "" && len(d.byName) > 0 {
		if p, ok := d.byName[Principal{Adapter: u.Principal.Adapter, ID: u.Name}]; ok {
			return p
		}
	}
	return ""
}

// Resolve fills in u.Person from the directory.
func (d *Directory) Resolve(u User) User {
	u.Person = d.PersonOf(u)
	return u
}

// Same is the one rule for whether a and b are the same person: the same
// principal, or two principals of one person. Nothing is folded here: each
// principal was normalised by its adapter's rule when it was made, so a
// change of case, a Unicode look-alike or a display name makes a different
// principal. Users with no principal are nobody, and the same as nobody.
func (d *Directory) Same(a, b User) bool {
	a.Principal, b.Principal = d.principal(a), d.principal(b)
	if a.Principal.IsZero() || b.Principal.IsZero() {
		return false
	}
	if a.Principal == b.Principal {
		return true
	}
	pa, pb := a.Person, b.Person
	if pa == "" {
		pa = d.PersonOf(a)
	}
	if pb == "" {
		pb = d.PersonOf(b)
	}
	return pa != "" && pa == pb
}

// Principals lists the principals of person: from the config (slack:NAME
// entries as written) and from links.
func (d *Directory) Principals(person string) []Principal {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Principal
	for _, e := range d.config[person] {
		if p, err := ParsePrincipal(e, d.cm); err == nil {
			out = append(out, p)
		}
	}
	for _, p := range d.links[person] {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Member is one entry of `admins` or a group: a person, a principal, a
// Slack user name (slack:NAME), or, when one adapter runs, a bare id or
// unique user name of that adapter.
type Member struct {
	Person    string
	Principal Principal // a principal, or for ByName the {adapter, name}
	ByName    bool
	Bare      string // the entry as written, matched against Principal.Adapter's users
	norm      string // Bare under the adapter's normalisation, when computed
}

// String is how the member is written in config and stored in chat changes.
func (m Member) String() string {
	switch {
	case m.Person != "":
		return m.Person
	case m.Bare != "":
		return m.Bare
	default:
		return m.Principal.String()
	}
}

// ErrBareMember reports a bare group entry while several adapters run.
type ErrBareMember struct{ Entry string }

func (e *ErrBareMember) Error() string {
	return fmt.Sprintf("%q is neither a person in people nor a principal; with several adapters write ADAPTER:ID (e.g. slack:U024BE7LH or irc:%s) or add it to people", e.Entry, e.Entry)
}

// ParseMember reads one entry of admins or a group. A bare entry (neither a
// person nor ADAPTER:ID) means the one adapter's user, matched by exact id
// or exact unique user name; with several adapters it is an *ErrBareMember,
// unless legacy is set (entries stored in chat before several adapters ran
// belong to the first adapter).
func (d *Directory) ParseMember(s string, legacy bool) (Member, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Member{}, fmt.Errorf("empty member")
	}
	if d.IsPerson(s) {
		return Member{Person: s}, nil
	}
	if LooksLikePrincipal(s) {
		p, err := ParsePrincipal(s, d.CaseMapping())
		if err != nil {
			return Member{}, err
		}
		if p.Adapter == "slack" && !slackIDRE().MatchString(p.ID) {
			return Member{Principal: p, ByName: true}, nil
		}
		return Member{Principal: p}, nil
	}
	bare := strings.TrimPrefix(s, "@")
	if bare == "" {
		return Member{}, fmt.Errorf("empty member")
	}
	if len(d.adapters) != 1 && !legacy {
		return Member{}, &ErrBareMember{Entry: s}
	}
	kind := "shell"
	if len(d.adapters) > 0 {
		kind = d.adapters[0]
	}
	return Member{Bare: bare, Principal: Principal{Adapter: kind}}, nil
}

// Matches reports whether u is m. People and principals go through Same's
// rule (a principal entry admits the other principals of its person); bare
// entries match the adapter's id (under its normalisation) or the exact
// unique user name, never one compared to the other case-insensitively.
func (d *Directory) Matches(m Member, u User) bool {
	u.Principal = d.principal(u)
	if u.Principal.IsZero() {
		return false
	}
	switch {
	case m.Person != "":
		p := u.Person
		if p == "" {
			p = d.PersonOf(u)
		}
		return p == m.Person
	case m.ByName:
		return u.Principal.Adapter == m.Principal.Adapter && u.Name == m.Principal.ID
	case m.Bare != "":
		if u.Principal.Adapter != m.Principal.Adapter {
			return false
		}
		norm := m.norm
		if norm == "" {
			norm = NormalizeID(m.Principal.Adapter, m.Bare, d.CaseMapping())
		}
		return u.Principal.ID == norm || u.Name == m.Bare
	default:
		return d.Same(u, User{Principal: m.Principal})
	}
}
