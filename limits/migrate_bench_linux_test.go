package limits

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCgroupMigration is what moving a process into a run's cgroup
// costs, the step every run with a cgroup takes (PROG's spawner writes
// itself to cgroup.procs): back to back, and after the cgroups have been
// left alone for a while. A migration takes the kernel's
// cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
// period unless another writer had it in the last few milliseconds, so the
// second figure is what a run pays when it comes after an idle moment.
// Each round times one write of a sleeping helper's pid to a new group's
// cgroup.procs; the group is made (and the pause taken) before the clock
// starts. Needs a backend: root on a cgroup v1 host, or a v2 subtree of
// the caller's; skipped elsewhere.
func BenchmarkCgroupMigration(b *testing.B) {
	d := Detect(context.Background(), false)
	if d.Backend == nil {
		b.Skipf("no cgroup backend here: %v", d.Notes)
	}
	for _, bc := range []struct {
		name string
		idle time.Duration
	}{{"back-to-back", 0}, {"after-50ms-idle", 50 * time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				b.StopTimer()
				helper := exec.Command("sleep", "60")
				if err := helper.Start(); err != nil {
					b.Fatal(err)
				}
				g, err := d.Backend.Create(Spec{})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(bc.idle)
				pid := []byte(strconv.Itoa(helper.Process.Pid))
				b.StartTimer()
				start := time.Now()
				for _, f := range g.ProcsFiles() {
					if _, err := f.Write(pid); err != nil {
						b.Fatal(err)
					}
				}
				took = append(took, time.Since(start))
				b.StopTimer()
				_ = helper.Process.Kill()
				_ = helper.Wait()
				if err := g.Remove(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
		})
	}
}
