package bench

// BenchmarkJudge: what judging a C++ task costs per test with `jail judge`
// (compile once, every test in its own fresh sandbox, in one jail process)
// against what a user would do without it, `jail run` once per test.
//
// The task is "read two numbers, print their sum" in C++ with iostream,
// with N small tests (N = 10 and 100, the sub-benchmarks). Each iteration
// is one round of three ways of judging it, the order rotating every round
// so that drift in the machine's load hits all alike:
//
//	judge        one `jail judge --profile cpp sol.cpp --tests DIR --json`
//	             call: one compile (g++ -O2 -std=c++17 in its sandbox) and
//	             N runs with the cpp profile's run limits, each checked
//	             (--check tokens, the default). --json only so that the
//	             benchmark reads the verdict and the compile's wall time.
//	run-compile  `jail run --profile cpp -- sol.cpp < NAME.in`, one call
//	             per test, as Judge0 does: every call compiles again. This
//	             costs a compile per test, so it runs on a sample: the
//	             first judgeSample tests (all of them when N = 10); its
//	             per-test figure does not depend on N, each call being
//	             independent of the others.
//	run          the fairer baseline: sol.cpp compiled once outside any
//	             sandbox (g++ -O2 -std=c++17, before the timing), then
//	             `jail run -v DIR:/box:ro -w /box LIMITS -- /box/prog <
//	             NAME.in` for every one of the N tests, where LIMITS are the
//	             cpp profile's run limits (profiles/builtin/cpp.toml), the
//	             ones judge applies to each test: jail run per test without
//	             recompiling.
//
// Every call is timed on its own, from exec.Cmd.Start to the reaped exit,
// and its output checked (judge: exit status 0, every test OK; the
// baselines: stdout is the answer). Reported, as medians:
//
//	judge-total-ms        judge's whole call
//	judge-ms/test         that over N, the compile included
//	judge-compile-ms      the compiler's wall time inside judge (from the
//	                      JSON result: g++'s run, not its sandbox's set-up)
//	judge-tests-ms/test   (total − compile) / N: each test after the compile
//	run-compile-ms/test   one call of the run-compile baseline
//	run-ms/test           one call of the run baseline
//	x-run-compile, x-run  run-compile-ms/test and run-ms/test ÷ judge-ms/test
//	x-run-tests           run-ms/test ÷ judge-tests-ms/test
//
// The parent benchmark prints them as one markdown table. It does not
// subtract the 10-test total from the 100-test one for a marginal cost:
// the sub-benchmarks run one after the other, not interleaved, so on a
// shared machine that difference is mostly the change in load.
//
// With -benchtime 3x it takes about a minute on 2 vCPUs; the Makefile runs
// it with JUDGE_BENCHTIME (3x), not with the 200 rounds of BENCHTIME.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"jail/internal/testutil"
)

// judgeSource is the task's solution: two numbers in, their sum out.
const judgeSource = `#include <iostream>

int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << a + b << '\n';
}
`

// judgeSizes are the test counts of the sub-benchmarks; judgeSample is
// how many of them the recompiling baseline runs per round.
var judgeSizes = []int{10, 100}

const judgeSample = 10

// cppRunLimits are the run limits of the cpp profile
// (profiles/builtin/cpp.toml, [limits] and [run.limits]), which jail judge
// applies to every test; the `run` baseline passes them too.
var cppRunLimits = []string{
	"--mem", "256M", "--pids", "64", "--time", "2s", "--wall", "10s",
	"--output", "64M", "--fsize", "64M", "--nofile", "64",
}

// judgeTask is one sub-benchmark's files.
type judgeTask struct {
	dir   string // holds sol.cpp and prog, bound at /box by the run baseline
	src   string
	tests string // NAME.in and NAME.out
	names []string
}

func newJudgeTask(b *testing.B, e *env, n int) *judgeTask {
	b.Helper()
	t := &judgeTask{dir: filepath.Join(e.jail.Dir, fmt.Sprintf("task-%d", n))}
	t.src = filepath.Join(t.dir, "sol.cpp")
	t.tests = filepath.Join(t.dir, "tests")
	if err := os.MkdirAll(t.tests, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(t.src, []byte(judgeSource), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprint(i)
		a, c := int64(i)*7919, int64(i)*104729
		if err := os.WriteFile(filepath.Join(t.tests, name+".in"), fmt.Appendf(nil, "%d %d\n", a, c), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(t.tests, name+".out"), fmt.Appendf(nil, "%d\n", a+c), 0o644); err != nil {
			b.Fatal(err)
		}
		t.names = append(t.names, name)
	}
	// The run baseline's program, compiled once outside the sandbox with
	// the profile's flags.
	if out, err := exec.Command("g++", "-O2", "-std=c++17", "-o", filepath.Join(t.dir, "prog"), t.src).CombinedOutput(); err != nil {
		b.Fatalf("g++ %s: %v\n%s", t.src, err, out)
	}
	return t
}

// answer is the expected output of test name.
func (t *judgeTask) answer(b *testing.B, name string) string {
	b.Helper()
	a, err := os.ReadFile(filepath.Join(t.tests, name+".out"))
	if err != nil {
		b.Fatal(err)
	}
	return string(a)
}

// timed runs argv as the benchmark's jail user with stdin from the file
// stdin ("" for none) and returns its duration and stdout; it fails the
// benchmark when the command does.
func (e *env) timed(b *testing.B, argv []string, stdin string) (time.Duration, string) {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path:        argv[0],
		Args:        argv,
		Env:         []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"},
		Dir:         e.jail.Dir,
		Stdout:      &stdout,
		Stderr:      &stderr,
		SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred},
	}
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%q: %v\nstdout: %s\nstderr: %s", argv, err, stdout.Bytes(), stderr.Bytes())
	}
	return d, stdout.String()
}

// judgeOnce runs the judge on the whole task and returns its duration and
// the compile's wall time.
func (e *env) judgeOnce(b *testing.B, t *judgeTask) (total, compile time.Duration) {
	b.Helper()
	d, out := e.timed(b, []string{e.jail.Bin, "judge", "--profile", "cpp", t.src, "--tests", t.tests, "--json"}, "")
	var res struct {
		Verdict string `json:"verdict"`
		Compile []struct {
			WallTime float64 `json:"wall_time"`
		} `json:"compile"`
		Tests []struct {
			Verdict string `json:"verdict"`
		} `json:"tests"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		b.Fatalf("jail judge --json: %v\n%s", err, out)
	}
	if res.Verdict != "OK" || len(res.Tests) != len(t.names) {
		b.Fatalf("jail judge: verdict %s with %d tests, want OK with %d", res.Verdict, len(res.Tests), len(t.names))
	}
	for _, c := range res.Compile {
		compile += time.Duration(c.WallTime * float64(time.Second))
	}
	return d, compile
}

// runCompile is the Judge0-like baseline on one test: compile and run.
func (e *env) runCompile(b *testing.B, t *judgeTask, name string) time.Duration {
	b.Helper()
	d, out := e.timed(b, []string{e.jail.Bin, "run", "--profile", "cpp", "--", t.src}, filepath.Join(t.tests, name+".in"))
	if want := t.answer(b, name); out != want {
		b.Fatalf("jail run --profile cpp on test %s printed %q, want %q", name, out, want)
	}
	return d
}

// runPrebuilt is the fairer baseline on one test: run the program
// compiled beforehand.
func (e *env) runPrebuilt(b *testing.B, t *judgeTask, name string) time.Duration {
	b.Helper()
	argv := append([]string{e.jail.Bin, "run", "-v", t.dir + ":/box:ro", "-w", "/box"}, cppRunLimits...)
	d, out := e.timed(b, append(argv, "--", "/box/prog"), filepath.Join(t.tests, name+".in"))
	if want := t.answer(b, name); out != want {
		b.Fatalf("jail run /box/prog on test %s printed %q, want %q", name, out, want)
	}
	return d
}

func BenchmarkJudge(b *testing.B) {
	e := newEnv(b)
	if _, err := exec.LookPath("g++"); err != nil {
		testutil.Skip(b, "no g++ (apt-get install g++): the cpp profile and the baseline need it")
	}
	type row struct {
		n                                             int
		total, compile, judge, tests, runCompile, run float64 // ms
		rounds, runCompileSamples, runSamples         int
	}
	var rows []row
	loadBefore := loadAvg()
	for _, n := range judgeSizes {
		b.Run(fmt.Sprintf("tests=%d", n), func(b *testing.B) {
			t := newJudgeTask(b, e, n)
			sample := t.names[:min(judgeSample, n)]
			// Warm the page cache, g++ and the binary before timing.
			e.judgeOnce(b, t)
			e.runCompile(b, t, t.names[0])
			e.runPrebuilt(b, t, t.names[0])
			var totals, compiles, testsOnly, withCompile, prebuilt []time.Duration
			ways := []func(){
				func() {
					d, c := e.judgeOnce(b, t)
					totals, compiles = append(totals, d), append(compiles, c)
					testsOnly = append(testsOnly, (d-c)/time.Duration(n))
				},
				func() {
					for _, name := range sample {
						withCompile = append(withCompile, e.runCompile(b, t, name))
					}
				},
				func() {
					for _, name := range t.names {
						prebuilt = append(prebuilt, e.runPrebuilt(b, t, name))
					}
				},
			}
			round := 0
			for b.Loop() {
				for k := range ways {
					ways[(round+k)%len(ways)]()
				}
				round++
			}
			r := row{
				n: n, total: ms(median(totals)), compile: ms(median(compiles)), tests: ms(median(testsOnly)),
				runCompile: ms(median(withCompile)), run: ms(median(prebuilt)),
				rounds: round, runCompileSamples: len(withCompile), runSamples: len(prebuilt),
			}
			r.judge = r.total / float64(n)
			b.ReportMetric(r.total, "judge-total-ms")
			b.ReportMetric(r.judge, "judge-ms/test")
			b.ReportMetric(r.compile, "judge-compile-ms")
			b.ReportMetric(r.tests, "judge-tests-ms/test")
			b.ReportMetric(r.runCompile, "run-compile-ms/test")
			b.ReportMetric(r.run, "run-ms/test")
			b.ReportMetric(r.runCompile/r.judge, "x-run-compile")
			b.ReportMetric(r.run/r.judge, "x-run")
			b.ReportMetric(r.run/r.tests, "x-run-tests")
			rows = append(rows, r)
		})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\n| tests | judge total ms | judge compile ms | judge ms/test | judge ms/test after the compile | jail run + compile ms/test | jail run ms/test | run+compile ÷ judge | run ÷ judge | run ÷ judge after the compile |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %d | %.1f | %.1f | %.2f | %.2f | %.1f | %.2f | %.1f× | %.2f× | %.2f× |\n",
			r.n, r.total, r.compile, r.judge, r.tests, r.runCompile, r.run, r.runCompile/r.judge, r.run/r.judge, r.run/r.tests)
	}
	var notes []string
	for _, r := range rows {
		notes = append(notes, fmt.Sprintf("%d tests: %d rounds, %d runs with compile, %d without", r.n, r.rounds, r.runCompileSamples, r.runSamples))
	}
	fmt.Printf("\nMedians; %s. Load average (1 min) %s before, %s after.\n", strings.Join(notes, "; "), loadBefore, loadAvg())
}

// loadAvg is the 1-minute load average, for the table's context: on a
// shared machine it says how much else was running.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
