package slack

import (
	"strings"
)

// decode turns Slack's wire text back into what the person typed: entities
// (&amp; &lt; &gt;) unescaped, <@U123> into @name, <#C123|ops> into #ops,
// <https://x|label> into the URL, <!here> into @here.
func decode(text string, userName func(id string) string, channelName func(id string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			b.WriteString(unescape(text))
			break
		}
		j := strings.IndexByte(text[i:], '>')
		if j < 0 {
			b.WriteString(unescape(text))
			break
		}
		b.WriteString(unescape(text[:i]))
		b.WriteString(entity(text[i+1:i+j], userName, channelName))
		text = text[i+j+1:]
	}
	return b.String()
}

func entity(e string, userName, channelName func(string) string) string {
	target, label, hasLabel := strings.Cut(e, "|")
	switch {
	case strings.HasPrefix(target, "@"):
		if hasLabel && label != "" {
			return "@" + strings.TrimPrefix(unescape(label), "@")
		}
		return "@" + userName(target[1:])
	case strings.HasPrefix(target, "#"):
		if hasLabel && label != "" {
			return "#" + unescape(label)
		}
		return "#" + channelName(target[1:])
	case strings.HasPrefix(target, "!subteam^"):
		if hasLabel {
			return unescape(label)
		}
		return "@" + strings.TrimPrefix(target, "!subteam^")
	case strings.HasPrefix(target, "!date^"):
		if hasLabel {
			return unescape(label)
		}
		return unescape(target)
	case strings.HasPrefix(target, "!"):
		return "@" + target[1:]
	case strings.HasPrefix(target, "mailto:") && hasLabel:
		return unescape(label)
	default:
		return unescape(target)
	}
}

func unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// maxChunk is the most characters one posted message carries; Slack
// truncates past 40,000 and renders long messages poorly well before that.
const maxChunk = 3500

// chunks splits a reply into messages Slack takes whole, preferring to
// cut at line ends. Multi-line output goes in code blocks.
func chunks(text string) []string {
	text = strings.TrimRight(text, "\n")
	multi := strings.Contains(text, "\n")
	limit := maxChunk
	if multi {
		limit -= 8 // room for the fences
	}
	var parts []string
	for len(text) > 0 {
		if len([]rune(text)) <= limit {
			parts = append(parts, text)
			break
		}
		cut := runeOffset(text, limit)
		if nl := strings.LastIndexByte(text[:cut], '\n'); nl > cut/2 {
			parts = append(parts, text[:nl])
			text = text[nl+1:]
			continue
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	if multi {
		for i, p := range parts {
			parts[i] = "```\n" + p + "\n```"
		}
	}
	return parts
}

// runeOffset is the byte offset of the n-th rune of s.
func runeOffset(s string, n int) int {
	i := 0
	for off := range s {
		if i == n {
			return off
		}
		i++
	}
	return len(s)
}
