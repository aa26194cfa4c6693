package bot

import (
	"strings"
)

// Usage returns a short form of how to call a command for suggestions: the
// first word of its first help line, or its name.
func (c *Command) Usage() string {
	if len(c.Help) > 0 {
		if f := strings.Fields(c.Help[0]); len(f) > 0 {
			return f[0]
		}
	}
	return strings.TrimSuffix(c.Name, fileExt(c.Name))
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// Closest returns the usage word of the candidate nearest to what the user
// typed, by edit distance on the first word.
func Closest(typed string, usages []string) string {
	word := strings.ToLower(firstWord(typed))
	best, bestD := "", -1
	for _, u := range usages {
		d := editDistance(word, strings.ToLower(u))
		if bestD < 0 || d < bestD || (d == bestD && u < best) {
			best, bestD = u, d
		}
	}
	return best
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, by runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
