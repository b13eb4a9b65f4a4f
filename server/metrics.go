package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, in a registry of its own so
// that two servers in one process (tests) do not share them.
type metrics struct {
	reg       *prometheus.Registry
	queued    prometheus.Gauge
	running   prometheus.Gauge
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_blobs", Help: "Blobs stored."},
			func() float64 { n, _ := s.blobs.stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jail_blob_bytes", Help: "Bytes of the blobs stored."},
			func() float64 { _, b := s.blobs.stats(); return float64(b) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
