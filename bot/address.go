package bot

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address decides whether text is addressed to the bot and returns the
// command text: what follows "name", "name:", "name,", "@name" or the alias.
// A direct message is always addressed; a leading address in it is still
// stripped.
func Address(text, name, alias string, direct bool) (command string, addressed bool) {
	t := strings.TrimLeftFunc(text, unicode.IsSpace)
	if rest, ok := stripName(t, name); ok {
		return strings.TrimSpace(rest), true
	}
	if alias != "" && strings.HasPrefix(t, alias) {
		return strings.TrimSpace(t[len(alias):]), true
	}
	if direct {
		return strings.TrimSpace(t), true
	}
	return "", false
}

func stripName(t, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	t = strings.TrimPrefix(t, "@")
	if len(t) < len(name) || !strings.EqualFold(t[:len(name)], name) {
		return "", false
	}
	rest := t[len(name):]
	if rest == "" {
		return "", true
	}
	r, size := utf8.DecodeRuneInString(rest)
	switch {
	case r == ':' || r == ',':
		return rest[size:], true
	case unicode.IsSpace(r):
		return rest, true
	}
	return "", false
}
