package bot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func routes(t testing.TB, kind Kind, patterns ...string) []*Route {
	var out []*Route
	for _, p := range patterns {
		re, err := CompilePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &Route{Kind: kind, Pattern: re, Command: &Command{Name: p}})
	}
	return out
}

func TestRespondCapturesAndPrecedence(t *testing.T) {
	tab := NewTable(routes(t, Respond,
		`^deploy (?P<app>[a-z0-9-]+) to (?P<env>staging|prod)$`,
		`^deploy (.*)$`,
		`^(?:status|stat)(?: (\S+))?(?: (\S+))?$`,
	))
	m, ok := tab.Respond("Deploy web-1 to PROD")
	if !ok || m.Route.Command.Name != `^deploy (?P<app>[a-z0-9-]+) to (?P<env>staging|prod)$` {
		t.Fatalf("want first pattern to win, got %+v %v", m, ok)
	}
	if !slices.Equal(m.Args, []string{"web-1", "PROD"}) || m.Named["app"] != "web-1" || m.Named["env"] != "PROD" {
		t.Fatalf("captures: %q %v", m.Args, m.Named)
	}
	m, ok = tab.Respond("stat x")
	if !ok || !slices.Equal(m.Args, []string{"x", ""}) {
		t.Fatalf("non-participating group must be empty: %q %v", m.Args, ok)
	}
	if _, ok := tab.Respond("nothing here"); ok {
		t.Fatal("matched nothing-here")
	}
}

func TestCaseSensitiveOptOut(t *testing.T) {
	tab := NewTable(routes(t, Respond, `(?-i)^Exact$`))
	if _, ok := tab.Respond("exact"); ok {
		t.Fatal("(?-i) pattern matched other case")
	}
	if _, ok := tab.Respond("Exact"); !ok {
		t.Fatal("(?-i) pattern did not match")
	}
}

func TestHearAll(t *testing.T) {
	tab := NewTable(append(routes(t, Hear, `\bdeploy\b`, `(?i)ERROR`, `^!`), routes(t, Respond, `^x$`)...))
	got := tab.Hear("an error during the deploy")
	if len(got) != 2 {
		t.Fatalf("want 2 hear matches, got %d", len(got))
	}
	if len(tab.Hear("x")) != 0 {
		t.Fatal("respond route matched as hear")
	}
}

// The index must never hide a match: compare it with trying every pattern.
func TestIndexAgreesWithScan(t *testing.T) {
	patterns := []string{
		`^deploy (\S+)$`, `^de`, `^d`, `^dep(loy)?`, `^ping$`, `status`, `^(?:a|b)c`, `xyz`,
		`\bERROR\b`, `^K`, `^s`, `^st.*s$`, `foo|bar`, `[0-9]{3}`, `^ab*c`, `(?-i)^Up`, `^\$x`, `\.com$`,
		`^longer prefix here`, `^été`, `ſ`, `^\x{212A}elvin`,
	}
	var rs []*Route
	for i, p := range patterns {
		kind := Respond
		if i%2 == 1 {
			kind = Hear
		}
		rs = append(rs, routes(t, kind, p)...)
		rs = append(rs, routes(t, 1-kind, p)...)
	}
	tab := NewTable(rs)
	words := []string{"deploy", "de", "d", "ping", "status", "ac", "bc", "xyz", "error", "ERROR", "k", "K", "\u212a", "s", "S", "ſ",
		"stops", "foo", "bar", "123", "abbbc", "up", "Up", "$x", "a.com", "longer", "prefix", "here", "été", "ÉTÉ", "elvin", " "}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		text := ""
		for k := rng.IntN(4); k >= 0; k-- {
			text += words[rng.IntN(len(words))]
			if rng.IntN(2) == 0 {
				text += " "
			}
		}
		var wantR *Route
		var wantH []*Route
		for _, r := range rs {
			if !r.Pattern.MatchString(text) {
				continue
			}
			if r.Kind == Respond && wantR == nil {
				wantR = r
			}
			if r.Kind == Hear {
				wantH = append(wantH, r)
			}
		}
		m, ok := tab.Respond(text)
		if (wantR != nil) != ok || (ok && m.Route != wantR) {
			t.Fatalf("Respond(%q): index gave %v, scan gave %v", text, m.Route, wantR)
		}
		var gotH []*Route
		for _, m := range tab.Hear(text) {
			gotH = append(gotH, m.Route)
		}
		if !slices.Equal(gotH, wantH) {
			t.Fatalf("Hear(%q): index gave %d routes, scan %d", text, len(gotH), len(wantH))
		}
	}
}

func TestClosest(t *testing.T) {
	got := Closest("deplyo web", []string{"help", "ping", "deploy", "disk"})
	if got != "deploy" {
		t.Fatalf("Closest = %q, want deploy", got)
	}
}

// bigTable is 1,000 handlers of the shapes scripts use: respond commands
// with a literal prefix, and hear patterns with a literal inside.
func bigTable(b testing.TB) *Table {
	var rs []*Route
	for i := range 900 {
		rs = append(rs, routes(b, Respond, fmt.Sprintf(`^cmd%d (?P<arg>\S+)(?: (\S+))?$`, i))...)
	}
	for i := range 100 {
		rs = append(rs, routes(b, Hear, fmt.Sprintf(`\bticket-%d\b`, i))...)
	}
	return NewTable(rs)
}

func BenchmarkRouteMiss1000(b *testing.B) {
	tab := bigTable(b)
	text := "could someone look at the build, it is red again since this morning"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.Respond(text); ok {
			b.Fatal("matched")
		}
		if len(tab.Hear(text)) != 0 {
			b.Fatal("heard")
		}
	}
}

func BenchmarkRouteHit1000(b *testing.B) {
	tab := bigTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.Respond("cmd512 web prod"); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkRouteMissScan1000(b *testing.B) {
	tab := bigTable(b)
	text := "could someone look at the build, it is red again since this morning"
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range tab.routes {
			if r.Pattern.MatchString(text) {
				b.Fatal("matched")
			}
		}
	}
}
