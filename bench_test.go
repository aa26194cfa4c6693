package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The benchmarks below run the real binary with the shell adapter, as the
// targets in issue 2 are stated: `make bench` runs them with -benchtime=20x.

const echoScript = "#!/usr/bin/env bash\n# @respond ^echo (\\S+)$\necho \"$1\"\n"

// benchDir makes a scripts folder with the echo script and n-1 others.
func benchDir(b *testing.B, n int) string {
	dir := b.TempDir()
	writeScript(b, dir, "echo.sh", echoScript)
	for i := 1; i < n; i++ {
		writeScript(b, dir, fmt.Sprintf("s%03d.sh", i), fmt.Sprintf("#!/bin/sh\n# @respond ^cmd%d (?P<arg>\\S+)$\n# @help cmd%d <arg> - benchmark filler\necho $1\n", i, i))
	}
	return dir
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Input is written before the process starts: it must be kept, not dropped.
func BenchmarkFirstReply200Scripts(b *testing.B) {
	dir := benchDir(b, 200)
	var times []time.Duration
	for b.Loop() {
		cmd := exec.Command(binary)
		cmd.Dir = dir
		cmd.Env = baseEnv()
		r, w, _ := os.Pipe()
		io.WriteString(w, "ping\n")
		cmd.Stdin = r
		out, _ := cmd.StdoutPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		times = append(times, time.Since(start))
		if err != nil || line != "PONG\n" {
			b.Fatalf("first reply %q, %v", line, err)
		}
		w.Close()
		r.Close()
		cmd.Wait()
	}
	b.ReportMetric(ms(median(times)), "median-ms")
}

// A running bot: idle RSS, one echo at a time, and the bot's own overhead
// over running the script directly.
func BenchmarkEchoReply(b *testing.B) {
	dir := benchDir(b, 200)
	p := startBot(b, dir, baseEnv())
	p.send("ping")
	p.expect("^PONG$")
	time.Sleep(300 * time.Millisecond)
	idle := procStatus(b, p.cmd.Process.Pid, "VmRSS")

	script := filepath.Join(dir, "scripts", "echo.sh")
	var direct, viaBot, pings []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if out, err := exec.Command(script, "x").Output(); err != nil || string(out) != "x\n" {
			b.Fatalf("direct run: %q %v", out, err)
		}
		direct = append(direct, time.Since(start))
		start = time.Now()
		p.send(fmt.Sprintf("echo t%d", i))
		p.expect(fmt.Sprintf("^t%d$", i))
		viaBot = append(viaBot, time.Since(start))
		start = time.Now()
		p.send("ping")
		p.expect("^PONG$")
		pings = append(pings, time.Since(start))
	}
	b.ReportMetric(float64(idle)/1024, "idle-RSS-MiB")
	b.ReportMetric(ms(median(viaBot)), "median-ms")
	b.ReportMetric(ms(median(direct)), "script-alone-ms")
	// The bot's own cost of a message, pipe to pipe, with no script run.
	b.ReportMetric(ms(median(pings)), "ping-ms")
	p.close()
}

func BenchmarkBurst200Echo(b *testing.B) {
	dir := benchDir(b, 200)
	p := startBot(b, dir, baseEnv())
	p.send("ping")
	p.expect("^PONG$")
	var times []time.Duration
	for b.Loop() {
		var in strings.Builder
		for i := range 200 {
			fmt.Fprintf(&in, "echo t%d\n", i)
		}
		start := time.Now()
		p.send(strings.TrimSuffix(in.String(), "\n"))
		for range 200 {
			p.expect(`^t\d+$`)
		}
		times = append(times, time.Since(start))
	}
	b.ReportMetric(ms(median(times)), "median-ms")
	b.ReportMetric(float64(procStatus(b, p.cmd.Process.Pid, "VmHWM"))/1024, "peak-RSS-MiB")
	p.close()
}

func BenchmarkBurst1000Ping(b *testing.B) {
	dir := benchDir(b, 200)
	p := startBot(b, dir, baseEnv())
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
	b.ReportMetric(float64(procStatus(b, p.cmd.Process.Pid, "VmHWM"))/1024, "peak-RSS-MiB")
	p.close()
}

// BenchmarkBrainGet is one `wirebot brain get` from a script's point of
// view: start the client process, ask the bot, print the value.
func BenchmarkBrainGet(b *testing.B) {
	dir := b.TempDir()
	gate := filepath.Join(dir, "done")
	writeScript(b, dir, "hold.sh", "#!/bin/sh\n# @respond ^hold$\nwirebot brain set k value\necho \"env $WIREBOT_API_URL $WIREBOT_API_TOKEN\" | wirebot say\n"+
		"while [ ! -e "+gate+" ]; do sleep 0.05; done\n")
	p := startBot(b, dir, baseEnv())
	p.send("hold")
	m := p.expect(`^env (\S+) (\S+)$`)
	env := baseEnv("WIREBOT_API_URL="+m[1], "WIREBOT_API_TOKEN="+m[2])
	var times []time.Duration
	for b.Loop() {
		cmd := exec.Command(binary, "brain", "get", "k")
		cmd.Env = env
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
