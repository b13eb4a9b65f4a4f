package sandbox

import (
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/field"
	"jail/rootfs"
	"jail/sandbox/native"
	"jail/seccomp"
)

// Plan is everything the sandbox's init does, decided in the parent.
type Plan struct {
	// Mounts build the tree. Host paths in them are opened by the child
	// before pivot_root: a mount can only be cloned from the mount
	// namespace it lives in, so the parent cannot open them for it.
	Mounts     []rootfs.Op
	Hostname   string
	LoopbackUp bool
	Exec       ExecPlan
	Landlock   LandlockPlan
	// Launch is all of the above as the C init executes it (lower): the
	// start adds only the descriptors and the id maps.
	Launch native.Config
}

// ExecPlan is what the child needs to start PROG.
type ExecPlan struct {
	Argv    []string
	Env     []string
	Dir     string
	TTY     bool
	Rlimits []Rlimit
	// UID and GID are PROG's ids inside; DropGroups clears the supplementary
	// groups, which the kernel allows only when jail runs as root or maps
	// subordinate ids through newgidmap.
	// Seccomp is the compiled filter (struct sock_filter array) loaded
	// just before exec, or empty. With SeccompNotify its kill actions are
	// user notifications the init receives, to name the syscall.
	Seccomp       []byte
	SeccompNotify bool
	// SeccompDecide is the policy's own program, which answers the
	// notifications of Seccomp (see seccomp.Recording).
	SeccompDecide []byte
	SeccompLog    bool
	UID           uint32
	GID           uint32
	DropGroups    bool
	// RootCaps are the capabilities, bit n for number n, that PROG keeps
	// if it executes as uid 0 (Spec.RootCaps).
	RootCaps uint64
}

// ContainerRootCaps are the capabilities Docker's and containerd's
// default profiles give a container's root.
var ContainerRootCaps = []int{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
	unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETFCAP, unix.CAP_SETPCAP,
	unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE}

func rootCaps(s *Spec) uint64 {
	if s.RootCaps {
		return containerRootMask()
	}
	return 0
}

// containerRootMask is ContainerRootCaps, bit n for capability n.
func containerRootMask() uint64 {
	var m uint64
	for _, c := range ContainerRootCaps {
		m |= 1 << c
	}
	return m
}

// Rlimit is one setrlimit(2) call made just before exec.
type Rlimit struct {
	Resource int
	Name     string
	Cur      uint64
	Max      uint64
}

// compile resolves the Spec into the Plan the child executes. The seccomp
// policy becomes BPF here, so the child only loads it. Its kill actions
// become user notifications, so the init can name the violating call.
// cgroups are the run's cgroup directories, which exist by now, so PROG
// can be shown them. reusable plans a sandbox that serves task after
// task (rootfs.Config.Reusable).
func compile(s *Spec, host rootfs.Host, cgroups []rootfs.Cgroup, landlock LandlockPlan, reusable bool) (*Plan, error) {
	ops := rootfs.Build(rootfs.Config{
		RootFS: s.RootFS, Layers: s.Layers, Upper: s.Upper, WorkDir: s.Dir, Disk: s.Disk, Binds: s.Binds, Hostname: s.Hostname,
		UID: s.UID, GID: s.GID, PrivateNet: s.Net == NetNone, Cgroups: cgroups, Host: host, Reusable: reusable,
	})
	p := &Plan{
		Mounts:     ops,
		Hostname:   s.Hostname,
		LoopbackUp: s.Net == NetNone,
		Landlock:   landlock,
		Exec: ExecPlan{
			Argv: s.Argv, Env: s.Env, Dir: path.Clean(s.Dir), TTY: s.TTY,
			Rlimits: rlimits(s), UID: s.UID, GID: s.GID, DropGroups: asRoot() || s.IDs != nil,
			RootCaps: rootCaps(s),
		},
	}
	if s.Seccomp != nil {
		prog, err := s.Seccomp.Compile(seccomp.CompileOptions{KillAs: "notify"})
		if err != nil {
			return nil, field.Wrap("seccomp", s.Seccomp.Name, err)
		}
		// PROG's filter notifies for the errno denials too, so the init can
		// count them; it answers each from prog itself.
		rec, err := seccomp.Recording(prog)
		if err != nil {
			return nil, field.Wrap("seccomp", s.Seccomp.Name, err)
		}
		p.Exec.Seccomp, p.Exec.SeccompNotify, p.Exec.SeccompLog = rec.Raw, rec.Notify, s.SeccompLog
		p.Exec.SeccompDecide = prog.Raw
	}
	var err error
	if p.Launch, err = lower(s, p); err != nil {
		return nil, err
	}
	// Its tasks' IPC objects must go with each of them.
	p.Launch.Reuse, p.Launch.Task.Exec.NewIPC = reusable, reusable
	p.Launch.Task.Exec.CgroupView = rootfs.UnifiedView(cgroups)
	return p, nil
}

// rlimits are set in PROG's process just before exec. Core dumps are
// always off: a dump of untrusted code is useless to the caller and can
// fill the disk budget.
func rlimits(s *Spec) []Rlimit {
	out := []Rlimit{{Resource: unix.RLIMIT_CORE, Name: "core"}}
	if n := s.Limits.FileSize; n > 0 {
		out = append(out, Rlimit{Resource: unix.RLIMIT_FSIZE, Name: "fsize", Cur: uint64(n), Max: uint64(n)})
	}
	if t := s.Limits.CPUTime; t > 0 {
		// A backstop only: the supervisor enforces --time on the whole
		// tree within ms; RLIMIT_CPU counts whole seconds per process.
		secs := uint64((t+s.Limits.ExtraTime+time.Second-1)/time.Second) + 1
		out = append(out, Rlimit{Resource: unix.RLIMIT_CPU, Name: "cpu", Cur: secs, Max: secs + 1})
	}
	if n := s.Limits.OpenFiles; n > 0 {
		out = append(out, Rlimit{Resource: unix.RLIMIT_NOFILE, Name: "nofile", Cur: uint64(n), Max: uint64(n)})
	}
	return out
}

// ChildError is a setup failure inside the child, sent to the parent as
// data: which stage, which of the user's mounts or limits, which errno.
type ChildError struct {
	Stage  string
	Op     string
	Errno  syscall.Errno
	Detail string
	// Source is the host path the failed mount opened, if it opened one.
	Source string
}

func (e *ChildError) Error() string {
	msg := "sandbox setup: " + e.Stage
	if e.Op != "" {
		msg += " (" + e.Op + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Errno != 0 && !strings.HasSuffix(e.Detail, e.Errno.Error()) {
		msg += ": " + e.Errno.Error()
	}
	return msg
}

func (e *ChildError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Report is one record of the init's, as the supervisor reads it.
type Report struct {
	Error   *ChildError
	Started *Started
	Exited  *Exited
}

// Started says PROG has been exec'd.
type Started struct {
	Pid int
}

// Exited is PROG's end as the child's init saw it: its wait status and the
// resource use of PROG and every descendant the init reaped.
type Exited struct {
	Status    uint32
	UserUsec  int64
	SysUsec   int64
	MaxRSSKiB int64
	// WallUsec is PROG's run from exec to its reaping, measured by the
	// init next to it, free of the report pipe's latency.
	WallUsec int64
	// Violation is the system call that broke the seccomp policy, when
	// the init ended the run for it.
	Violation *Violation
	// Pid1Died says how the sandbox's pid 1 died before the init ended
	// the run ("signal: killed"), which took every process with it.
	Pid1Died string
	// Denied are the calls the policy denied with an errno, by name;
	// DeniedMore counts those past the ones named.
	Denied     []Denied
	DeniedMore int
}

// Violation is a denied system call as the kernel reported it: the
// number and the audit architecture, named by the parent.
type Violation struct {
	Nr   int32
	Arch uint32
	Args [6]uint64
	// OverBudget: the policy denies the call with an errno, but the run
	// had had native.DeniedBudget of those answered already.
	OverBudget bool
}
