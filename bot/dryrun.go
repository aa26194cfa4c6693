package bot

// Trial is what the router and the access rules would do with one match of
// a message, without running anything (`wirebot test`).
type Trial struct {
	Kind      Kind
	Command   string            // the command's name
	Source    string            // builtin, or the script's file
	Args      []string          // the captures, in order
	Named     map[string]string // the named captures
	Allow     []string          // groups that may run it; empty: everyone
	Allowed   bool              // whether the sender may run it
	Approve   []string          // groups that must approve each run
	Approvers []string          // who could approve, as the members of Approve resolve
}

// Try routes m as receive would and reports each match, and whether its
// sender passes @allow, without starting anything. addressed reports
// whether the text was addressed to the bot at all.
func (b *Bot) Try(m Message) (trials []Trial, addressed bool) {
	m.Adapter = b.adapterName(m.Adapter)
	b.stamp(&m)
	t := b.Table()
	command, addressed := Address(m.Text, b.cfg.Name, b.cfg.Alias, m.Channel.Direct)
	add := func(kind Kind, mt Match) {
		c := mt.Route.Command
		tr := Trial{Kind: kind, Command: c.Name, Source: c.Source, Args: mt.Args, Named: mt.Named,
			Allow: c.Allow, Allowed: b.access.Allowed(m.User, c.Allow), Approve: c.Approve}
		for _, g := range c.Approve {
			tr.Approvers = append(tr.Approvers, b.access.members(g)...)
		}
		trials = append(trials, tr)
	}
	if addressed {
		if mt, ok := t.Respond(command); ok {
			add(Respond, mt)
		}
	}
	for _, mt := range t.Hear(m.Text) {
		add(Hear, mt)
	}
	return trials, addressed
}
