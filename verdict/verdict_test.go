package verdict

import (
	"encoding/json"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		o    Outcome
		want Verdict
	}{
		// One case per verdict on its own.
		{name: "clean exit", o: Outcome{Exited: true}, want: OK},
		{name: "nonzero exit", o: Outcome{Exited: true, ExitCode: 1}, want: RE},
		{name: "exit 255", o: Outcome{Exited: true, ExitCode: 255}, want: RE},
		{name: "segfault", o: Outcome{Signal: syscall.SIGSEGV}, want: SIG},
		{name: "plain SIGKILL", o: Outcome{Signal: syscall.SIGKILL}, want: SIG},
		{name: "abort", o: Outcome{Signal: syscall.SIGABRT}, want: SIG},
		{name: "wall killed", o: Outcome{WallKilled: true}, want: TLE},
		{name: "cpu killed", o: Outcome{CPUExceeded: true}, want: TLE},
		{name: "SIGXCPU under --time", o: Outcome{Signal: syscall.SIGXCPU, TimeLimit: true}, want: TLE},
		{name: "SIGXCPU the program sent itself, no --time", o: Outcome{Signal: syscall.SIGXCPU}, want: SIG},
		{name: "OOM killed", o: Outcome{OOMKilled: true}, want: MLE},
		{name: "SIGXFSZ under --fsize", o: Outcome{Signal: syscall.SIGXFSZ, FileSizeLimit: true}, want: OLE},
		{name: "SIGXFSZ the program sent itself, no --fsize", o: Outcome{Signal: syscall.SIGXFSZ}, want: SIG},
		{name: "output cut", o: Outcome{OutputCut: true}, want: OLE},
		{name: "SIGSYS", o: Outcome{Signal: syscall.SIGSYS}, want: SV},
		{name: "setup failed", o: Outcome{SetupFailed: true}, want: XX},
		{name: "nothing observed", o: Outcome{}, want: XX},

		// Precedence, highest first: XX > SV > MLE > TLE > OLE > SIG > RE > OK.
		{name: "setup failed beats everything", o: Outcome{
			SetupFailed: true, Exited: true, ExitCode: 1, Signal: syscall.SIGSYS,
			WallKilled: true, CPUExceeded: true, OOMKilled: true, OutputCut: true,
		}, want: XX},
		{name: "setup failed beats a clean exit", o: Outcome{SetupFailed: true, Exited: true}, want: XX},
		{name: "compile step failed", o: Outcome{CompileFailed: true, Exited: true, ExitCode: 1}, want: CE},
		{name: "compile step killed by its time limit is CE", o: Outcome{CompileFailed: true, CPUExceeded: true, Signal: syscall.SIGKILL}, want: CE},
		{name: "setup failure beats compile failure", o: Outcome{CompileFailed: true, SetupFailed: true}, want: XX},
		{name: "seccomp violation in a run step", o: Outcome{Violation: true, Signal: syscall.SIGSYS}, want: SV},
		{name: "SIGSYS beats wall kill", o: Outcome{Signal: syscall.SIGSYS, WallKilled: true}, want: SV},
		{name: "SIGSYS beats OOM", o: Outcome{Signal: syscall.SIGSYS, OOMKilled: true}, want: SV},
		{name: "OOM explains SIGKILL", o: Outcome{OOMKilled: true, Signal: syscall.SIGKILL}, want: MLE},
		{name: "OOM beats wall kill", o: Outcome{OOMKilled: true, WallKilled: true, Signal: syscall.SIGKILL}, want: MLE},
		{name: "OOM beats output cut", o: Outcome{OOMKilled: true, OutputCut: true}, want: MLE},
		{name: "OOM with a clean exit", o: Outcome{OOMKilled: true, Exited: true}, want: MLE},
		{name: "wall kill explains SIGKILL", o: Outcome{WallKilled: true, Signal: syscall.SIGKILL}, want: TLE},
		{name: "cpu kill explains SIGKILL", o: Outcome{CPUExceeded: true, Signal: syscall.SIGKILL}, want: TLE},
		{name: "wall kill beats output cut", o: Outcome{WallKilled: true, OutputCut: true}, want: TLE},
		{name: "SIGXCPU beats output cut", o: Outcome{Signal: syscall.SIGXCPU, TimeLimit: true, OutputCut: true}, want: TLE},
		{name: "wall kill beats a late exit", o: Outcome{WallKilled: true, Exited: true, ExitCode: 0}, want: TLE},
		{name: "output cut explains SIGPIPE", o: Outcome{OutputCut: true, Signal: syscall.SIGPIPE}, want: OLE},
		{name: "output cut beats nonzero exit", o: Outcome{OutputCut: true, Exited: true, ExitCode: 1}, want: OLE},
		{name: "signal beats exit code", o: Outcome{Signal: syscall.SIGTERM, Exited: true, ExitCode: 1}, want: SIG},

		// The judge's facts. A checker reads only the output of a run that
		// ended OK; an interactor runs beside PROG, so both halves count.
		{name: "checker accepts", o: Outcome{Exited: true, Checked: true, Check: OK}, want: OK},
		{name: "checker rejects", o: Outcome{Exited: true, Checked: true, Check: WA}, want: WA},
		{name: "checker: presentation", o: Outcome{Exited: true, Checked: true, Check: PE}, want: PE},
		{name: "checker awards points", o: Outcome{Exited: true, Checked: true, Check: PT}, want: PT},
		{name: "checker failed is never PROG's", o: Outcome{Exited: true, Checked: true, Check: XX}, want: XX},
		{name: "a checker verdict no checker gives is a checker failure", o: Outcome{Exited: true, Checked: true, Check: TLE}, want: XX},
		{name: "interactor failed beats PROG's TLE", o: Outcome{WallKilled: true, Signal: syscall.SIGKILL, Checked: true, Check: XX}, want: XX},
		{name: "PROG's TLE beats the interactor's WA", o: Outcome{WallKilled: true, Signal: syscall.SIGKILL, Checked: true, Check: WA}, want: TLE},
		{name: "PROG's MLE beats the interactor's WA", o: Outcome{OOMKilled: true, Signal: syscall.SIGKILL, Checked: true, Check: WA}, want: MLE},
		{name: "PROG's SV beats the interactor's PE", o: Outcome{Violation: true, Signal: syscall.SIGSYS, Checked: true, Check: PE}, want: SV},
		{name: "PROG's OLE beats the interactor's WA", o: Outcome{OutputCut: true, Checked: true, Check: WA}, want: OLE},
		{name: "interactor's WA explains PROG's crash on the closed input", o: Outcome{Signal: syscall.SIGPIPE, Checked: true, Check: WA}, want: WA},
		{name: "interactor's WA explains PROG's nonzero exit", o: Outcome{Exited: true, ExitCode: 1, Checked: true, Check: WA}, want: WA},
		{name: "interactor accepts but PROG crashed", o: Outcome{Signal: syscall.SIGSEGV, Checked: true, Check: OK}, want: SIG},
		{name: "interactor accepts but PROG exited nonzero", o: Outcome{Exited: true, ExitCode: 3, Checked: true, Check: OK}, want: RE},
		{name: "compile failure beats a checker's verdict", o: Outcome{CompileFailed: true, Checked: true, Check: OK}, want: CE},
		{name: "setup failure beats a checker's verdict", o: Outcome{SetupFailed: true, Checked: true, Check: WA}, want: XX},
		{name: "Check without Checked is ignored", o: Outcome{Exited: true, Check: WA}, want: OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Decide(tt.o), "Decide(%+v)", tt.o)
		})
	}
}

func TestVerdictString(t *testing.T) {
	tests := []struct {
		v    Verdict
		want string
	}{
		{OK, "OK"}, {RE, "RE"}, {SIG, "SIG"}, {TLE, "TLE"}, {MLE, "MLE"},
		{OLE, "OLE"}, {SV, "SV"}, {XX, "XX"}, {CE, "CE"}, {WA, "WA"}, {PE, "PE"}, {PT, "PT"},
		{XX + 1, "Verdict(12)"},
		{Verdict(-1), "Verdict(-1)"},
		{Verdict(1000), "Verdict(1000)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.v.String())
		})
	}
}

// Every value of the closed set must have a name; a verdict added to the
// const block without one would print as Verdict(N) in reports.
func TestVerdictNamesComplete(t *testing.T) {
	seen := map[string]bool{}
	for v := OK; v <= XX; v++ {
		name := v.String()
		assert.NotContains(t, name, "Verdict(", "verdict %d has no name", int(v))
		assert.False(t, seen[name], "verdict name %q used twice", name)
		seen[name] = true
	}
	assert.Len(t, seen, 12)
}

func TestVerdictJSON(t *testing.T) {
	tests := []struct {
		v    Verdict
		want string
	}{
		{OK, `"OK"`}, {TLE, `"TLE"`}, {XX, `"XX"`}, {Verdict(42), `"Verdict(42)"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
		})
	}
}

func TestVerdictJSONRoundTrip(t *testing.T) {
	for v := OK; v <= XX; v++ {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var back Verdict
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, v, back)
	}
	var v Verdict
	assert.ErrorContains(t, json.Unmarshal([]byte(`"ACCEPTED"`), &v), `unknown verdict "ACCEPTED"`)
	assert.Error(t, json.Unmarshal([]byte(`3`), &v), "a number is not a verdict's word")
}

func TestOverall(t *testing.T) {
	tests := []struct {
		name  string
		tests []Verdict
		want  Verdict
	}{
		{name: "no tests", tests: nil, want: XX},
		{name: "all OK", tests: []Verdict{OK, OK, OK}, want: OK},
		{name: "first failure decides", tests: []Verdict{OK, WA, TLE}, want: WA},
		{name: "first failure decides, later one", tests: []Verdict{OK, TLE, WA}, want: TLE},
		{name: "points on one, OK on the rest", tests: []Verdict{OK, PT, OK}, want: PT},
		{name: "points do not hide a failure", tests: []Verdict{PT, RE}, want: RE},
		{name: "a checker failure is the task's", tests: []Verdict{OK, XX}, want: XX},
		{name: "a checker failure is not hidden by an earlier failure", tests: []Verdict{WA, OK, XX}, want: XX},
		{name: "compile error", tests: []Verdict{CE}, want: CE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Overall(tt.tests))
		})
	}
}
