package server

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"jail/pool"
)

// metrics are the server's Prometheus series, in a registry of its own so
// that two servers in one process (tests) do not share them.
type metrics struct {
	reg     *prometheus.Registry
	queued  prometheus.Gauge
	running prometheus.Gauge
	// backlog is queued plus running tasks, kept beside the gauges to be
	// read (jail_backlog_per_slot).
	backlog   atomic.Int64
	tasks     *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	queueWait prometheus.Histogram
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jail_queue_length",
			Help: "Tasks waiting for a worker."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "jail_running",
			Help: "Tasks being judged."}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jail_tasks_total",
			Help: "Finished tasks, by client (a token's name, or local), profile and overall verdict (error: the task could not be judged)."}, []string{"client", "profile", "verdict"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jail_rejected_total",
			Help: "Requests refused before queueing, by error code."}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jail_task_seconds",
			Help: "Time from a worker taking a task to its result, by profile.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"profile"}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jail_queue_seconds",
			Help: "Time a task waited for a worker.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
	}
	m.reg.MustRegister(m.queued, m.running, m.tasks, m.rejected, m.duration, m.queueWait,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_parallel", Help: "Tasks that may run at once."},
			func() float64 { return float64(s.cfg.Parallel) }),
		// What an autoscaler scales on: above 1 tasks wait.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_backlog_per_slot",
			Help: "Tasks queued or running per task that may run at once."},
			func() float64 { return float64(m.backlog.Load()) / float64(max(s.cfg.Parallel, 1)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_blobs", Help: "Blobs stored."},
			func() float64 { n, _ := s.blobs.stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_blob_bytes", Help: "Bytes of the blobs stored."},
			func() float64 { _, b := s.blobs.stats(); return float64(b) }),
		poolCollector{s.pools},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// accepted and finished bracket a task's life, queued or running; every
// accepted task is finished once, however it ends.
func (m *metrics) accepted() { m.queued.Inc(); m.backlog.Add(1) }
func (m *metrics) finished() { m.backlog.Add(-1) }

// poolCollector reports the warm pools' counters as they are when
// scraped.
type poolCollector struct{ pools *pool.Pools }

var poolDescs = struct{ size, ready, hits, misses, reused, made, makeSeconds, failures *prometheus.Desc }{
	size:        prometheus.NewDesc("jail_pool_size", "Warm sandboxes a pool keeps.", []string{"pool"}, nil),
	ready:       prometheus.NewDesc("jail_pool_ready", "Warm sandboxes waiting now.", []string{"pool"}, nil),
	hits:        prometheus.NewDesc("jail_pool_hits_total", "Runs that took a warm sandbox.", []string{"pool"}, nil),
	misses:      prometheus.NewDesc("jail_pool_misses_total", "Runs that found the pool empty and ran cold.", []string{"pool"}, nil),
	reused:      prometheus.NewDesc("jail_pool_reused_total", "Sandboxes of a reuse pool that came back renewed after a task.", []string{"pool"}, nil),
	made:        prometheus.NewDesc("jail_pool_made_total", "Warm sandboxes made.", []string{"pool"}, nil),
	makeSeconds: prometheus.NewDesc("jail_pool_make_seconds_total", "Time spent making warm sandboxes (refill time: divide by jail_pool_made_total).", []string{"pool"}, nil),
	failures:    prometheus.NewDesc("jail_pool_failures_total", "Makings of a warm sandbox that failed.", []string{"pool"}, nil),
}

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolDescs.size, poolDescs.ready, poolDescs.hits, poolDescs.misses, poolDescs.reused, poolDescs.made, poolDescs.makeSeconds, poolDescs.failures} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.pools.Stats() {
		for _, m := range []struct {
			d *prometheus.Desc
			t prometheus.ValueType
			v float64
		}{
			{poolDescs.size, prometheus.GaugeValue, float64(st.Size)},
			{poolDescs.ready, prometheus.GaugeValue, float64(st.Ready)},
			{poolDescs.hits, prometheus.CounterValue, float64(st.Hits)},
			{poolDescs.misses, prometheus.CounterValue, float64(st.Misses)},
			{poolDescs.reused, prometheus.CounterValue, float64(st.Reused)},
			{poolDescs.made, prometheus.CounterValue, float64(st.Made)},
			{poolDescs.makeSeconds, prometheus.CounterValue, st.MakeSeconds},
			{poolDescs.failures, prometheus.CounterValue, float64(st.Failures)},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v, st.Name)
		}
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
