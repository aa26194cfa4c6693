package matrix

import (
	"encoding/json"
	"html"
	"strings"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// plainText is what the person typed: the message's plain body without a
// reply fallback, with mentions as their pills show them. A mention of
// the bot itself at the start reads as "@<botName>", whatever the bot's
// Matrix user or display name, so that it addresses the bot.
func plainText(c *event.MessageEventContent, self id.UserID, botName string) string {
	body := c.Body
	formatted := ""
	if c.Format == event.FormatHTML {
		formatted = c.FormattedBody
	}
	if c.RelatesTo.GetReplyTo() != "" && formatted != "" {
		if trimmed := event.TrimReplyFallbackHTML(formatted); trimmed != formatted {
			formatted = trimmed
			body = event.TrimReplyFallbackText(body)
		}
	}
	// A client that wrote the user id into the plain body shows the pill's
	// text instead: that is what the person saw and typed.
	leading := []string{string(self)}
	for _, p := range pills(formatted) {
		if p.user == self {
			leading = append(leading, p.text, "@"+p.text)
			continue
		}
		if p.text != "" && p.text != string(p.user) {
			body = strings.ReplaceAll(body, string(p.user), p.text)
		}
	}
	if botName != "" {
		for _, l := range leading {
			if l == "" || l == "@" {
				continue
			}
			if rest, ok := strings.CutPrefix(body, l); ok && (rest == "" || !isNameChar(rest)) {
				return "@" + botName + rest
			}
		}
	}
	return body
}

// isNameChar reports whether s starts with a character that would make a
// leading name longer (so "@wirebot:example.orgx" is not a mention).
func isNameChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || r == '-' || r == '.' || r == '=' || r == '/' ||
		('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

type pill struct {
	user id.UserID
	text string
}

// pills lists the user mentions (links to matrix.to/#/@user or
// matrix:u/user) in a formatted body, with the text each shows.
func pills(formatted string) []pill {
	if formatted == "" || !strings.Contains(formatted, "<a") {
		return nil
	}
	doc, err := xhtml.Parse(strings.NewReader(formatted))
	if err != nil {
		return nil
	}
	var out []pill
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode && n.Data == "a" {
			for _, at := range n.Attr {
				if at.Key != "href" {
					continue
				}
				uri, err := id.ParseMatrixURIOrMatrixToURL(at.Val)
				if err == nil && uri != nil && uri.Sigil1 == '@' {
					out = append(out, pill{user: uri.UserID(), text: nodeText(n)})
				}
			}
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func nodeText(n *xhtml.Node) string {
	var b strings.Builder
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// maxEventCost is the most a reply's text may add to one event: its body
// and, for multi-line text, its <pre> formatted body, both as they are
// encoded in JSON. Matrix events are limited to 65536 bytes, signatures
// and the rest of the envelope included.
const maxEventCost = 48000

// jsonLen is how many bytes s takes inside a JSON string as
// encoding/json writes it (HTML characters escaped).
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

// cost is what one line of a multi-line reply adds to an event: in the
// body and in the formatted body, with its newline.
func cost(line string) int {
	return jsonLen(line) + jsonLen(html.EscapeString(line)) + 4
}

// split cuts text into parts at line ends so that no part costs more than
// limit. A single line too long for one event is cut at rune boundaries
// (the only case where the parts joined with newlines are not the text).
func split(text string, limit int) []string {
	var parts, cur []string
	curCost := 0
	flush := func() {
		parts = append(parts, strings.Join(cur, "\n"))
		cur, curCost = nil, 0
	}
	for _, line := range strings.Split(text, "\n") {
		c := cost(line)
		if c > limit {
			if len(cur) > 0 {
				flush()
			}
			parts = append(parts, cutLine(line, limit)...)
			continue
		}
		if len(cur) > 0 && curCost+c > limit {
			flush()
		}
		cur = append(cur, line)
		curCost += c
	}
	if len(cur) > 0 || len(parts) == 0 {
		flush()
	}
	return parts
}

// cutLine cuts one long line into pieces of at most limit cost each.
func cutLine(line string, limit int) []string {
	var pieces []string
	start, c := 0, 0
	for i, r := range line {
		rc := cost(string(r)) - 4
		if c+rc > limit-4 && i > start {
			pieces = append(pieces, line[start:i])
			start, c = i, 0
		}
		c += rc
	}
	return append(pieces, line[start:])
}
