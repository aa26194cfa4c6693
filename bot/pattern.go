package bot

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// Pattern is a handler pattern. It is checked when it is loaded and
// compiled the first time a message is tried against it: most messages
// are routed by the literal index without trying most patterns, and a
// cold start with 200 scripts spent most of its loading time compiling
// regexps that no message had needed yet.
type Pattern struct {
	src   string // what regexp compiles, with its (?i)
	hint  literalHint
	names []string // capture group names, as regexp.Regexp.SubexpNames
	once  sync.Once
	re    *regexp.Regexp
}

// CompilePattern checks a handler pattern and returns it ready to match.
// Matching is case-insensitive unless the pattern turns it off with (?-i).
func CompilePattern(p string) (*Pattern, error) {
	if strings.TrimSpace(p) == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	src := "(?i)" + p
	// regexp.Compile is syntax.Parse with these flags, then a compile
	// that cannot fail: a pattern that parses here compiles later.
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		// Report the error against the pattern as written.
		if _, err2 := syntax.Parse(p, syntax.Perl); err2 != nil {
			err = err2
		}
		return nil, fmt.Errorf("bad pattern %q: %w", p, err)
	}
	return &Pattern{src: src, names: tree.CapNames(), hint: hintOf(tree.Simplify())}, nil
}

// String is the pattern as compiled, with its leading (?i).
func (p *Pattern) String() string { return p.src }

// Regexp is the compiled pattern.
func (p *Pattern) Regexp() *regexp.Regexp {
	p.once.Do(func() { p.re = regexp.MustCompile(p.src) })
	return p.re
}

// MatchString reports whether s contains a match of the pattern.
func (p *Pattern) MatchString(s string) bool { return p.Regexp().MatchString(s) }

// FindStringSubmatchIndex is regexp.Regexp.FindStringSubmatchIndex.
func (p *Pattern) FindStringSubmatchIndex(s string) []int {
	return p.Regexp().FindStringSubmatchIndex(s)
}

// SubexpNames are the names of the capture groups, "" for unnamed ones,
// without compiling the pattern.
func (p *Pattern) SubexpNames() []string { return p.names }

// literalHint describes the literal text any match of a pattern must
// contain, which the router uses to skip patterns that cannot match.
type literalHint struct {
	prefix string // lower-case literal the text must start with
	inside string // lower-case literal the text must contain somewhere
}

// hintOf extracts a hint from a pattern's simplified syntax tree. It
// returns the zero hint when it cannot prove anything, so the pattern is
// always tried.
func hintOf(tree *syntax.Regexp) literalHint {
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
