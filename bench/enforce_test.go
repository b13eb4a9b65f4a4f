package bench

// Enforcement benchmarks: how closely each limit holds, measured by
// running programs that try to exceed it. They report figures and never
// assert them. Run as root they use the root cgroup backend; as an
// ordinary user, whatever the host delegates (the result says which).

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"jail/internal/testutil"
)

// enforcer runs jail as the caller (root in CI, for the cgroup backends).
type enforcer struct {
	jail *testutil.Jail
	opts testutil.Opts
}

func newEnforcer(b *testing.B) *enforcer {
	b.Helper()
	testutil.NeedUserNS(b)
	return &enforcer{jail: testutil.New(b), opts: testutil.Opts{AsCaller: true}}
}

func (e *enforcer) run(b *testing.B, args ...string) *testutil.Report {
	b.Helper()
	r := e.jail.RunWith(b, e.opts, append([]string{"run"}, args...)...)
	if r.Report == nil {
		b.Fatalf("no report: %s", r)
	}
	return r.Report
}

// BenchmarkCPUShare reports the CPU share a busy loop gets under --cpu,
// over a 2s wall limit: cpu-share-% should equal the limit.
func BenchmarkCPUShare(b *testing.B) {
	e := newEnforcer(b)
	for _, pct := range []int{10, 25, 50, 100} {
		b.Run(fmt.Sprintf("%d%%", pct), func(b *testing.B) {
			var shares []float64
			var backend string
			for b.Loop() {
				r := e.run(b, "--cpu", fmt.Sprintf("%d%%", pct), "--wall", "2s", "--", "/usr/bin/python3", "-c", "while True: pass")
				shares = append(shares, 100*(r.CPUUser+r.CPUSys)/r.WallTime)
				backend = r.LimitBackend
			}
			b.ReportMetric(medianF(shares), "cpu-share-%")
			b.ReportMetric(float64(pct), "limit-%")
			b.Logf("backend %s", backend)
		})
	}
}

// BenchmarkMemoryAtKill reports the peak memory of a program that keeps
// allocating, against --mem 64M: mem-at-kill-MiB should sit at the limit.
func BenchmarkMemoryAtKill(b *testing.B) {
	e := newEnforcer(b)
	var peaks []float64
	for b.Loop() {
		r := e.run(b, "--mem", "64M", "--", "/usr/bin/python3", "-c",
			"b=[]\nfor i in range(400): b.append(bytearray(1<<20))")
		if r.Verdict != "MLE" {
			b.Fatalf("verdict %s, want MLE (backend %s)", r.Verdict, r.LimitBackend)
		}
		peaks = append(peaks, float64(r.PeakMemory)/(1<<20))
	}
	b.ReportMetric(medianF(peaks), "mem-at-kill-MiB")
	b.ReportMetric(64, "limit-MiB")
}

// BenchmarkTimeOvershoot reports how far past --time 500ms a busy loop's
// CPU time gets before the kill, in ms.
func BenchmarkTimeOvershoot(b *testing.B) {
	e := newEnforcer(b)
	var over []float64
	for b.Loop() {
		r := e.run(b, "--time", "500ms", "--", "/usr/bin/python3", "-c", "while True: pass")
		over = append(over, 1000*(r.CPUUser+r.CPUSys)-500)
	}
	b.ReportMetric(medianF(over), "overshoot-ms")
	b.ReportMetric(slices.Max(over), "max-overshoot-ms")
}

// BenchmarkLimitsStartupCost runs /bin/true with and without every cgroup
// limit, interleaved, and reports the medians and their difference: what
// the limits add to a run.
func BenchmarkLimitsStartupCost(b *testing.B) {
	e := newEnforcer(b)
	plain := []string{"--", "/bin/true"}
	limited := []string{"--mem", "100M", "--cpu", "50%", "--pids", "64", "--time", "1s", "--", "/bin/true"}
	var without, with []time.Duration
	for b.Loop() {
		for _, args := range [][]string{plain, limited} {
			start := time.Now()
			e.run(b, args...)
			d := time.Since(start)
			if len(args) == len(plain) {
				without = append(without, d)
			} else {
				with = append(with, d)
			}
		}
	}
	b.ReportMetric(ms(median(without)), "without-ms")
	b.ReportMetric(ms(median(with)), "with-limits-ms")
	b.ReportMetric(ms(median(with))-ms(median(without)), "limits-cost-ms")
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 50) }

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}
