package sandbox

import (
	"encoding/json"
	"fmt"
	"syscall"
	"time"
)

// Verdict is the one-word outcome of a run. The set is closed: every run
// ends with exactly one of these, decided by Decide.
type Verdict int

const (
	OK  Verdict = iota // PROG exited with status 0
	RE                 // runtime error: PROG exited with a nonzero status
	SIG                // PROG was killed by a signal it did not get from a limit
	TLE                // a time limit (wall or CPU) was exceeded
	MLE                // the memory limit was exceeded
	OLE                // the output or file-size limit was exceeded
	SV                 // a seccomp violation killed PROG
	XX                 // internal error: the sandbox could not run PROG as asked
	CE                 // compile error: a language profile's compile step failed
)

var verdictNames = [...]string{OK: "OK", RE: "RE", SIG: "SIG", TLE: "TLE", MLE: "MLE", OLE: "OLE", SV: "SV", XX: "XX", CE: "CE"}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

func (v Verdict) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

// Outcome is what the supervisor observed, before any interpretation.
type Outcome struct {
	SetupFailed bool // the child reported a ChildError before PROG ran
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
	// CompileFailed: this was a language profile's compile step, and it
	// did not end OK; whatever ended it, the program was not built.
	CompileFailed bool
}

// Decide maps an Outcome to a Verdict. Precedence, highest first, and why:
//
//	XX   a setup failure means PROG's own behaviour is unknown
//	CE   a failed compile step: there is no program to judge
//	SV   SIGSYS from seccomp is the most specific cause of death
//	MLE  an OOM kill explains the SIGKILL that follows it
//	TLE  a limit kill explains the SIGKILL/SIGXCPU that follows it
//	OLE  SIGXFSZ or an output cut explains the death that follows it
//	SIG  any other signal
//	RE   nonzero exit
//	OK
func Decide(o Outcome) Verdict {
	switch {
	case o.SetupFailed:
		return XX
	case o.CompileFailed:
		return CE
	case o.Violation || o.Signal == syscall.SIGSYS:
		return SV
	case o.OOMKilled:
		return MLE
	case o.WallKilled || o.CPUExceeded || (o.Signal == syscall.SIGXCPU && o.TimeLimit):
		return TLE
	case o.OutputCut || (o.Signal == syscall.SIGXFSZ && o.FileSizeLimit):
		return OLE
	case o.Signal != 0:
		return SIG
	case o.Exited && o.ExitCode != 0:
		return RE
	case o.Exited:
		return OK
	}
	return XX
}

// Seconds is a duration that reads as fractional seconds in JSON, with
// microsecond precision.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.6f", time.Duration(s).Seconds())), nil
}

// Result is what jail reports about a run.
type Result struct {
	Verdict  Verdict `json:"verdict"`
	ExitCode int     `json:"exit_code"`
	Signal   string  `json:"signal,omitempty"`
	// Syscall and SyscallArch name the call that broke the seccomp
	// policy (verdict SV), e.g. "ptrace" on "x86_64".
	Syscall     string `json:"syscall,omitempty"`
	SyscallArch string `json:"syscall_arch,omitempty"`
	// LimitHit names the limit behind TLE, MLE or OLE: wall, time,
	// memory, output or fsize.
	LimitHit string `json:"limit_hit,omitempty"`
	// Reason says in words what decided a verdict other than OK/RE.
	Reason     string  `json:"reason,omitempty"`
	WallTime   Seconds `json:"wall_time"`
	CPUUser    Seconds `json:"cpu_user"`
	CPUSys     Seconds `json:"cpu_sys"`
	PeakMemory int64   `json:"peak_memory"`
	SetupTime  Seconds `json:"setup_time"`
	// Stages is where the run's time went, with the native launcher.
	Stages *Stages `json:"stages,omitempty"`
	// PeakMemorySource names where PeakMemory comes from, because rusage
	// maxrss is the largest single process, not the sandbox total.
	PeakMemorySource string `json:"peak_memory_source"`
	PeakPids         int64  `json:"peak_pids,omitempty"`
	OOMKills         int64  `json:"oom_kills"`
	// LimitBackend is how limits were enforced: cgroup2-delegated,
	// cgroup2-systemd, cgroup2-root, cgroup1-root, or none (rlimits and
	// the supervisor only); Controllers are the cgroup controllers it had.
	LimitBackend string   `json:"limit_backend"`
	Controllers  []string `json:"controllers"`
	Warnings     []string `json:"warnings,omitempty"`
	// Denied are the calls the seccomp policy made fail with an errno
	// (the first 16 distinct ones, with counts); DeniedMore counts the
	// calls past those.
	Denied     []Denied  `json:"denied,omitempty"`
	DeniedMore int       `json:"denied_more,omitempty"`
	Isolation  Isolation `json:"isolation"`
	Limits     []Limit   `json:"limits"`
	Error      string    `json:"error,omitempty"`
	// Step is "compile" or "run" for a language profile's steps, and
	// Compile the compile step's own result, kept in the run's.
	Step    string  `json:"step,omitempty"`
	Compile *Result `json:"compile,omitempty"`
}

// Stages splits a run's time (seconds) at the points jail and the
// sandbox's init timestamp, in order; together they cover the run from
// jail's C start-up to the reaped init. Start is jail's own start (Go
// runtime, flags, profile, plan); Prepare is the hostname, lo and PROG's
// lookup; Spawn is the spawner's clone, cgroup join, rlimits and dropping
// privileges; Exec is loading the seccomp filter and exec; Teardown is
// killing what PROG left, the init's exit and the namespaces' teardown.
type Stages struct {
	Start    Seconds `json:"start"`
	Clone    Seconds `json:"clone"`
	IDMaps   Seconds `json:"id_maps"`
	Mounts   Seconds `json:"mounts"`
	Pivot    Seconds `json:"pivot"`
	Prepare  Seconds `json:"prepare"`
	Spawn    Seconds `json:"spawn"`
	Exec     Seconds `json:"exec"`
	Run      Seconds `json:"run"`
	Teardown Seconds `json:"teardown"`
}

// Isolation lists the mechanisms that were in force for the run.
type Isolation struct {
	Namespaces   []string `json:"namespaces"`
	Root         string   `json:"root"`
	UID          uint32   `json:"uid"`
	GID          uint32   `json:"gid"`
	HostUID      int      `json:"host_uid"`
	NoNewPrivs   bool     `json:"no_new_privs"`
	Capabilities string   `json:"capabilities"`
	Seccomp      string   `json:"seccomp"`
	Landlock     string   `json:"landlock"`
}

// Limit is one limit in force and the mechanism enforcing it.
type Limit struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Mechanism string `json:"mechanism"`
}

// Exit codes jail uses for its own failures, docker's convention; any other
// code is PROG's own, or 128+N when PROG died of signal N.
const (
	ExitSetupFailed = 125
	ExitCannotExec  = 126
	ExitNotFound    = 127
)

// Denied is one system call the policy denied with an errno, and how often.
type Denied struct {
	Syscall string `json:"syscall"`
	Count   int    `json:"count"`
}
