package bot

import (
	"slices"
	"strings"
)

// Access answers who may run what. A user is named by the adapter's stable
// id or unique user name; admins pass every check.
type Access struct {
	admins []string
	groups map[string][]string
}

// NewAccess builds the rules from the admins and groups keys.
func NewAccess(admins []string, groups map[string][]string) *Access {
	g := make(map[string][]string, len(groups))
	for name, members := range groups {
		g[strings.ToLower(name)] = members
	}
	return &Access{admins: admins, groups: g}
}

func is(u User, who string) bool {
	who = strings.TrimPrefix(strings.TrimSpace(who), "@")
	return who != "" && (who == u.ID || strings.EqualFold(who, u.Name))
}

// IsAdmin reports whether u is listed in admins.
func (a *Access) IsAdmin(u User) bool {
	return slices.ContainsFunc(a.admins, func(w string) bool { return is(u, w) })
}

// InGroup reports whether u belongs to group; "admins" is the admins list.
func (a *Access) InGroup(u User, group string) bool {
	group = strings.ToLower(group)
	if group == "admins" {
		return a.IsAdmin(u)
	}
	return slices.ContainsFunc(a.groups[group], func(w string) bool { return is(u, w) })
}

// Allowed reports whether u may run a command limited to groups: anyone
// when groups is empty, admins always, otherwise members of any of them.
func (a *Access) Allowed(u User, groups []string) bool {
	if len(groups) == 0 || a.IsAdmin(u) {
		return true
	}
	return slices.ContainsFunc(groups, func(g string) bool { return a.InGroup(u, g) })
}

// Groups lists the groups u belongs to, sorted.
func (a *Access) Groups(u User) []string {
	var out []string
	if a.IsAdmin(u) {
		out = append(out, "admins")
	}
	for g := range a.groups {
		if g != "admins" && a.InGroup(u, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}
