package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The benchmarks below set the bot against the floor for a sequential
// bot: a bare bash read loop that runs the same kind of script itself. Both
// run side by side in the same iteration, each a fresh start, so that the
// ratios hold on a loaded machine where absolute times do not (issue 15).
// `make bench` runs them with -benchtime=5x: every figure is a median of
// five fresh starts.

const (
	floorEnvScript = "#!/usr/bin/env bash\n# @respond ^echo (\\S+)$\necho \"$1\"\n"
	floorBinScript = "#!/bin/bash\n# @respond ^echob (\\S+)$\necho \"$1\"\n"
	// floorLoop answers what the bot answers, running echob.sh for echo.
	floorLoop = `while IFS= read -r line; do case $line in "echo "*) ./echob.sh "${line#echo }";; ping) echo PONG;; esac; done`
)

// benchBinary lets WIREBOT_BENCH_BINARY name another build (an older
// commit's) to drive instead, for before/after figures from one driver.
func benchBinary(b *testing.B) {
	if v := os.Getenv("WIREBOT_BENCH_BINARY"); v != "" {
		old := binary
		binary = v
		b.Cleanup(func() { binary = old })
	}
}

// floorDir is a scripts folder with both echo scripts and 198 fillers.
func floorDir(b *testing.B) string {
	dir := b.TempDir()
	writeScript(b, dir, "echo.sh", floorEnvScript)
	writeScript(b, dir, "echob.sh", floorBinScript)
	for i := 2; i < 200; i++ {
		writeScript(b, dir, fmt.Sprintf("s%03d.sh", i), fmt.Sprintf("#!/bin/sh\n# @respond ^cmd%d (?P<arg>\\S+)$\n# @help cmd%d <arg> - benchmark filler\necho $1\n", i, i))
	}
	return dir
}

// startFloor starts the bash loop in dir's scripts folder, driven like the bot.
func startFloor(b *testing.B, dir string) *botProc {
	b.Helper()
	cmd := exec.Command("bash", "-c", floorLoop)
	cmd.Dir = filepath.Join(dir, "scripts")
	cmd.Env = baseEnv()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	p := &botProc{t: b, cmd: cmd, stdin: stdin, lines: make(chan string, 20000), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// lines waits for n output lines (any), failing after 60 s.
func (p *botProc) lineCount(n int) {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case _, ok := <-p.lines:
			if !ok {
				p.t.Fatal("output ended")
			}
		case <-timeout:
			p.t.Fatalf("fewer than %d lines within 60 s", n)
		}
	}
}

// cpuTime is the CPU time pid and its reaped children have used: every
// thread's run time from schedstat (ns), plus the children's ticks.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	var total time.Duration
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread just ended
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		total += time.Duration(ns)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields from state (3rd in proc(5)): cutime and cstime are 16 and 17.
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return total + time.Duration(cu+cs)*10*time.Millisecond
}

func secs(d time.Duration) float64 { return d.Seconds() }

// burst sends lines at once and waits for n replies: wall time and CPU.
func burst(b *testing.B, p *botProc, input string, n int) (time.Duration, time.Duration) {
	b.Helper()
	cpu0 := cpuTime(b, p.cmd.Process.Pid)
	start := time.Now()
	p.send(input)
	p.lineCount(n)
	wall := time.Since(start)
	// The last scripts are reaped (their CPU counted) by the time their
	// reply is out: the reply comes after Wait.
	return wall, cpuTime(b, p.cmd.Process.Pid) - cpu0
}

func lines(format string, n int) string {
	var in strings.Builder
	for i := range n {
		if i > 0 {
			in.WriteByte('\n')
		}
		fmt.Fprintf(&in, format, i)
	}
	return in.String()
}

// BenchmarkVsFloor is issue 15's table: one echo (#!/usr/bin/env bash and
// #!/bin/bash), 200 echos at once, 1,000 and 10,000 pings, idle and peak
// memory, each against the bash floor of the same iteration.
func BenchmarkVsFloor(b *testing.B) {
	benchBinary(b)
	dir := floorDir(b)
	var (
		idle, peak                                []float64
		floorEcho, envEcho, binEcho               []time.Duration
		floorB200, botB200, floorB200CPU, b200CPU []time.Duration
		p1000, p1000CPU, floorP10k, p10k          []time.Duration
	)
	for b.Loop() {
		bot := startBot(b, dir, baseEnv())
		bot.send("ping")
		bot.expect("^PONG$")
		floor := startFloor(b, dir)
		floor.send("ping")
		floor.expect("^PONG$")
		// Idle: 4 s after start, past the 2 s of quiet after which the
		// bot gives memory back.
		time.Sleep(4 * time.Second)
		idle = append(idle, float64(procStatus(b, bot.cmd.Process.Pid, "VmRSS"))/1024)

		var fe, ee, be []time.Duration
		for i := range 21 {
			start := time.Now()
			floor.send(fmt.Sprintf("echo f%d", i))
			floor.expect(fmt.Sprintf("^f%d$", i))
			fe = append(fe, time.Since(start))
			start = time.Now()
			bot.send(fmt.Sprintf("echo e%d", i))
			bot.expect(fmt.Sprintf("^e%d$", i))
			ee = append(ee, time.Since(start))
			start = time.Now()
			bot.send(fmt.Sprintf("echob b%d", i))
			bot.expect(fmt.Sprintf("^b%d$", i))
			be = append(be, time.Since(start))
		}
		floorEcho, envEcho, binEcho = append(floorEcho, median(fe)), append(envEcho, median(ee)), append(binEcho, median(be))

		w, c := burst(b, floor, lines("echo t%d", 200), 200)
		floorB200, floorB200CPU = append(floorB200, w), append(floorB200CPU, c)
		w, c = burst(b, bot, lines("echo t%d", 200), 200)
		botB200, b200CPU = append(botB200, w), append(b200CPU, c)

		w, c = burst(b, bot, strings.TrimSuffix(strings.Repeat("ping\n", 1000), "\n"), 1000)
		p1000, p1000CPU = append(p1000, w), append(p1000CPU, c)

		w, _ = burst(b, floor, strings.TrimSuffix(strings.Repeat("ping\n", 10000), "\n"), 10000)
		floorP10k = append(floorP10k, w)
		w, _ = burst(b, bot, strings.TrimSuffix(strings.Repeat("ping\n", 10000), "\n"), 10000)
		p10k = append(p10k, w)
		peak = append(peak, float64(procStatus(b, bot.cmd.Process.Pid, "VmHWM"))/1024)
		bot.close()
		floor.close()
	}
	medf := func(v []float64) float64 {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x * 1e6)
		}
		return float64(median(d)) / 1e6
	}
	fe, ee, be := median(floorEcho), median(envEcho), median(binEcho)
	b.ReportMetric(ms(fe), "floor-echo-ms")
	b.ReportMetric(ms(ee), "echo-env-ms")
	b.ReportMetric(ms(be), "echo-bin-ms")
	b.ReportMetric(ms(ee-fe), "echo-env-over-floor-ms")
	b.ReportMetric(ms(be-fe), "echo-bin-over-floor-ms")
	fb, bb := median(floorB200), median(botB200)
	b.ReportMetric(secs(fb), "floor-200echo-s")
	b.ReportMetric(secs(bb), "200echo-s")
	b.ReportMetric(secs(bb)/secs(fb), "200echo/floor")
	fc, bc := median(floorB200CPU), median(b200CPU)
	b.ReportMetric(secs(fc), "floor-200echo-cpu-s")
	b.ReportMetric(secs(bc), "200echo-cpu-s")
	b.ReportMetric(secs(bc)/secs(fc), "200echo-cpu/floor")
	b.ReportMetric(ms(median(p1000)), "1000ping-ms")
	b.ReportMetric(ms(median(p1000CPU)), "1000ping-cpu-ms")
	fp, bp := median(floorP10k), median(p10k)
	b.ReportMetric(secs(fp), "floor-10kping-s")
	b.ReportMetric(secs(bp), "10kping-s")
	b.ReportMetric(secs(bp)/secs(fp), "10kping/floor")
	b.ReportMetric(medf(peak), "peak-RSS-MiB")
	b.ReportMetric(medf(idle), "idle-RSS-MiB")
}

// BenchmarkVsFloorRSSAfterBursts: five bots each take the bursts above,
// then all wait a minute together; the figure is their median RSS then,
// against the bash loop's. It ignores b.N: run it with -benchtime=1x.
func BenchmarkVsFloorRSSAfterBursts(b *testing.B) {
	benchBinary(b)
	dir := floorDir(b)
	var after []time.Duration
	var floorRSS int
	for b.Loop() {
		var bots []*botProc
		for i := range 5 {
			bot := startBot(b, dir, baseEnv(fmt.Sprintf("WIREBOT_DATA_FILE=%s/bot%d.db", dir, i)))
			burst(b, bot, lines("echo t%d", 200), 200)
			burst(b, bot, strings.TrimSuffix(strings.Repeat("ping\n", 1000), "\n"), 1000)
			burst(b, bot, strings.TrimSuffix(strings.Repeat("ping\n", 10000), "\n"), 10000)
			bots = append(bots, bot)
		}
		floor := startFloor(b, dir)
		burst(b, floor, lines("echo t%d", 200), 200)
		time.Sleep(60 * time.Second)
		for _, bot := range bots {
			after = append(after, time.Duration(procStatus(b, bot.cmd.Process.Pid, "VmRSS")))
			bot.close()
		}
		floorRSS = procStatus(b, floor.cmd.Process.Pid, "VmRSS")
		floor.close()
	}
	b.ReportMetric(float64(median(after))/1024, "RSS-60s-after-MiB")
	b.ReportMetric(float64(floorRSS)/1024, "floor-RSS-MiB")
}
