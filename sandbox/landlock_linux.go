package sandbox

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Landlock is the wall behind the mounts and the seccomp filter: PROG may
// reach, by path, only what lies beneath the sandbox's root, whatever
// descriptor or mount reaches it (a host directory as its stdin, say), and
// from ABI 6 on it can signal, or connect to an abstract unix socket of,
// no process outside the sandbox — its init and pid 1 included.
//
// Within the root the rule grants everything the ABI handles: the root is
// writable (a tmpfs or an overlay's upper layer), and the places that are
// not are read-only mounts, which Landlock cannot make more read-only.

// LandlockPlan is the ruleset PROG runs under, decided in the parent; the
// init builds it on the root it pivoted into, and PROG's process enforces
// it after no_new_privs.
type LandlockPlan struct {
	ABI int
	// FS is the file-system access the ruleset handles, all of which is
	// granted beneath the root.
	FS uint64
	// Scoped is LANDLOCK_SCOPE_* (ABI 6 and later).
	Scoped uint64
}

var landlockABI = sync.OnceValues(func() (int, error) {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(abi), nil
})

// planLandlock is the strongest ruleset this kernel has, and what is
// missing from it that matters to this run, in words, for the result's
// warnings. Without scoping, signals still reach nothing outside PROG's
// pid namespace and abstract sockets nothing outside its network
// namespace; only --net host shares the host's abstract sockets.
func planLandlock(netHost bool) (LandlockPlan, []string) {
	abi, err := landlockABI()
	if err != nil {
		why := "this kernel has no Landlock (Linux 5.13 or newer with CONFIG_SECURITY_LANDLOCK)"
		if errors.Is(err, unix.EOPNOTSUPP) {
			why = "Landlock is built in but not enabled; add landlock to the lsm= kernel parameter"
		}
		return LandlockPlan{}, []string{"Landlock is NOT enforced: " + why + "; PROG is confined by its mounts and seccomp only"}
	}
	p := LandlockPlan{ABI: abi, FS: landlockFS(abi)}
	var warns []string
	if abi >= 6 {
		p.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	} else if netHost {
		warns = append(warns, fmt.Sprintf("Landlock ABI %d cannot scope signals and abstract unix sockets (ABI 6, Linux 6.12); with {root.network} host PROG can reach the host's abstract sockets", abi))
	}
	return p, warns
}

// landlockFS is every file-system access right ABI abi knows.
func landlockFS(abi int) uint64 {
	fs := uint64(unix.LANDLOCK_ACCESS_FS_MAKE_SYM)<<1 - 1 // ABI 1: EXECUTE .. MAKE_SYM
	if abi >= 2 {
		fs |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		fs |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		fs |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return fs
}

// describe is the result's isolation.landlock.
func (p LandlockPlan) describe() string {
	if p.ABI == 0 {
		return "none"
	}
	s := fmt.Sprintf("ABI %d: files beneath the sandbox's root only", p.ABI)
	if p.Scoped != 0 {
		s += "; signals and abstract unix sockets scoped to the sandbox"
	}
	return s
}

// LandlockSupport says what the ruleset covers on this kernel, and what it
// cannot cover here with the kernel that would (for jail doctor); what is
// empty when the kernel has no Landlock.
func LandlockSupport() (what, missing string) {
	p, warns := planLandlock(true)
	if p.ABI == 0 {
		return "", warns[0]
	}
	if len(warns) > 0 {
		missing = warns[0]
	}
	return p.describe(), missing
}
