package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// IO is PROG's standard streams, handed to it as they are.
type IO struct {
	Stdin, Stdout, Stderr *os.File
}

// overflowID is the host id PROG runs as when jail itself runs as root, so
// that PROG is never host root.
const overflowID = 65534

// Run executes one sandboxed program and reports what happened. It returns
// an error only when it could not even try (bad spec, clone refused); every
// failure after that is a Result with verdict XX and an Error.
func Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	sup, err := start(s, compile(s), stdio)
	if err != nil {
		return nil, err
	}
	return sup.supervise(ctx), nil
}

// supervisor is the parent's view of one running sandbox.
type supervisor struct {
	spec    *Spec
	cmd     *exec.Cmd
	hostUID int
	begin   time.Time
	reports chan Report
	waited  chan error
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
		uid = overflowID
	}
	if gid == 0 {
		gid = overflowID
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
func start(s *Spec, plan *Plan, stdio IO) (*supervisor, error) {
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
		ExtraFiles:  []*os.File{planR, repW},
		SysProcAttr: attr,
	}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		planW.Close()
		repR.Close()
		return nil, explainCloneError(err)
	}
	sup := &supervisor{spec: s, cmd: cmd, hostUID: uid, begin: begin,
		reports: make(chan Report, 4), waited: make(chan error, 1)}
	go sup.readReports(repR)
	// The child blocks reading the plan; a write error means it already
	// died, which the report pipe and wait will tell. The pipe then stays
	// open as the child's lifeline until the run is over.
	_ = json.NewEncoder(planW).Encode(plan)
	go func() {
		err := cmd.Wait()
		planW.Close()
		sup.waited <- err
	}()
	return sup, nil
}

func (sup *supervisor) readReports(r *os.File) {
	defer close(sup.reports)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rep Report
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			rep = Report{Error: &ChildError{Stage: "report", Detail: "unreadable report from the sandbox: " + err.Error()}}
		}
		sup.reports <- rep
	}
}

// supervise waits for the end of the run, enforcing the wall-clock limit,
// and builds the Result.
func (sup *supervisor) supervise(ctx context.Context) *Result {
	var (
		out        Outcome
		childErr   *ChildError
		exited     *Exited
		started    time.Time
		ended      time.Time
		wallTimer  <-chan time.Time
		reasonKill string
	)
	reports, waited := sup.reports, sup.waited
	kill := func(reason string) {
		if reasonKill == "" {
			reasonKill = reason
			// SIGKILL to the pid namespace's init takes every process
			// of the sandbox with it.
			_ = sup.cmd.Process.Kill()
		}
	}
	for reports != nil || waited != nil {
		select {
		case rep, ok := <-reports:
			if !ok {
				reports = nil
				continue
			}
			switch {
			case rep.Error != nil && childErr == nil:
				childErr = rep.Error
			case rep.Started != nil:
				started = time.Now()
				if w := sup.spec.Limits.Wall; w > 0 {
					wallTimer = time.After(w)
				}
			case rep.Exited != nil:
				exited = rep.Exited
				ended = time.Now()
			}
		case <-waited:
			waited = nil
			if ended.IsZero() {
				ended = time.Now()
			}
		case <-wallTimer:
			wallTimer = nil
			out.WallKilled = true
			kill("wall")
		case <-ctx.Done():
			kill("interrupted")
		}
	}
	if started.IsZero() {
		started = ended
	}
	res := &Result{
		WallTime:  Seconds(ended.Sub(started)),
		SetupTime: Seconds(started.Sub(sup.begin)),
		Isolation: sup.isolation(),
		Limits:    sup.limitsInForce(),
	}
	switch {
	case childErr != nil:
		out.SetupFailed = true
		res.Error = explainChildError(childErr, sup.spec).Error()
		res.ExitCode = setupExitCode(childErr)
	case exited != nil:
		ws := syscall.WaitStatus(exited.Status)
		if ws.Signaled() {
			out.Signal = ws.Signal()
		} else {
			out.Exited, out.ExitCode = true, ws.ExitStatus()
		}
		res.CPUUser = Seconds(time.Duration(exited.UserUsec) * time.Microsecond)
		res.CPUSys = Seconds(time.Duration(exited.SysUsec) * time.Microsecond)
		res.PeakMemory = exited.MaxRSSKiB << 10
		res.PeakMemorySource = "rusage: largest single process"
	case reasonKill != "":
		out.Signal = syscall.SIGKILL
		sup.fillFromInitRusage(res)
	default:
		out.SetupFailed = true
		res.Error = fmt.Sprintf("the sandbox init ended without a report (%v); this is a bug in jail", sup.cmd.ProcessState)
		res.ExitCode = ExitSetupFailed
	}
	if out.Signal != 0 {
		res.Signal = unix.SignalName(out.Signal)
		res.ExitCode = 128 + int(out.Signal)
	} else if out.Exited {
		res.ExitCode = out.ExitCode
	}
	res.Verdict = Decide(out)
	switch {
	case reasonKill == "wall":
		res.Reason = fmt.Sprintf("wall-clock limit of %v reached", sup.spec.Limits.Wall)
	case reasonKill == "interrupted":
		res.Reason = "jail was interrupted; the sandbox was killed"
	case res.Verdict == OLE:
		res.Reason = "file-size limit reached (SIGXFSZ)"
	}
	return res
}

// fillFromInitRusage is the fallback when the init was killed before it
// could report: the kernel's rusage of the init covers every process it or
// the namespace teardown reaped, plus the init's own small share.
func (sup *supervisor) fillFromInitRusage(res *Result) {
	st := sup.cmd.ProcessState
	if st == nil {
		return
	}
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return
	}
	res.CPUUser = Seconds(time.Duration(ru.Utime.Nano()))
	res.CPUSys = Seconds(time.Duration(ru.Stime.Nano()))
	res.PeakMemory = ru.Maxrss << 10
	res.PeakMemorySource = "rusage: largest single process, including the sandbox init (the run was killed)"
}

func (sup *supervisor) isolation() Isolation {
	s := sup.spec
	root := "tmpfs with the host's /usr read-only"
	if s.RootFS != "" {
		root = "overlay over " + s.RootFS
	}
	return Isolation{
		Namespaces: namespaceNames(s), Root: root, UID: s.UID, GID: s.GID, HostUID: sup.hostUID,
		NoNewPrivs: true, Capabilities: "none", Seccomp: "none",
	}
}

func (sup *supervisor) limitsInForce() []Limit {
	l := sup.spec.Limits
	out := []Limit{
		{Name: "disk", Value: fmt.Sprint(sup.spec.Disk), Mechanism: "tmpfs size behind /, /tmp and /dev/shm"},
		{Name: "core", Value: "0", Mechanism: "RLIMIT_CORE"},
	}
	if l.Wall > 0 {
		out = append(out, Limit{Name: "wall", Value: l.Wall.String(), Mechanism: "supervisor timer, SIGKILL of the pid namespace"})
	}
	if l.FileSize > 0 {
		out = append(out, Limit{Name: "fsize", Value: fmt.Sprint(l.FileSize), Mechanism: "RLIMIT_FSIZE"})
	}
	if l.OpenFiles > 0 {
		out = append(out, Limit{Name: "nofile", Value: fmt.Sprint(l.OpenFiles), Mechanism: "RLIMIT_NOFILE"})
	}
	return out
}

// setupExitCode follows docker: 127 when PROG does not exist in the
// sandbox, 126 when it exists but cannot be executed, 125 otherwise.
func setupExitCode(e *ChildError) int {
	if e.Stage != StageExec {
		return ExitSetupFailed
	}
	switch e.Errno {
	case unix.ENOENT, unix.ENOTDIR:
		return ExitNotFound
	}
	return ExitCannotExec
}

// StageExec is the child's last stage; its failures are PROG's fault, not
// the sandbox's, and get exit codes 126/127.
const StageExec = "exec"

// explainChildError adds the fix to the kernel refusals we know.
func explainChildError(e *ChildError, s *Spec) error {
	if e.Stage == StageExec {
		switch e.Errno {
		case unix.ENOENT, unix.ENOTDIR:
			return fmt.Errorf("%s: not found inside the sandbox (the sandbox sees only its root and your -v binds; bind the program's directory, e.g. -v \"$PWD:/work\" -w /work)", e.Detail)
		case unix.EACCES:
			return fmt.Errorf("%s: permission denied inside the sandbox (PROG runs as uid %d; make it executable and readable by that user)", e.Detail, s.UID)
		case unix.ENOEXEC:
			return fmt.Errorf("%s: not an executable format this kernel can run (a script needs a #! line)", e.Detail)
		}
		return fmt.Errorf("%s: cannot execute: %v", e.Detail, e.Errno)
	}
	if e.Stage == "mounts" && strings.HasPrefix(e.Op, "overlay root") && (e.Errno == unix.EINVAL || e.Errno == unix.EPERM) {
		return fmt.Errorf("%w (overlayfs inside a user namespace needs Linux 5.11 or newer; this is %s)", e, kernelRelease())
	}
	return e
}

// explainCloneError turns a refused clone into the sysctl or limit to fix.
func explainCloneError(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	switch errno {
	case unix.EPERM, unix.EACCES:
		var fixes []string
		if readSysctl("kernel/unprivileged_userns_clone") == "0" {
			fixes = append(fixes, "sysctl -w kernel.unprivileged_userns_clone=1")
		}
		if readSysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" {
			fixes = append(fixes, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for jail)")
		}
		if readSysctl("user/max_user_namespaces") == "0" {
			fixes = append(fixes, "sysctl -w user.max_user_namespaces=15000")
		}
		if len(fixes) == 0 {
			fixes = append(fixes, "check that a seccomp or LSM policy of the calling environment (a container?) allows unshare(CLONE_NEWUSER)")
		}
		return fmt.Errorf("creating user namespaces was refused (%v); fix: %s", errno, strings.Join(fixes, "; "))
	case unix.ENOSPC:
		return fmt.Errorf("the namespace count limit is reached (%v); raise user.max_user_namespaces (and the other user.max_*_namespaces) with sysctl", errno)
	case unix.EINVAL:
		return fmt.Errorf("the kernel refused a namespace jail needs (%v); it must be built with CONFIG_USER_NS, PID_NS, NET_NS, IPC_NS, UTS_NS and CGROUPS", errno)
	}
	return fmt.Errorf("starting the sandbox: %w", err)
}

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "an unknown kernel"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}
