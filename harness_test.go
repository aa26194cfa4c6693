package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the wirebot built once for every end-to-end test.
var binary string

func TestMain(m *testing.M) {
	// A fuzz run (make fuzz) needs no binary, and each of its workers
	// would build one.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "wirebot-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wirebot")
	// Built as shipped (make build, Dockerfile): static, without cgo.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build wirebot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeScript writes an executable script into dir/scripts.
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	sd := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(sd, name)
	// Write then rename, as editors do, so the watcher never sees half a file.
	tmp := filepath.Join(sd, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// botProc is a running wirebot with the shell adapter on pipes.
type botProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseEnv is a small, known environment for the bot.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "USER=tester"}
	return append(env, extra...)
}

func startBot(t testing.TB, dir string, env []string, args ...string) *botProc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &botProc{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 10000), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("bot stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *botProc) send(lines ...string) {
	p.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			p.t.Fatalf("send %q: %v", l, err)
		}
	}
}

// expect waits for an output line matching re, skipping others, and returns
// its submatches.
func (p *botProc) expect(re string) []string {
	p.t.Helper()
	return p.expectWithin(re, 10*time.Second)
}

func (p *botProc) expectWithin(re string, d time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.NewTimer(d)
	defer timer.Stop()
	var skipped []string
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("output ended waiting for %q; saw %q", re, skipped)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
			skipped = append(skipped, l)
		case <-timer.C:
			p.t.Fatalf("no line matching %q within %s; saw %q", re, d, skipped)
		}
	}
}

// until returns the output lines before the line that equals last.
func (p *botProc) until(last string) []string {
	p.t.Helper()
	var lines []string
	for {
		l := p.expect(`.*`)[0]
		if l == last {
			return lines
		}
		lines = append(lines, l)
	}
}

// close ends the input and returns the exit code and the remaining output.
func (p *botProc) close() (int, []string) {
	p.t.Helper()
	p.stdin.Close()
	var rest []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				select {
				case <-p.done:
				case <-timeout:
					p.t.Fatal("bot did not exit after end of input")
				}
				return p.cmd.ProcessState.ExitCode(), rest
			}
			rest = append(rest, l)
		case <-timeout:
			p.t.Fatal("bot did not exit after end of input")
		}
	}
}

// runOnce feeds input to a fresh bot and returns its output and exit code.
func runOnce(t testing.TB, dir string, env []string, input string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// procStatus reads a field of /proc/PID/status in KiB.
func procStatus(t testing.TB, pid int, field string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return false
	}
	// A zombie is as good as dead.
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] != "Z"
}
