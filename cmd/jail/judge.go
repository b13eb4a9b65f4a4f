package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"jail/judge"
	"jail/limits"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

// judgeFlags are `jail judge`'s own flags, beside the sandbox's.
type judgeFlags struct {
	tests, check, interactor string
	stopOnFail, jsonOut      bool
	transcript               bool
	// compileLim holds each --compile-LIMIT as typed, by limits.Field name.
	compileLim map[string]string
}

// `jail judge`'s statuses: a test did not pass; or one ended XX, a
// failure of the sandbox, the checker or the interactor, not of PROG.
const (
	exitFailed   = 1
	exitInternal = 2
)

func newJudgeCommand() *cobra.Command {
	f := &runFlags{lim: map[string]string{}}
	j := &judgeFlags{compileLim: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "judge --profile LANG SOURCE --tests DIR [flags]",
		Short: "Compile SOURCE once and judge it on every test of DIR",
		Long: `Compile SOURCE once with the language profile, then run it on every test of
DIR, each in a fresh sandbox with the limits given (--time, --mem, ... apply
to each test), and check its output.

DIR holds NAME.in with NAME.out or NAME.ans, taken in natural order (2 before
10). --check is a built-in checker (exact, lines, tokens, float:EPS) or a
checker program, run as CHECKER INPUT OUTPUT ANSWER under testlib's exit codes
(0 OK, 1 WA, 2 PE, 3 checker failure, 7 points). --interactor runs beside
each test as INTERACTOR INPUT OUTPUT, wired to SOURCE's stdin and stdout; its
exit code decides. A checker or an interactor is an executable, or a source
file (.cpp .c .py .go .java .js) compiled once with that language's profile;
a C++ one gets the headers beside it, such as testlib.h.

Exit status: 0 when every test passed; 1 when one did not (or the source did
not compile); 2 when the overall verdict is XX (the sandbox, the checker or
the interactor failed, not SOURCE); 125 when the tests could not be judged.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("give one SOURCE file, as in: jail judge --profile cpp sol.cpp --tests tests/")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.fl = cmd.Flags()
			defer f.releaseImage()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			return judgeMain(ctx, f, j, args[0])
		},
	}
	fl := cmd.Flags()
	f.defineSandboxFlags(fl, " (each test's)")
	for _, lf := range limits.Fields {
		fl.Var(limitFlag{j.compileLim, lf.Name}, "compile-"+lf.Flag, lf.Help+" (the compile step's)")
	}
	fl.StringVar(&j.tests, "tests", "", "`DIR` of NAME.in and NAME.out (or NAME.ans) files")
	fl.StringVar(&j.check, "check", "tokens", "checker: exact, lines, tokens, float:EPS, or a checker program or source `FILE`")
	fl.StringVar(&j.interactor, "interactor", "", "interactor program or source `FILE`, for interactive problems")
	fl.BoolVar(&j.stopOnFail, "stop-on-fail", false, "stop at the first test that does not pass")
	fl.BoolVar(&j.transcript, "transcript", false, "keep the interaction of each test in the JSON result (with --interactor)")
	fl.BoolVar(&j.jsonOut, "json", false, "print the whole result as JSON on stdout instead of one line per test")
	return cmd
}

func judgeMain(ctx context.Context, f *runFlags, j *judgeFlags, source string) error {
	if f.profileName == "" {
		return fmt.Errorf("--profile: give the language of %s, as in: --profile cpp (jail profile list)", source)
	}
	p, _, err := profiles.Find(f.profileName)
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	f.profile = p
	task, err := j.task(f, source)
	if err != nil {
		return err
	}
	if !j.jsonOut {
		task.Events = func(e judge.Event) {
			if e.Kind == judge.EventResult {
				fmt.Println(testLine(*e.Result))
			}
		}
	}
	res, err := judge.Judge(ctx, sandbox.NewRunner(), task)
	if err != nil {
		return flagErrors(err)
	}
	res.SpellWarnings(flagName)
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "jail: warning: %s\n", w)
	}
	if j.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printJudgeSummary(os.Stdout, res)
	}
	switch {
	case res.Verdict == verdict.XX:
		return exitError{exitInternal}
	case !res.Verdict.Passed():
		return exitError{exitFailed}
	}
	return nil
}

// task builds the judge's Task from the flags.
func (j *judgeFlags) task(f *runFlags, source string) (judge.Task, error) {
	if j.tests == "" {
		return judge.Task{}, errors.New("--tests: give the directory of NAME.in and NAME.out files")
	}
	o, err := f.overrides(nil)
	if err != nil {
		return judge.Task{}, err
	}
	compile, err := parseLimits(j.compileLim, "compile-")
	if err != nil {
		return judge.Task{}, err
	}
	t := judge.Task{
		Program: judge.Program{Profile: f.profile, Files: []judge.File{judge.SourceFile(f.profile, source)},
			Settings: o, CompileLimits: compile},
		StopOnFail: j.stopOnFail,
		Transcript: j.transcript,
	}
	if j.interactor != "" {
		t.Interactor = &judge.Helper{Path: j.interactor}
		if t.Tests, err = judge.LoadInputs(j.tests); err != nil {
			return t, fmt.Errorf("--tests: %w", err)
		}
		if f.typed("check") {
			return t, errors.New("--check and --interactor: the interactor decides each test itself; drop --check")
		}
		return t, nil
	}
	if t.Tests, err = judge.LoadTests(j.tests); err != nil {
		return t, fmt.Errorf("--tests: %w", err)
	}
	if c, err := judge.ParseCheck(j.check); err == nil {
		t.Check = c
	} else if looksLikeFile(j.check) {
		t.Checker = &judge.Helper{Path: j.check}
	} else {
		return t, fmt.Errorf("--check: %w (or give a checker FILE)", err)
	}
	return t, nil
}

// looksLikeFile tells a checker program from a misspelt built-in: a path
// with a directory or an extension, or a file that exists.
func looksLikeFile(v string) bool {
	if strings.ContainsRune(v, '/') || filepath.Ext(v) != "" && !strings.HasPrefix(v, "float") {
		return true
	}
	_, err := os.Stat(v)
	return err == nil
}

// testLine is one test's line: name, verdict, time, memory, and why.
func testLine(t judge.TestResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-3s %8s %9s", t.Name, t.Verdict, seconds(t.CPUTime), units.BytesSize(float64(t.PeakMemory)))
	why := t.Message
	if t.Score != nil {
		why = strings.TrimSpace(fmt.Sprintf("score %g %s", *t.Score, why))
	}
	if why == "" {
		why = t.Reason
	}
	if why == "" && t.Verdict == verdict.RE {
		why = fmt.Sprintf("exit status %d", t.ExitCode)
	}
	if why == "" && t.Signal != "" {
		why = t.Signal
	}
	if t.Error != "" {
		why = strings.TrimSpace(why + " " + t.Error)
	}
	if why != "" {
		fmt.Fprintf(&b, "  %s", why)
	}
	return b.String()
}

func seconds(s sandbox.Seconds) string { return fmt.Sprintf("%.3fs", time.Duration(s).Seconds()) }

// printJudgeSummary prints the compile error, if any, and the summary line.
func printJudgeSummary(w io.Writer, r *judge.Result) {
	if r.Verdict == verdict.CE && len(r.Compile) > 0 {
		c := r.Compile[len(r.Compile)-1]
		if c.Output != nil {
			fmt.Fprint(w, c.Output.String())
			if c.Output.Truncated {
				fmt.Fprintf(w, "... (%d bytes in all)\n", c.Output.Bytes)
			}
		}
		if c.Reason != "" {
			fmt.Fprintf(w, "compile step: %s\n", c.Reason)
		}
	}
	var failed string
	for _, t := range r.Tests {
		if t.Verdict == r.Verdict && !t.Verdict.Passed() {
			failed = " on test " + t.Name
			break
		}
	}
	fmt.Fprintf(w, "%s%s: %d/%d passed", r.Verdict, failed, r.Passed, r.Total)
	if r.Skipped > 0 {
		fmt.Fprintf(w, ", %d not run", r.Skipped)
	}
	fmt.Fprintln(w)
}
