package judge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"jail/field"
	"jail/limits"
	"jail/pool"
	"jail/sandbox"
	"jail/verdict"
)

// Task is one judging request: a program, built once, then run on one
// input or on every test, each run in its own fresh sandbox.
type Task struct {
	Program Program
	// Stdin is the one input of a task without tests; nil is empty.
	Stdin *os.File
	Tests []TestCase
	// Check is the built-in checker, used when Checker is nil.
	Check Check
	// Checker is a checker program, run as `checker INPUT OUTPUT ANSWER`
	// in its own sandbox after every run that ended OK.
	Checker *Helper
	// Interactor runs beside PROG on every test, in its own sandbox, as
	// `interactor INPUT OUTPUT`, with PROG's stdout as its stdin and its
	// stdout as PROG's stdin; its exit code decides, as a checker's does.
	Interactor *Helper
	// Transcript keeps both directions of an interaction, capped.
	Transcript bool
	// StopOnFail ends the task at the first test that does not pass.
	StopOnFail bool
	// Events, when set, is told of the task's progress as it happens,
	// from the goroutine that called Judge.
	Events func(Event)
	// Output, when set, gets PROG's output as it comes, stream by
	// stream ("stdout", "stderr"), from other goroutines, each chunk
	// once; the results still hold their excerpts.
	Output func(stream string, chunk []byte)
	// Signals are delivered to PROG while the one run of a task without
	// tests runs (a playground's ^C).
	Signals <-chan syscall.Signal
	// TTY gives the one run of a task without tests a terminal (see
	// terminalRun); Resize sets its size.
	TTY    bool
	Resize <-chan Winsize
	// OutputMax is how much of each test's stdout and stderr its result
	// keeps (default OutputExcerpt; RunOutput for a task without tests).
	OutputMax int
	// Collect names files (relative to the work directory, which the one
	// run of a task without tests may then write) to copy out after the
	// run, each at most CollectMax bytes.
	Collect []string
	// Pools, when set, give PROG's runs warm sandboxes of the pool named
	// for the program's profile, when it has one ready that fits; a run
	// that finds none runs cold. Every run's result says which
	// (pool_hit).
	Pools *pool.Pools
}

// Event is a step of a task's progress.
type Event struct {
	Kind EventKind
	// Step names the compile step that starts (EventCompile); Test the
	// test that starts (EventTest); Result is the test's (EventResult).
	Step   string
	Test   string
	Result *TestResult
}

// EventKind says what an Event reports.
type EventKind int

const (
	EventCompile EventKind = iota // a compile step starts
	EventTest                     // a test (or the one run) starts
	EventResult                   // a test's result is decided
)

func (t *Task) emit(e Event) {
	if t.Events != nil {
		t.Events(e)
	}
}

// Result is a task's outcome: the overall verdict, the compile steps, and
// either the one run or one entry per test run, in order.
type Result struct {
	Verdict verdict.Verdict `json:"verdict"`
	Compile []*StepResult   `json:"compile,omitempty"`
	Run     *StepResult     `json:"run,omitempty"`
	Tests   []TestResult    `json:"tests,omitempty"`
	// Passed counts the tests that passed, Skipped those StopOnFail left
	// out, of Total.
	Passed  int `json:"passed"`
	Skipped int `json:"skipped,omitempty"`
	Total   int `json:"total"`
	// LimitBackend, Limits and Isolation are what held for PROG's runs
	// on the tests (every one has the same Spec), from the first of them;
	// a task without tests has them in Run.
	LimitBackend string             `json:"limit_backend,omitempty"`
	Limits       []sandbox.Limit    `json:"limits,omitempty"`
	Isolation    *sandbox.Isolation `json:"isolation,omitempty"`
	// Warnings are every distinct warning of the task's runs, compile
	// steps included, in the order they first came: what of the limits
	// and the isolation this host could not give.
	Warnings []string `json:"warnings,omitempty"`
}

// TestResult is one test's outcome.
type TestResult struct {
	Name    string          `json:"name"`
	Verdict verdict.Verdict `json:"verdict"`
	// Message is the checker's or the interactor's, or where a built-in
	// checker found the first difference; Score is a checker's points.
	Message  string   `json:"message,omitempty"`
	Score    *float64 `json:"score,omitempty"`
	ExitCode int      `json:"exit_code"`
	Signal   string   `json:"signal,omitempty"`
	LimitHit string   `json:"limit_hit,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// CPUTime is user plus system time.
	CPUTime    sandbox.Seconds `json:"cpu_time"`
	WallTime   sandbox.Seconds `json:"wall_time"`
	PeakMemory int64           `json:"peak_memory"`
	// PoolHit and MadeAhead are the run's (sandbox.Result's).
	PoolHit   *bool   `json:"pool_hit,omitempty"`
	MadeAhead bool    `json:"made_ahead,omitempty"`
	Output    Excerpt `json:"output"`
	Stderr    Excerpt `json:"stderr"`
	// Transcript is the interaction, when asked for: each line as PROG
	// ("> ") or the interactor ("< ") wrote it.
	Transcript *Excerpt `json:"transcript,omitempty"`
	// Error is the sandbox's own failure, behind an XX.
	Error string `json:"error,omitempty"`
}

// DefaultOutput bounds each run's output when neither the task nor the
// profile sets an output limit: the judge keeps the output on disk for
// the checker.
const DefaultOutput = 64 << 20

// Judge runs a task: it builds the checker or the interactor, then the
// program, then runs every test (or the one input) in a sandbox of its
// own. The error is for what kept the task from being judged at all (bad
// tests, a checker that does not compile, a sandbox that cannot start);
// what PROG did, compile errors included, is in the Result. Nothing is
// left behind on the host either way.
func Judge(ctx context.Context, r *sandbox.Runner, t Task) (*Result, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	j := &judging{task: t, runner: r}
	defer func() {
		if j.dir != "" {
			os.RemoveAll(j.dir)
		}
	}()
	for _, h := range []struct {
		helper **prepared
		spec   *Helper
		role   string
	}{{&j.checker, t.Checker, "checker"}, {&j.interactor, t.Interactor, "interactor"}} {
		if h.spec == nil {
			continue
		}
		p, err := h.spec.prepare(ctx, r, h.role)
		if err != nil {
			return nil, err
		}
		defer p.build.Close()
		*h.helper = p
	}
	t.Program.onCompile = func(step string) { t.emit(Event{Kind: EventCompile, Step: step}) }
	t.Program.WritableRun = len(t.Collect) > 0
	build, err := t.Program.Prepare(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	defer build.Close()
	j.build = build
	res := &Result{Compile: build.Compile, Total: len(t.Tests)}
	for _, c := range build.Compile {
		res.warn(c.Warnings)
	}
	if build.Failed() {
		res.Verdict = verdict.CE
		res.Skipped = len(t.Tests)
		return res, nil
	}
	if len(t.Tests) == 0 {
		t.emit(Event{Kind: EventTest})
		run, err := j.runOnce(ctx)
		if err != nil {
			return nil, err
		}
		// The run carries its own limits, isolation and warnings.
		res.Run, res.Verdict = run, run.Verdict
		return res, nil
	}
	var verdicts []verdict.Verdict
	for i, test := range t.Tests {
		t.emit(Event{Kind: EventTest, Test: test.Name})
		tr, run, err := j.test(ctx, i, test)
		if err != nil {
			return nil, fmt.Errorf("test %s: %w", test.Name, err)
		}
		if i == 0 {
			res.noteSpec(run)
		}
		res.warn(run.Warnings)
		res.Tests = append(res.Tests, tr)
		verdicts = append(verdicts, tr.Verdict)
		if tr.Verdict.Passed() {
			res.Passed++
		}
		t.emit(Event{Kind: EventResult, Test: test.Name, Result: &tr})
		if err := ctx.Err(); err != nil {
			res.Skipped = len(t.Tests) - i - 1
			break
		}
		if t.StopOnFail && !tr.Verdict.Passed() {
			res.Skipped = len(t.Tests) - i - 1
			break
		}
	}
	res.Verdict = verdict.Overall(verdicts)
	return res, nil
}

// SpellWarnings spells the {field} references of every warning in the
// result by name, as sandbox.Result.SpellWarnings does for one run.
func (r *Result) SpellWarnings(name func(field string) string) {
	for i, w := range r.Warnings {
		r.Warnings[i] = field.Refs(w, name)
	}
	for _, c := range r.Compile {
		c.Result.SpellWarnings(name)
	}
	if r.Run != nil {
		r.Run.Result.SpellWarnings(name)
	}
}

func (r *Result) warn(ws []string) {
	for _, w := range ws {
		if !slices.Contains(r.Warnings, w) {
			r.Warnings = append(r.Warnings, w)
		}
	}
}

func (r *Result) noteSpec(run *sandbox.Result) {
	r.LimitBackend, r.Limits, r.Isolation = run.LimitBackend, run.Limits, &run.Isolation
}

func (t *Task) validate() error {
	var errs []error
	if t.Stdin != nil && len(t.Tests) > 0 {
		errs = append(errs, errors.New("give either one stdin or tests, not both"))
	}
	if t.Interactor != nil && t.Checker != nil {
		errs = append(errs, errors.New("an interactor decides the verdict itself: drop the checker"))
	}
	if t.Interactor != nil && len(t.Tests) == 0 {
		errs = append(errs, errors.New("an interactor needs tests: each test's input is the interactor's"))
	}
	if t.TTY && len(t.Tests) > 0 {
		errs = append(errs, errors.New("a terminal is for a task without tests: a test's output is checked, not shown"))
	}
	if len(t.Collect) > 0 && len(t.Tests) > 0 {
		errs = append(errs, errors.New("collect is for a task without tests: each test runs on the same work directory, which stays read-only"))
	}
	for _, name := range t.Collect {
		if err := CheckCollectName(name); err != nil {
			errs = append(errs, fmt.Errorf("collect: %w", err))
		}
	}
	if t.Checker != nil && len(t.Tests) == 0 {
		errs = append(errs, errors.New("a checker needs tests with answers to check against"))
	}
	if t.Interactor == nil {
		for _, tc := range t.Tests {
			if tc.Answer == "" {
				errs = append(errs, fmt.Errorf("%s: no answer: add %s.out or %s.ans", tc.Input, tc.Name, tc.Name))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// judging is one task's state while it runs.
type judging struct {
	task                Task
	runner              *sandbox.Runner
	dir                 string // the judge's own files (judgeDir): outputs, stderr
	build               *Build
	checker, interactor *prepared
	// spec is PROG's resolved Spec (progSpec).
	spec *sandbox.Spec
}

// runOnce runs a task without tests on its one input. Its output is only
// ever excerpted, so it is kept in memory as the relay passes it on, not
// in files; a terminal's goes to a file as a test's does.
func (j *judging) runOnce(ctx context.Context) (*StepResult, error) {
	max := j.outputMax(RunOutput)
	var run *sandbox.Result
	var o, e Excerpt
	var err error
	if j.task.TTY {
		run, o, e, err = j.terminalOnce(ctx, max)
	} else {
		out, errs := excerptBuffer{max: max}, excerptBuffer{max: max}
		run, err = j.run(ctx, sandbox.IO{Stdin: j.task.Stdin, Signals: j.task.Signals,
			Observe: func(stream string, b []byte) {
				if stream == "stdout" {
					out.add(b)
				} else {
					errs.add(b)
				}
			}})
		o, e = out.excerpt(), errs.excerpt()
	}
	if err != nil {
		return nil, err
	}
	sr := &StepResult{Step: "run", Result: run, Output: &o, Stderr: &e}
	if len(j.task.Collect) > 0 {
		work, err := j.build.Work()
		if err != nil {
			return nil, err
		}
		sr.Collected = collect(work, j.task.Collect, CollectMax)
	}
	return sr, nil
}

// terminalOnce is runOnce's run on a terminal.
func (j *judging) terminalOnce(ctx context.Context, max int) (*sandbox.Result, Excerpt, Excerpt, error) {
	dir, err := j.judgeDir()
	if err != nil {
		return nil, Excerpt{}, Excerpt{}, err
	}
	out, errf, err := j.outputs(dir)
	if err != nil {
		return nil, Excerpt{}, Excerpt{}, err
	}
	defer out.Close()
	defer errf.Close()
	run, err := j.terminalRun(ctx, out, max)
	if err != nil {
		return nil, Excerpt{}, Excerpt{}, err
	}
	o, err := excerptOf(out, max)
	if err != nil {
		return nil, Excerpt{}, Excerpt{}, err
	}
	e, err := excerptOf(errf, max)
	return run, o, e, err
}

// judgeDir is the judge's own directory (the outputs of tests), made on
// first use.
func (j *judging) judgeDir() (string, error) {
	if j.dir == "" {
		dir, err := os.MkdirTemp("", "jail-judge-")
		if err != nil {
			return "", fmt.Errorf("creating the judge's directory: %w", err)
		}
		j.dir = dir
	}
	return j.dir, nil
}

// outputMax is the task's excerpt size, or def.
func (j *judging) outputMax(def int) int {
	if j.task.OutputMax > 0 {
		return j.task.OutputMax
	}
	return def
}

// progSpec is the Spec of PROG's runs: the run step's, with the output
// bounded. It is resolved (env files read, the policy loaded, the binds
// checked) once per task, and each run gets a copy of its own, so that
// every test runs with the same Spec and none pays for resolving it.
func (j *judging) progSpec() (*sandbox.Spec, error) {
	if j.spec == nil {
		s, err := j.build.RunSpec(nil)
		if err != nil {
			return nil, err
		}
		bound(s)
		j.spec = s
	}
	c := *j.spec
	return &c, nil
}

// bound gives PROG's Spec the judge's output limit where it has none.
func bound(s *sandbox.Spec) {
	if s.Limits.Output == 0 {
		s.Limits.Output = DefaultOutput
	}
}

// run runs PROG once, its output into the files stdio names and, when the
// task asks, to Output as it comes.
func (j *judging) run(ctx context.Context, stdio sandbox.IO) (*sandbox.Result, error) {
	if live, inner := j.task.Output, stdio.Observe; live != nil {
		stdio.Observe = func(stream string, b []byte) {
			if inner != nil {
				inner(stream, b)
			}
			live(stream, slices.Clone(b))
		}
	}
	res, err := j.runPooled(ctx, stdio)
	if err != nil {
		return nil, field.Within("run step", err)
	}
	return res, nil
}

// runPooled runs PROG in a warm sandbox of the task's pool when one is
// ready and fits, else cold. A warm sandbox's work directory is its own
// slot: the task's one run writes the files there, a run of many tests
// (or after a compile) links the work directory's tree into it.
func (j *judging) runPooled(ctx context.Context, stdio sandbox.IO) (*sandbox.Result, error) {
	name := j.build.program.profile().Name
	pooled := j.task.Pools.Has(name) && !j.build.program.WritableRun
	if pooled {
		if sb := j.task.Pools.Take(name); sb != nil {
			defer sb.Close()
			warm, err := j.warmSpec(sb.Slot)
			if err != nil {
				return nil, err
			}
			res, err := sb.Run(ctx, warm, stdio)
			if !errors.Is(err, sandbox.ErrNotWarmFor) {
				return poolHit(res, true), err
			}
		}
	}
	s, err := j.progSpec()
	if err != nil {
		return nil, err
	}
	res, err := j.runner.Run(ctx, s, stdio)
	if pooled {
		res = poolHit(res, false)
	}
	return res, err
}

// warmSpec is PROG's Spec in a warm sandbox whose work directory is slot,
// with the program's files put there.
func (j *judging) warmSpec(slot string) (*sandbox.Spec, error) {
	if len(j.task.Tests) == 0 && j.spec == nil {
		s, ok, err := j.build.InSlot(slot)
		if err != nil {
			return nil, fmt.Errorf("putting the files in a warm sandbox: %w", err)
		}
		if ok {
			bound(s)
			return s, nil
		}
	}
	s, err := j.progSpec()
	if err != nil {
		return nil, err
	}
	work, err := j.build.Work()
	if err != nil {
		return nil, err
	}
	s.Binds = slices.Clone(s.Binds)
	for i, b := range s.Binds {
		if b.Source == work {
			s.Binds[i].Source = slot
		}
	}
	if err := linkTree(work, slot); err != nil {
		return nil, fmt.Errorf("putting the work directory in a warm sandbox: %w", err)
	}
	return s, nil
}

// poolHit marks res as a run that found a warm sandbox, or did not.
func poolHit(res *sandbox.Result, hit bool) *sandbox.Result {
	if res != nil {
		res.PoolHit = &hit
	}
	return res
}

// pump copies one of PROG's streams to its end: into file, the first keep
// bytes of it (all when keep < 0), and every chunk to Output, when set.
func (j *judging) pump(src, file *os.File, keep int, stream string) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w := n
			if keep >= 0 {
				w = min(n, keep)
				keep -= w
			}
			if w > 0 {
				_, _ = file.Write(buf[:w])
			}
			if j.task.Output != nil {
				j.task.Output(stream, slices.Clone(buf[:n]))
			}
		}
		if err != nil {
			return
		}
	}
}

// outputs creates the files in dir a run's stdout and stderr go to.
func (j *judging) outputs(dir string) (out, errf *os.File, err error) {
	if out, err = os.Create(filepath.Join(dir, "out")); err != nil {
		return nil, nil, err
	}
	if errf, err = os.Create(filepath.Join(dir, "err")); err != nil {
		out.Close()
		return nil, nil, err
	}
	return out, errf, nil
}

// test runs PROG on one test and reads its output; run is PROG's own
// sandbox result.
func (j *judging) test(ctx context.Context, i int, t TestCase) (TestResult, *sandbox.Result, error) {
	// A test's files go once it is judged: its output may be 64 MiB, and
	// a task may have hundreds of tests.
	top, err := j.judgeDir()
	if err != nil {
		return TestResult{}, nil, err
	}
	dir := filepath.Join(top, fmt.Sprint(i))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return TestResult{}, nil, err
	}
	defer os.RemoveAll(dir)
	if j.interactor != nil {
		return j.interact(ctx, dir, t)
	}
	in, err := t.OpenInput()
	if err != nil {
		return TestResult{}, nil, err
	}
	defer in.Close()
	out, errf, err := j.outputs(dir)
	if err != nil {
		return TestResult{}, nil, err
	}
	defer out.Close()
	defer errf.Close()
	run, err := j.run(ctx, sandbox.IO{Stdin: in, Stdout: out, Stderr: errf})
	if err != nil {
		return TestResult{}, nil, err
	}
	var reading *Reading
	if run.Verdict == verdict.OK {
		rd, err := j.read(ctx, t, out, dir)
		if err != nil {
			return TestResult{}, nil, err
		}
		reading = &rd
	}
	tr := newTestResult(t.Name, run, reading)
	if tr.Output, err = excerptOf(out, j.outputMax(OutputExcerpt)); err != nil {
		return TestResult{}, nil, err
	}
	if tr.Stderr, err = excerptOf(errf, j.outputMax(OutputExcerpt)); err != nil {
		return TestResult{}, nil, err
	}
	return tr, run, nil
}

// read has the checker read a run's output: the checker program, or the
// built-in comparison against the answer.
func (j *judging) read(ctx context.Context, t TestCase, out *os.File, dir string) (Reading, error) {
	if j.checker != nil {
		view, err := helperView(t, dir)
		if err != nil {
			return Reading{}, err
		}
		return j.checker.check(ctx, t, view, out.Name(), dir)
	}
	ans, err := t.OpenAnswer()
	if err != nil {
		return Reading{}, err
	}
	defer ans.Close()
	if _, err := out.Seek(0, 0); err != nil {
		return Reading{}, err
	}
	rd, err := j.task.Check.Compare(out, ans)
	if err != nil {
		// The answer or the output could not be read: the judge's
		// failure, never PROG's.
		return Reading{Verdict: verdict.XX, Message: oneLine("reading for the check: " + err.Error())}, nil
	}
	return rd, nil
}

// newTestResult decides a test's verdict from PROG's run and, when there
// is one, the checker's or the interactor's reading.
func newTestResult(name string, run *sandbox.Result, rd *Reading) TestResult {
	o := run.Outcome
	tr := TestResult{Name: name, ExitCode: run.ExitCode, Signal: run.Signal, Reason: run.Reason,
		CPUTime: run.CPUUser + run.CPUSys, WallTime: run.WallTime, PeakMemory: run.PeakMemory,
		PoolHit: run.PoolHit, MadeAhead: run.MadeAhead, Error: run.Error}
	if rd != nil {
		o.Checked, o.Check = true, rd.Verdict
	}
	tr.Verdict = verdict.Decide(o)
	if rd != nil && tr.Verdict == rd.Verdict {
		// The reading decided; what PROG did otherwise (a limit) is
		// the verdict's own story, and the reading's words would mislead.
		tr.Message = rd.Message
		if rd.Verdict == verdict.PT {
			score := rd.Score
			tr.Score = &score
		}
	}
	if tr.Verdict == run.Verdict {
		tr.LimitHit = run.LimitHit
	} else {
		// The reading decided; the sandbox's reason was for its own verdict.
		tr.Reason = ""
	}
	return tr
}

// HelperLimits are a checker's and an interactor's limits unless the task
// gives others: a checker reads the whole output, so it gets more than a
// solution's run step.
var HelperLimits = limits.Spec{CPUTime: 10 * time.Second, Wall: 30 * time.Second, Memory: 1 << 30, Pids: 64}
