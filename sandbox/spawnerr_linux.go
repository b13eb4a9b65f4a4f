package sandbox

import (
	"fmt"
	"strings"

	"jail/sandbox/native"
)

var spawnStageNames = map[native.Stage]string{
	native.StageCgroup:          "joining the run's cgroup",
	native.StageSession:         "new session",
	native.StageCTTY:            "controlling terminal",
	native.StageCloseFDs:        "closing descriptors",
	native.StageChdir:           "working directory",
	native.StageRlimit:          "rlimits",
	native.StageCaps:            "dropping capabilities",
	native.StageNoNewPrivs:      "no_new_privs",
	native.StageSeccomp:         "loading the seccomp filter",
	native.StageExec:            StageExec,
	native.StageClone:           "clone",
	native.StageTimeNS:          "time namespace",
	native.StageEnforceLandlock: "enforcing the Landlock ruleset",
}

// spawnFailure names a failed jail_spawn stage in the user's terms: the
// program, the -w directory, the rlimit.
func spawnFailure(e *ExecPlan, f *native.SpawnError) *ChildError {
	ce := &ChildError{Stage: spawnStageNames[f.Stage], Errno: f.Errno}
	if ce.Stage == "" {
		ce.Stage = fmt.Sprintf("spawn stage %d", f.Stage)
	}
	switch f.Stage {
	case native.StageExec:
		ce.Detail = e.Argv[0]
	case native.StageTimeNS:
		ce.Detail = [...]string{"making the spawner dumpable", "unshare(CLONE_NEWTIME)", "writing /proc/self/timens_offsets", "setns(time_for_children)"}[min(max(f.Index, 0), 3)]
	case native.StageChdir:
		ce.Detail = fmt.Sprintf("-w %s", e.Dir)
	case native.StageRlimit:
		if f.Index >= 0 && f.Index < len(e.Rlimits) {
			r := e.Rlimits[f.Index]
			ce.Detail = fmt.Sprintf("setting RLIMIT_%s to %d (it may not exceed the limit jail itself runs under)", strings.ToUpper(r.Name), r.Cur)
		}
	}
	return ce
}

// nativeExec is e as jail_spawn takes it.
func nativeExec(e *ExecPlan) *native.Exec {
	x := &native.Exec{Argv: e.Argv, Env: e.Env, Dir: e.Dir, TTY: e.TTY,
		Filter: e.Seccomp, Notify: e.SeccompNotify, Log: e.SeccompLog}
	for _, r := range e.Rlimits {
		x.Rlimits = append(x.Rlimits, native.Rlimit{Resource: r.Resource, Cur: r.Cur, Max: r.Max})
	}
	return x
}
