package sandbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"jail/internal/testutil"
	"jail/verdict"
)

// BenchmarkRunner: runs of /bin/true in this process, interleaved, each
// with a Runner of its own (as `jail run` has) and all with one Runner
// (as a service has); with --mem, so the cgroup backend is detected.
func BenchmarkRunner(b *testing.B) {
	testutil.NeedUserNS(b)
	spec := func() *Spec {
		s := &Spec{
			Argv: []string{"/bin/true"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
			Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
		}
		s.Limits.Memory = 256 << 20
		return s
	}
	shared := NewRunner()
	var fresh, reused []time.Duration
	run := func(r *Runner) time.Duration {
		begin := time.Now()
		res, err := r.Run(context.Background(), spec(), IO{})
		if err != nil || res.Verdict != verdict.OK {
			b.Fatalf("run: %v %+v", err, res)
		}
		return time.Since(begin)
	}
	run(shared)
	for b.Loop() {
		fresh = append(fresh, run(NewRunner()))
		reused = append(reused, run(shared))
	}
	b.ReportMetric(float64(median(fresh).Microseconds())/1000, "fresh-ms")
	b.ReportMetric(float64(median(reused).Microseconds())/1000, "shared-ms")
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}
