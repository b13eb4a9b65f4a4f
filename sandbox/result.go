package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"jail/field"
	"jail/verdict"
)

// Seconds is a duration that reads as fractional seconds in JSON, with
// microsecond precision.
type Seconds time.Duration

func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.6f", time.Duration(s).Seconds())), nil
}

// UnmarshalJSON reads what MarshalJSON writes, so that a Go client of
// jail's results can decode them.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*s = Seconds(math.Round(f*1e6) * float64(time.Microsecond))
	return nil
}

// Result is what jail reports about a run.
type Result struct {
	Verdict  verdict.Verdict `json:"verdict"`
	ExitCode int             `json:"exit_code"`
	Signal   string          `json:"signal,omitempty"`
	// Syscall and SyscallArch name the call that broke the seccomp
	// policy (verdict SV), e.g. "ptrace" on "x86_64".
	Syscall     string `json:"syscall,omitempty"`
	SyscallArch string `json:"syscall_arch,omitempty"`
	// LimitHit names the limit behind TLE, MLE or OLE: wall, time,
	// memory, output or fsize.
	LimitHit string `json:"limit_hit,omitempty"`
	// Reason says in words what decided a verdict other than OK/RE.
	Reason string `json:"reason,omitempty"`
	// Interrupted says jail killed the sandbox on its caller's behalf (a
	// signal, a stop timeout, a cancelled task); Reason says why.
	Interrupted bool    `json:"interrupted,omitempty"`
	WallTime    Seconds `json:"wall_time"`
	CPUUser     Seconds `json:"cpu_user"`
	CPUSys      Seconds `json:"cpu_sys"`
	PeakMemory  int64   `json:"peak_memory"`
	SetupTime   Seconds `json:"setup_time"`
	// PoolHit says whether the run took a warm sandbox of a pool (true)
	// or, having asked one and found none that fits, ran cold (false); nil
	// when no pool was asked. The judge, which asks, sets it.
	PoolHit *bool `json:"pool_hit,omitempty"`
	// MadeAhead says PROG ran in a process the warm sandbox's init made
	// ahead of the task, its filter loaded (see Stages).
	MadeAhead bool `json:"made_ahead,omitempty"`
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
	// Outcome is what the supervisor observed, from which Verdict was
	// decided; the judge adds its own facts and decides again.
	Outcome verdict.Outcome `json:"-"`
}

// SpellWarnings spells the {field} references in the warnings by name:
// the command line writes --mem, a JSON service limits.mem.
func (r *Result) SpellWarnings(name func(field string) string) {
	if r == nil {
		return
	}
	for i, w := range r.Warnings {
		r.Warnings[i] = field.Refs(w, name)
	}
}

// Stages splits a run's time (seconds) at the points jail and the
// sandbox's init timestamp, in order; together they cover the run from
// jail's C start-up to the reaped init. Start is jail's own start (Go
// runtime, flags, profile, plan); Prepare is the hostname, lo and PROG's
// lookup; Spawn is PROG's Landlock ruleset, the spawner's clone, cgroup
// join, rlimits and dropping privileges; Exec is loading the seccomp filter and exec; Teardown is
// killing what PROG left, the init's exit and the namespaces' teardown.
// In `jail run` the init was forked, and made its first namespaces,
// while Start ran (sandbox/native/early.c): Clone is the hand-over of its
// description and whatever namespaces are left. When it built the whole
// sandbox then, from the last run's description, the run is a warm
// one's. In a warm sandbox the clone, id maps, mounts and pivot were
// done before the task: Clone is the hand-over of the task to its init,
// and the other three are 0. When the init made PROG's process ahead of
// the task (Result.MadeAhead), that process had every step of Spawn but
// the rlimits done, the filter loaded: Spawn is the hand-over of PROG's
// argv and streams to it, and Exec its rlimits and exec.
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
