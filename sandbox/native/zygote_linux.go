package native

/*
#include "launcher.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The zygote forks warm inits (warm.c): an exec of this binary that stays
// in its C start-up, small, and forks a copy of itself per init, which is
// a child of jail's (CLONE_PARENT) and starts as an exec'd init does.
// Exec'ing the 20 MB binary was a third of the making of a warm sandbox.
//
// It is started by the first warm init a process makes, and replaced when
// it fails or when jail is no longer in the cgroup it started in (jail
// moves into a systemd scope when a run first needs one; inits forked
// in the old cgroup could not move PROG into the run's). Where no zygote
// can be had, inits are exec'd as before.
var zygote struct {
	// mu serializes the requests and the zygote's life.
	mu     sync.Mutex
	sock   *os.File // jail's end of the zygote's socket
	cgroup string
	// forks counts the inits forked, for tests.
	forks int
}

// startWarmInit starts a warm init whose descriptors 0 to FDReport are
// files, and returns its pid; forked by the zygote, else exec'd.
func startWarmInit(files []*os.File) (int, error) {
	zygote.mu.Lock()
	defer zygote.mu.Unlock()
	if pid, err := zygoteFork(files); err == nil {
		return pid, nil
	}
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	return syscall.ForkExec("/proc/self/exe", []string{"jail-init"}, &syscall.ProcAttr{Env: []string{WarmEnv}, Files: fds})
}

// zygoteFork has the zygote fork an init; zygote.mu is held.
func zygoteFork(files []*os.File) (int, error) {
	cgroup, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	if zygote.sock != nil && zygote.cgroup != string(cgroup) {
		endZygote()
	}
	if zygote.sock == nil {
		if err := startZygote(string(cgroup)); err != nil {
			return 0, err
		}
	}
	err = sendWith(zygote.sock, []byte{0}, files)
	var answer [4]byte
	n := 0
	if err == nil {
		n, err = zygote.sock.Read(answer[:])
	}
	if err != nil || n != len(answer) {
		// A zygote that cannot answer (it died) is let go; the next
		// init starts another.
		endZygote()
		return 0, fmt.Errorf("the zygote did not answer: %v", err)
	}
	pid := int(int32(binary.NativeEndian.Uint32(answer[:])))
	if pid <= 0 {
		return 0, syscall.Errno(-pid)
	}
	zygote.forks++
	return pid, nil
}

// startZygote starts the zygote in the cgroup jail is in; zygote.mu is
// held.
func startZygote(cgroup string) error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "zygote"), os.NewFile(uintptr(pair[1]), "zygote")
	defer theirs.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		ours.Close()
		return err
	}
	defer null.Close()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"jail-zygote"}, &syscall.ProcAttr{
		Env:   []string{C.JAIL_WARM_ENV + "=" + C.JAIL_ZYGOTE},
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd(), theirs.Fd()},
	})
	if err != nil {
		ours.Close()
		return err
	}
	// It exits when its socket closes; it is reaped here, whenever.
	go func() {
		for {
			if _, err := syscall.Wait4(pid, nil, 0, nil); !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	}()
	zygote.sock, zygote.cgroup = ours, cgroup
	return nil
}

// endZygote closes the zygote's socket, which ends it (its next read
// finds the end); zygote.mu is held.
func endZygote() {
	if zygote.sock == nil {
		return
	}
	zygote.sock.Close()
	zygote.sock = nil
}

// EndZygote ends the zygote, if there is one: when a service's pools
// close, so that no process of jail's outlives them. The next warm init
// starts another.
func EndZygote() {
	zygote.mu.Lock()
	defer zygote.mu.Unlock()
	endZygote()
}

// ZygoteForks is how many warm inits the zygote has forked.
func ZygoteForks() int {
	zygote.mu.Lock()
	defer zygote.mu.Unlock()
	return zygote.forks
}
