package sandbox

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

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
		{OLE, "OLE"}, {SV, "SV"}, {XX, "XX"}, {CE, "CE"},
		{CE + 1, "Verdict(9)"},
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
	assert.Len(t, seen, 8)
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

func TestSecondsJSON(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "zero", d: 0, want: "0.000000"},
		{name: "whole seconds", d: 2 * time.Second, want: "2.000000"},
		{name: "milliseconds", d: 1500 * time.Millisecond, want: "1.500000"},
		{name: "microsecond", d: time.Microsecond, want: "0.000001"},
		{name: "rounds to microseconds", d: 1234567 * time.Nanosecond, want: "0.001235"},
		{name: "below a microsecond", d: 400 * time.Nanosecond, want: "0.000000"},
		{name: "an hour", d: time.Hour, want: "3600.000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Seconds(tt.d))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			// The output must stay a JSON number, not a string.
			var f float64
			require.NoError(t, json.Unmarshal(b, &f))
			assert.InDelta(t, tt.d.Seconds(), f, 1e-6)
		})
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{
		Verdict:  TLE,
		ExitCode: 137,
		Signal:   "SIGKILL",
		Reason:   "wall time limit 1s",
		WallTime: Seconds(1500 * time.Millisecond),
		CPUUser:  Seconds(250 * time.Millisecond),
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, "TLE", got["verdict"])
	assert.InDelta(t, 137, got["exit_code"], 0)
	assert.Equal(t, "SIGKILL", got["signal"])
	assert.InDelta(t, 1.5, got["wall_time"], 1e-9)
	assert.InDelta(t, 0.25, got["cpu_user"], 1e-9)
	assert.NotContains(t, got, "error", "empty error must be omitted")
}
