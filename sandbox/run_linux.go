package sandbox

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/sandbox/native"
)

// IO is PROG's standard streams, handed to it as they are.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// processStartCounted is set by the first Run of the process, whose start
// stage counts jail's own start-up before it.
var processStartCounted atomic.Bool

// OverflowID is the host id PROG runs as when jail itself runs as root, so
// that PROG is never host root.
const OverflowID = 65534

// Run executes one sandboxed program and reports what happened. It returns
// an error only when it could not even try (bad spec, a limit that cannot
// be enforced under --strict, clone refused); every failure after that is
// a Result with verdict XX and an Error.
func Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	from := native.Now()
	if processStartCounted.CompareAndSwap(false, true) {
		from = native.ProcessStart()
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	landlock, landlockWarnings := planLandlock(s.Net == NetHost)
	if landlock.ABI == 0 && s.Strict {
		return nil, fmt.Errorf("--strict: %s", landlockWarnings[0])
	}
	enf, err := prepareLimits(ctx, s)
	if err != nil {
		return nil, err
	}
	defer enf.release()
	plan, err := compile(s, enf.cgroupView())
	if err != nil {
		return nil, err
	}
	plan.Landlock = landlock
	if err := enf.wireOutput(&stdio); err != nil {
		return nil, err
	}
	sup, err := startNative(s, plan, stdio, enf, from)
	if err != nil {
		return nil, err
	}
	sup.landlock, sup.warnings = landlock, landlockWarnings
	return sup.supervise(ctx), nil
}

// supervisor is the parent's view of one running sandbox.
type supervisor struct {
	spec     *Spec
	enf      *enforcer
	initPid  int
	killInit func() error
	hostUID  int
	begin    time.Time
	reports  chan Report
	// waited delivers once the init is reaped; initEnd (how it ended, as
	// in "exit status 1") and initRusage (its own and its reaped
	// children's) are set before.
	waited     chan error
	initEnd    string
	initRusage *syscall.Rusage
	// points are the native launcher's timestamps, set like initEnd.
	points *runPoints
	// landlock is the ruleset PROG runs under; warnings say what of the
	// isolation this host could not give, beside the limits' own.
	landlock LandlockPlan
	warnings []string
}

func hostIDs() (uid, gid int) {
	uid, gid = os.Getuid(), os.Getgid()
	if uid == 0 {
		uid = OverflowID
	}
	if gid == 0 {
		gid = OverflowID
	}
	return uid, gid
}

// cloneFlags are the namespaces of a sandbox; the network namespace is
// left out only for --net host.
func cloneFlags(s *Spec) uintptr {
	f := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP)
	if s.Net == NetNone {
		f |= unix.CLONE_NEWNET
	}
	return f
}

func namespaceNames(s *Spec) []string {
	ns := []string{"user", "mount", "pid", "ipc", "uts", "cgroup", "time"}
	if s.Net == NetNone {
		ns = append(ns, "net")
	}
	return ns
}
