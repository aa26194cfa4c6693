package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The shipped examples answer from a fresh checkout, as `go run .` would.
func TestExampleScripts(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "fine")
	}))
	defer ok.Close()
	wd, _ := os.Getwd()
	p := startBot(t, wd, baseEnv("WIREBOT_DATA_FILE="+t.TempDir()+"/w.db"))
	cases := []struct{ say, want string }{
		{"uptime", `^\S+ up \d+d \d+h \d+m, load [\d.]+ [\d.]+ [\d.]+ \(\d+ cores\)$`},
		{"disk /", `^\S+: \S+ used of \S+ \(\d+%\), \S+ free, mounted on /$`},
		{"disk /no/such/path", `^cannot read disk usage of /no/such/path`},
		{"dns localhost", `^localhost: .*127\.0\.0\.1`},
		{"dns no-such-host.invalid", `^no-such-host\.invalid: cannot resolve`},
		{"time UTC", `^UTC: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(UTC\+0000\)$`},
		{"time in Asia/Tokyo", `^Asia/Tokyo: .* JST \(UTC\+0900\)$`},
		{"time Mars/Olympus", `^I don't know the time zone 'Mars/Olympus'`},
		{"check " + ok.URL + "/", `^` + regexp.QuoteMeta(ok.URL) + `/ is UP: 200 OK in \d+ ms$`},
		{"check " + ok.URL + "/missing", `is DOWN: 404 Not Found`},
		{"check http://127.0.0.1:1/", `^http://127\.0\.0\.1:1/ is DOWN: `},
		{"diskwatch", `^All file systems on \S+ are below 90%\.$|^Disk alert on `},
		{"count", `^tester, you have counted 1 times; everyone together 1 times\.$`},
	}
	for _, c := range cases {
		p.send(c.say)
		p.expectWithin(c.want, 20*time.Second)
	}
	p.send("help")
	p.send("ping")
	help := p.until("PONG")
	for _, cmd := range []string{"uptime", "disk", "dns", "time", "check", "diskwatch", "count"} {
		found := false
		for _, h := range help {
			found = found || strings.HasPrefix(h, cmd+" ")
		}
		if !found {
			t.Errorf("help has no line for %s: %q", cmd, help)
		}
	}
	p.close()
	out, _, code := runOnce(t, wd, baseEnv(), "", "check")
	if code != 0 || strings.Contains(out, "warning:") {
		t.Fatalf("check of the shipped scripts: exit %d\n%s", code, out)
	}
}
