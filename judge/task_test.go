package judge

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

// runResult is the sandbox's result of a run that ended as o says.
func runResult(o verdict.Outcome, reason, limitHit string) *sandbox.Result {
	return &sandbox.Result{Verdict: verdict.Decide(o), Outcome: o, Reason: reason, LimitHit: limitHit}
}

func TestNewTestResult(t *testing.T) {
	ok := verdict.Outcome{Exited: true}
	tle := verdict.Outcome{WallKilled: true, Signal: syscall.SIGKILL}
	tests := []struct {
		name            string
		run             *sandbox.Result
		rd              *Reading
		verdict         verdict.Verdict
		message, reason string
		limitHit        string
		score           *float64
	}{
		{name: "accepted", run: runResult(ok, "", ""), rd: &Reading{Verdict: verdict.OK}, verdict: verdict.OK},
		{name: "wrong answer with the checker's words", run: runResult(ok, "", ""),
			rd: &Reading{Verdict: verdict.WA, Message: "line 2 differs"}, verdict: verdict.WA, message: "line 2 differs"},
		{name: "points carry the score", run: runResult(ok, "", ""),
			rd: &Reading{Verdict: verdict.PT, Score: 0.5, Message: "half"}, verdict: verdict.PT, message: "half", score: ptr(0.5)},
		{name: "checker failure is XX with its message", run: runResult(ok, "", ""),
			rd: &Reading{Verdict: verdict.XX, Message: "checker failed: bad test"}, verdict: verdict.XX, message: "checker failed: bad test"},
		{name: "not checked: the run's verdict and reason", run: runResult(tle, "wall-clock limit of 1s reached", "wall"),
			verdict: verdict.TLE, reason: "wall-clock limit of 1s reached", limitHit: "wall"},
		{name: "PROG's limit beats the interactor's reading, whose words are dropped", run: runResult(tle, "wall-clock limit of 1s reached", "wall"),
			rd: &Reading{Verdict: verdict.WA, Message: "stopped after 0 queries"}, verdict: verdict.TLE, reason: "wall-clock limit of 1s reached", limitHit: "wall"},
		{name: "the interactor's WA explains PROG's crash; the crash's reason goes", run: runResult(verdict.Outcome{Signal: syscall.SIGPIPE}, "", ""),
			rd: &Reading{Verdict: verdict.WA, Message: "wrong guess"}, verdict: verdict.WA, message: "wrong guess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestResult("1", tt.run, tt.rd)
			assert.Equal(t, tt.verdict, tr.Verdict)
			assert.Equal(t, tt.message, tr.Message)
			assert.Equal(t, tt.reason, tr.Reason)
			assert.Equal(t, tt.limitHit, tr.LimitHit)
			assert.Equal(t, tt.score, tr.Score)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTaskValidate(t *testing.T) {
	tests := []TestCase{{Name: "1", Input: "t/1.in", Answer: "t/1.out"}}
	noAnswer := []TestCase{{Name: "1", Input: "t/1.in"}}
	cases := []struct {
		name string
		task Task
		want string
	}{
		{name: "tests and a built-in check", task: Task{Tests: tests}},
		{name: "one stdin", task: Task{}},
		{name: "interactor without answers", task: Task{Tests: noAnswer, Interactor: &Helper{Path: "i.py"}}},
		{name: "checker and interactor", task: Task{Tests: tests, Checker: &Helper{Path: "c"}, Interactor: &Helper{Path: "i"}},
			want: "an interactor decides the verdict itself: drop the checker"},
		{name: "interactor without tests", task: Task{Interactor: &Helper{Path: "i"}},
			want: "an interactor needs tests"},
		{name: "checker without tests", task: Task{Checker: &Helper{Path: "c"}},
			want: "a checker needs tests"},
		{name: "a test without its answer", task: Task{Tests: noAnswer},
			want: "t/1.in: no answer: add 1.out or 1.ans"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.task.validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestCheckFileName(t *testing.T) {
	for _, name := range []string{"main.cpp", "Main.java", "a-b_c.1"} {
		assert.NoError(t, CheckFileName(name), name)
	}
	for name, want := range map[string]string{
		"": "not a file name", ".": "not a file name", "..": "not a file name",
		"../x": "may not contain '/'", "a/b": "may not contain '/'", "a\x00b": "NUL",
		".hidden": "may not start with '.'", strings.Repeat("x", 256): "at most 255 bytes",
	} {
		assert.ErrorContains(t, CheckFileName(name), want, "%q", name)
	}
}

func TestStepNames(t *testing.T) {
	assert.Equal(t, "run", stepName(0, 1))
	assert.Equal(t, []string{"compile", "run"}, []string{stepName(0, 2), stepName(1, 2)})
	assert.Equal(t, []string{"compile 1", "compile 2", "run"}, []string{stepName(0, 3), stepName(1, 3), stepName(2, 3)})
}

// Raw steps run in one work directory: with the default profile, whose
// working directory is the root, that is /box, and the steps start there.
func TestRawStepsSpecs(t *testing.T) {
	p := Program{Steps: []Step{
		{Argv: []string{"cc", "-o", "prog", "main.c"}, Limits: limits.Spec{Memory: 512 << 20}},
		{Argv: []string{"./prog"}},
	}, Settings: profiles.Overrides{Limits: limits.Spec{Pids: 8}}, CompileLimits: limits.Spec{Pids: 32}}
	names, specs, err := p.Specs([]string{"arg"})
	require.NoError(t, err)
	assert.Equal(t, []string{"compile", "run"}, names)
	assert.Equal(t, []string{"cc", "-o", "prog", "main.c", "arg"}, specs[0].Argv)
	assert.Equal(t, []string{"./prog", "arg"}, specs[1].Argv)
	for _, s := range specs {
		assert.Equal(t, WorkDir, s.Dir)
	}
	assert.Equal(t, int64(512<<20), specs[0].Limits.Memory, "a step's own limits")
	assert.Equal(t, int64(32), specs[0].Limits.Pids, "the compile limits on the compile step")
	assert.Equal(t, int64(8), specs[1].Limits.Pids, "the run limits on the run step")

	_, _, err = Program{Steps: []Step{{}}}.Specs(nil)
	assert.ErrorContains(t, err, "steps[0].argv: empty")
}
