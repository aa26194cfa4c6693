package bot

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bot's Prometheus metrics, in a registry of its own.
type Metrics struct {
	Registry   *prometheus.Registry
	messages   prometheus.Counter
	runs       *prometheus.CounterVec
	durations  *prometheus.HistogramVec
	reconnects prometheus.CounterFunc
	webhooks   *prometheus.CounterVec
}

func newMetrics(b *Bot) *Metrics {
	var reconnects *atomic.Int64
	if b.reconnects != nil {
		reconnects = b.reconnects
	} else {
		reconnects = new(atomic.Int64)
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wirebot_messages_total", Help: "Messages received from the chat adapter."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirebot_runs_total", Help: "Commands run, by command and outcome (ok, failed, timeout, refused, pending, error)."},
			[]string{"command", "outcome"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wirebot_run_duration_seconds", Help: "How long runs took, by command.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600}}, []string{"command"}),
		reconnects: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wirebot_adapter_reconnects_total", Help: "Times the chat adapter reconnected."},
			func() float64 { return float64(reconnects.Load()) }),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirebot_webhooks_total", Help: "Webhook deliveries, by hook and result."}, []string{"hook", "result"}),
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wirebot_queue_depth", Help: "Runs waiting for a worker slot."},
		func() float64 { _, q := b.pool.Stats(); return float64(q) })
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wirebot_runs_in_flight", Help: "Runs going now."},
		func() float64 { r, _ := b.pool.Stats(); return float64(r) })
	m.Registry.MustRegister(m.messages, m.runs, m.durations, m.reconnects, m.webhooks, queue, inFlight)
	return m
}

// Metrics returns the bot's metrics.
func (b *Bot) Metrics() *Metrics { return b.metrics }

// countRuns is the middleware that counts runs and times them.
func (b *Bot) countRuns(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		err := next.Handle(ctx, w, r)
		b.metrics.runs.WithLabelValues(r.Target.Name, Outcome(err)).Inc()
		b.metrics.durations.WithLabelValues(r.Target.Name).Observe(time.Since(r.Started).Seconds())
		return err
	})
}
