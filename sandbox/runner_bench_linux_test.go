package sandbox

import (
	"context"
	"os"
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

// BenchmarkWarm: runs of /bin/true in one process, interleaved: cold, and
// in a sandbox made warm beforehand (the making is not counted: a pool
// does it off the task's path). With --mem, so the cgroup backend, where
// there is one, enforces it in both.
func BenchmarkWarm(b *testing.B) {
	testutil.NeedUserNS(b)
	spec := func() *Spec {
		s := &Spec{
			Argv: []string{"/bin/true"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
			Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
		}
		if os.Getenv("JAIL_BENCH_NOMEM") == "" {
			s.Limits.Memory = 256 << 20
		}
		return s
	}
	r := NewRunner()
	var cold, warm, making []time.Duration
	var stages []Stages
	var makings []MakingStages
	check := func(res *Result, err error) {
		if err != nil || res.Verdict != verdict.OK {
			b.Fatalf("run: %v %+v", err, res)
		}
	}
	check(r.Run(context.Background(), spec(), IO{}))
	for b.Loop() {
		begin := time.Now()
		check(r.Run(context.Background(), spec(), IO{}))
		cold = append(cold, time.Since(begin))
		begin = time.Now()
		w, err := r.Warm(context.Background(), spec(), false)
		if err != nil {
			b.Fatal(err)
		}
		making = append(making, time.Since(begin))
		makings = append(makings, w.Making)
		begin = time.Now()
		res, err := w.Run(context.Background(), spec(), IO{})
		warm = append(warm, time.Since(begin))
		check(res, err)
		stages = append(stages, *res.Stages)
	}
	b.ReportMetric(float64(median(cold).Microseconds())/1000, "cold-ms")
	b.ReportMetric(float64(median(warm).Microseconds())/1000, "warm-ms")
	b.ReportMetric(float64(median(making).Microseconds())/1000, "making-ms")
	for name, f := range map[string]func(Stages) Seconds{
		"warm-handover-ms": func(s Stages) Seconds { return s.Clone }, "warm-spawn-ms": func(s Stages) Seconds { return s.Spawn },
		"warm-exec-ms": func(s Stages) Seconds { return s.Exec }, "warm-teardown-ms": func(s Stages) Seconds { return s.Teardown },
	} {
		b.ReportMetric(medianMS(stages, f), name)
	}
	for name, f := range map[string]func(MakingStages) Seconds{
		"making-exec-ms": func(s MakingStages) Seconds { return s.Exec }, "making-idmaps-ms": func(s MakingStages) Seconds { return s.IDMaps },
		"making-mounts-ms": func(s MakingStages) Seconds { return s.Mounts }, "making-pivot-ms": func(s MakingStages) Seconds { return s.Pivot },
		"making-ready-ms": func(s MakingStages) Seconds { return s.Ready },
	} {
		b.ReportMetric(medianMS(makings, f), name)
	}
}

// medianMS is the median of one stage of xs, in ms.
func medianMS[T any](xs []T, stage func(T) Seconds) float64 {
	var d []time.Duration
	for _, x := range xs {
		d = append(d, time.Duration(stage(x)))
	}
	return float64(median(d).Microseconds()) / 1000
}
