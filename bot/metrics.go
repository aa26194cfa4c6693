package bot

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Metrics are the bot's Prometheus metrics, in a set of their own (see
// metricset.go for why not a library: start-up time and memory, which every
// `wirebot brain` call from a script pays, and a quiet stderr).
type Metrics struct {
	set      *metricSet
	messages *counter
}

// runBuckets are the upper bounds of the run duration histogram, in seconds.
var runBuckets = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600}

func newMetrics(b *Bot) *Metrics {
	s := newMetricSet()
	m := &Metrics{set: s, messages: s.counter("wirebot_messages_total")}
	s.gauge("wirebot_queue_depth", func() float64 { _, q := b.pool.Stats(); return float64(q) })
	s.gauge("wirebot_runs_in_flight", func() float64 { r, _ := b.pool.Stats(); return float64(r) })
	reconnects := b.reconnects
	if reconnects == nil {
		reconnects = new(atomic.Int64)
	}
	s.gauge("wirebot_adapter_reconnects_total", func() float64 { return float64(reconnects.Load()) })
	return m
}

// WritePrometheus writes every metric in the Prometheus text format, each
// family with its HELP and TYPE.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	var buf bytes.Buffer
	m.set.writeSamples(&buf)
	return writeExposition(w, buf.Bytes())
}

// labelValue escapes a label value as the text format requires.
// It runs for every run counted: the common value with nothing to escape
// costs no Replacer (building one was a fifth of a ping's CPU).
func labelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func (m *Metrics) run(command, outcome string, d time.Duration) {
	c := labelValue(command)
	m.set.counter(`wirebot_runs_total{command="` + c + `",outcome="` + outcome + `"}`).Inc()
	m.set.histogram(`wirebot_run_duration_seconds{command="`+c+`"}`, runBuckets).Update(d.Seconds())
}

// Webhook counts one request to a hook by its result.
func (m *Metrics) Webhook(hook, result string) {
	m.set.counter(`wirebot_webhooks_total{hook="` + labelValue(hook) + `",result="` + result + `"}`).Inc()
}

// Metrics returns the bot's metrics.
func (b *Bot) Metrics() *Metrics { return b.metrics }

// countRuns is the middleware that counts runs and times them.
func (b *Bot) countRuns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		err := next.Handle(ctx, w, r)
		b.metrics.run(r.Target.Name, Outcome(err), time.Since(r.Started))
		return err
	})
}
