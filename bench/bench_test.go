// Package bench measures what a sandboxed one-shot run costs: jail against
// the plain fork+exec floor and against bwrap, the fastest one-shot peer.
// What is measured, on which machine, and the numbers are in README.md.
//
// Every benchmark runs /bin/true, so the time is all start-up and teardown.
// Each iteration is timed on its own and the benchmarks report the median and
// the 95th percentile besides ns/op: namespace teardown has a long tail that a
// mean hides. Benchmarks never assert timings; they fail only when a command
// fails.
package bench

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"jail/internal/testutil"
)

// bwrapArgs is the cheapest bwrap sandbox comparable to jail's default: every
// namespace, the host's /usr read-only, merged-/usr symlinks, a new /proc and
// a minimal /dev.
var bwrapArgs = []string{
	"--unshare-all", "--ro-bind", "/usr", "/usr",
	"--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
	"--proc", "/proc", "--dev", "/dev", "--", "/bin/true",
}

// launcher is one way of running /bin/true.
type launcher struct {
	name string
	argv []string
	env  *env
}

// env is where and as whom the launchers run: testutil's copy of the jail
// binary in a directory the unprivileged test user can reach, and that
// user's credential when the benchmark runs as root, so that jail and bwrap
// take the rootless path they take in real use.
type env struct {
	jail *testutil.Jail
}

func newEnv(b *testing.B) *env {
	b.Helper()
	testutil.NeedUserNS(b)
	return &env{jail: testutil.New(b)}
}

func (e *env) forkExec() launcher { return launcher{"forkexec", []string{"/bin/true"}, e} }

func (e *env) jailRun() launcher {
	return launcher{"jail", []string{e.jail.Bin, "run", "--", "/bin/true"}, e}
}

// jailReexec is jail with the reexec launcher, the reference the default
// native launcher is measured against: jail re-executes itself as the
// sandbox's init, which costs a second Go runtime start.
func (e *env) jailReexec() launcher {
	return launcher{"jail-reexec", []string{e.jail.Bin, "run", "--launcher=reexec", "--", "/bin/true"}, e}
}

// bwrap reports false when bwrap is not installed.
func (e *env) bwrap() (launcher, bool) {
	p, err := exec.LookPath("bwrap")
	if err != nil {
		return launcher{}, false
	}
	return launcher{"bwrap", append([]string{p}, bwrapArgs...), e}, true
}

// run starts the launcher once and returns how long it took from start to
// reaped exit.
func (l launcher) run(b *testing.B) time.Duration {
	b.Helper()
	var stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path:        l.argv[0],
		Args:        l.argv,
		Env:         []string{"PATH=/usr/bin:/bin"},
		Dir:         l.env.jail.Dir,
		Stdout:      io.Discard,
		Stderr:      &stderr,
		SysProcAttr: &syscall.SysProcAttr{Credential: l.env.jail.Cred},
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("running %s (%q): %v\n%s", l.name, l.argv, err, stderr.Bytes())
	}
	return d
}

// BenchmarkForkExecTrue is the floor: os/exec of /bin/true, no sandbox.
func BenchmarkForkExecTrue(b *testing.B) {
	bench(b, newEnv(b).forkExec())
}

// BenchmarkJailRunTrue is `jail run -- /bin/true` with jail's defaults.
func BenchmarkJailRunTrue(b *testing.B) {
	bench(b, newEnv(b).jailRun())
}

// BenchmarkBwrapTrue is bwrap with every namespace and a jail-like root.
func BenchmarkBwrapTrue(b *testing.B) {
	l, ok := newEnv(b).bwrap()
	if !ok {
		b.Skip("bwrap is not installed (apt-get install bubblewrap); skipping the bwrap comparison")
	}
	bench(b, l)
}

func bench(b *testing.B, l launcher) {
	l.run(b) // warm the page cache and the binary before timing
	var times []time.Duration
	for b.Loop() {
		times = append(times, l.run(b))
	}
	b.ReportMetric(ms(percentile(times, 50)), "median-ms/op")
	b.ReportMetric(ms(percentile(times, 95)), "p95-ms/op")
}

// BenchmarkSideBySide runs the launchers interleaved, one of each per round
// with the order rotating, so that drift in the machine's load or frequency
// hits all of them alike; the ratios of medians are the numbers to compare
// across machines. Use -benchtime Nx for N rounds.
func BenchmarkSideBySide(b *testing.B) {
	e := newEnv(b)
	ls := []launcher{e.forkExec(), e.jailRun(), e.jailReexec()}
	if l, ok := e.bwrap(); ok {
		ls = append(ls, l)
	} else {
		b.Log("bwrap is not installed; comparing jail with fork+exec only")
	}
	for _, l := range ls {
		l.run(b)
	}
	times := make([][]time.Duration, len(ls))
	round := 0
	for b.Loop() {
		for k := range ls {
			i := (round + k) % len(ls)
			times[i] = append(times[i], ls[i].run(b))
		}
		round++
	}
	med := make(map[string]float64, len(ls))
	for i, l := range ls {
		med[l.name] = ms(percentile(times[i], 50))
		b.ReportMetric(med[l.name], l.name+"-median-ms")
		b.ReportMetric(ms(percentile(times[i], 95)), l.name+"-p95-ms")
	}
	b.ReportMetric(med["jail"]/med["forkexec"], "x-forkexec")
	b.ReportMetric(med["jail-reexec"]/med["forkexec"], "reexec-x-forkexec")
	if m, ok := med["bwrap"]; ok {
		b.ReportMetric(med["jail"]/m, "x-bwrap")
		b.ReportMetric(med["jail-reexec"]/m, "reexec-x-bwrap")
	}
}

// percentile is the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100 // ceil(p/100 * n)
	return s[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestMain(m *testing.M) {
	os.Exit(testutil.Main(m))
}

// TestPercentile keeps the statistics the benchmarks report honest.
func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var ds []time.Duration
		for _, v := range n {
			ds = append(ds, time.Duration(v)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{name: "empty", in: nil, p: 50, want: 0},
		{name: "one", in: ms(7), p: 95, want: 7 * time.Millisecond},
		{name: "median of odd, unsorted", in: ms(5, 1, 3), p: 50, want: 3 * time.Millisecond},
		{name: "median of even is the lower middle", in: ms(4, 1, 3, 2), p: 50, want: 2 * time.Millisecond},
		{name: "p95 of 20 is the 19th", in: ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), p: 95, want: 19 * time.Millisecond},
		{name: "p100 is the max", in: ms(2, 9, 4), p: 100, want: 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, percentile(tt.in, tt.p))
		})
	}
}
