package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// IO is PROG's standard streams, handed to it as they are.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// OverflowID is the host id PROG runs as when jail itself runs as root, so
// that PROG is never host root.
const OverflowID = 65534

// Run executes one sandboxed program and reports what happened. It returns
// an error only when it could not even try (bad spec, a limit that cannot
// be enforced under --strict, clone refused); every failure after that is
// a Result with verdict XX and an Error.
func Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	enf, err := prepareLimits(ctx, s)
	if err != nil {
		return nil, err
	}
	defer enf.release()
	plan, err := compile(s)
	if err != nil {
		return nil, err
	}
	plan.Exec.CgroupFDs = enf.cgroupFDs()
	if err := enf.wireOutput(&stdio); err != nil {
		return nil, err
	}
	sup, err := start(s, plan, stdio, enf)
	if err != nil {
		return nil, err
	}
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
}

// initCaps are what the child's setup needs, all within the new user
// namespace: mounts and hostname (SYS_ADMIN), bringing up lo (NET_ADMIN),
// emptying the bounding set (SETPCAP), taking PROG's ids when jail runs as
// root (SETUID, SETGID). overlayfs performs copy-up, whiteouts and its work
// directory (created mode 0) with the mounter's credentials, which need
// DAC_OVERRIDE, FOWNER and CHOWN.
var initCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SETPCAP,
	unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_CHOWN}

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
	ns := []string{"user", "mount", "pid", "ipc", "uts", "cgroup"}
	if s.Net == NetNone {
		ns = append(ns, "net")
	}
	return ns
}

// start clones the child into its namespaces. The stdlib's raw fork writes
// the id maps before the child execs and raises the capabilities the
// child's setup needs as ambient ones, so they survive exec as a non-root
// id; the child drops them all before PROG.
//
// An ordinary caller's id maps to PROG's id inside, so the child already
// runs as PROG's user. When jail runs as root, PROG's id maps to the
// unprivileged overflow id instead; the child keeps root's host id only
// while it opens the caller's paths, and PROG gets the mapped id.
func start(s *Spec, plan *Plan, stdio IO, enf *enforcer) (*supervisor, error) {
	if s.Launcher != LauncherReexec {
		return startNative(s, plan, stdio, enf)
	}
	planR, planW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the plan pipe: %w", err)
	}
	defer planR.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		planW.Close()
		return nil, fmt.Errorf("creating the report pipe: %w", err)
	}
	defer repW.Close()

	uid, gid := hostIDs()
	attr := &syscall.SysProcAttr{
		Cloneflags:  cloneFlags(s),
		UidMappings: []syscall.SysProcIDMap{{ContainerID: int(s.UID), HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: int(s.GID), HostID: gid, Size: 1}},
		// Only root may keep setgroups, and needs it to drop root's groups.
		GidMappingsEnableSetgroups: os.Getuid() == 0,
		AmbientCaps:                initCaps,
		Pdeathsig:                  syscall.SIGKILL,
		Setsid:                     true,
	}
	if os.Getuid() != 0 {
		attr.Credential = &syscall.Credential{Uid: s.UID, Gid: s.GID, NoSetGroups: true}
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{InitArg0},
		Env:         []string{},
		Stdin:       stdio.Stdin,
		Stdout:      stdio.Stdout,
		Stderr:      stdio.Stderr,
		ExtraFiles:  append([]*os.File{planR, repW}, enf.cgroupFiles()...),
		SysProcAttr: attr,
	}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		planW.Close()
		repR.Close()
		return nil, explainCloneError(err)
	}
	enf.closeChildSide()
	sup := &supervisor{spec: s, enf: enf, initPid: cmd.Process.Pid, killInit: cmd.Process.Kill,
		hostUID: uid, begin: begin, reports: make(chan Report, 4), waited: make(chan error, 1)}
	go sup.readReports(repR)
	// The child blocks reading the plan; a write error means it already
	// died, which the report pipe and wait will tell. The pipe then stays
	// open as the child's lifeline until the run is over.
	_ = json.NewEncoder(planW).Encode(plan)
	go func() {
		err := cmd.Wait()
		planW.Close()
		if st := cmd.ProcessState; st != nil {
			sup.initEnd = st.String()
			sup.initRusage, _ = st.SysUsage().(*syscall.Rusage)
		}
		sup.waited <- err
	}()
	return sup, nil
}
