package sandbox

import (
	"fmt"
	"strings"

	"jail/sandbox/native"
)

// spawnFailure names a failed jail_spawn stage in the user's terms: the
// program, the -w directory, the rlimit.
func spawnFailure(e *ExecPlan, f *native.SpawnError) *ChildError {
	ce := &ChildError{Stage: f.Stage.Name(), Errno: f.Errno, Detail: native.StepName(f.Stage, f.Index)}
	if ce.Stage == "" {
		ce.Stage = fmt.Sprintf("spawn stage %d", f.Stage)
	}
	switch f.Stage {
	case native.StageExec:
		ce.Detail = e.Argv[0]
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
