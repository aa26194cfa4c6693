package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// mtPromtool is the real promtool, or the test is skipped (Debian
// package prometheus); in CI it must be there.
func mtPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed (apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	return p
}

// TestMetricsPassPromtool: /metrics, with every family in use, passes
// `promtool check metrics` and declares HELP and TYPE for each family.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := mtPromtool(t)
	dir := t.TempDir()
	writeScript(t, dir, "fail.sh", "#!/bin/sh\n# @respond ^fail$\nexit 2\n")
	writeScript(t, dir, "alert.sh", "#!/bin/sh\n# @webhook alerts\nexit 0\n")
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: alerts, secret: s3cret, channel: "#ops"}
`), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)
	p.send("ping", "fail")
	p.expect("^PONG$")
	p.expect(`^fail.sh failed`)
	do(t, "POST", base+"/hooks/alerts", "{}", "Authorization", "Bearer s3cret")
	do(t, "POST", base+"/hooks/alerts", "{}", "Authorization", "Bearer wrong")
	do(t, "POST", base+"/hooks/nope", "{}")
	_, body := do(t, "GET", base+"/metrics", "")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, body)
	}
	for _, fam := range []string{"wirebot_messages_total", "wirebot_runs_total", "wirebot_run_duration_seconds",
		"wirebot_queue_depth", "wirebot_runs_in_flight", "wirebot_adapter_reconnects_total", "wirebot_webhooks_total"} {
		for _, kind := range []string{"HELP", "TYPE"} {
			if !strings.Contains(body, "# "+kind+" "+fam+" ") {
				t.Errorf("no # %s for %s", kind, fam)
			}
		}
	}
	for _, want := range []string{
		"# TYPE wirebot_run_duration_seconds histogram",
		"# TYPE wirebot_adapter_reconnects_total counter",
		`wirebot_webhooks_total{hook="alerts",result="accepted"} 1`,
		`wirebot_webhooks_total{hook="alerts",result="unauthorized"} 1`,
		`wirebot_webhooks_total{hook="_unknown",result="unknown"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	p.close()
}

// TestMetricsUnknownHooksMakeNoSeries: thousands of POSTs to made-up hook
// names add no series: they all count under hook="_unknown".
func TestMetricsUnknownHooksMakeNoSeries(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: alerts, secret: s3cret, channel: "#ops"}
`), 0o600)
	p := startBot(t, dir, baseEnv())
	base := httpAddr(t, p)
	series := func() []string {
		_, body := do(t, "GET", base+"/metrics", "")
		var s []string
		for _, l := range strings.Split(body, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				name, _, _ := strings.Cut(l, " ")
				s = append(s, name)
			}
		}
		return s
	}
	do(t, "POST", base+"/hooks/first-junk", "{}")
	before := series()
	const n = 3000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			c := &http.Client{}
			for i := w; i < n; i += 8 {
				resp, err := c.Post(fmt.Sprintf("%s/hooks/junk-%d", base, i), "application/json", bytes.NewReader([]byte("{}")))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 404 {
					errs <- fmt.Errorf("junk-%d: %d", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := series()
	if len(after) != len(before) {
		t.Errorf("%d series before %d unknown hooks, %d after", len(before), n, len(after))
	}
	_, body := do(t, "GET", base+"/metrics", "")
	if want := fmt.Sprintf(`wirebot_webhooks_total{hook="_unknown",result="unknown"} %d`, n+1); !strings.Contains(body, want) {
		t.Errorf("metrics lack %q", want)
	}
	if strings.Contains(body, "junk") {
		t.Error("a label value came from a request path")
	}
	p.close()
}
