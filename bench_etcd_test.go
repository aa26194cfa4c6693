package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebot/wirebot/internal/etcdtest"
)

// The issue 12 targets, with the store on a real etcd (one member on
// loopback): the 1,000-ping burst (audited) on the shell adapter, and one
// `wirebot brain get` from a script.

func etcdBenchEnv(b *testing.B) []string {
	e := etcdtest.Start(b)
	return baseEnv("WIREBOT_STORE_BACKEND=etcd", "WIREBOT_STORE_ETCD_ENDPOINTS="+e.Endpoint, "WIREBOT_STORE_ETCD_PREFIX=/bench/")
}

func BenchmarkEtcdBurst1000Ping(b *testing.B) {
	env := etcdBenchEnv(b)
	dir := benchDir(b, 200)
	p := startBot(b, dir, env)
	p.send("ping")
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
	// Every ping is audited, in etcd.
	p.send("history 1")
	p.expect(`ping -> ok`)
	p.close()
}

func BenchmarkEtcdBrainGet(b *testing.B) {
	env := etcdBenchEnv(b)
	dir := b.TempDir()
	gate := filepath.Join(dir, "done")
	writeScript(b, dir, "hold.sh", "#!/bin/sh\n# @respond ^hold$\nwirebot brain set k value\necho \"env $WIREBOT_API_URL $WIREBOT_API_TOKEN\" | wirebot say\n"+
		"while [ ! -e "+gate+" ]; do sleep 0.05; done\n")
	p := startBot(b, dir, env)
	p.send("hold")
	m := p.expect(`^env (\S+) (\S+)$`)
	cenv := baseEnv("WIREBOT_API_URL="+m[1], "WIREBOT_API_TOKEN="+m[2])
	var times []time.Duration
	for b.Loop() {
		cmd := exec.Command(binary, "brain", "get", "k")
		cmd.Env = cenv
		start := time.Now()
		out, err := cmd.Output()
		times = append(times, time.Since(start))
		if err != nil || string(out) != "value\n" {
			b.Fatalf("brain get: %q %v", out, err)
		}
	}
	b.ReportMetric(ms(median(times)), "median-ms")
	os.WriteFile(gate, nil, 0o600)
	p.close()
}
