package bot

import (
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// metricSet holds counters, gauges and histograms by their full name (with
// labels, as in `wirebot_runs_total{command="x"}`) and writes them as
// Prometheus text samples; writeExposition adds HELP and TYPE.
//
// It replaces github.com/VictoriaMetrics/metrics, whose package
// initialisation reads the process's cgroup at the start of every process
// that links it and logs to stderr when it cannot (in containers:
// "metrics: disable exposing PSI metrics..."): every `wirebot brain` call from
// a script is such a process, and the line ended up in failed scripts'
// replies. A package we link must not print on its own.
type metricSet struct {
	mu         sync.Mutex
	counters   map[string]*counter
	gauges     map[string]func() float64
	histograms map[string]*histogram
}

func newMetricSet() *metricSet {
	return &metricSet{counters: map[string]*counter{}, gauges: map[string]func() float64{}, histograms: map[string]*histogram{}}
}

// counter is a monotonic count.
type counter struct{ n atomic.Uint64 }

// Inc adds one.
func (c *counter) Inc() { c.n.Add(1) }

// histogram counts observations into cumulative buckets.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// Update records one observation.
func (h *histogram) Update(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.SearchFloat64s(h.bounds, v) // the first bound >= v
	h.counts[i]++
	h.sum += v
	h.n++
}

func (s *metricSet) counter(name string) *counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[name]
	if !ok {
		c = &counter{}
		s.counters[name] = c
	}
	return c
}

func (s *metricSet) gauge(name string, f func() float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gauges[name] = f
}

func (s *metricSet) histogram(name string, bounds []float64) *histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.histograms[name]
	if !ok {
		h = &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
		s.histograms[name] = h
	}
	return h
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// withSuffix turns `name{labels}` into `name<suffix>{labels,extra}`.
func withSuffix(name, suffix, extra string) string {
	base, labels, _ := strings.Cut(name, "{")
	labels = strings.TrimSuffix(labels, "}")
	if extra != "" {
		if labels != "" {
			labels += ","
		}
		labels += extra
	}
	if labels == "" {
		return base + suffix
	}
	return base + suffix + "{" + labels + "}"
}

// writeSamples writes every metric as a text sample line.
func (s *metricSet) writeSamples(w io.Writer) {
	s.mu.Lock()
	counters := make(map[string]uint64, len(s.counters))
	for n, c := range s.counters {
		counters[n] = c.n.Load()
	}
	gauges := make(map[string]func() float64, len(s.gauges))
	for n, g := range s.gauges {
		gauges[n] = g
	}
	hists := make(map[string]*histogram, len(s.histograms))
	for n, h := range s.histograms {
		hists[n] = h
	}
	s.mu.Unlock()
	var lines []string
	for n, v := range counters {
		lines = append(lines, n+" "+strconv.FormatUint(v, 10))
	}
	for n, g := range gauges { // gauges run outside the lock: they may take others
		lines = append(lines, n+" "+formatFloat(g()))
	}
	for n, h := range hists {
		h.mu.Lock()
		var cum uint64
		for i, c := range h.counts {
			cum += c
			le := math.Inf(1)
			if i < len(h.bounds) {
				le = h.bounds[i]
			}
			lines = append(lines, withSuffix(n, "_bucket", `le="`+formatFloat(le)+`"`)+" "+strconv.FormatUint(cum, 10))
		}
		lines = append(lines, withSuffix(n, "_sum", "")+" "+formatFloat(h.sum), withSuffix(n, "_count", "")+" "+strconv.FormatUint(h.n, 10))
		h.mu.Unlock()
	}
	sort.Strings(lines)
	for _, l := range lines {
		io.WriteString(w, l+"\n")
	}
}
