// Package verdict owns the one-word outcome of a run or a test and the one
// pure function that decides it. The sandbox fills in what it saw of
// PROG's run; the judge adds what it knows on top (the step was a compile
// step, a checker or an interactor read the output) and decides again with
// the same function, so the two can never disagree on precedence.
package verdict

import (
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
)

// Verdict is the outcome of a run or a test. The set is closed: every run
// and every test ends with exactly one of these, decided by Decide.
type Verdict int

const (
	OK  Verdict = iota // PROG exited with status 0 (and its output, if checked, was accepted)
	WA                 // wrong answer: the checker or the interactor rejected the output
	PE                 // presentation error: the right answer, laid out wrongly
	PT                 // points: a checker program awarded a score (testlib's quitp)
	RE                 // runtime error: PROG exited with a nonzero status
	SIG                // PROG was killed by a signal it did not get from a limit
	TLE                // a time limit (wall or CPU) was exceeded
	MLE                // the memory limit was exceeded
	OLE                // the output or file-size limit was exceeded
	SV                 // a seccomp violation killed PROG
	CE                 // compile error: a compile step did not end OK
	XX                 // internal error: the sandbox, a checker or an interactor failed; PROG is not to blame
)

var names = [...]string{OK: "OK", WA: "WA", PE: "PE", PT: "PT", RE: "RE", SIG: "SIG", TLE: "TLE",
	MLE: "MLE", OLE: "OLE", SV: "SV", CE: "CE", XX: "XX"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(names) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return names[v]
}

func (v Verdict) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// UnmarshalJSON reads a verdict's word back, refusing any other.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, ok := Parse(s)
	if !ok {
		return fmt.Errorf("unknown verdict %q", s)
	}
	*v = p
	return nil
}

// Parse reads a verdict's word.
func Parse(s string) (Verdict, bool) {
	for i, n := range names {
		if n == s {
			return Verdict(i), true
		}
	}
	return 0, false
}

// Passed reports whether a test with this verdict counts as passed: OK,
// or points a checker awarded.
func (v Verdict) Passed() bool { return v == OK || v == PT }

// Outcome is what was observed, before any interpretation. The first
// group is the sandbox supervisor's view of PROG's run; the second is the
// judge's.
type Outcome struct {
	SetupFailed bool // the sandbox could not run PROG as asked
	Exited      bool // PROG exited normally
	ExitCode    int
	Signal      syscall.Signal // set when PROG died of a signal
	WallKilled  bool           // the supervisor killed the sandbox at --wall
	CPUExceeded bool           // the tree used more CPU time than --time
	OOMKilled   bool           // the memory limit was hit
	OutputCut   bool           // the output limit was hit
	Violation   bool           // the seccomp policy's kill caught a call
	// TimeLimit and FileSizeLimit say --time and --fsize were set: only
	// then are SIGXCPU and SIGXFSZ a limit's doing, and not a signal the
	// program sent itself to fake a verdict.
	TimeLimit     bool
	FileSizeLimit bool

	// CompileFailed: this was a compile step, and it did not end OK;
	// whatever ended it, the program was not built.
	CompileFailed bool
	// Checked says a checker or an interactor read PROG's output, and
	// Check is what it said: OK, WA, PE, PT, or XX when the checker or
	// the interactor itself failed (crashed, hit its own limits, broke
	// testlib's contract).
	Checked bool
	Check   Verdict
}

// Decide maps an Outcome to a Verdict. Precedence, highest first, and why:
//
//	XX   a setup failure means PROG's own behaviour is unknown
//	CE   a failed compile step: there is no program to judge
//	XX   a failed checker or interactor: nothing it said can be trusted,
//	     and PROG must not take the blame
//	SV   SIGSYS from seccomp is the most specific cause of death
//	MLE  an OOM kill explains the SIGKILL that follows it
//	TLE  a limit kill explains the SIGKILL/SIGXCPU that follows it
//	OLE  SIGXFSZ or an output cut explains the death that follows it
//	WA, PE, PT  the checker's or interactor's reading; above SIG and RE
//	     because an interactor that has judged closes PROG's input, and
//	     PROG may then crash on the unexpected end
//	SIG  any other signal
//	RE   nonzero exit
//	OK
//
// A checker reads the output only of a run that ended OK; an interactor
// runs beside PROG, so there both halves matter.
func Decide(o Outcome) Verdict {
	switch {
	case o.SetupFailed:
		return XX
	case o.CompileFailed:
		return CE
	case o.Checked && !o.Check.judgesOutput():
		return XX
	case o.Violation || o.Signal == syscall.SIGSYS:
		return SV
	case o.OOMKilled:
		return MLE
	case o.WallKilled || o.CPUExceeded || (o.Signal == syscall.SIGXCPU && o.TimeLimit):
		return TLE
	case o.OutputCut || (o.Signal == syscall.SIGXFSZ && o.FileSizeLimit):
		return OLE
	case o.Checked && o.Check != OK:
		return o.Check
	case o.Signal != 0:
		return SIG
	case o.Exited && o.ExitCode != 0:
		return RE
	case o.Exited:
		return OK
	}
	return XX
}

// judgesOutput reports whether a checker's answer is a reading of the
// output; anything else (XX, or a verdict no checker gives) means the
// checker failed.
func (v Verdict) judgesOutput() bool { return v == OK || v == WA || v == PE || v == PT }

// Overall is the verdict of a set of tests, given in order: XX when any
// test is XX, since a failure of the judging must never hide behind the
// solution's; else the first test that did not pass decides, as "WA on
// test 3" does; if every test passed, PT when a checker awarded points on
// any, else OK. No tests is XX: a task with nothing judged has not passed.
func Overall(tests []Verdict) Verdict {
	if len(tests) == 0 || slices.Contains(tests, XX) {
		return XX
	}
	all := OK
	for _, v := range tests {
		if !v.Passed() {
			return v
		}
		if v == PT {
			all = PT
		}
	}
	return all
}
