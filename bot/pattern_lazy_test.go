package bot

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
)

// A pattern is checked when loaded and compiled when first used: it must
// accept and refuse what regexp.Compile does, with the same words, and
// match as the compiled regexp does.
func TestPatternCheckedNowCompiledLater(t *testing.T) {
	for _, p := range []string{
		`^deploy (?P<app>\S+) to (?P<env>prod|staging)$`, `^ping$`, `(?-i)^Exact$`, `coffee`,
		`^x(`, `^[a-`, `a{2000}`, `(?P<1a>x)`, `\8`, `x**`, `^(?i)ok$`, `\bwho\b`,
	} {
		want, werr := regexp.Compile("(?i)" + p)
		got, gerr := CompilePattern(p)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: regexp says %v, CompilePattern %v", p, werr, gerr)
		}
		if werr != nil {
			_, rawErr := regexp.Compile(p)
			if rawErr == nil {
				rawErr = werr
			}
			if w := fmt.Sprintf("bad pattern %q: %v", p, rawErr); gerr.Error() != w {
				t.Errorf("%q: error %q, want %q", p, gerr, w)
			}
			continue
		}
		if got.re != nil {
			t.Errorf("%q: compiled before it was used", p)
		}
		if !slices.Equal(got.SubexpNames(), want.SubexpNames()) {
			t.Errorf("%q: names %q, want %q", p, got.SubexpNames(), want.SubexpNames())
		}
		if got.String() != want.String() {
			t.Errorf("%q: String %q, want %q", p, got, want)
		}
		for _, s := range []string{"deploy web to PROD", "PING", "Exact", "exact", "more coffee", "OK", "who is it", ""} {
			if g, w := got.FindStringSubmatchIndex(s), want.FindStringSubmatchIndex(s); !slices.Equal(g, w) {
				t.Errorf("%q on %q: %v, want %v", p, s, g, w)
			}
		}
	}
}
