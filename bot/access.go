package bot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Access answers who may run what. A user is named by the adapter's stable
// id or unique user name; admins pass every @allow. Members come from the
// config (admins, groups) plus those added in chat, less those removed in
// chat; chat changes are kept in the store.
type Access struct {
	store  *Store
	mu     sync.RWMutex
	config map[string][]string        // group -> members from the config; "admins" too
	added  map[string]map[string]bool // group -> member -> added in chat
	gone   map[string]map[string]bool // group -> member -> removed in chat
}

// groupChange is how a group's chat changes are stored.
type groupChange struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// NewAccess builds the rules from the admins and groups keys.
func NewAccess(admins []string, groups map[string][]string) *Access {
	a := &Access{config: map[string][]string{}, added: map[string]map[string]bool{}, gone: map[string]map[string]bool{}}
	for name, members := range groups {
		a.config[strings.ToLower(name)] = cleanMembers(members)
	}
	a.config["admins"] = append(a.config["admins"], cleanMembers(admins)...)
	return a
}

func cleanMembers(in []string) []string {
	var out []string
	for _, m := range in {
		if m = normMember(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func normMember(m string) string { return strings.TrimPrefix(strings.TrimSpace(m), "@") }

// UseStore loads the group changes made in chat and keeps later ones there.
func (a *Access) UseStore(s *Store) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.store = s
	return s.eachJSON(bucketGroups, func(group string, data []byte) error {
		var c groupChange
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("group %s in the store: %w", group, err)
		}
		a.added[group], a.gone[group] = set(c.Added), set(c.Removed)
		return nil
	})
}

func set(items []string) map[string]bool {
	m := map[string]bool{}
	for _, it := range items {
		m[it] = true
	}
	return m
}

func is(u User, who string) bool {
	who = normMember(who)
	return who != "" && (who == u.ID || strings.EqualFold(who, u.Name))
}

// members lists a group's members now. a.mu must be held.
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
	return slices.ContainsFunc(a.members(strings.ToLower(group)), func(w string) bool { return is(u, w) })
}

// Allowed reports whether u may run a command limited to groups: anyone
// when groups is empty, admins always, otherwise members of any of them.
func (a *Access) Allowed(u User, groups []string) bool {
	if len(groups) == 0 || a.IsAdmin(u) {
		return true
	}
	return slices.ContainsFunc(groups, func(g string) bool { return a.InGroup(u, g) })
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
		if slices.ContainsFunc(a.members(g), func(w string) bool { return is(u, w) }) {
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
	group, member = strings.ToLower(strings.TrimSpace(group)), normMember(member)
	if group == "" || member == "" {
		return false, fmt.Errorf("group and user must not be empty")
	}
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
