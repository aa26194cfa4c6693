package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/fakeslack"
)

// BenchmarkBurst1000PingIdentity is BenchmarkBurst1000Ping with three
// adapters running (shell, the fake Slack, a real ngircd), 500 people and
// 50 groups: identity must not slow the hot path (issue 10: within 10%).
func BenchmarkBurst1000PingIdentity(b *testing.B) {
	fs := fakeslack.New()
	b.Cleanup(fs.Close)
	srv := startNgircd(b)
	dir := benchDir(b, 200)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "adapters: [shell, slack, irc]\nslack: {bot_token: xoxb-test-token, app_token: xapp-test-token, api_url: %s}\n", fs.APIURL())
	fmt.Fprintf(&cfg, "irc: {server: %q, nick: wirebot, channels: [\"#ops\"]}\npeople:\n", srv.addr())
	for i := range 500 {
		fmt.Fprintf(&cfg, "  p%03d: [shell:p%03d, slack:U0P%03d, irc:p%03d]\n", i, i, i, i)
	}
	cfg.WriteString("admins: [p000]\ngroups:\n")
	for g := range 50 {
		var members []string
		for j := range 20 {
			members = append(members, fmt.Sprintf("p%03d", (g*10+j)%500))
		}
		fmt.Fprintf(&cfg, "  g%02d: [%s, irc:guest%02d]\n", g, strings.Join(members, ", "), g)
	}
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg.String()), 0o600)
	p := startBot(b, dir, baseEnv())
	if !fs.WaitConnected(15 * time.Second) {
		b.Fatalf("no Slack connection\n%s", p.stderr.String())
	}
	p.send("/user p042", "ping")
	p.expect("^PONG$")
	input := strings.TrimSuffix(strings.Repeat("ping\n", 1000), "\n")
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		p.send(input)
		for range 1000 {
			p.expect(`^PONG$`)
		}
		times = append(times, time.Since(start))
	}
	b.ReportMetric(ms(median(times)), "median-ms")
	b.ReportMetric(float64(procStatus(b, p.cmd.Process.Pid, "VmHWM"))/1024, "peak-RSS-MiB")
	p.close()
}
