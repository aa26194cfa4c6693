package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEventsJSONWhenMessage: a hook with format json, a when and a
// message, 50 concurrent clients sending signed requests on loopback.
// Reports requests/s; the target is >= 2000.
func BenchmarkEventsJSONWhenMessage(b *testing.B) {
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`http: {listen: "127.0.0.1:0"}
webhooks:
  - {name: mon, secret: s3cret, channel: "#ops", format: json,
     when: 'status == "down" && service in ["web", "db"] && latency_ms > 500',
     message: "{{upper .service}} is down: {{.latency_ms}} ms ({{default \"no region\" .region}})"}
`), 0o600)
	p := startBot(b, dir, baseEnv())
	base := httpAddr(b, p)
	var posted atomic.Int64
	drained := make(chan struct{})
	go func() { // the shell adapter's output: read it all, or the bot blocks
		defer close(drained)
		for l := range p.lines {
			if strings.Contains(l, "is down") {
				posted.Add(1)
			}
		}
	}()
	n := max(b.N, 6000)
	const clients = 50
	var next atomic.Int64
	var failed atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				body := fmt.Sprintf(`{"status":"down","service":"web","latency_ms":%d,"region":"eu"}`, 501+i)
				req, _ := http.NewRequest("POST", base+"/hooks/mon", strings.NewReader(body))
				req.Header.Set("X-Hub-Signature-256", sign("s3cret", body))
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(n) / elapsed.Seconds()
	b.ReportMetric(rate, "req/s")
	if failed.Load() > 0 {
		b.Errorf("%d of %d requests failed", failed.Load(), n)
	}
	if rate < 2000 {
		b.Errorf("%.0f signed requests/s, want >= 2000", rate)
	}
	for deadline := time.Now().Add(30 * time.Second); posted.Load() < int64(n); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Errorf("%d posts for %d events", posted.Load(), n)
			break
		}
	}
	p.stdin.Close()
	<-drained
}
