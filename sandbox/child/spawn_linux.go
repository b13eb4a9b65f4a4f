package child

import (
	"jail/sandbox"
	"jail/sandbox/native"
)

// spawn starts PROG (path, with e's argv, env, directory, rlimits and
// seccomp filter) through the C spawner shared with the native launcher,
// and returns its pid once it has exec'd, and the seccomp listener when
// the filter notifies (else -1).
func spawn(path string, e *sandbox.ExecPlan) (int, int, *sandbox.ChildError) {
	pid, listener, f := native.Spawn(path, sandbox.NativeExec(e))
	if f != nil {
		return 0, -1, sandbox.SpawnFailure(e, f)
	}
	return pid, listener, nil
}

// protectInit makes the init deaf to the fault signals PROG could send it
// with kill(2); see jail_protect_init.
func protectInit() { native.ProtectInit() }
