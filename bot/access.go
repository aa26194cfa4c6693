package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Access answers who may run what. Group members are people, principals,
// or (when one adapter runs) that adapter's bare ids or unique user names;
// the Directory decides who matches them. Admins pass every @allow.
// Members come from the config (admins, groups) plus those added in chat,
// less those removed in chat; chat changes are kept in the store.
type Access struct {
	dir    *Directory
	store  *Store
	mu     sync.RWMutex
	config map[string][]string        // group -> members from the config, as canonical strings; "admins" too
	added  map[string]map[string]bool // group -> member -> added in chat
	gone   map[string]map[string]bool // group -> member -> removed in chat
	// current is every group's members now, parsed: what checks read.
	current map[string][]Member
}

// groupChange is how a group's chat changes are stored.
type groupChange struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// NewAccess builds the rules from the admins and groups keys. Entries that
// cannot be read (a bare name while several adapters run) are left out and
// returned as *ConfigError; Config.Validate reports the same ones.
func NewAccess(dir *Directory, admins []string, groups map[string][]string) (*Access, error) {
	a := &Access{dir: dir, config: map[string][]string{}, added: map[string]map[string]bool{}, gone: map[string]map[string]bool{}}
	var errs []error
	for name, members := range groups {
		g := strings.ToLower(name)
		a.config[g] = append(a.config[g], a.cleanMembers("groups."+name, members, &errs)...)
	}
	a.config["admins"] = append(a.config["admins"], a.cleanMembers("admins", admins, &errs)...)
	a.recompute()
	return a, errors.Join(errs...)
}

func (a *Access) cleanMembers(key string, in []string, errs *[]error) []string {
	var out []string
	for _, s := range in {
		if strings.TrimSpace(s) == "" {
			continue
		}
		m, err := a.dir.ParseMember(s, false)
		if err != nil {
			*errs = append(*errs, &ConfigError{Key: key, Problem: err.Error()})
			continue
		}
		if c := m.String(); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Directory returns who is who.
func (a *Access) Directory() *Directory { return a.dir }

// UseStore loads the group changes made in chat and keeps later ones there.
// Changes stored before principals existed name bare ids; they are read as
// the first adapter's users.
func (a *Access) UseStore(s *Store) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.store = s
	err := s.eachJSON(bucketGroups, func(group string, data []byte) error {
		var c groupChange
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("group %s in the store: %w", group, err)
		}
		a.added[group], a.gone[group] = a.legacySet(c.Added), a.legacySet(c.Removed)
		return nil
	})
	a.recompute()
	return err
}

func (a *Access) legacySet(items []string) map[string]bool {
	m := map[string]bool{}
	for _, it := range items {
		if mem, err := a.dir.ParseMember(it, true); err == nil {
			m[mem.String()] = true
		}
	}
	return m
}

// refresh re-reads the members after the people changed (a link).
func (a *Access) refresh() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recompute()
}

// SetCaseMapping re-reads IRC entries under the server's case mapping.
func (a *Access) SetCaseMapping(cm CaseMapping) {
	a.dir.SetCaseMapping(cm)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recompute()
}

// recompute parses every group's members into a.current. a.mu must be
// held for writing (or a not yet shared).
func (a *Access) recompute() {
	cur := map[string][]Member{}
	for _, g := range a.groupNames() {
		for _, s := range a.members(g) {
			m, err := a.dir.ParseMember(s, true)
			if err != nil {
				continue
			}
			if m.Bare != "" {
				m.norm = NormalizeID(m.Principal.Adapter, m.Bare, a.dir.CaseMapping())
			}
			cur[g] = append(cur[g], m)
		}
	}
	a.current = cur
}

// members lists a group's members now, as strings. a.mu must be held.
func (a *Access) members(group string) []string {
	var out []string
	for _, m := range a.config[group] {
		if !a.gone[group][m] {
			out = append(out, m)
		}
	}
	for m := range a.added[group] {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// IsAdmin reports whether u is an admin.
func (a *Access) IsAdmin(u User) bool { return a.InGroup(u, "admins") }

// InGroup reports whether u belongs to group; "admins" is the admins list.
func (a *Access) InGroup(u User, group string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.inGroup(u, group)
}

func (a *Access) inGroup(u User, group string) bool {
	ms, ok := a.current[group]
	if !ok {
		ms = a.current[strings.ToLower(group)]
	}
	for _, m := range ms {
		if a.dir.Matches(m, u) {
			return true
		}
	}
	return false
}

// Allowed reports whether u may run a command limited to groups: anyone
// when groups is empty, admins always, otherwise members of any of them.
func (a *Access) Allowed(u User, groups []string) bool {
	if len(groups) == 0 || a.IsAdmin(u) {
		return true
	}
	return slices.ContainsFunc(groups, func(g string) bool { return a.InGroup(u, g) })
}

// MayInvite reports whether u may bring the bot into a room (a Matrix
// invite): an admin, a member of any group, or a person (of the config or
// linked in chat). It reads the rules as they are now, chat changes
// included; anyone else's invite is refused.
func (a *Access) MayInvite(u User) bool {
	if a.dir.PersonOf(u) != "" {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return slices.ContainsFunc(a.groupNames(), func(g string) bool { return a.inGroup(u, g) })
}

// CanApprove reports whether u is a member of any of groups.
func (a *Access) CanApprove(u User, groups []string) bool {
	return slices.ContainsFunc(groups, func(g string) bool { return a.InGroup(u, g) })
}

// Groups lists the groups u belongs to, sorted.
func (a *Access) Groups(u User) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []string
	for _, g := range a.groupNames() {
		if a.inGroup(u, g) {
			out = append(out, g)
		}
	}
	return out
}

// groupNames lists every group known, sorted. a.mu must be held.
func (a *Access) groupNames() []string {
	var names []string
	for g := range a.config {
		names = append(names, g)
	}
	for g := range a.added {
		if !slices.Contains(names, g) {
			names = append(names, g)
		}
	}
	slices.Sort(names)
	return names
}

// All returns every group with its members.
func (a *Access) All() map[string][]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := map[string][]string{}
	for _, g := range a.groupNames() {
		out[g] = a.members(g)
	}
	return out
}

// Resolved returns every group with who its members are: people with their
// principals, principals as themselves.
func (a *Access) Resolved() map[string][]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := map[string][]string{}
	for _, g := range a.groupNames() {
		var list []string
		for _, m := range a.current[g] {
			list = append(list, a.describe(m))
		}
		out[g] = list
	}
	return out
}

func (a *Access) describe(m Member) string {
	switch {
	case m.Person != "":
		var ps []string
		for _, p := range a.dir.Principals(m.Person) {
			ps = append(ps, p.String())
		}
		return fmt.Sprintf("%s (%s)", m.Person, strings.Join(ps, ", "))
	case m.ByName:
		return fmt.Sprintf("%s (user name)", m.Principal)
	case m.Bare != "":
		return fmt.Sprintf("%s (%s id or user name)", m.Bare, m.Principal.Adapter)
	default:
		return m.Principal.String()
	}
}

// Add puts member in group, persisting the change. It reports false when
// the member was already there.
func (a *Access) Add(group, member string) (bool, error) {
	return a.change(group, member, true)
}

// Remove takes member out of group, persisting the change. It reports false
// when the member was not there.
func (a *Access) Remove(group, member string) (bool, error) {
	return a.change(group, member, false)
}

func (a *Access) change(group, member string, add bool) (bool, error) {
	group = strings.ToLower(strings.TrimSpace(group))
	if group == "" || strings.TrimSpace(member) == "" {
		return false, fmt.Errorf("group and user must not be empty")
	}
	mem, err := a.dir.ParseMember(member, false)
	if err != nil {
		return false, err
	}
	member = mem.String()
	a.mu.Lock()
	defer a.mu.Unlock()
	present := slices.Contains(a.members(group), member)
	if present == add {
		return false, nil
	}
	added, gone := clone(a.added[group]), clone(a.gone[group])
	if add {
		delete(gone, member)
		if !slices.Contains(a.config[group], member) {
			added[member] = true
		}
	} else {
		delete(added, member)
		if slices.Contains(a.config[group], member) {
			gone[member] = true
		}
	}
	if a.store != nil {
		c := groupChange{Added: keys(added), Removed: keys(gone)}
		if err := a.store.putJSON(bucketGroups, group, c); err != nil {
			return false, fmt.Errorf("save group %s: %w", group, err)
		}
	}
	a.added[group], a.gone[group] = added, gone
	a.recompute()
	return true, nil
}

func clone(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
