package bot

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
)

// LinkCodeTTL is how long a link code is good for.
const LinkCodeTTL = 10 * time.Minute

// linkTries is how many wrong codes end a pending link.
const linkTries = 5

// pendingLink is a `link PERSON` waiting for its code.
type pendingLink struct {
	person  string
	code    string
	expires time.Time
	tries   int
}

// links holds the codes sent out and not yet typed back, by principal.
type links struct {
	mu      sync.Mutex
	pending map[Principal]*pendingLink
}

// LinkError is a refusal to link or unlink, with the sentence to say.
type LinkError struct{ Msg string }

func (e *LinkError) Error() string { return e.Msg }

// storedLink is how a chat-made link is kept: principal -> person.
type storedLink struct {
	Person string    `json:"person"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// PutLink keeps a chat-made link of p to person.
func (s *Store) PutLink(p Principal, person, by string) error {
	return s.putJSON(bucketLinks, p.String(), storedLink{Person: person, By: by, At: time.Now().UTC()})
}

// DeleteLink removes the chat-made link of p, reporting whether there was one.
func (s *Store) DeleteLink(p Principal) (bool, error) { return s.deleteKey(bucketLinks, p.String()) }

// Links lists the chat-made links: principal -> person.
func (s *Store) Links() (map[Principal]string, error) {
	out := map[Principal]string{}
	err := s.eachJSON(bucketLinks, func(key string, data []byte) error {
		var l storedLink
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("link %s: %w", key, err)
		}
		p, err := ParsePrincipal(key, CaseRFC1459)
		if err != nil {
			return fmt.Errorf("link %s: %w", key, err)
		}
		out[p] = l.Person
		return nil
	})
	return out, err
}

// AddLink adds p to person's principals (a chat-made link).
func (d *Directory) AddLink(person string, p Principal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.links[person], p) {
		d.links[person] = append(d.links[person], p)
	}
	_ = d.rebuild()
}

// RemoveLink takes p out of the chat-made links, returning whose it was.
func (d *Directory) RemoveLink(p Principal) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for person, ps := range d.links {
		if i := slices.Index(ps, p); i >= 0 {
			d.links[person] = slices.Delete(ps, i, i+1)
			if len(d.links[person]) == 0 {
				delete(d.links, person)
			}
			_ = d.rebuild()
			return person, true
		}
	}
	return "", false
}

// Linked lists person's chat-made links.
func (d *Directory) Linked(person string) []Principal {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Clone(d.links[person])
}

// loadLinks reads the chat-made links from the store into the directory.
// Links to people no longer in the config are dropped (and logged).
func (b *Bot) loadLinks() error {
	if b.store == nil {
		return nil
	}
	ls, err := b.store.Links()
	if err != nil {
		return fmt.Errorf("load links: %w", err)
	}
	for p, person := range ls {
		if _, ok := b.dir.config[person]; !ok {
			b.log.Warn("link to a person not in people, ignored", "principal", p.String(), "person", person)
			continue
		}
		b.dir.AddLink(person, p)
	}
	return nil
}

func linkCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no randomness: nothing is safe
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// LinkStart begins linking u to person: a one-time code goes by direct
// message to person's other principals. It returns where it went.
func (b *Bot) LinkStart(ctx context.Context, u User, person string) ([]Principal, error) {
	person = strings.TrimSpace(person)
	switch {
	case u.Principal.IsZero() || u.Principal.Reserved():
		return nil, &LinkError{"Only a chat user can be linked."}
	case b.store == nil:
		return nil, &LinkError{"Sorry, this bot has no store to keep links in."}
	case !b.dir.IsPerson(person):
		return nil, &LinkError{fmt.Sprintf("There is no person %s in people (see the config).", person)}
	case u.Person == person:
		return nil, &LinkError{fmt.Sprintf("You are %s already.", person)}
	case u.Person != "":
		return nil, &LinkError{fmt.Sprintf("You are %s; %s cannot also be %s (unlink %s first, if it was linked in chat).", u.Person, u.Principal, person, u.Principal)}
	}
	code := linkCode()
	text := fmt.Sprintf("%s (%s) asked to be linked to you, %s. If that is you, say there: link %s (valid %s). If not, ignore this.",
		u.Name, u.Principal, person, code, ShortDuration(LinkCodeTTL))
	var sent []Principal
	for _, p := range b.dir.Principals(person) {
		if p == u.Principal {
			continue
		}
		a, ok := b.byName[p.Adapter]
		if !ok {
			continue
		}
		dm, ok := a.(DirectMessager)
		if !ok {
			continue
		}
		if err := dm.SendDirect(ctx, p, text); err != nil {
			b.log.Warn("send link code", "adapter", p.Adapter, "principal", p.String(), "err", err)
			continue
		}
		sent = append(sent, p)
	}
	if len(sent) == 0 {
		return nil, &LinkError{fmt.Sprintf("Sorry, none of %s's principals on a network this bot runs could get a direct message, so no code was sent.", person)}
	}
	b.links.mu.Lock()
	if b.links.pending == nil {
		b.links.pending = map[Principal]*pendingLink{}
	}
	b.links.pending[u.Principal] = &pendingLink{person: person, code: code, expires: time.Now().Add(LinkCodeTTL)}
	b.links.mu.Unlock()
	b.auditLink(u, "link "+person, "pending", "code sent to "+principalList(sent))
	return sent, nil
}

// LinkFinish links u to the person a code was sent for, when code is the
// one sent, and it has not expired. A wrong or expired code links nothing.
func (b *Bot) LinkFinish(u User, code string) (string, error) {
	b.links.mu.Lock()
	pl, ok := b.links.pending[u.Principal]
	switch {
	case !ok:
		b.links.mu.Unlock()
		return "", &LinkError{"There is no link waiting for a code from you; start with: link PERSON"}
	case time.Now().After(pl.expires):
		delete(b.links.pending, u.Principal)
		b.links.mu.Unlock()
		b.auditLink(u, "link", "expired", "to "+pl.person)
		return "", &LinkError{"That code has expired; start again with: link " + pl.person}
	case subtle.ConstantTimeCompare([]byte(code), []byte(pl.code)) != 1:
		pl.tries++
		left := linkTries - pl.tries
		if left <= 0 {
			delete(b.links.pending, u.Principal)
		}
		b.links.mu.Unlock()
		b.auditLink(u, "link", "refused", "wrong code for "+pl.person)
		if left <= 0 {
			return "", &LinkError{"That code is wrong, and that was the last try; start again with: link " + pl.person}
		}
		return "", &LinkError{"That code is wrong; nothing was linked."}
	}
	delete(b.links.pending, u.Principal)
	b.links.mu.Unlock()
	if err := b.store.PutLink(u.Principal, pl.person, u.Principal.String()); err != nil {
		return "", fmt.Errorf("save link: %w", err)
	}
	b.dir.AddLink(pl.person, u.Principal)
	b.access.refresh()
	b.auditLink(u, "link", "linked", "to "+pl.person)
	return pl.person, nil
}

// Unlink removes the chat-made link of p; who must be its person or an
// admin. It returns the person p was linked to.
func (b *Bot) Unlink(who User, p Principal) (string, error) {
	person := ""
	for _, name := range b.dir.People() {
		if slices.Contains(b.dir.Linked(name), p) {
			person = name
		}
	}
	switch {
	case person == "":
		return "", &LinkError{fmt.Sprintf("%s is not linked in chat (links in people: are changed in the config).", p)}
	case who.Person != person && !b.access.IsAdmin(who):
		return "", &LinkError{fmt.Sprintf("Sorry %s, only %s or an admin may unlink %s.", who.Name, person, p)}
	}
	if _, err := b.store.DeleteLink(p); err != nil {
		return "", fmt.Errorf("delete link: %w", err)
	}
	b.dir.RemoveLink(p)
	b.access.refresh()
	b.auditLink(who, "unlink "+p.String(), "unlinked", "from "+person)
	return person, nil
}

func (b *Bot) auditLink(u User, text, outcome, note string) {
	if b.audit == nil {
		return
	}
	b.audit.Record(AuditEntry{Time: time.Now().UTC(), User: u.Name, UserID: u.ID, Principal: u.Principal, Person: u.Person,
		Trigger: string(TriggerChat), Command: "link", Text: text, Outcome: outcome, Exit: -1, Note: note})
}

func principalList(ps []Principal) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}
