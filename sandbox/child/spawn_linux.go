package child

/*
#include <stdlib.h>
#include "spawn.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"jail/sandbox"
)

var cStageNames = map[C.int]string{
	C.JAIL_STAGE_CGROUP:       "joining the run's cgroup",
	C.JAIL_STAGE_SESSION:      "new session",
	C.JAIL_STAGE_CTTY:         "controlling terminal",
	C.JAIL_STAGE_CLOSE_FDS:    "closing descriptors",
	C.JAIL_STAGE_CHDIR:        "working directory",
	C.JAIL_STAGE_RLIMIT:       "rlimits",
	C.JAIL_STAGE_CAPS:         "dropping capabilities",
	C.JAIL_STAGE_NO_NEW_PRIVS: "no_new_privs",
	C.JAIL_STAGE_SECCOMP:      "loading the seccomp filter",
	C.JAIL_STAGE_EXEC:         sandbox.StageExec,
	C.JAIL_STAGE_CLONE:        "clone",
}

// cStrings copies strings into one NULL-terminated C array. Everything the
// spawned child touches lives in C memory, prepared here, before clone.
func cStrings(ss []string) **C.char {
	arr := (**C.char)(C.calloc(C.size_t(len(ss)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	view := unsafe.Slice(arr, len(ss)+1)
	for i, s := range ss {
		view[i] = C.CString(s)
	}
	return arr
}

func freeCStrings(arr **C.char, n int) {
	view := unsafe.Slice(arr, n+1)
	for i := 0; i < n; i++ {
		C.free(unsafe.Pointer(view[i]))
	}
	C.free(unsafe.Pointer(arr))
}

// spawn starts PROG (path, with e's argv, env, directory, rlimits and
// seccomp filter) and returns its pid once it has exec'd, and the seccomp
// listener when the filter notifies (else -1).
func spawn(path string, e *sandbox.ExecPlan) (int, int, *sandbox.ChildError) {
	x := (*C.struct_jail_exec)(C.calloc(1, C.sizeof_struct_jail_exec))
	defer C.free(unsafe.Pointer(x))
	x.path = C.CString(path)
	defer C.free(unsafe.Pointer(x.path))
	x.dir = C.CString(e.Dir)
	defer C.free(unsafe.Pointer(x.dir))
	x.argv = cStrings(e.Argv)
	defer freeCStrings(x.argv, len(e.Argv))
	x.envp = cStrings(e.Env)
	defer freeCStrings(x.envp, len(e.Env))
	if e.TTY {
		x.tty = 1
	}
	if n := len(e.CgroupFDs); n > 0 {
		x.ncgroup_fds = C.int(n)
		x.cgroup_fds = (*C.int)(C.calloc(C.size_t(n), C.sizeof_int))
		defer C.free(unsafe.Pointer(x.cgroup_fds))
		view := unsafe.Slice(x.cgroup_fds, n)
		for i, fd := range e.CgroupFDs {
			view[i] = C.int(fd)
		}
	}
	if n := len(e.Rlimits); n > 0 {
		x.nrlimits = C.int(n)
		x.rlimits = (*C.struct_jail_rlimit)(C.calloc(C.size_t(n), C.sizeof_struct_jail_rlimit))
		defer C.free(unsafe.Pointer(x.rlimits))
		view := unsafe.Slice(x.rlimits, n)
		for i, r := range e.Rlimits {
			view[i] = C.struct_jail_rlimit{resource: C.int(r.Resource), cur: C.ulonglong(r.Cur), max: C.ulonglong(r.Max)}
		}
	}

	if n := len(e.Seccomp); n > 0 {
		x.filter = C.CBytes(e.Seccomp)
		defer C.free(x.filter)
		x.filter_len = C.ushort(n / 8)
		if e.SeccompNotify {
			x.notify = 1
		}
		if e.SeccompLog {
			x.log = 1
		}
	}

	pid := int(C.jail_spawn(x))
	if x.failed_stage == C.JAIL_STAGE_NONE {
		return pid, int(x.listener_fd), nil
	}
	if pid > 0 {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	}
	ce := &sandbox.ChildError{Stage: cStageNames[x.failed_stage], Errno: syscall.Errno(x.failed_errno)}
	switch x.failed_stage {
	case C.JAIL_STAGE_EXEC:
		ce.Detail = e.Argv[0]
	case C.JAIL_STAGE_CHDIR:
		ce.Detail = fmt.Sprintf("-w %s", e.Dir)
	case C.JAIL_STAGE_RLIMIT:
		r := e.Rlimits[x.failed_index]
		ce.Detail = fmt.Sprintf("setting RLIMIT_%s to %d (it may not exceed the limit jail itself runs under)", strings.ToUpper(r.Name), r.Cur)
	}
	return 0, -1, ce
}

// protectInit makes the init deaf to the fault signals PROG could send it
// with kill(2); see jail_protect_init.
func protectInit() { C.jail_protect_init() }
