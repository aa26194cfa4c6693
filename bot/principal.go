package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Principal is a user as one network knows them: ADAPTER:ID, where ID is
// the network's stable id normalised by that adapter's own rule (see
// NormalizeID). Two principals are the same user exactly when they are
// equal; whether two users are the same person is Directory.Same's call.
type Principal struct {
	Adapter string // "slack", "irc", "xmpp", "matrix", "shell", or "wirebot"
	ID      string
}

// ReservedKind is the adapter part of the bot's own principals. No adapter
// has this name, and the engine stamps every message with the name of the
// adapter that delivered it, so no chat user can be one of these.
const ReservedKind = "wirebot"

// The bot's own principals: who config schedules and @cron lines run as,
// and who webhook commands run as.
var (
	SchedulerPrincipal = Principal{Adapter: ReservedKind, ID: "scheduler"}
	WebhookPrincipal   = Principal{Adapter: ReservedKind, ID: "webhook"}
)

// AdapterKinds are the adapter names a principal may carry (besides
// ReservedKind).
var adapterKinds = [...]string{"shell", "slack", "irc", "xmpp", "matrix"}

// IsAdapterKind reports whether name is one of the adapters wirebot has.
func IsAdapterKind(name string) bool {
	for _, k := range adapterKinds {
		if k == name {
			return true
		}
	}
	return false
}

// String is ADAPTER:ID; the zero Principal is "".
func (p Principal) String() string {
	if p.IsZero() {
		return ""
	}
	return p.Adapter + ":" + p.ID
}

// IsZero reports whether p names nobody.
func (p Principal) IsZero() bool { return p.Adapter == "" && p.ID == "" }

// Reserved reports whether p is one of the bot's own principals.
func (p Principal) Reserved() bool { return p.Adapter == ReservedKind }

// MarshalText writes ADAPTER:ID.
func (p Principal) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads ADAPTER:ID as written by MarshalText; "" is the zero
// Principal. It applies the adapter's normalisation (IRC: rfc1459).
func (p *Principal) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = Principal{}
		return nil
	}
	q, err := ParsePrincipal(string(b), CaseRFC1459)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ErrNotPrincipal reports text that is not ADAPTER:ID.
var ErrNotPrincipal = errors.New("not a principal")

// ParsePrincipal reads ADAPTER:ID (as written in config or chat), ADAPTER
// being one of the adapters or "wirebot", and normalises ID by that
// adapter's rule; cm is the IRC server's case mapping. Only the first ':'
// separates, so matrix ids (`matrix:@alice:example.org`) keep theirs.
func ParsePrincipal(s string, cm CaseMapping) (Principal, error) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return Principal{}, fmt.Errorf("%q: %w (want ADAPTER:ID, e.g. slack:U024BE7LH)", s, ErrNotPrincipal)
	}
	if kind != ReservedKind && !IsAdapterKind(kind) {
		return Principal{}, fmt.Errorf("%q: %w: %q is not one of shell, slack, irc, xmpp, matrix, wirebot", s, ErrNotPrincipal, kind)
	}
	if err := checkID(id); err != nil {
		return Principal{}, fmt.Errorf("%q: %w: %v", s, ErrNotPrincipal, err)
	}
	p := Principal{Adapter: kind, ID: NormalizeID(kind, id, cm)}
	if p.ID == "" {
		return Principal{}, fmt.Errorf("%q: %w: empty id", s, ErrNotPrincipal)
	}
	return p, nil
}

// LooksLikePrincipal reports whether s is written ADAPTER:ID with a known
// adapter, so that config entries can tell principals from names.
func LooksLikePrincipal(s string) bool {
	kind, _, ok := strings.Cut(s, ":")
	return ok && (kind == ReservedKind || IsAdapterKind(kind))
}

func checkID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if len(id) > 512 {
		return errors.New("id longer than 512 bytes")
	}
	if !utf8.ValidString(id) {
		return errors.New("id is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("id contains %U", r)
		}
	}
	return nil
}

// NormalizeID applies an adapter's rule for its ids: IRC nicks are folded
// under the server's CASEMAPPING; XMPP ids are bare JIDs in lower case;
// Slack, Matrix, shell and the bot's own ids are exact. No rule folds
// anything outside ASCII except XMPP's lower-casing of the JID itself.
func NormalizeID(adapter, id string, cm CaseMapping) string {
	switch adapter {
	case "irc":
		return cm.Fold(id)
	case "xmpp":
		if i := strings.IndexByte(id, '/'); i >= 0 {
			id = id[:i] // the bare JID: the resource is not the user
		}
		return lowerIfNeeded(id)
	default:
		return id
	}
}

func lowerIfNeeded(s string) string {
	for _, r := range s {
		if unicode.ToLower(r) != r {
			return strings.ToLower(s)
		}
	}
	return s
}

// CaseMapping is an IRC server's rule for which nicks are equal (its
// ISUPPORT CASEMAPPING token).
type CaseMapping uint8

// The case mappings IRC servers announce. rfc1459 is the default when a
// server announces none.
const (
	CaseRFC1459       CaseMapping = iota // A-Z [ ] \ ~  ->  a-z { } | ^
	CaseASCII                            // A-Z -> a-z
	CaseStrictRFC1459                    // A-Z [ ] \  ->  a-z { } |
)

// ParseCaseMapping reads an ISUPPORT CASEMAPPING value; unknown values
// (and "") are rfc1459, the protocol's default.
func ParseCaseMapping(s string) CaseMapping {
	switch strings.ToLower(s) {
	case "ascii":
		return CaseASCII
	case "strict-rfc1459":
		return CaseStrictRFC1459
	default:
		return CaseRFC1459
	}
}

func (cm CaseMapping) String() string {
	switch cm {
	case CaseASCII:
		return "ascii"
	case CaseStrictRFC1459:
		return "strict-rfc1459"
	default:
		return "rfc1459"
	}
}

func (cm CaseMapping) fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case cm == CaseASCII:
		return c
	case c == '[' || c == ']' || c == '\\':
		return c + '{' - '['
	case c == '~' && cm == CaseRFC1459:
		return '^'
	}
	return c
}

// Fold maps s to its lower-case form under cm. Bytes outside ASCII are
// kept as they are: "ſam" is not "sam". It allocates only when s changes.
func (cm CaseMapping) Fold(s string) string {
	for i := 0; i < len(s); i++ {
		if cm.fold(s[i]) != s[i] {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = cm.fold(b[j])
			}
			return string(b)
		}
	}
	return s
}

// DirectMessager is an optional adapter ability: sending a direct (private)
// message to one of its users, as `link` does to deliver its codes.
type DirectMessager interface {
	SendDirect(ctx context.Context, to Principal, text string) error
}

// CaseMappingSetter is implemented by the engine: an IRC adapter tells it
// the server's CASEMAPPING once it has been announced, so that principals
// from the config and the store compare under the server's rule.
type CaseMappingSetter interface {
	SetCaseMapping(adapter string, cm CaseMapping)
}
