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
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	// runtime is XDG_RUNTIME_DIR ("" for none): jail saves its sandbox's
	// description there, and the next run builds the sandbox from it
	// while Go starts, as for a logged-in user.
	runtime string
}

// env is where and as whom the launchers run: testutil's copy of the jail
// binary in a directory the unprivileged test user can reach, and that
// user's credential when the benchmark runs as root, so that jail and bwrap
// take the rootless path they take in real use.
type env struct {
	jail *testutil.Jail
	// tmp is TMPDIR for the benchmarks that set it ("" is the default).
	tmp string
}

func newEnv(b *testing.B) *env {
	b.Helper()
	testutil.NeedUserNS(b)
	return &env{jail: testutil.New(b)}
}

func (e *env) forkExec() launcher {
	return launcher{name: "forkexec", argv: []string{"/bin/true"}, env: e}
}

func (e *env) jailRun(b testing.TB) launcher {
	return launcher{name: "jail", argv: []string{e.jail.Bin, "run", "--", "/bin/true"}, env: e, runtime: e.runtimeDir(b, "jail")}
}

// runtimeDir is a runtime directory of the test user's own for one
// launcher, so that each saves and finds its own sandbox's description.
func (e *env) runtimeDir(b testing.TB, name string) string {
	b.Helper()
	d := filepath.Join(e.jail.Dir, "runtime-"+name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		b.Fatal(err)
	}
	e.jail.Chown(b, d)
	return d
}

// bwrap reports false when bwrap is not installed.
func (e *env) bwrap() (launcher, bool) {
	p, err := exec.LookPath("bwrap")
	if err != nil {
		return launcher{}, false
	}
	return launcher{name: "bwrap", argv: append([]string{p}, bwrapArgs...), env: e}, true
}

// run starts the launcher once and returns how long it took from start to
// reaped exit.
func (l launcher) run(b *testing.B) time.Duration {
	b.Helper()
	var stderr bytes.Buffer
	env := []string{"PATH=/usr/bin:/bin"}
	if l.runtime != "" {
		env = append(env, "XDG_RUNTIME_DIR="+l.runtime)
	}
	cmd := &exec.Cmd{
		Path:        l.argv[0],
		Args:        l.argv,
		Env:         env,
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
	bench(b, newEnv(b).jailRun(b))
}

// BenchmarkBwrapTrue is bwrap with every namespace and a jail-like root.
func BenchmarkBwrapTrue(b *testing.B) {
	l, ok := newEnv(b).bwrap()
	if !ok {
		testutil.Skip(b, "bwrap is not installed (apt-get install bubblewrap); skipping the bwrap comparison")
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

// limitFlags are the cgroup limits the "full isolation" asks
// for. Where the caller has no cgroup to put them in (an ordinary user on
// a cgroup v1 host), jail runs without them and says so in a warning; the
// benchmark logs which backend was in force.
var limitFlags = []string{"--mem", "256M", "--pids", "64", "--cpu", "100%"}

// program is what the side-by-side benchmark runs in every launcher.
type program struct {
	name string
	argv []string // inside the sandbox, and for fork+exec
	// bind is a host directory the program needs, bound read-only at the
	// same path by jail and bwrap.
	bind string
}

// programs are /bin/true, a static C hello world (skipped without a C
// compiler) and python3 -c pass (skipped without python3): start-up cost
// alone, a program with no dynamic loading, and a large interpreter.
func programs(b *testing.B, e *env) []program {
	ps := []program{{name: "true", argv: []string{"/bin/true"}}}
	if cc, err := exec.LookPath("cc"); err == nil {
		dir := filepath.Join(e.jail.Dir, "hello")
		src := filepath.Join(dir, "hello.c")
		bin := filepath.Join(dir, "hello")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(src, []byte("#include <unistd.h>\nint main(void){return write(1,\"hello\\n\",6)!=6;}\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		if out, err := exec.Command(cc, "-O2", "-static", "-o", bin, src).CombinedOutput(); err != nil {
			b.Logf("no static hello world (cc -static failed: %v: %s); apt-get install libc6-dev", err, out)
		} else {
			ps = append(ps, program{name: "hello-static", argv: []string{bin}, bind: dir})
		}
	} else {
		b.Log("no C compiler; skipping the static hello world (apt-get install gcc)")
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		ps = append(ps, program{name: "python3", argv: []string{"/usr/bin/python3", "-c", "pass"}})
	} else {
		b.Log("no /usr/bin/python3; skipping python3 -c pass (apt-get install python3)")
	}
	return ps
}

// launchers are the ways of running p, side by side. jail and
// jail-limits run as a logged-in user does, with a runtime directory where
// each run saves its sandbox's description and the next builds the
// sandbox from it while Go starts; jail-unsaved has none, so its early
// init waits for the plan.
func (e *env) launchers(b testing.TB, p program) []launcher {
	var jailFlags, bwrapFlags []string
	if p.bind != "" {
		jailFlags = []string{"-v", p.bind + ":" + p.bind + ":ro"}
		bwrapFlags = []string{"--ro-bind", p.bind, p.bind}
	}
	jail := func(name string, saved bool, flags ...string) launcher {
		argv := append(append(append([]string{e.jail.Bin, "run"}, jailFlags...), flags...), "--")
		l := launcher{name: name, argv: append(argv, p.argv...), env: e}
		if saved {
			l.runtime = e.runtimeDir(b, p.name+"-"+name)
		}
		return l
	}
	ls := []launcher{
		{name: "forkexec", argv: p.argv, env: e},
		jail("jail", true),
		jail("jail-limits", true, limitFlags...),
		jail("jail-unsaved", false),
	}
	if bw, err := exec.LookPath("bwrap"); err == nil {
		argv := append([]string{bw}, bwrapArgs[:len(bwrapArgs)-2]...)
		argv = append(append(append(argv, bwrapFlags...), "--"), p.argv...)
		ls = append(ls, launcher{name: "bwrap", argv: argv, env: e})
	}
	return ls
}

// BenchmarkSideBySide runs, for each program, the launchers interleaved:
// one of each per round with the order rotating, so that drift in the
// machine's load or frequency hits all of them alike; the ratios of
// medians are the numbers to compare across machines. Use -benchtime Nx
// for N rounds. It prints the results as one markdown table.
func BenchmarkSideBySide(b *testing.B) {
	e := newEnv(b)
	if _, err := exec.LookPath("bwrap"); err != nil {
		b.Log("bwrap is not installed (apt-get install bubblewrap); comparing jail with fork+exec only")
	}
	backend := limitBackend(b, e)
	var table, rounds []string
	for _, p := range programs(b, e) {
		b.Run(p.name, func(b *testing.B) {
			ls := e.launchers(b, p)
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
			med := map[string]float64{}
			for i, l := range ls {
				med[l.name] = ms(percentile(times[i], 50))
				b.ReportMetric(med[l.name], l.name+"-median-ms")
				b.ReportMetric(ms(percentile(times[i], 95)), l.name+"-p95-ms")
			}
			b.ReportMetric(med["jail"]/med["forkexec"], "x-forkexec")
			if m, ok := med["bwrap"]; ok {
				b.ReportMetric(med["jail"]/m, "x-bwrap")
			}
			for i, l := range ls {
				row := fmt.Sprintf("| %s | %s | %.2f | %.2f | %.1f× |", p.name, l.name,
					med[l.name], ms(percentile(times[i], 95)), med[l.name]/med["forkexec"])
				if m, ok := med["bwrap"]; ok {
					row += fmt.Sprintf(" %.2f× |", med[l.name]/m)
				} else {
					row += " – |"
				}
				table = append(table, row)
			}
			rounds = append(rounds, fmt.Sprintf("%s %d", p.name, len(times[0])))
		})
	}
	// A benchmark that uses b.Loop runs once per -count, so this is one
	// table per count.
	fmt.Printf("\n| program | launcher | median ms | p95 ms | × fork+exec | × bwrap |\n|---|---|---|---|---|---|\n")
	for _, r := range table {
		fmt.Println(r)
	}
	fmt.Printf("\nRounds side by side: %s. jail-limits is jail with %s; limit backend: %s.\n",
		strings.Join(rounds, ", "), strings.Join(limitFlags, " "), backend)
}

// limitBackend asks jail which backend enforces limitFlags for the
// benchmark's user.
func limitBackend(b *testing.B, e *env) string {
	var stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path: e.jail.Bin, Args: append(append([]string{e.jail.Bin, "run", "--json"}, limitFlags...), "--", "/bin/true"),
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: e.jail.Dir, Stderr: &stderr,
		SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred},
	}
	if err := cmd.Run(); err != nil {
		b.Fatalf("jail run --json %v: %v\n%s", limitFlags, err, stderr.Bytes())
	}
	var res struct {
		Backend  string   `json:"limit_backend"`
		Warnings []string `json:"warnings"`
	}
	for line := range strings.Lines(stderr.String()) {
		if strings.HasPrefix(line, "{") {
			_ = json.Unmarshal([]byte(line), &res)
		}
	}
	if res.Backend == "none" && len(res.Warnings) > 0 {
		return "none: the limits are NOT enforced for this user here (" + res.Warnings[0] + ")"
	}
	return res.Backend
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
