package bot

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is the whole configuration of a bot. main fills it from viper; the
// engine only ever sees this plain struct. Field tags are the config keys.
type Config struct {
	Name          string              `mapstructure:"name"`
	Alias         string              `mapstructure:"alias"`
	Adapter       string              `mapstructure:"adapter"`
	Adapters      []string            `mapstructure:"adapters"`
	ScriptsDir    string              `mapstructure:"scripts_dir"`
	DataFile      string              `mapstructure:"data_file"`
	Timezone      string              `mapstructure:"timezone"`
	Log           LogConfig           `mapstructure:"log"`
	Scripts       ScriptsConfig       `mapstructure:"scripts"`
	Slack         SlackConfig         `mapstructure:"slack"`
	IRC           IRCConfig           `mapstructure:"irc"`
	XMPP          XMPPConfig          `mapstructure:"xmpp"`
	Matrix        MatrixConfig        `mapstructure:"matrix"`
	HTTP          HTTPConfig          `mapstructure:"http"`
	People        map[string][]string `mapstructure:"people"`
	Admins        []string            `mapstructure:"admins"`
	Groups        map[string][]string `mapstructure:"groups"`
	Schedules     []Schedule          `mapstructure:"schedules"`
	ChatSchedules ChatSchedulesConfig `mapstructure:"chat_schedules"`
	Webhooks      []Webhook           `mapstructure:"webhooks"`
	Chains        []Chain             `mapstructure:"chains"`
	Approvals     ApprovalsConfig     `mapstructure:"approvals"`
	ListenToBots  bool                `mapstructure:"listen_to_bots"`
	ShutdownGrace time.Duration       `mapstructure:"shutdown_grace"`
	Audit         AuditConfig         `mapstructure:"audit"`
	Store         StoreConfig         `mapstructure:"store"`
}

// LogConfig selects the level and format of the log on stderr.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// ScriptsConfig governs how scripts are run.
type ScriptsConfig struct {
	Timeout        time.Duration     `mapstructure:"timeout"`
	MaxOutput      int               `mapstructure:"max_output"`
	MaxConcurrent  int               `mapstructure:"max_concurrent"`
	Env            map[string]string `mapstructure:"env"`
	EnvPassthrough []string          `mapstructure:"env_passthrough"`
}

// SlackConfig holds the Slack adapter's settings.
type SlackConfig struct {
	BotToken Secret `mapstructure:"bot_token"`
	AppToken Secret `mapstructure:"app_token"`
	APIURL   string `mapstructure:"api_url"`
}

// IRCConfig holds the IRC adapter's settings.
type IRCConfig struct {
	Server   string   `mapstructure:"server"`
	TLS      bool     `mapstructure:"tls"`
	Nick     string   `mapstructure:"nick"`
	Password Secret   `mapstructure:"password"`
	Channels []string `mapstructure:"channels"`
}

// XMPPConfig holds the XMPP adapter's settings.
type XMPPConfig struct {
	JID      string   `mapstructure:"jid"`
	Password Secret   `mapstructure:"password"`
	Server   string   `mapstructure:"server"` // host:port; "" finds it from the JID
	TLS      string   `mapstructure:"tls"`    // starttls | direct | none
	Rooms    []string `mapstructure:"rooms"`
	Nick     string   `mapstructure:"nick"`
}

// MatrixConfig holds the Matrix adapter's settings: an access token, or a
// password to log in with.
type MatrixConfig struct {
	Homeserver  string   `mapstructure:"homeserver"`
	UserID      string   `mapstructure:"user_id"`
	AccessToken Secret   `mapstructure:"access_token"`
	Password    Secret   `mapstructure:"password"`
	Rooms       []string `mapstructure:"rooms"`
}

// HTTPConfig holds the HTTP server's settings.
type HTTPConfig struct {
	Listen string `mapstructure:"listen"`
}

// Schedule is one `schedules:` entry.
type Schedule struct {
	Name    string   `mapstructure:"name"`
	Cron    string   `mapstructure:"cron"`
	Channel Channels `mapstructure:"channel"`
	Command string   `mapstructure:"command"`
}

// ChatSchedulesConfig limits the schedules people make in chat.
type ChatSchedulesConfig struct {
	// MaxPerUser is how many chat schedules one person may have.
	MaxPerUser int `mapstructure:"max_per_user"`
	// MinInterval is the shortest time between two runs of a chat
	// schedule; admins are excepted.
	MinInterval time.Duration `mapstructure:"min_interval"`
}

// Webhook is one `webhooks:` entry.
type Webhook struct {
	Name    string        `mapstructure:"name"`
	Secret  Secret        `mapstructure:"secret"`
	Channel Channels      `mapstructure:"channel"`
	Command string        `mapstructure:"command"`
	Dedupe  time.Duration `mapstructure:"dedupe"`
	// Allow names the groups that may silence this hook; admins always may.
	Allow []string `mapstructure:"allow"`
	// Events (SPEC: Events; compiled and checked by bot/events).
	Format   string        `mapstructure:"format"`
	When     string        `mapstructure:"when"`
	Message  string        `mapstructure:"message"`
	Key      string        `mapstructure:"key"`
	Throttle time.Duration `mapstructure:"throttle"`
	Headers  []string      `mapstructure:"headers"`
	MaxBody  int64         `mapstructure:"max_body"`
}

// Webhook body limits: max_body's default and its ceiling.
const (
	DefaultMaxBody = 1 << 20
	MaxMaxBody     = 32 << 20
)

// BodyLimit is the largest body the hook accepts.
func (w Webhook) BodyLimit() int64 {
	if w.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return w.MaxBody
}

// Chain is one `chains:` entry: a named list of commands run as one.
type Chain struct {
	Name    string   `mapstructure:"name"`
	Respond string   `mapstructure:"respond"`
	Help    string   `mapstructure:"help"`
	Allow   []string `mapstructure:"allow"`
	Approve []string `mapstructure:"approve"`
	Steps   []string `mapstructure:"steps"`
}

// ApprovalsConfig governs pending approvals.
type ApprovalsConfig struct {
	TTL time.Duration `mapstructure:"ttl"`
	// Notify lists channels (ADAPTER:CHANNEL) where every approval request
	// is also announced.
	Notify Channels `mapstructure:"notify"`
}

// AuditConfig governs the audit log's retention.
type AuditConfig struct {
	Keep int `mapstructure:"keep"`
}

// SecretKeys lists every config key that holds a secret, with [] for the
// items of a list. A key whose type is Secret is one too; the list names
// those whose struct may not exist yet. Each may also be given as a file:
// the key with _file appended. No error message shows these keys' values.
func SecretKeys() []string {
	return []string{
		"slack.bot_token", "slack.app_token",
		"irc.password",
		"xmpp.password",
		"matrix.access_token", "matrix.password",
		"store.etcd.password",
		"webhooks[].secret",
	}
}

// StoreConfig chooses where state lives: one bbolt file (data_file) or
// etcd, shared by several instances of which one leads.
type StoreConfig struct {
	Backend string     `mapstructure:"backend"`
	Etcd    EtcdConfig `mapstructure:"etcd"`
}

// EtcdConfig reaches the etcd cluster for store.backend: etcd.
type EtcdConfig struct {
	Endpoints []string      `mapstructure:"endpoints"`
	Prefix    string        `mapstructure:"prefix"`
	Username  string        `mapstructure:"username"`
	Password  Secret        `mapstructure:"password"`
	LeaseTTL  time.Duration `mapstructure:"lease_ttl"`
	// TLS: the CA file that verifies the members (https:// endpoints), and
	// a client certificate and key when etcd asks for one.
	TLSCA   string `mapstructure:"tls_ca"`
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
}

// Secret is a string that never appears in logs or printed config.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText hides the value from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// ConfigError is a problem with one configuration key.
type ConfigError struct {
	Key     string
	Problem string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Problem }

// Defaults returns the configuration used when no file sets a key.
func Defaults() Config {
	return Config{
		Name:       "wirebot",
		Alias:      "!",
		Adapter:    "shell",
		Adapters:   []string{},
		People:     map[string][]string{},
		ScriptsDir: "./scripts",
		DataFile:   "./wirebot.db",
		Timezone:   "Local",
		Log:        LogConfig{Level: "info", Format: "text"},
		Scripts: ScriptsConfig{
			Timeout:        60 * time.Second,
			MaxOutput:      65536,
			MaxConcurrent:  8,
			Env:            map[string]string{},
			EnvPassthrough: []string{},
		},
		IRC:           IRCConfig{Server: "127.0.0.1:6667", Nick: "wirebot", Channels: []string{"#ops"}},
		XMPP:          XMPPConfig{TLS: "starttls", Rooms: []string{}, Nick: "wirebot"},
		Matrix:        MatrixConfig{Rooms: []string{}},
		Admins:        []string{},
		Groups:        map[string][]string{},
		Schedules:     []Schedule{},
		ChatSchedules: ChatSchedulesConfig{MaxPerUser: 20, MinInterval: time.Minute},
		Webhooks:      []Webhook{},
		Chains:        []Chain{},
		Approvals:     ApprovalsConfig{TTL: time.Hour, Notify: Channels{}},
		ShutdownGrace: 10 * time.Second,
		Audit:         AuditConfig{Keep: 10000},
		Store: StoreConfig{Backend: "bbolt", Etcd: EtcdConfig{
			Endpoints: []string{"127.0.0.1:2379"}, Prefix: "/wirebot/", LeaseTTL: 5 * time.Second}},
	}
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// CronParser parses every schedule spec wirebot accepts: 5 fields, 6 with
// seconds, or a descriptor such as "@every 30s" or "@daily".
func CronParser() cron.Parser {
	return cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// Validate checks every key and returns all problems found, each a
// *ConfigError naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if !nameRE().MatchString(c.Name) {
		bad("name", "%q is not a usable bot name (letters, digits, '-', '_', '.'; no spaces)", c.Name)
	}
	if strings.ContainsAny(c.Alias, " \t\n") {
		bad("alias", "%q must not contain white space", c.Alias)
	}
	adapterKey := "adapter"
	if len(c.Adapters) > 0 {
		adapterKey = "adapters"
	}
	seenAdapters := map[string]bool{}
	for _, a := range c.AdapterList() {
		switch {
		case !SupportedAdapter(a):
			bad(adapterKey, "%q is not one of %s", a, strings.Join(supportedAdapters, ", "))
		case seenAdapters[a]:
			bad(adapterKey, "%q is listed twice", a)
		}
		seenAdapters[a] = true
	}
	if c.ScriptsDir == "" {
		bad("scripts_dir", "must not be empty")
	}
	if c.DataFile == "" && c.Store.Backend != "etcd" {
		bad("data_file", "must not be empty")
	}
	switch c.Store.Backend {
	case "bbolt":
	case "etcd":
		if len(c.Store.Etcd.Endpoints) == 0 {
			bad("store.etcd.endpoints", "must name at least one etcd endpoint, such as 127.0.0.1:2379")
		}
		if c.Store.Etcd.Prefix == "" {
			bad("store.etcd.prefix", "must not be empty (such as /wirebot/)")
		}
		if (c.Store.Etcd.TLSCert == "") != (c.Store.Etcd.TLSKey == "") {
			bad("store.etcd.tls_cert", "tls_cert and tls_key go together: set both or neither")
		}
		if c.Store.Etcd.LeaseTTL < 2*time.Second {
			bad("store.etcd.lease_ttl", "must be at least 2s, not %s", c.Store.Etcd.LeaseTTL)
		}
	default:
		bad("store.backend", "%q is not one of bbolt, etcd", c.Store.Backend)
	}
	if _, err := LoadLocation(c.Timezone); err != nil {
		bad("timezone", "%q is not a known time zone", c.Timezone)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Scripts.Timeout <= 0 {
		bad("scripts.timeout", "must be a positive duration such as 60s, not %s", c.Scripts.Timeout)
	}
	if c.Scripts.MaxOutput <= 0 {
		bad("scripts.max_output", "must be a positive number of bytes, not %d", c.Scripts.MaxOutput)
	}
	if c.Scripts.MaxConcurrent < 1 {
		bad("scripts.max_concurrent", "must be at least 1, not %d", c.Scripts.MaxConcurrent)
	}
	for k := range c.Scripts.Env {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			// Nothing of it is shown: "TOKEN=xoxb-..." is a value
			// written as a key.
			bad("scripts.env", "a variable name is empty or has '=' or white space in it")
		}
	}
	for _, k := range c.Scripts.EnvPassthrough {
		switch {
		case k == "" || strings.ContainsAny(k, "= \t\n"):
			bad("scripts.env_passthrough", "%q is not a valid variable name", k)
		case strings.HasPrefix(strings.ToUpper(k), "WIREBOT_"):
			bad("scripts.env_passthrough", "%q: the bot's own WIREBOT_ variables (its tokens among them) are never passed to scripts", k)
		}
	}
	if c.Uses("slack") {
		if c.Slack.BotToken == "" {
			bad("slack.bot_token", "must be set for adapter slack (or WIREBOT_SLACK_BOT_TOKEN)")
		}
		if c.Slack.AppToken == "" {
			bad("slack.app_token", "must be set for adapter slack (or WIREBOT_SLACK_APP_TOKEN)")
		}
	}
	if c.Uses("irc") {
		if _, _, err := net.SplitHostPort(c.IRC.Server); err != nil {
			bad("irc.server", "%q is not host:port", c.IRC.Server)
		}
		if c.IRC.Nick == "" {
			bad("irc.nick", "must not be empty")
		}
	}
	if c.Uses("xmpp") {
		if !strings.Contains(c.XMPP.JID, "@") {
			bad("xmpp.jid", "%q is not a JID like bot@example.org", c.XMPP.JID)
		}
		if c.XMPP.Password == "" {
			bad("xmpp.password", "must be set for adapter xmpp (or WIREBOT_XMPP_PASSWORD, or xmpp.password_file)")
		}
		switch c.XMPP.TLS {
		case "starttls", "direct", "none":
		default:
			bad("xmpp.tls", "%q is not one of starttls, direct, none", c.XMPP.TLS)
		}
		if c.XMPP.Server != "" {
			if _, _, err := net.SplitHostPort(c.XMPP.Server); err != nil {
				bad("xmpp.server", "%q is not host:port", c.XMPP.Server)
			}
		}
		if c.XMPP.Nick == "" {
			bad("xmpp.nick", "must not be empty")
		}
	}
	if c.Adapter == "matrix" {
		c.validateMatrix(bad)
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "%q is not host:port", c.HTTP.Listen)
		}
	}
	for g, members := range c.Groups {
		if g == "" || strings.ContainsAny(g, ", \t") {
			bad("groups", "%q is not a valid group name", g)
		}
		for _, m := range members {
			if strings.TrimSpace(m) == "" {
				bad("groups."+g, "has an empty member")
			}
		}
	}
	parser := CronParser()
	for i, s := range c.Schedules {
		key := fmt.Sprintf("schedules[%d]", i)
		if s.Cron == "" {
			bad(key+".cron", "must be set")
		} else if _, err := parser.Parse(s.Cron); err != nil {
			bad(key+".cron", "bad spec %q: %v", s.Cron, err)
		}
		if s.Command == "" {
			bad(key+".command", "must be set")
		}
		for _, p := range c.checkChannels(s.Channel) {
			bad(key+".channel", "%s", p)
		}
		if len(s.Channel) == 0 {
			bad(key+".channel", "must be set")
		}
	}
	if c.ChatSchedules.MaxPerUser < 0 {
		bad("chat_schedules.max_per_user", "must not be negative, not %d (0: nobody may add schedules in chat)", c.ChatSchedules.MaxPerUser)
	}
	if c.ChatSchedules.MinInterval < 0 {
		bad("chat_schedules.min_interval", "must not be negative, not %s", c.ChatSchedules.MinInterval)
	}
	hooks := map[string]bool{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if !nameRE().MatchString(w.Name) {
			bad(key+".name", "%q is not a valid hook name", w.Name)
		}
		if hooks[w.Name] {
			bad(key+".name", "%q is defined twice", w.Name)
		}
		hooks[w.Name] = true
		if w.Secret == "" {
			bad(key+".secret", "must be set: every webhook is authenticated")
		}
		if w.Dedupe < 0 {
			bad(key+".dedupe", "must not be negative")
		}
		if w.Throttle < 0 {
			bad(key+".throttle", "must not be negative")
		}
		if w.MaxBody < 0 || w.MaxBody > MaxMaxBody {
			bad(key+".max_body", "must be between 0 (the default, 1 MiB) and 32 MiB (%d), not %d", MaxMaxBody, w.MaxBody)
		}
	}
	for i, ch := range c.Chains {
		key := fmt.Sprintf("chains[%d]", i)
		if !nameRE().MatchString(ch.Name) {
			bad(key+".name", "%q is not a valid chain name", ch.Name)
		}
		var named []string
		if ch.Respond == "" {
			bad(key+".respond", "must be set")
		} else if re, err := CompilePattern(ch.Respond); err != nil {
			bad(key+".respond", "%v", err)
		} else {
			named = re.SubexpNames()
		}
		if len(ch.Steps) == 0 {
			bad(key+".steps", "must list at least one command")
		}
		for j, st := range ch.Steps {
			if strings.TrimSpace(st) == "" {
				bad(fmt.Sprintf("%s.steps[%d]", key, j), "is empty")
			}
			for _, m := range placeholderRE().FindAllStringSubmatch(st, -1) {
				if named != nil && !slices.Contains(named, m[1]) {
					bad(fmt.Sprintf("%s.steps[%d]", key, j), "uses {%s}, which is not a named group of respond (write (?P<%s>...))", m[1], m[1])
				}
			}
		}
	}
	for _, p := range c.checkChannels(c.Approvals.Notify) {
		bad("approvals.notify", "%s", p)
	}
	errs = append(errs, c.validateIdentity()...)
	if c.Approvals.TTL <= 0 {
		bad("approvals.ttl", "must be a positive duration, not %s", c.Approvals.TTL)
	}
	if c.ShutdownGrace < 0 {
		bad("shutdown_grace", "must not be negative")
	}
	if c.Audit.Keep < 0 {
		bad("audit.keep", "must not be negative")
	}
	return errors.Join(errs...)
}

// supportedAdapters are the adapters this build has; adapter packages
// being written add their names here.
var supportedAdapters = []string{"shell", "slack", "irc", "xmpp", "matrix"}

// SupportedAdapter reports whether name is an adapter this build runs.
func SupportedAdapter(name string) bool { return slices.Contains(supportedAdapters, name) }

// AdapterList is the adapters to run, the default first: `adapters`, or
// else the one `adapter`.
func (c *Config) AdapterList() []string {
	if len(c.Adapters) > 0 {
		return c.Adapters
	}
	return []string{c.Adapter}
}

// Uses reports whether the adapter called name runs.
func (c *Config) Uses(name string) bool { return slices.Contains(c.AdapterList(), name) }

// checkChannels reports channel names that name an adapter that does not
// run. A bare channel means the first adapter.
func (c *Config) checkChannels(chs Channels) []string {
	var out []string
	for _, ch := range chs {
		if strings.TrimSpace(ch) == "" {
			out = append(out, "has an empty channel")
			continue
		}
		if adapter, _, ok := SplitTarget(ch); ok && !c.Uses(adapter) {
			out = append(out, fmt.Sprintf("%q names adapter %s, which does not run (adapters: %s)", ch, adapter, strings.Join(c.AdapterList(), ", ")))
		}
	}
	return out
}

// validateIdentity checks people, admins and groups: every person's entries
// are principals, and a bare admins or groups entry (neither a person nor a
// principal) is allowed only while one adapter runs.
func (c *Config) validateIdentity() []error {
	dir, err := NewDirectory(c.AdapterList(), c.People)
	if err != nil {
		return []error{err}
	}
	_, err = NewAccess(dir, c.Admins, c.Groups)
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// LoadLocation resolves the timezone key; "Local" and "" mean the host's zone.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", name, err)
	}
	return loc, nil
}

// SplitList turns "a, b" or ["a","b"] style values into clean names.
func SplitList(items ...string) []string {
	var out []string
	for _, it := range items {
		for _, p := range strings.Split(it, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (c *Config) validateMatrix(bad func(key, format string, args ...any)) {
	m := c.Matrix
	if u, err := url.Parse(m.Homeserver); m.Homeserver == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("matrix.homeserver", "%q is not the homeserver's base URL, such as https://matrix.example.org", m.Homeserver)
	}
	if m.AccessToken == "" && m.Password == "" {
		bad("matrix.access_token", "set it, or matrix.password to log in with (or WIREBOT_MATRIX_ACCESS_TOKEN)")
	}
	if m.UserID == "" && m.AccessToken == "" {
		bad("matrix.user_id", "must be set to log in with a password")
	}
	if m.UserID != "" && !matrixUserRE().MatchString(m.UserID) {
		bad("matrix.user_id", "%q is not a Matrix user id such as @wirebot:example.org", m.UserID)
	}
	for _, r := range m.Rooms {
		if !matrixRoomRE().MatchString(strings.TrimSpace(r)) {
			bad("matrix.rooms", "%q is not a room id (!id:server) or alias (#room:server)", r)
		}
	}
}

var (
	matrixUserRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^@[^:\s]+:\S+$`) })
	matrixRoomRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[!#][^:\s]+:\S+$`) })
)
