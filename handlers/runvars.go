package handlers

import "strings"

// RunVariable reports whether name is one of the variables the runner sets
// for every script run (see Runner.env), as opposed to a config variable:
// `wirebot check` called from a script must not take WIREBOT_ADAPTER or
// WIREBOT_USER for config.
func RunVariable(name string) bool {
	switch name {
	case "WIREBOT_USER", "WIREBOT_USER_ID", "WIREBOT_PERSON", "WIREBOT_PRINCIPAL", "WIREBOT_CHANNEL", "WIREBOT_CHANNEL_ID",
		"WIREBOT_THREAD", "WIREBOT_TEXT", "WIREBOT_ADAPTER", "WIREBOT_COMMAND",
		"WIREBOT_SCRIPT", "WIREBOT_TRIGGER", "WIREBOT_API_URL", "WIREBOT_API_TOKEN":
		return true
	}
	return strings.HasPrefix(name, "WIREBOT_MATCH_")
}
