package bot

import (
	"bufio"
	"bytes"
	"io"
	"sort"
	"strings"
)

// familyDoc is the TYPE and HELP of a metric family. Every family the bot
// exposes is listed here: Prometheus's metadata API and `promtool check
// metrics` need both.
func familyDoc(family string) (typ, help string) {
	switch family {
	case "wirebot_messages_total":
		return "counter", "Chat messages received."
	case "wirebot_runs_total":
		return "counter", "Command runs by command and outcome."
	case "wirebot_run_duration_seconds":
		return "histogram", "How long command runs took, by command."
	case "wirebot_queue_depth":
		return "gauge", "Runs waiting for a free slot."
	case "wirebot_runs_in_flight":
		return "gauge", "Runs in progress."
	case "wirebot_adapter_reconnects_total":
		return "counter", "Reconnections of the chat adapters."
	case "wirebot_webhooks_total":
		return "counter", `Webhook requests by hook (unknown hooks as "_unknown") and result.`
	}
	switch {
	case strings.HasSuffix(family, "_total"):
		return "counter", "Undocumented wirebot counter."
	case strings.HasSuffix(family, "_seconds"):
		return "histogram", "Undocumented wirebot histogram."
	}
	return "gauge", "Undocumented wirebot gauge."
}

// familyOf is the family a sample line belongs to: its metric name, less
// a histogram's _bucket, _sum or _count.
func familyOf(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ, _ := familyDoc(base); typ == "histogram" {
				return base
			}
		}
	}
	return name
}

// writeExposition writes samples (Prometheus text lines, any order, any
// comments dropped) grouped by family, each family under its HELP and TYPE.
func writeExposition(w io.Writer, samples []byte) error {
	byFamily := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(samples))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		f := familyOf(name)
		byFamily[f] = append(byFamily[f], line)
	}
	names := make([]string, 0, len(byFamily))
	for f := range byFamily {
		names = append(names, f)
	}
	sort.Strings(names)
	bw := bufio.NewWriter(w)
	for _, f := range names {
		typ, help := familyDoc(f)
		bw.WriteString("# HELP " + f + " " + help + "\n# TYPE " + f + " " + typ + "\n")
		for _, l := range byFamily[f] {
			bw.WriteString(l + "\n")
		}
	}
	return bw.Flush()
}
