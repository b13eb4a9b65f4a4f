package main_test

// `jail judge` end to end as an ordinary user: solutions in every compiled
// and interpreted language over one tests directory, an interactive
// problem, checker programs, the built-in checks, --stop-on-fail, the
// errors for tasks that cannot be judged, and the judge's temporary files.

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/profiles"
)

// judgeResult is the part of `jail judge --json` the tests look at.
type judgeResult struct {
	Verdict string `json:"verdict"`
	Compile []struct {
		Step    string `json:"step"`
		Verdict string `json:"verdict"`
		Output  *struct {
			Text string `json:"text"`
		} `json:"output"`
	} `json:"compile"`
	Tests   []judgeTest `json:"tests"`
	Passed  int         `json:"passed"`
	Skipped int         `json:"skipped"`
	Total   int         `json:"total"`
}

type judgeTest struct {
	Name     string   `json:"name"`
	Verdict  string   `json:"verdict"`
	Message  string   `json:"message"`
	Score    *float64 `json:"score"`
	ExitCode int      `json:"exit_code"`
	Signal   string   `json:"signal"`
	LimitHit string   `json:"limit_hit"`
	Output   struct {
		Text string `json:"text"`
	} `json:"output"`
	Stderr struct {
		Text string `json:"text"`
	} `json:"stderr"`
	Transcript *struct {
		Text string `json:"text"`
	} `json:"transcript"`
	Error   string `json:"error"`
	PoolHit *bool  `json:"pool_hit"`
}

// verdicts lists the tests' verdicts as NAME:VERDICT, in order.
func (r *judgeResult) verdicts() []string {
	var out []string
	for _, t := range r.Tests {
		out = append(out, t.Name+":"+t.Verdict)
	}
	return out
}

// judgeJSON runs `jail judge --json` and parses its result, which it must
// print whatever the verdict.
func judgeJSON(t *testing.T, j *testutil.Jail, o testutil.Opts, args ...string) (testutil.Result, *judgeResult) {
	t.Helper()
	r := j.RunWith(t, o, append([]string{"judge", "--json"}, args...)...)
	var res judgeResult
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), "%s", r)
	return r, &res
}

// writeTests writes a tests directory of NAME.in and NAME.out files, from
// pairs of input and answer by name.
func writeTests(t *testing.T, j *testutil.Jail, dir string, tests map[string][2]string) string {
	t.Helper()
	for name, io := range tests {
		j.Fixture(t, dir+"/"+name+".in", io[0], 0o644)
		j.Fixture(t, dir+"/"+name+".out", io[1], 0o644)
	}
	return j.FixtureDir(t, dir)
}

// needProfile skips (or fails, under MustWork) unless the host has the
// language's toolchain.
func needProfile(t *testing.T, name string) {
	t.Helper()
	p, err := profiles.Builtin(name)
	require.NoError(t, err)
	if missing := p.Missing(p.HostLookPath()); len(missing) > 0 {
		testutil.Skip(t, "profile %s needs %v on this host", name, missing)
	}
}

// The doubling problem: print twice the number read. Every solution below
// answers 1 and 2 right, 5 wrong (one too many), loops forever on 7 and
// crashes on 8.
var doubling = map[string][2]string{
	"1": {"1\n", "2\n"}, "2": {"2\n", "4\n"}, "5": {"5\n", "10\n"}, "7": {"7\n", "14\n"}, "8": {"8\n", "16\n"},
}

const doublingPy = `n = int(input())
if n == 7:
    while True:
        pass
if n == 8:
    print(1 // 0)
print(n * 2 + (1 if n == 5 else 0))
`

// tightLimits keep a TLE short; the wall clock leaves room for a JVM's
// start on a loaded machine.
var tightLimits = []string{"--time", "1s", "--wall", "3s"}

// cpuLimits are for a test that must end at the CPU limit: a busy loop
// reaches 1 s of CPU long before 20 s of wall time even when it gets a
// sixth of a CPU on a loaded machine.
var cpuLimits = []string{"--time", "1s", "--wall", "20s"}

type judgeLanguage struct {
	profile, good, broken string
	// crash is the verdict, exit code and signal of test 8.
	crash       string
	crashExit   int
	crashSignal string
	// brokenVerdict is CE, or RE where the syntax error shows only at
	// run time (python3 has no compile step).
	brokenVerdict   string
	brokenComplaint string // in the compiler's or interpreter's output
}

var judgeLanguages = []judgeLanguage{
	{profile: "cpp", good: `#include <cstdio>
int main() {
	long long n;
	if (scanf("%lld", &n) != 1) return 3;
	if (n == 7) { volatile long long x = 0; for (;;) x++; }
	if (n == 8) { volatile int *p = nullptr; *p = 1; }
	printf("%lld\n", n * 2 + (n == 5));
}
`, broken: "int main() { return undefined; }\n",
		crash: "SIG", crashExit: 139, crashSignal: "SIGSEGV", brokenVerdict: "CE", brokenComplaint: "undefined"},
	{profile: "python3", good: doublingPy, broken: "print('unclosed'\n",
		crash: "RE", crashExit: 1, brokenVerdict: "RE", brokenComplaint: "SyntaxError"},
	{profile: "java", good: `import java.util.Scanner;
public class Main {
	public static void main(String[] a) {
		long n = new Scanner(System.in).nextLong();
		if (n == 7) { long x = 0; while (true) { x++; } }
		if (n == 8) { throw new IllegalStateException("crash on 8"); }
		System.out.println(n * 2 + (n == 5 ? 1 : 0));
	}
}
`, broken: "public class Main { public static void main(String[] a) { undefined(); } }\n",
		crash: "RE", crashExit: 1, brokenVerdict: "CE", brokenComplaint: "cannot find symbol"},
	{profile: "go", good: `package main

import "fmt"

func main() {
	var n int64
	fmt.Scan(&n)
	if n == 7 {
		for {
		}
	}
	if n == 8 {
		panic("crash on 8")
	}
	d := int64(0)
	if n == 5 {
		d = 1
	}
	fmt.Println(n*2 + d)
}
`, broken: "package main\nfunc main() { undefined() }\n",
		crash: "RE", crashExit: 2, brokenVerdict: "CE", brokenComplaint: "undefined: undefined"},
}

// TestJudgeLanguages judges one solution per language that passes two
// tests, fails one, times out on one and crashes on one, and one that does
// not compile. The languages run one after the other: Go's build alone
// keeps both cores of a small machine busy, so running them in parallel
// saves no time and would only starve the other languages' runs.
func TestJudgeLanguages(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	tests := writeTests(t, j, "doubling", doubling)
	for _, lang := range judgeLanguages {
		t.Run(lang.profile, func(t *testing.T) {
			needProfile(t, lang.profile)
			good := j.Fixture(t, lang.profile+"/good.src", lang.good, 0o644)
			r, res := judgeJSON(t, j, testutil.Opts{}, append([]string{"--profile", lang.profile, good, "--tests", tests}, cpuLimits...)...)
			assert.Equal(t, 1, r.ExitCode, "%s", r)
			assert.Equal(t, "WA", res.Verdict, "the first failure decides: %s", r)
			assert.Equal(t, []string{"1:OK", "2:OK", "5:WA", "7:TLE", "8:" + lang.crash}, res.verdicts(), "%s", r)
			assert.Equal(t, 2, res.Passed)
			assert.Equal(t, 5, res.Total)
			assert.Zero(t, res.Skipped)
			if lang.brokenVerdict == "CE" {
				require.Len(t, res.Compile, 1, "%s", r)
				assert.Equal(t, "OK", res.Compile[0].Verdict)
			} else {
				assert.Empty(t, res.Compile, "an interpreted language has no compile step")
			}
			if len(res.Tests) == 5 {
				assert.Equal(t, "2\n", res.Tests[0].Output.Text)
				assert.Contains(t, res.Tests[2].Message, `expected "10", got "11"`)
				assert.Equal(t, "time", res.Tests[3].LimitHit, "%+v", res.Tests[3])
				assert.Equal(t, lang.crashExit, res.Tests[4].ExitCode, "%+v", res.Tests[4])
				assert.Equal(t, lang.crashSignal, res.Tests[4].Signal, "%+v", res.Tests[4])
			}

			broken := j.Fixture(t, lang.profile+"/broken.src", lang.broken, 0o644)
			if lang.brokenVerdict == "CE" {
				// The text output: the compiler's complaint, then the summary.
				r := j.Run(t, append([]string{"judge", "--profile", lang.profile, broken, "--tests", tests}, tightLimits...)...)
				assert.Equal(t, 1, r.ExitCode, "%s", r)
				assert.Contains(t, r.Stdout, lang.brokenComplaint)
				lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
				assert.Equal(t, "CE: 0/5 passed, 5 not run", lines[len(lines)-1], "%s", r)
				return
			}
			// Without a compile step the syntax error shows when each
			// test runs.
			r, res = judgeJSON(t, j, testutil.Opts{}, append([]string{"--profile", lang.profile, broken, "--tests", tests}, tightLimits...)...)
			assert.Equal(t, 1, r.ExitCode, "%s", r)
			assert.Equal(t, lang.brokenVerdict, res.Verdict)
			assert.Equal(t, []string{"1:RE", "2:RE", "5:RE", "7:RE", "8:RE"}, res.verdicts(), "%s", r)
			if len(res.Tests) > 0 {
				assert.Contains(t, res.Tests[0].Stderr.Text, lang.brokenComplaint)
			}
		})
	}
}

// The guessing game: the interactor reads the secret from the test's
// input, says the upper bound, and answers each guess with -1 (the secret
// is smaller), 1 (larger) or 0 (found), ten guesses at most; testlib's
// exit codes give the verdict.
const guessInteractor = `import sys
secret = int(open(sys.argv[1]).read())
print(100, flush=True)
for q in range(1, 11):
    line = sys.stdin.readline()
    if not line:
        sys.stderr.write("no guess after %d queries\n" % (q - 1))
        sys.exit(1)
    try:
        g = int(line)
    except ValueError:
        sys.stderr.write("not a number: %r\n" % line)
        sys.exit(2)
    if g == secret:
        print(0, flush=True)
        sys.stderr.write("found %d in %d guesses\n" % (secret, q))
        sys.exit(0)
    print(1 if secret > g else -1, flush=True)
sys.stderr.write("too many guesses\n")
sys.exit(1)
`

const guessSearch = `hi = int(input())
lo = 1
while True:
    m = (lo + hi) // 2
    print(m, flush=True)
    r = int(input())
    if r == 0:
        break
    if r > 0:
        lo = m + 1
    else:
        hi = m - 1
`

func TestJudgeInteractive(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	j := testutil.New(t)
	tests := j.FixtureDir(t, "guess")
	j.Fixture(t, "guess/1.in", "37\n", 0o644)
	j.Fixture(t, "guess/2.in", "100\n", 0o644)
	inter := j.Fixture(t, "guess-interactor/interactor.py", guessInteractor, 0o644)
	sol := func(name, src string) string { return j.Fixture(t, "guess-"+name+"/sol.py", src, 0o644) }
	judge := func(src string, flags ...string) (testutil.Result, *judgeResult) {
		t.Helper()
		args := append([]string{"--profile", "python3", src, "--tests", tests, "--interactor", inter}, tightLimits...)
		return judgeJSON(t, j, testutil.Opts{}, append(args, flags...)...)
	}

	t.Run("correct", func(t *testing.T) {
		r, res := judge(sol("correct", guessSearch), "--transcript")
		assert.Equal(t, 0, r.ExitCode, "%s", r)
		assert.Equal(t, "OK", res.Verdict)
		assert.Equal(t, []string{"1:OK", "2:OK"}, res.verdicts(), "%s", r)
		require.Len(t, res.Tests, 2)
		assert.Equal(t, "found 37 in 3 guesses", res.Tests[0].Message)
		assert.Equal(t, "50\n25\n37\n", res.Tests[0].Output.Text, "PROG's side of the interaction is its output")
		require.NotNil(t, res.Tests[0].Transcript, "%s", r)
		assert.Equal(t, "< 100\n> 50\n< -1\n> 25\n< 1\n> 37\n< 0\n", res.Tests[0].Transcript.Text)
	})
	t.Run("wrong", func(t *testing.T) {
		r, res := judge(sol("wrong", "input()\nfor _ in range(10):\n    print(1, flush=True)\n    input()\n"))
		assert.Equal(t, 1, r.ExitCode, "%s", r)
		assert.Equal(t, []string{"1:WA", "2:WA"}, res.verdicts(), "%s", r)
		require.Len(t, res.Tests, 2)
		assert.Equal(t, "too many guesses", res.Tests[0].Message)
		assert.Nil(t, res.Tests[0].Transcript, "no transcript unless asked for")
	})
	t.Run("silent", func(t *testing.T) {
		r, res := judge(sol("silent", "pass\n"))
		assert.Equal(t, 1, r.ExitCode, "%s", r)
		assert.Equal(t, []string{"1:WA", "2:WA"}, res.verdicts(), "%s", r)
		require.Len(t, res.Tests, 2)
		assert.Equal(t, "no guess after 0 queries", res.Tests[0].Message)
	})
	t.Run("hanging", func(t *testing.T) {
		// It waits for a reply to a guess it never made: both sides wait
		// until the wall limit kills PROG. The interactor then sees the
		// end of PROG's output and says WA, which must not hide the TLE
		// nor turn it into the interactor's failure (XX).
		r, res := judge(sol("hanging", "input()\ninput()\n"), "--stop-on-fail")
		assert.Equal(t, 1, r.ExitCode, "%s", r)
		assert.Equal(t, "TLE", res.Verdict, "%s", r)
		assert.Equal(t, []string{"1:TLE"}, res.verdicts(), "%s", r)
		assert.Equal(t, 1, res.Skipped)
		require.Len(t, res.Tests, 1)
		assert.Equal(t, "wall", res.Tests[0].LimitHit)
		assert.Empty(t, res.Tests[0].Error)
	})
	t.Run("interactor crashes", func(t *testing.T) {
		crash := j.Fixture(t, "guess-crash/interactor.py", "import os\nprint(100, flush=True)\nos.abort()\n", 0o644)
		r, res := judgeJSON(t, j, testutil.Opts{}, "--profile", "python3", sol("vs-crash", guessSearch), "--tests", tests, "--interactor", crash)
		assert.Equal(t, 2, r.ExitCode, "the interactor's failure is not PROG's: %s", r)
		assert.Equal(t, []string{"1:XX", "2:XX"}, res.verdicts(), "%s", r)
		require.NotEmpty(t, res.Tests)
		assert.Contains(t, res.Tests[0].Message, "interactor killed by signal 6")
	})
}

// TestJudgeCheckers runs checker programs: one that crashes, a C++ one
// that includes a header beside it, and one that awards points.
func TestJudgeCheckers(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	j := testutil.New(t)
	tests := writeTests(t, j, "checked", map[string][2]string{"1": doubling["1"], "2": doubling["2"], "5": doubling["5"]})
	sol := j.Fixture(t, "checked-sol.py", doublingPy, 0o644)
	judge := func(checker string) (testutil.Result, *judgeResult) {
		t.Helper()
		return judgeJSON(t, j, testutil.Opts{}, append([]string{"--profile", "python3", sol, "--tests", tests, "--check", checker}, tightLimits...)...)
	}

	t.Run("crashes", func(t *testing.T) {
		chk := j.Fixture(t, "crash/checker.py", "import os\nos.abort()\n", 0o644)
		r, res := judge(chk)
		assert.Equal(t, 2, r.ExitCode, "a checker's failure is XX: %s", r)
		assert.Equal(t, "XX", res.Verdict)
		assert.Equal(t, []string{"1:XX", "2:XX", "5:XX"}, res.verdicts(), "%s", r)
		require.NotEmpty(t, res.Tests)
		assert.Contains(t, res.Tests[0].Message, "checker killed by signal 6")
	})
	t.Run("cpp with header", func(t *testing.T) {
		needProfile(t, "cpp")
		j.Fixture(t, "cppchk/mylib.h", `#pragma once
#include <cstdio>
#include <cstdlib>
inline long long read_one(const char *path) {
	FILE *f = fopen(path, "r");
	long long v;
	if (!f || fscanf(f, "%lld", &v) != 1) { fprintf(stderr, "cannot read %s\n", path); exit(3); }
	fclose(f);
	return v;
}
`, 0o644)
		chk := j.Fixture(t, "cppchk/chk.cpp", `#include "mylib.h"
int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: chk INPUT OUTPUT ANSWER\n"); return 3; }
	long long in = read_one(argv[1]), out = read_one(argv[2]), ans = read_one(argv[3]);
	if (out != ans) { fprintf(stderr, "input %lld: expected %lld, got %lld\n", in, ans, out); return 1; }
	fprintf(stderr, "ok %lld\n", out);
	return 0;
}
`, 0o644)
		r, res := judge(chk)
		assert.Equal(t, 1, r.ExitCode, "%s", r)
		assert.Equal(t, []string{"1:OK", "2:OK", "5:WA"}, res.verdicts(), "%s", r)
		require.Len(t, res.Tests, 3)
		assert.Equal(t, "ok 2", res.Tests[0].Message)
		assert.Equal(t, "input 5: expected 10, got 11", res.Tests[2].Message)
	})
	t.Run("points", func(t *testing.T) {
		chk := j.Fixture(t, "points/checker.py", "import sys\nsys.stderr.write('points 0.5 half\\n')\nsys.exit(7)\n", 0o644)
		r, res := judge(chk)
		assert.Equal(t, 0, r.ExitCode, "partial points pass: %s", r)
		assert.Equal(t, "PT", res.Verdict)
		assert.Equal(t, []string{"1:PT", "2:PT", "5:PT"}, res.verdicts(), "%s", r)
		require.NotEmpty(t, res.Tests)
		require.NotNil(t, res.Tests[0].Score, "%s", r)
		assert.Equal(t, 0.5, *res.Tests[0].Score)
		assert.Equal(t, "half", res.Tests[0].Message)
	})
}

// TestJudgeBuiltinChecks proves --check reaches each built-in checker: the
// solution echoes its input, so each test's input is the output checked
// against its answer.
func TestJudgeBuiltinChecks(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	j := testutil.New(t)
	tests := writeTests(t, j, "echo", map[string][2]string{
		"a": {"1 2\n", "1 2  \n"},            // trailing blanks
		"b": {"1\n2\n", "1 2\n"},             // the same tokens, other lines
		"c": {"0.3333333\n", "0.33333333\n"}, // a number within 1e-6
		"d": {"3\n", "4\n"},                  // wrong for everyone
		"e": {"x  y\r\n\n", "x  y\r\n\n"},    // equal bytes
	})
	sol := j.Fixture(t, "echo.py", "import sys\nsys.stdout.write(sys.stdin.read())\n", 0o644)
	for _, c := range []struct {
		check    string
		verdicts []string
	}{
		{"exact", []string{"a:PE", "b:PE", "c:WA", "d:WA", "e:OK"}},
		{"lines", []string{"a:OK", "b:PE", "c:WA", "d:WA", "e:OK"}},
		{"tokens", []string{"a:OK", "b:OK", "c:WA", "d:WA", "e:OK"}},
		{"float:1e-6", []string{"a:OK", "b:OK", "c:OK", "d:WA", "e:OK"}},
		{"", []string{"a:OK", "b:OK", "c:WA", "d:WA", "e:OK"}}, // tokens by default
	} {
		t.Run(cmp.Or(c.check, "default"), func(t *testing.T) {
			args := []string{"--profile", "python3", sol, "--tests", tests}
			if c.check != "" {
				args = append(args, "--check", c.check)
			}
			r, res := judgeJSON(t, j, testutil.Opts{}, args...)
			assert.Equal(t, 1, r.ExitCode, "%s", r)
			assert.Equal(t, c.verdicts, res.verdicts(), "%s", r)
		})
	}
}

func TestJudgeStopOnFail(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	j := testutil.New(t)
	tests := writeTests(t, j, "doubling", doubling)
	sol := j.Fixture(t, "sol.py", doublingPy, 0o644)
	args := append([]string{"--profile", "python3", sol, "--tests", tests, "--stop-on-fail"}, tightLimits...)

	r, res := judgeJSON(t, j, testutil.Opts{}, args...)
	assert.Equal(t, 1, r.ExitCode, "%s", r)
	assert.Equal(t, []string{"1:OK", "2:OK", "5:WA"}, res.verdicts(), "the tests after the first failure do not run: %s", r)
	assert.Equal(t, 2, res.Passed)
	assert.Equal(t, 2, res.Skipped)
	assert.Equal(t, 5, res.Total)

	r = j.Run(t, append([]string{"judge"}, args...)...)
	assert.Equal(t, 1, r.ExitCode, "%s", r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 4, "a line per test run and the summary: %s", r)
	for i, want := range []string{"1 OK", "2 OK", "5 WA"} {
		assert.Equal(t, strings.Fields(want), strings.Fields(lines[i])[:2], "line %q", lines[i])
	}
	assert.Contains(t, lines[2], `expected "10", got "11"`)
	assert.Equal(t, "WA on test 5: 2/5 passed, 2 not run", lines[3])
}

// TestJudgeBadInput checks that a task that cannot be judged is one error
// line naming what is wrong, and exit status 125.
func TestJudgeBadInput(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	j := testutil.New(t)
	sol := j.Fixture(t, "sol.py", doublingPy, 0o644)
	good := writeTests(t, j, "good", map[string][2]string{"1": doubling["1"]})

	noAnswer := writeTests(t, j, "noanswer", map[string][2]string{"1": doubling["1"]})
	j.Fixture(t, "noanswer/2.in", "2\n", 0o644)
	unreadable := writeTests(t, j, "unreadable", map[string][2]string{"1": doubling["1"], "2": doubling["2"]})
	// jail runs as the test user, whom mode 000 keeps out even as owner.
	require.NoError(t, os.Chmod(filepath.Join(unreadable, "2.out"), 0))
	badChecker := j.Fixture(t, "badchk/chk.cpp", "int main() { return undefined_in_checker; }\n", 0o644)

	for _, c := range []struct {
		name string
		args []string
		want []string // in the error line
	}{
		{"answer missing", []string{"--tests", noAnswer}, []string{filepath.Join(noAnswer, "2.in"), "no answer", "2.out"}},
		{"unreadable", []string{"--tests", unreadable}, []string{filepath.Join(unreadable, "2.out"), "permission denied"}},
		{"checker does not compile", []string{"--tests", good, "--check", badChecker},
			[]string{"checker " + badChecker, "does not compile", "undefined_in_checker"}},
		{"interactor missing", []string{"--tests", good, "--interactor", filepath.Join(j.Dir, "no-such-interactor.py")},
			[]string{"interactor " + filepath.Join(j.Dir, "no-such-interactor.py"), "no such file"}},
		{"no --tests", nil, []string{"--tests"}},
		{"tests directory missing", []string{"--tests", filepath.Join(j.Dir, "no-such-tests")},
			[]string{filepath.Join(j.Dir, "no-such-tests"), "no such file"}},
		{"unknown check", []string{"--tests", good, "--check", "tokenz"},
			[]string{"--check", `unknown check "tokenz"`, "exact, lines, tokens or float:EPS"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "checker does not compile" {
				needProfile(t, "cpp")
			}
			r := j.Run(t, append([]string{"judge", "--profile", "python3", sol}, c.args...)...)
			assert.Equal(t, 125, r.ExitCode, "%s", r)
			assert.Empty(t, r.Stdout, "no result for a task not judged")
			msg := strings.TrimSuffix(r.Stderr, "\n")
			assert.NotContains(t, msg, "\n", "one line")
			assert.True(t, strings.HasPrefix(msg, "jail: "), "%q", msg)
			for _, w := range c.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

// TestJudgeLeavesNothingBehind runs the judge with its own TMPDIR, where
// it keeps outputs, work directories and compiled helpers, and checks that
// each kind of run empties it again.
func TestJudgeLeavesNothingBehind(t *testing.T) {
	testutil.NeedUserNS(t)
	needProfile(t, "python3")
	needProfile(t, "cpp")
	j := testutil.New(t)
	doublingTests := writeTests(t, j, "doubling", map[string][2]string{"1": doubling["1"], "2": doubling["2"]})
	guess := j.FixtureDir(t, "guess")
	j.Fixture(t, "guess/1.in", "37\n", 0o644)
	sol := j.Fixture(t, "sol.py", doublingPy, 0o644)
	broken := j.Fixture(t, "broken.cpp", "int main() { return undefined; }\n", 0o644)
	// A compiled checker: its build leaves a work directory too.
	checker := j.Fixture(t, "chk/chk.cpp", `#include <cstdio>
int main(int argc, char **argv) {
	long long got, want;
	FILE *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
	if (argc != 4 || !out || !ans || fscanf(ans, "%lld", &want) != 1) return 3;
	return fscanf(out, "%lld", &got) == 1 && got == want ? 0 : 1;
}
`, 0o644)
	badChecker := j.Fixture(t, "badchk/chk.cpp", "int main() { return undefined; }\n", 0o644)
	inter := j.Fixture(t, "interactor.py", guessInteractor, 0o644)
	search := j.Fixture(t, "search.py", guessSearch, 0o644)

	for _, c := range []struct {
		name string
		exit int
		args []string
	}{
		{"passing", 0, []string{"--profile", "python3", sol, "--tests", doublingTests, "--check", checker}},
		{"CE", 1, []string{"--profile", "cpp", broken, "--tests", doublingTests}},
		{"interactive", 0, []string{"--profile", "python3", search, "--tests", guess, "--interactor", inter, "--transcript"}},
		{"bad input", 125, []string{"--profile", "python3", sol, "--tests", doublingTests, "--check", badChecker}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := j.FixtureDir(t, "tmp-"+strings.ReplaceAll(c.name, " ", "-"))
			r := j.RunWith(t, testutil.Opts{Env: []string{"TMPDIR=" + tmp}}, append([]string{"judge"}, c.args...)...)
			require.Equal(t, c.exit, r.ExitCode, "%s", r)
			ents, err := os.ReadDir(tmp)
			require.NoError(t, err)
			var left []string
			for _, e := range ents {
				left = append(left, e.Name())
			}
			assert.Empty(t, left, "left in TMPDIR")
		})
	}
}
