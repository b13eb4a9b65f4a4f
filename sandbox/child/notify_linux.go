package child

import (
	"errors"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"jail/sandbox"
)

// seccompNotif and seccompData mirror the kernel's struct seccomp_notif
// (linux/seccomp.h), which x/sys/unix does not define.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// violationWatch receives the seccomp user notifications that the policy's
// kill actions became. A notification means a process of the sandbox is
// blocked in a denied system call: the call never runs. The watch records
// the first one and ends the run by killing every process of the pid
// namespace, as SECCOMP_RET_KILL_PROCESS would, but knowing which call it
// was.
type violationWatch struct {
	mu  sync.Mutex
	got *sandbox.Violation
}

func watchViolations(listener int) *violationWatch {
	w := &violationWatch{}
	go w.run(listener)
	return w
}

func (w *violationWatch) run(listener int) {
	defer unix.Close(listener)
	for {
		var n seccompNotif
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		switch {
		case errno == 0:
		case errors.Is(errno, unix.EINTR), errors.Is(errno, unix.ENOENT):
			// ENOENT: the caller died before we received it.
			continue
		default:
			return
		}
		w.mu.Lock()
		if w.got == nil {
			w.got = &sandbox.Violation{Nr: n.Data.Nr, Arch: n.Data.Arch}
		}
		w.mu.Unlock()
		_ = unix.Kill(-1, unix.SIGKILL)
	}
}

func (w *violationWatch) first() *sandbox.Violation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}
