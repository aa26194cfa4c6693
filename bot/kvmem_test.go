package bot_test

import (
	"testing"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/storetest"
)

func TestMemKV(t *testing.T) {
	storetest.Run(t, func(*testing.T) bot.KV { return bot.NewMemKV() })
}
