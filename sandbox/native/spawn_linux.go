// Package native holds the sandbox's C code: jail_spawn, the last step
// before PROG, and the native launcher, whose child (the sandbox's init)
// runs no Go code at all. Everything here that runs after clone is
// fragile by nature: it may only make system calls on memory prepared
// before clone, and it reports failures as numbers, which stages.c names.
package native

/*
#cgo CFLAGS: -Wall -Wextra -Werror
#include <stdlib.h>
#include "spawn.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Stage is the step of jail_spawn (and, from StageFDs on, of the native
// init) that failed.
type Stage int

const (
	StageCgroup          Stage = C.JAIL_STAGE_CGROUP
	StageSession         Stage = C.JAIL_STAGE_SESSION
	StageCTTY            Stage = C.JAIL_STAGE_CTTY
	StageCloseFDs        Stage = C.JAIL_STAGE_CLOSE_FDS
	StageChdir           Stage = C.JAIL_STAGE_CHDIR
	StageRlimit          Stage = C.JAIL_STAGE_RLIMIT
	StageCaps            Stage = C.JAIL_STAGE_CAPS
	StageNoNewPrivs      Stage = C.JAIL_STAGE_NO_NEW_PRIVS
	StageSeccomp         Stage = C.JAIL_STAGE_SECCOMP
	StageExec            Stage = C.JAIL_STAGE_EXEC
	StageClone           Stage = C.JAIL_STAGE_CLONE
	StageTimeNS          Stage = C.JAIL_STAGE_TIMENS
	StageEnforceLandlock Stage = C.JAIL_STAGE_LANDLOCK
	StageIPCNS           Stage = C.JAIL_STAGE_IPCNS
	StageCgroupView      Stage = C.JAIL_STAGE_CGROUP_VIEW
	StageAhead           Stage = C.JAIL_STAGE_AHEAD
)

// Rlimit is one setrlimit(2) call made just before exec.
type Rlimit struct {
	Resource int
	Cur, Max uint64
}

// Exec is what jail_spawn needs to start PROG.
type Exec struct {
	Argv, Env []string
	Dir       string
	TTY       bool
	// CgroupFDs are descriptor numbers in the process that spawns PROG:
	// cgroup.procs files and, with CgroupInto, last, the cgroup v2
	// directory PROG is cloned into.
	CgroupFDs  []int
	CgroupInto bool
	Rlimits    []Rlimit
	// Filter is a compiled struct sock_filter array, or empty.
	Filter      []byte
	Notify, Log bool
	// NewIPC gives PROG an IPC namespace of its own.
	NewIPC bool
	// RootCaps are the capabilities (bit n: capability n) PROG keeps in
	// its user namespace if it executes as uid 0 there.
	RootCaps uint64
	// CgroupView mounts PROG's cgroup v2 hierarchy read-only at
	// /sys/fs/cgroup, from its new cgroup namespace.
	CgroupView bool
}

// SpawnError is a failed stage of jail_spawn: which, which rlimit or
// cgroup (Index), and the errno.
type SpawnError struct {
	Stage Stage
	Index int
	Errno syscall.Errno
}

// cmem collects C allocations so they can be freed together once the
// child no longer needs them (after exec, or after clone: the child has
// its own copy). With an arena, everything is laid out in that one
// block instead, as a warm init receives it (see packed).
type cmem struct {
	ptrs  []unsafe.Pointer
	arena []byte
	used  int
	// overflow is set when the arena was too small; what did not fit
	// was allocated apart, so the description is whole but not sendable.
	overflow bool
}

// alloc returns n zeroed bytes, 8-aligned.
func (m *cmem) alloc(n int) unsafe.Pointer {
	if m.arena != nil {
		at := (m.used + 7) &^ 7
		if at+n <= len(m.arena) {
			m.used = at + n
			return unsafe.Pointer(&m.arena[at])
		}
		m.overflow = true
	}
	p := C.calloc(1, C.size_t(max(n, 1)))
	m.ptrs = append(m.ptrs, p)
	return p
}

func (m *cmem) bytes(b []byte) unsafe.Pointer {
	p := m.alloc(len(b))
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	return p
}

func (m *cmem) str(s string) *C.char {
	p := m.alloc(len(s) + 1)
	copy(unsafe.Slice((*byte)(p), len(s)), s)
	return (*C.char)(p)
}

// strs copies strings into one NULL-terminated C array.
func (m *cmem) strs(ss []string) **C.char {
	arr := (**C.char)(m.alloc((len(ss) + 1) * int(unsafe.Sizeof((*C.char)(nil)))))
	view := unsafe.Slice(arr, len(ss)+1)
	for i, s := range ss {
		view[i] = m.str(s)
	}
	return arr
}

func (m *cmem) free() {
	for _, p := range m.ptrs {
		C.free(p)
	}
	m.ptrs = nil
	if m.arena != nil {
		// Only wireMem makes arenas.
		if !giveBack(m.arena, m.used) {
			C.free(unsafe.Pointer(&m.arena[0]))
		}
		m.arena = nil
	}
}

// fill writes e into x, allocating in m. Everything the spawned child
// touches lives in C memory.
func (m *cmem) fill(x *C.struct_jail_exec, e *Exec) {
	x.dir = m.str(e.Dir)
	x.argv = m.strs(e.Argv)
	x.envp = m.strs(e.Env)
	if e.TTY {
		x.tty = 1
	}
	if e.NewIPC {
		x.new_ipc = 1
	}
	if e.CgroupView {
		x.cgroup_view = 1
	}
	if e.CgroupInto {
		x.cgroup_into = 1
	}
	x.root_caps = C.ulonglong(e.RootCaps)
	if n := len(e.CgroupFDs); n > 0 {
		x.ncgroup_fds = C.int(n)
		x.cgroup_fds = (*C.int)(m.alloc(n * C.sizeof_int))
		view := unsafe.Slice(x.cgroup_fds, n)
		for i, fd := range e.CgroupFDs {
			view[i] = C.int(fd)
		}
	}
	if n := len(e.Rlimits); n > 0 {
		x.nrlimits = C.int(n)
		x.rlimits = (*C.struct_jail_rlimit)(m.alloc(n * C.sizeof_struct_jail_rlimit))
		view := unsafe.Slice(x.rlimits, n)
		for i, r := range e.Rlimits {
			view[i] = C.struct_jail_rlimit{resource: C.int(r.Resource), cur: C.ulonglong(r.Cur), max: C.ulonglong(r.Max)}
		}
	}
	if n := len(e.Filter); n > 0 {
		x.filter = m.bytes(e.Filter)
		x.filter_len = C.ushort(n / 8)
		if e.Notify {
			x.notify = 1
		}
		if e.Log {
			x.log = 1
		}
	}
}
