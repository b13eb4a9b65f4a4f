package child

import (
	"errors"
	"os"
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

// run receives notifications through the netpoller: the listener is
// polled, and RECV, which blocks, is only called once one is pending, so
// no thread (and no P) sits in an ioctl while PROG runs.
func (w *violationWatch) run(listener int) {
	if err := unix.SetNonblock(listener, true); err != nil {
		unix.Close(listener)
		return
	}
	f := os.NewFile(uintptr(listener), "seccomp-listener")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n seccompNotif
		var done bool
		err := rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if k, _ := unix.Poll(pfd, 0); k == 0 {
				return false // nothing pending: wait in the netpoller
			}
			if pfd[0].Revents&unix.POLLIN == 0 {
				done = true // POLLHUP: no process uses the filter any more
				return true
			}
			_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
			if errno != 0 && !errors.Is(errno, unix.EINTR) && !errors.Is(errno, unix.ENOENT) {
				done = true
			}
			// ENOENT: the caller died before we received it.
			return errno == 0 || done
		})
		if err != nil || done {
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
