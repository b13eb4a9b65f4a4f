// Package child is everything that runs inside the sandbox's namespaces,
// on the far side of clone(). Its entry point, Main, is the init (pid 1)
// of the new pid namespace: it executes the Plan the parent compiled,
// stage by stage, starts PROG, reaps, and reports back. It decides
// nothing: every choice was made in package sandbox before clone.
//
// Protocol with the parent (package sandbox): fd 3 carries the JSON Plan
// and is closed by the parent; fd 4 carries JSON-line Reports back; fds 5
// and up are O_PATH descriptors of the host paths the Plan binds.
package child

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"jail/sandbox"
)

// Main runs the init. It never returns.
func Main() {
	// Two Ps: the seccomp watch blocks in an ioctl, and with one P the
	// main goroutine, back from wait4, would wait for sysmon to take the
	// P back from it, which costs milliseconds at the end of every run.
	runtime.GOMAXPROCS(2)
	runtime.LockOSThread()
	report := json.NewEncoder(os.NewFile(sandbox.ReportFD, "report"))

	plan, err := readPlan()
	if err == nil {
		err = setup(plan)
	}
	if err != nil {
		_ = report.Encode(sandbox.Report{Error: asChildError(err)})
		os.Exit(1)
	}
	protectInit()
	pid, listener, cerr := spawnProg(&plan.Exec)
	if cerr != nil {
		_ = report.Encode(sandbox.Report{Error: cerr})
		os.Exit(1)
	}
	for _, fd := range plan.Exec.CgroupFDs {
		unix.Close(fd)
	}
	var violations *violationWatch
	if listener >= 0 {
		violations = watchViolations(listener)
	}
	execDone := time.Now()
	_ = report.Encode(sandbox.Report{Started: &sandbox.Started{Pid: pid}})
	exited := reap(pid)
	exited.WallUsec = time.Since(execDone).Microseconds()
	if violations != nil {
		exited.Violation = violations.first()
	}
	_ = report.Encode(sandbox.Report{Exited: exited})
	os.Exit(0)
}

// setup is the child's stage list, in order.
func setup(plan *sandbox.Plan) error {
	// Not dumpable: PROG runs as the same uid as this init, and must not
	// be able to open /proc/1/exe (the jail binary, CVE-2019-5736) or
	// /proc/1/fd, nor ptrace us during setup.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return stageErr("not dumpable", err)
	}
	setProcessName("jail-init")
	ignoreSignals()
	if err := buildRoot(plan); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(plan.Hostname)); err != nil {
		return stageErr("hostname", err)
	}
	if plan.LoopbackUp {
		if err := loopbackUp(); err != nil {
			return stageErr("loopback", err)
		}
	}
	return nil
}

// readPlan reads the one JSON Plan the parent writes, then watches the
// pipe as a lifeline: the parent keeps it open for the whole run, so EOF
// means jail died, and the sandbox must die with it. PR_SET_PDEATHSIG
// alone is not enough: the kernel clears it when the init changes ids.
func readPlan() (*sandbox.Plan, error) {
	// Non-blocking, so the lifeline is watched by the netpoller instead
	// of a thread blocked in read(2).
	_ = unix.SetNonblock(sandbox.PlanFD, true)
	f := os.NewFile(sandbox.PlanFD, "plan")
	dec := json.NewDecoder(f)
	var p sandbox.Plan
	if err := dec.Decode(&p); err != nil {
		return nil, &sandbox.ChildError{Stage: "reading the plan", Detail: err.Error()}
	}
	go func() {
		_, _ = io.Copy(io.Discard, io.MultiReader(dec.Buffered(), f))
		_ = unix.Kill(-1, unix.SIGKILL)
		os.Exit(1)
	}()
	return &p, nil
}

// ignoreSignals keeps the init alive against signals from PROG (same uid)
// and from the terminal; the parent ends the sandbox with SIGKILL, which
// cannot be ignored. PROG gets default dispositions back in spawn.c.
func ignoreSignals() {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGPIPE,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGALRM)
}

// loopbackUp brings up lo in the new network namespace, so PROG can serve
// and connect on 127.0.0.1 but nowhere else.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// spawnProg finds PROG inside the new root and starts it.
func spawnProg(e *sandbox.ExecPlan) (int, int, *sandbox.ChildError) {
	path, err := lookPath(e)
	if err != nil {
		return 0, -1, &sandbox.ChildError{Stage: sandbox.StageExec, Errno: unix.ENOENT, Detail: e.Argv[0]}
	}
	return spawn(path, e)
}

// reap waits for PROG, then kills and reaps whatever PROG left behind, so
// the resource use of the whole tree is counted and nothing outlives the
// run. Descendants orphaned earlier were reparented to us and are counted
// as they are reaped.
func reap(prog int) *sandbox.Exited {
	var total unix.Rusage
	var status unix.WaitStatus
	add := func(ru *unix.Rusage) {
		total.Utime.Sec += ru.Utime.Sec
		total.Utime.Usec += ru.Utime.Usec
		total.Stime.Sec += ru.Stime.Sec
		total.Stime.Usec += ru.Stime.Usec
		total.Maxrss = max(total.Maxrss, ru.Maxrss)
	}
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, 0, &ru)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break
		}
		add(&ru)
		if pid == prog {
			status = ws
			// kill(-1) from the pid namespace's init reaches every other
			// process in the namespace.
			_ = unix.Kill(-1, unix.SIGKILL)
		}
	}
	return &sandbox.Exited{
		Status:    uint32(status),
		UserUsec:  total.Utime.Sec*1e6 + total.Utime.Usec,
		SysUsec:   total.Stime.Sec*1e6 + total.Stime.Usec,
		MaxRSSKiB: total.Maxrss,
	}
}

func stageErr(stage string, err error) *sandbox.ChildError {
	ce := &sandbox.ChildError{Stage: stage}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		ce.Errno = errno
	} else {
		ce.Detail = err.Error()
	}
	return ce
}

func asChildError(err error) *sandbox.ChildError {
	var ce *sandbox.ChildError
	if errors.As(err, &ce) {
		return ce
	}
	return &sandbox.ChildError{Stage: "setup", Detail: err.Error()}
}

// setProcessName names the init in ps during setup, as runc does.
func setProcessName(name string) {
	b := append([]byte(name), 0)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// lookPath finds PROG the way execvp does, but in the sandbox's root and
// with the sandbox's PATH, never the host's.
func lookPath(e *sandbox.ExecPlan) (string, error) {
	name := e.Argv[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := defaultPath
	for _, kv := range e.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(e.Dir, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// defaultPath is execvp's fallback when the environment has no PATH.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"
