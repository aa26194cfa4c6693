package bot

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// CompilePattern compiles a handler pattern. Matching is case-insensitive
// unless the pattern turns it off with (?-i).
func CompilePattern(p string) (*regexp.Regexp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	re, err := regexp.Compile("(?i)" + p)
	if err != nil {
		// Report the error against the pattern as written.
		if _, err2 := regexp.Compile(p); err2 != nil {
			err = err2
		}
		return nil, fmt.Errorf("bad pattern %q: %w", p, err)
	}
	return re, nil
}

// literalHint describes the literal text any match of a pattern must
// contain, which the router uses to skip patterns that cannot match.
type literalHint struct {
	prefix string // lower-case literal the text must start with
	inside string // lower-case literal the text must contain somewhere
}

// hintFor extracts a hint from a compiled pattern. It returns the zero hint
// when it cannot prove anything, so the pattern is always tried.
func hintFor(re *regexp.Regexp) literalHint {
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return literalHint{}
	}
	tree = tree.Simplify()
	var parts []*syntax.Regexp
	switch tree.Op {
	case syntax.OpConcat:
		parts = tree.Sub
	case syntax.OpLiteral:
		parts = []*syntax.Regexp{tree}
	default:
		return literalHint{}
	}
	var h literalHint
	if len(parts) > 0 && parts[0].Op == syntax.OpBeginText {
		var b strings.Builder
		for _, p := range parts[1:] {
			if p.Op != syntax.OpLiteral {
				break
			}
			b.WriteString(string(p.Rune))
		}
		h.prefix = asciiLower(b.String())
	}
	if h.prefix == "" {
		for _, p := range parts {
			if p.Op == syntax.OpLiteral && len(p.Rune) > len(h.inside) {
				h.inside = string(p.Rune)
			}
		}
		h.inside = asciiLower(h.inside)
	}
	return h
}

// asciiLower lower-cases s when it is plain ASCII and returns "" otherwise:
// Unicode case folding (the Kelvin sign folds to k) makes non-ASCII literals
// unsafe to use as a filter.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return ""
		}
	}
	return strings.ToLower(s)
}
