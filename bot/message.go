package bot

import "context"

// User is a person (or bot) on the chat service. ID is the adapter's stable
// identifier; Name is its unique user name (never an editable display name).
// Principal is ADAPTER:ID as the engine stamped it (adapters need not set
// it: the engine does, from the adapter that delivered the message), and
// Person the person that principal belongs to, when any.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Principal Principal `json:"principal"`
	Person    string    `json:"person"`
	IsBot     bool      `json:"-"`
}

// Channel is where a message was said. Direct marks a private conversation
// with the bot.
type Channel struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Direct bool   `json:"-"`
}

// Message is one chat message as an adapter hands it to the bot.
type Message struct {
	ID       string // adapter's id of the message, when it has one
	Text     string // as the person typed it
	User     User
	Channel  Channel
	Thread   string // thread the message is in; empty outside a thread
	Adapter  string // the adapter it came from (set by the engine)
	FromSelf bool   // said by the bot itself
	// Also lists more places every reply goes (a schedule or webhook
	// posting to several channels). Only the engine sets it.
	Also []Target
	// Via is the adapter's own handle for answering this message another
	// way than posting to Channel (a Slack slash command's response_url).
	// Every reply to the message carries it back to the adapter.
	Via string
}

// Reply is a message the bot sends.
type Reply struct {
	Channel Channel
	Thread  string
	Text    string
	Via     string // Message.Via of the message answered; "" otherwise
}

// Inbox receives messages from an adapter. Receive may block while the bot
// is busy routing, which is how adapters get back-pressure.
type Inbox interface {
	Receive(ctx context.Context, m Message)
}

// Adapter connects the bot to one chat service.
type Adapter interface {
	Name() string
	// Run blocks, delivering messages to in, until ctx is done or the input
	// ends (a nil error then means the adapter has no more messages). It
	// owns its reconnects.
	Run(ctx context.Context, in Inbox) error
	// Send posts a reply. It may be called before Run and after it returns.
	Send(ctx context.Context, r Reply) error
}

// Flusher is an optional ability: an adapter that buffers replies flushes
// them when the bot stops.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Connected is an optional ability: an adapter that can tell whether it is
// connected to its chat service right now.
type Connected interface {
	Connected() bool
}

// Label is how a channel is named to people: its name, else its id.
func (c Channel) Label() string { return channelLabel(c) }
