package native

/*
#include <stdlib.h>
#include "launcher.h"
*/
import "C"

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpKind is what one Op does; see enum jail_op_kind.
type OpKind int

const (
	OpRoot     OpKind = C.JAIL_OP_ROOT
	OpBind     OpKind = C.JAIL_OP_BIND
	OpScratch  OpKind = C.JAIL_OP_SCRATCH
	OpMount    OpKind = C.JAIL_OP_MOUNT
	OpMkdir    OpKind = C.JAIL_OP_MKDIR
	OpSymlink  OpKind = C.JAIL_OP_SYMLINK
	OpFile     OpKind = C.JAIL_OP_FILE
	OpMaskFile OpKind = C.JAIL_OP_MASK_FILE
	OpMaskDir  OpKind = C.JAIL_OP_MASK_DIR
	OpReadOnly OpKind = C.JAIL_OP_READ_ONLY
	OpProc     OpKind = C.JAIL_OP_PROC
	OpSeal     OpKind = C.JAIL_OP_SEAL
	OpLayer    OpKind = C.JAIL_OP_LAYER
)

// Op is one fully decided mount operation.
type Op struct {
	Kind         OpKind
	Target       string
	Parent, Base string // of Target, for OpSymlink and OpFile
	Source       string
	FSType       string
	Data         string
	// Layers is how many OpLayer ops right before an OpRoot are its
	// overlay's lower layers, the first on top; OverlayOpts are its
	// options past the layers, which the init adds itself; LowerdirPlus
	// stacks them one fsconfig at a time (Linux 6.8), for more than fit
	// in one page of mount(2) options.
	Layers       int
	OverlayOpts  string
	LowerdirPlus bool
	Flags        uintptr // MS_*
	Attrs        uint64  // MOUNT_ATTR_*
	Mode         uint32
	// Renew mounts it afresh between the tasks of a sandbox that serves
	// again.
	Renew bool
}

// Init stages, past jail_spawn's.
const (
	StageFDs      Stage = C.JAIL_L_FDS
	StageDumpable Stage = C.JAIL_L_DUMPABLE
	StagePrivate  Stage = C.JAIL_L_PRIVATE
	StageSource   Stage = C.JAIL_L_SOURCE
	StageUser     Stage = C.JAIL_L_USER
	StageMount    Stage = C.JAIL_L_MOUNT
	StagePivot    Stage = C.JAIL_L_PIVOT
	StageHostname Stage = C.JAIL_L_HOSTNAME
	StageLoopback Stage = C.JAIL_L_LOOPBACK
	StageSignalfd Stage = C.JAIL_L_SIGNALFD
	StageLookPath Stage = C.JAIL_L_LOOKPATH
	StageIDMaps   Stage = C.JAIL_L_IDMAPS
	StageNetNS    Stage = C.JAIL_L_NETNS
	StagePidNS    Stage = C.JAIL_L_PIDNS
	StageWatch    Stage = C.JAIL_L_SUPERVISE
	StageLandlock Stage = C.JAIL_L_LANDLOCK
	StageWarm     Stage = C.JAIL_L_WARM
	StageRenew    Stage = C.JAIL_L_RENEW
	StageBeside   Stage = C.JAIL_L_EXEC
	StagePTY      Stage = C.JAIL_L_PTY
	StageBounding Stage = C.JAIL_L_BOUNDING
)

// FD numbers in the init, after it rearranged its descriptors.
const (
	FDCtl         = C.JAIL_FD_CTL
	FDReport      = C.JAIL_FD_REPORT
	FDFirstCgroup = C.JAIL_FD_FIRST_CGROUP
)

// Descriptors are the init's descriptors in the order it puts them at
// 0, 1, 2, FDCtl, FDReport and FDFirstCgroup on: PROG's three streams,
// the init's end of the ctl socket and of the report pipe, and the
// cgroup.procs files PROG joins.
func Descriptors(std []*os.File, ctl, report *os.File, cgroups []*os.File) []*os.File {
	return append(append(append([]*os.File{}, std[:3]...), ctl, report), cgroups...)
}

// CgroupFDs are where the init puts n cgroup.procs files, for
// Exec.CgroupFDs.
func CgroupFDs(n int) []int {
	fds := make([]int, n)
	for i := range fds {
		fds[i] = FDFirstCgroup + i
	}
	return fds
}

// Config is everything the init does, decided in the parent.
type Config struct {
	CloneFlags uintptr
	// Files become the init's 0, 1, 2, FDCtl, FDReport, FDFirstCgroup...
	Files      []*os.File
	Ops        []Op
	Staging    string
	Hostname   string
	Loopback   bool
	UID, GID   uint32
	DropGroups bool
	// BoundingKeep is the capabilities (bit n: capability n) any task of
	// a warm init may keep; it drops the others from its bounding set
	// once, not each spawn.
	BoundingKeep uint64
	// Task is PROG's, for a cold start; a warm init gets it later
	// (SendTask).
	Task
	// Reuse has a warm init serve task after task (see Op.Renew).
	Reuse bool
	// Ahead has a warm init make its next task's PROG ahead of it, its
	// filter loaded, set up as Task (the first) or the task just run (a
	// reused one's next), for a task that fits (jail_ahead_make in
	// spawn.c): only where exec enters the time namespace PROG's process
	// unshared. With AheadCgroup, where runs have cgroups, the init
	// waits after each READY for the next task's cgroup
	// (SendAheadCgroup) and makes the process in it.
	Ahead, AheadCgroup bool
	// SelfMaps has the init map InnerUID/GID to OuterUID/GID itself;
	// without it the caller writes the maps, then the go-ahead on FDCtl.
	SelfMaps                               bool
	InnerUID, InnerGID, OuterUID, OuterGID uint32
}

// Task is what changes from one task to the next in one sandbox: PROG and
// everything that runs it.
type Task struct {
	// Candidates are PROG's possible paths in PATH order; with Check the
	// first regular executable wins, else Candidates[0] is used as is.
	Candidates []string
	Check      bool
	Exec       Exec
	// SpawnSharesMemory lets PROG's spawner share the init's memory
	// (jail's) instead of copying it, which saves about 0.35 ms but makes
	// jail's resident size the floor of PROG's ru_maxrss: only for runs
	// whose peak memory comes from their cgroup.
	SpawnSharesMemory bool
	// LandlockABI, with LandlockFS and LandlockScoped, is PROG's Landlock
	// ruleset (none when 0): the file-system accesses granted beneath its
	// root and the LANDLOCK_SCOPE_* bits.
	LandlockABI                int
	LandlockFS, LandlockScoped uint64
	// Decide is the policy's program with its errno returns, which the
	// init runs to answer the notifications of Exec.Filter.
	Decide []byte
	// ID names a command run beside PROG (jail exec) in its reports.
	// With PTY the init opens its terminal, Rows by Cols, in the
	// sandbox's own devpts and hands the master over the one stream
	// descriptor the task comes with, a unix socket.
	ID         int32
	PTY        bool
	Rows, Cols uint16
	// CgroupAhead says the task's cgroup is the one sent for its PROG's
	// process made ahead (SendAheadCgroup); Exec's cgroup files are still
	// its files, for a PROG spawned after all.
	CgroupAhead bool
}

// Init is a running sandbox init. It is normally cloned with CLONE_VM: it
// shares this process's memory, so the clone copies no page tables,
// neither side takes copy-on-write faults afterwards, and its exit tears
// down no copy of the Go heap (together about 0.8 ms of a run). It touches only C
// memory: the launch description, which stays allocated until it is
// reaped, and a stack of its own.
//
// It also shares the thread-local storage of the OS thread that cloned it
// (glibc's errno and cancellation state). That thread is given over to
// it: locked to one goroutine that clones the init, then only waits for
// it (raw system calls, no C), and exits with the goroutine, as the Go
// runtime ends a thread left locked. So nothing else reads or writes that
// storage while the init runs.
//
// Whether a process may be ptraced or have its /proc files opened by its
// own user (dumpable) is a property of its memory, so jail and such an
// init share it. The init is made not dumpable before PROG exists, which
// must hold for as long as PROG lives; yet an unprivileged init needs to
// be dumpable to write its own id maps. So only one init at a time shares
// jail's memory (sharedInit), and it alone flips the flag: while it is
// alive, further inits get a copy of the memory instead (the plain fork,
// about 0.8 ms slower), whose flag is theirs.
type Init struct {
	Pid int
	// exit is how the init ended, once done is closed.
	done chan struct{}
	exit initExit

	mu     sync.Mutex
	reaped bool
}

type initExit struct {
	status syscall.WaitStatus
	rusage syscall.Rusage
	err    error
}

// Start clones the init. With cfg.SelfMaps the init maps itself and goes
// on; without, it waits for one byte on its FDCtl before it does
// anything, and the caller writes the id maps first. The error is a
// syscall.Errno when clone itself failed.
func Start(cfg *Config) (*Init, error) {
	p := &Init{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: see Init.
		var m cmem
		defer m.free()
		l := describe(&m, cfg)
		if sharedInit.TryLock() {
			defer sharedInit.Unlock()
			l.share_vm = 1
		}
		pid := int(C.jail_launch_start(l))
		runtime.KeepAlive(cfg.Files)
		if pid < 0 {
			started <- syscall.Errno(-pid)
			return
		}
		p.Pid = pid
		started <- nil
		ws, ru, err := p.reap()
		C.jail_launch_release(l)
		p.exit = initExit{ws, ru, err}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// sharedInit is held while an init shares this process's memory.
var sharedInit sync.Mutex

// Kill sends SIGKILL to the init unless it has been reaped: the pid stays
// this process's zombie until then, so it is never a recycled one.
func (p *Init) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return nil
	}
	return unix.Kill(p.Pid, unix.SIGKILL)
}

// Wait returns how the init ended and the resources it and the children
// it reaped used, once it is reaped; to every caller (an early init a
// run discarded is waited for again at jail's exit).
func (p *Init) Wait() (syscall.WaitStatus, syscall.Rusage, error) {
	<-p.done
	return p.exit.status, p.exit.rusage, p.exit.err
}

// reap waits until the init has exited without reaping it (WNOWAIT),
// then reaps it under the lock Kill takes.
func (p *Init) reap() (syscall.WaitStatus, syscall.Rusage, error) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WALL, nil)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return 0, syscall.Rusage{}, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	_, err := syscall.Wait4(p.Pid, &ws, syscall.WALL, &ru)
	p.reaped = true
	return ws, ru, err
}

// describe lays cfg out in C memory owned by m.
func describe(m *cmem, cfg *Config) *C.struct_jail_launch {
	l := (*C.struct_jail_launch)(m.alloc(C.sizeof_struct_jail_launch))
	l.clone_flags = C.ulong(cfg.CloneFlags)
	fds := (*C.int)(m.alloc(len(cfg.Files) * C.sizeof_int))
	fdView := unsafe.Slice(fds, len(cfg.Files))
	for i, f := range cfg.Files {
		fdView[i] = C.int(f.Fd())
	}
	l.nfds, l.fds = C.int(len(cfg.Files)), fds
	if n := len(cfg.Ops); n > 0 {
		ops := (*C.struct_jail_op)(m.alloc(n * C.sizeof_struct_jail_op))
		view := unsafe.Slice(ops, n)
		for i, op := range cfg.Ops {
			o := &view[i]
			o.kind = C.int(op.Kind)
			o.target, o.parent, o.base = m.str(op.Target), m.str(op.Parent), m.str(op.Base)
			o.source, o.fstype = m.str(op.Source), m.str(op.FSType)
			o.data, o.data_len = m.str(op.Data), C.ulong(len(op.Data))
			o.overlay_opts = m.str(op.OverlayOpts)
			o.layers = C.int(op.Layers)
			if op.LowerdirPlus {
				o.lowerdir_plus = 1
			}
			if op.Data == "" && op.Kind == OpMount {
				o.data = nil
			}
			o.flags, o.attrs, o.mode = C.ulong(op.Flags), C.ulonglong(op.Attrs), C.uint(op.Mode)
			if op.Renew {
				o.renew = 1
			}
		}
		l.nops, l.ops = C.int(n), ops
		l.op_fds = (*C.int)(m.alloc(n * C.sizeof_int))
	}
	l.staging = m.str(cfg.Staging)
	l.hostname, l.hostname_len = m.str(cfg.Hostname), C.int(len(cfg.Hostname))
	if cfg.Loopback {
		l.loopback = 1
	}
	l.uid, l.gid = C.uint(cfg.UID), C.uint(cfg.GID)
	if cfg.DropGroups {
		l.drop_groups = 1
	}
	l.bounding_keep = C.ulonglong(cfg.BoundingKeep)
	m.task(&l.task, &cfg.Task)
	if cfg.SelfMaps {
		l.self_maps = 1
		l.inner_uid, l.inner_gid = C.uint(cfg.InnerUID), C.uint(cfg.InnerGID)
		l.outer_uid, l.outer_gid = C.uint(cfg.OuterUID), C.uint(cfg.OuterGID)
	}
	return l
}

// task lays t out in C memory owned by m.
func (m *cmem) task(l *C.struct_jail_task, t *Task) {
	l.ncandidates = C.int(len(t.Candidates))
	l.candidates = (**C.char)(unsafe.Pointer(m.strs(t.Candidates)))
	if t.Check {
		l.check_candidates = 1
	}
	m.fill(&l.exec, &t.Exec)
	if t.SpawnSharesMemory {
		l.spawn_shares_memory = 1
	}
	if n := len(t.Decide); n > 0 {
		l.decide = (*C.struct_sock_filter)(m.bytes(t.Decide))
		l.decide_len = C.int(n / 8)
	}
	l.landlock_abi = C.int(t.LandlockABI)
	l.landlock_fs, l.landlock_scoped = C.ulonglong(t.LandlockFS), C.ulonglong(t.LandlockScoped)
	l.id = C.int(t.ID)
	if t.PTY {
		l.pty = 1
	}
	l.rows, l.cols = C.ushort(t.Rows), C.ushort(t.Cols)
	if t.CgroupAhead {
		l.cgroup_ahead = 1
	}
}

// wireMem is a cmem that lays everything out in one arena, as a warm
// init receives it.
func wireMem() *cmem {
	wireArenas.mu.Lock()
	defer wireArenas.mu.Unlock()
	if n := len(wireArenas.free); n > 0 {
		a := wireArenas.free[n-1]
		wireArenas.free = wireArenas.free[:n-1]
		return &cmem{arena: a}
	}
	return &cmem{arena: unsafe.Slice((*byte)(C.calloc(1, C.JAIL_WIRE_MAX)), C.JAIL_WIRE_MAX)}
}

// wireArenas are arenas given back, zeroed, for the next description: a
// service lays one out per task, and calloc and free of 192 KiB mapped
// and unmapped it, and faulted its pages in, every time.
var wireArenas struct {
	mu   sync.Mutex
	free [][]byte
}

// maxFreeArenas is about as many as a service's workers use at once.
const maxFreeArenas = 8

// giveBack keeps arena for the next wireMem, cleared as far as it was
// used; false when enough are kept.
func giveBack(arena []byte, used int) bool {
	wireArenas.mu.Lock()
	defer wireArenas.mu.Unlock()
	if len(wireArenas.free) >= maxFreeArenas {
		return false
	}
	clear(arena[:used])
	wireArenas.free = append(wireArenas.free, arena)
	return true
}

// packed turns the arena's pointers into offsets from its start (rebase
// does, for the struct at its start) and returns the bytes to send.
func (m *cmem) packed(what string, rebase func(base unsafe.Pointer, delta C.long)) ([]byte, error) {
	if m.overflow {
		return nil, fmt.Errorf("the %s does not fit the %d KiB a warm sandbox takes: run it cold", what, C.JAIL_WIRE_MAX/1024)
	}
	base := unsafe.Pointer(&m.arena[0])
	rebase(base, -C.long(uintptr(base)))
	return m.arena[:m.used], nil
}

// WarmEnv is the environment that makes this binary a warm init before
// its Go runtime starts (warm.c).
const WarmEnv = C.JAIL_WARM_ENV + "=1"

// StartWarm starts a warm init: this binary turned into the init in C
// before any Go runs (forked by the zygote, else exec'd), so that its
// memory is its own and small. cfg.Files become its 0 to FDReport;
// the task comes with SendTask, and cfg.Task is only, with cfg.Ahead,
// what its first PROG is made ahead like. The description
// is sent on ctl, the parent's end of the socket whose other end is
// cfg.Files[FDCtl]. The
// init then reports ReportUnshared, waits for the id maps and the
// go-ahead on ctl, builds everything but PROG and reports ReportReady.
func StartWarm(cfg *Config, ctl *os.File) (*Init, error) {
	if len(cfg.Files) != FDReport+1 {
		return nil, fmt.Errorf("a warm init takes %d descriptors, not %d", FDReport+1, len(cfg.Files))
	}
	m := wireMem()
	defer m.free()
	wire, err := packWire(m, cfg, true)
	if err != nil {
		return nil, err
	}
	pid, err := startWarmInit(cfg.Files)
	runtime.KeepAlive(cfg.Files)
	if err != nil {
		return nil, err
	}
	p := &Init{Pid: pid, done: make(chan struct{})}
	go func() {
		ws, ru, err := p.reap()
		p.exit = initExit{ws, ru, err}
		close(p.done)
	}()
	if _, err := ctl.Write(wire); err != nil {
		_ = p.Kill()
		_, _, _ = p.Wait()
		return nil, fmt.Errorf("sending the sandbox its description: %w", err)
	}
	return p, nil
}

// Early is the init the C start-up of `jail run` forked before the Go
// runtime started (early.c). Its user, mount, ipc, uts and cgroup
// namespaces are made, or being made. With Saved it builds the sandbox
// that description says, as a warm init, and reports ReportReady; without,
// it waits on its own ctl socket for a description (Start).
type Early struct {
	Init     *Init
	Ctl, Rep *os.File
	// SavedPath is where jail saves its sandbox's description for the next
	// run's early init (Save); "" when the user has no directory for it.
	SavedPath string
	// Saved is the description the init is building the sandbox from: the
	// last run's, as WarmWire lays it out.
	Saved []byte

	abandoned bool
}

var (
	earlyMu    sync.Mutex
	earlyTaken bool
	early      *Early
)

// TakeEarly returns the early init, to the first caller only; nil when
// this process has none.
func TakeEarly() *Early {
	earlyMu.Lock()
	defer earlyMu.Unlock()
	if earlyTaken {
		return nil
	}
	earlyTaken = true
	c := cEarly(true)
	if c.pid <= 0 {
		return nil
	}
	p := &Init{Pid: c.pid, done: make(chan struct{})}
	go func() {
		ws, ru, err := p.reap()
		p.exit = initExit{ws, ru, err}
		close(p.done)
	}()
	early = &Early{Init: p, Ctl: os.NewFile(uintptr(c.ctl), "jail-ctl"), Rep: os.NewFile(uintptr(c.rep), "jail-report"),
		SavedPath: c.path, Saved: c.saved}
	return early
}

// EarlyPid is the early init's pid while no one has taken it, else 0.
func EarlyPid() int {
	earlyMu.Lock()
	defer earlyMu.Unlock()
	if earlyTaken {
		return 0
	}
	return max(cEarly(false).pid, 0)
}

// earlyState is what early.c says of the early init; pid is -1 when
// there is none. Its descriptors are raw: an os.File closes its
// descriptor when collected.
type earlyState struct {
	pid, ctl, rep int
	path          string
	saved         []byte
}

// cEarly reads it, the saved description only withSaved (it is copied).
func cEarly(withSaved bool) earlyState {
	var pid, ctl, rep C.int
	var path *C.char
	var saved unsafe.Pointer
	var savedLen C.long
	C.jail_early(&pid, &ctl, &rep, &path, &saved, &savedLen)
	st := earlyState{pid: int(pid), ctl: int(ctl), rep: int(rep), path: C.GoString(path)}
	if saved != nil && withSaved {
		st.saved = C.GoBytes(saved, C.int(savedLen))
	}
	return st
}

// EndEarly ends the early init unless a run took it, and waits for one a
// run abandoned, so that nothing of it outlives jail.
func EndEarly() {
	if e := TakeEarly(); e != nil {
		e.Discard()
		return
	}
	earlyMu.Lock()
	e := early
	earlyMu.Unlock()
	if e != nil && e.abandoned {
		_, _, _ = e.Init.Wait()
	}
}

// Start hands an early init without Saved a cold start's description, as
// Start would clone an init with it: cfg.Files are laid out as for
// Start, with e.Ctl and e.Rep at FDCtl and FDReport, and PROG's streams
// and cgroup.procs files go over the socket. From then on the init is
// watched as a cloned one is. An error means the early init could not
// take it (its namespaces were refused, or the description is too large
// to send); it is then ended, and the caller clones an init instead.
func (e *Early) Start(cfg *Config) error {
	if e.Saved != nil || len(cfg.Files) < FDFirstCgroup || cfg.Files[FDCtl] != e.Ctl || cfg.Files[FDReport] != e.Rep {
		e.Discard()
		return fmt.Errorf("this early init cannot take a cold description")
	}
	if err := e.Unshared(); err != nil {
		e.Discard()
		return err
	}
	m := wireMem()
	defer m.free()
	wire, err := packWire(m, cfg, false)
	if err != nil {
		e.Discard()
		return err
	}
	var files []*os.File
	for i, f := range cfg.Files {
		if i != FDCtl && i != FDReport {
			files = append(files, f)
		}
	}
	if err := sendWith(e.Ctl, wire, files); err != nil {
		e.Discard()
		return fmt.Errorf("sending the early init its description: %w", err)
	}
	return nil
}

// sendWith sends wire on ctl as one message, files with it as SCM_RIGHTS.
//
// Every descriptor is held for the send (a RawConn's Control, or its
// Write for ctl, which also waits for room): the run may end meanwhile
// and close ctl or a cgroup file on another goroutine, and a number
// closed and then reused would send whatever it names by then.
//
// The files are made blocking: they are PROG's streams (and cgroup
// files), and a pipe Go made is non-blocking, which PROG would inherit
// with the open file and see as EAGAIN (yes: Resource temporarily
// unavailable).
func sendWith(ctl *os.File, wire []byte, files []*os.File) error {
	fds := make([]int, len(files))
	var send func(i int) error
	send = func(i int) error {
		if i < len(files) {
			return holding(files[i], func(fd int) error {
				if err := unix.SetNonblock(fd, false); err != nil {
					return err
				}
				fds[i] = fd
				return send(i + 1)
			})
		}
		rc, err := ctl.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			serr = unix.Sendmsg(int(fd), wire, unix.UnixRights(fds...), nil, 0)
			return serr != unix.EAGAIN
		}); err != nil {
			return err
		}
		return serr
	}
	return send(0)
}

// holding calls fn with f's descriptor, which f's Close leaves open until
// fn returns.
func holding(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Unshared reads the early init's first report: its namespaces are made.
func (e *Early) Unshared() error {
	rep, err := ReadReport(e.Rep)
	if err != nil || rep.Kind != ReportUnshared {
		return fmt.Errorf("the early init made no namespaces")
	}
	return nil
}

// Discard ends an early init that is not used, and waits for it.
func (e *Early) Discard() {
	e.Abandon()
	_, _, _ = e.Init.Wait()
}

// Abandon ends an early init that is not used without waiting for it:
// EndEarly does.
func (e *Early) Abandon() {
	e.abandoned = true
	e.Ctl.Close()
	_ = e.Init.Kill()
	e.Rep.Close()
}

// WarmWire is cfg laid out as a warm init receives it: everything but the
// task, and the descriptors where StartWarm's Files put them.
func WarmWire(cfg *Config) ([]byte, error) {
	m := wireMem()
	defer m.free()
	return packWire(m, cfg, true)
}

// packWire lays cfg out in m as an init receives it on its socket, its
// descriptors at the numbers the init gives them: a warm one's (all but
// the task, and descriptors 0 to FDReport), or a cold one's whole.
func packWire(m *cmem, cfg *Config, warm bool) ([]byte, error) {
	c := *cfg
	if warm {
		// Its task comes with SendTask. With Ahead the planned one
		// stays, as what the PROG made ahead of the first task is set up
		// like (only its set-up: no descriptor of it is sent).
		if !cfg.Ahead {
			c.Task = Task{}
		}
		c.Task.Exec.CgroupFDs, c.Task.Exec.CgroupInto = nil, false
		c.Files = make([]*os.File, FDReport+1)
	}
	l := describe(m, &c)
	if warm {
		l.warm = 1
		if cfg.AheadCgroup {
			l.ahead_cgroup = 1
		}
		if cfg.Ahead {
			l.ahead = 1
		}
	}
	if warm && cfg.Reuse {
		l.reuse = 1
	}
	view := unsafe.Slice(l.fds, len(c.Files))
	for i := range view {
		view[i] = C.int(i)
	}
	wire, err := m.packed("sandbox's description", func(base unsafe.Pointer, d C.long) {
		C.jail_launch_rebase((*C.struct_jail_launch)(base), d, 0)
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(wire), nil
}

// Save writes wire (WarmWire) where the next `jail run`'s early init
// reads it (path is Early.SavedPath), for this binary only: in a
// directory of the user's own, atomically.
func Save(path string, wire []byte) error { return SaveFor(path, wire, "/proc/self/exe") }

// SaveFor is Save for the binary at exe.
func SaveFor(path string, wire []byte, exe string) error {
	info, err := os.Stat(exe)
	if err != nil {
		return err
	}
	st := info.Sys().(*syscall.Stat_t)
	var h C.struct_jail_saved
	magic := unsafe.Slice((*byte)(unsafe.Pointer(&h.magic[0])), len(h.magic))
	copy(magic, C.JAIL_SAVED_MAGIC)
	h.exe_dev, h.exe_ino, h.exe_size = C.uint64_t(st.Dev), C.uint64_t(st.Ino), C.uint64_t(st.Size)
	h.exe_mtime_sec, h.exe_mtime_nsec = C.int64_t(st.Mtim.Sec), C.int64_t(st.Mtim.Nsec)
	h.len = C.uint64_t(len(wire))
	sum := fnv.New64a()
	sum.Write(wire)
	h.fnv1a = C.uint64_t(sum.Sum64())
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".last-sandbox-*")
	if err != nil {
		return err
	}
	head := unsafe.Slice((*byte)(unsafe.Pointer(&h)), C.sizeof_struct_jail_saved)
	_, err = f.Write(append(slices.Clone(head), wire...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// SendTask gives a warm init its task, with PROG's stdin, stdout and
// stderr and then the cgroup.procs files (t.Exec.CgroupFDs name where
// they land, from FDFirstCgroup on).
func SendTask(ctl *os.File, t *Task, files []*os.File) error {
	if len(files) > C.JAIL_TASK_FDS {
		return fmt.Errorf("a task hands a warm sandbox at most %d descriptors, not %d", C.JAIL_TASK_FDS, len(files))
	}
	m := wireMem()
	defer m.free()
	m.task((*C.struct_jail_task)(m.alloc(C.sizeof_struct_jail_task)), t)
	wire, err := m.packed("task", func(base unsafe.Pointer, d C.long) {
		C.jail_task_rebase((*C.struct_jail_task)(base), d, 0)
	})
	if err != nil {
		return err
	}
	if err := sendWith(ctl, wire, files); err != nil {
		return fmt.Errorf("sending the sandbox its task: %w", err)
	}
	return nil
}

// SendAheadCgroup gives a warm init with AheadCgroup, after its READY, the
// next task's cgroup: its cgroup.procs files, which the process made ahead
// for that task joins, and whether PROG is shown it (Exec.CgroupView).
// With no files, no process is made ahead.
func SendAheadCgroup(ctl *os.File, procs []*os.File, view bool) error {
	if len(procs) > C.JAIL_AHEAD_CGROUP_FDS {
		return fmt.Errorf("a process made ahead joins at most %d cgroup.procs files, not %d", C.JAIL_AHEAD_CGROUP_FDS, len(procs))
	}
	c := C.struct_jail_ahead_cgroup{nfds: C.int32_t(len(procs))}
	if view {
		c.view = 1
	}
	wire := unsafe.Slice((*byte)(unsafe.Pointer(&c)), C.sizeof_struct_jail_ahead_cgroup)
	if err := sendWith(ctl, wire, procs); err != nil {
		return fmt.Errorf("sending the sandbox its next task's cgroup: %w", err)
	}
	return nil
}

// Report is one record from the init, as sent.
type Report struct {
	Kind       int
	Stage      Stage
	Index, Sub int
	Errno      syscall.Errno
	Pid        int
	Status     uint32
	Violation  bool
	// OverBudget says the violation is a call the policy denies with an
	// errno, past the number of those the init answers in one run.
	OverBudget bool
	ViolNr     int32
	ViolArch   uint32
	ViolArgs   [6]uint64
	// Pid1Died says the sandbox's pid 1 died before the init ended the
	// run, with Pid1Status: PROG made it hit a limit it lowered.
	Pid1Died   bool
	Pid1Status uint32
	// Denied are the calls the policy denied with an errno, and
	// DeniedMore how many more calls it denied past those.
	Denied     []Denied
	DeniedMore int
	UserUsec   int64
	SysUsec    int64
	MaxRSSKiB  int64
	WallUsec   int64
	// At are the init's timestamps (CLOCK_MONOTONIC µs), indexed by
	// the At* points; 0 where the report does not carry one.
	At [Points]int64
	// ExecID is the Task.ID of a ReportExec* record.
	ExecID int32
	// MadeAhead says PROG's process was made before its task, its filter
	// loaded (Config.Ahead).
	MadeAhead bool
}

// Denied is one call the policy denied with an errno, and how often.
type Denied struct {
	Nr    int32
	Arch  uint32
	Count int
}

// The points the init timestamps, as in enum jail_point.
const (
	AtEntered = C.JAIL_AT_ENTERED
	AtGoAhead = C.JAIL_AT_GO_AHEAD
	AtMounted = C.JAIL_AT_MOUNTED
	AtPivoted = C.JAIL_AT_PIVOTED
	AtTask    = C.JAIL_AT_TASK
	AtSpawn   = C.JAIL_AT_SPAWN
	AtFilter  = C.JAIL_AT_FILTER
	AtExeced  = C.JAIL_AT_EXECED
	AtReaped  = C.JAIL_AT_REAPED
	Points    = C.JAIL_POINTS
)

// ProcessStart is when this process's C start-up ran (CLOCK_MONOTONIC µs),
// before the Go runtime started.
func ProcessStart() int64 { return int64(C.jail_process_start_usec()) }

// Now is CLOCK_MONOTONIC in µs, the clock of every timestamp above.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// DeniedBudget is how many errno denials the init answers in one run.
const DeniedBudget = C.JAIL_DENIED_BUDGET

// What the parent writes on the lifeline while PROG runs: CtlEnd ends the
// run; CtlSignal+N delivers signal N (1-63) to PROG.
const (
	CtlEnd    = C.JAIL_CTL_END
	CtlSignal = C.JAIL_CTL_SIGNAL
)

// Report kinds.
const (
	ReportError   = C.JAIL_REPORT_ERROR
	ReportStarted = C.JAIL_REPORT_STARTED
	ReportExited  = C.JAIL_REPORT_EXITED
	// A warm init's: its namespaces exist (write its id maps, then the
	// go-ahead), and everything but PROG is ready.
	ReportUnshared = C.JAIL_REPORT_UNSHARED
	ReportReady    = C.JAIL_REPORT_READY
	// A command run beside PROG, by Report.ExecID: started, could not
	// start, exited.
	ReportExecStarted = C.JAIL_REPORT_EXEC_STARTED
	ReportExecFailed  = C.JAIL_REPORT_EXEC_FAILED
	ReportExecExited  = C.JAIL_REPORT_EXEC_EXITED
)

// ReadReport reads one record; io.EOF when the init is gone.
func ReadReport(r io.Reader) (*Report, error) {
	var c C.struct_jail_report
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&c)), C.sizeof_struct_jail_report)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("truncated report from the sandbox init")
		}
		return nil, err
	}
	rep := &Report{
		Kind: int(c.kind), Stage: Stage(c.stage), Index: int(c.index), Sub: int(c.sub), Errno: syscall.Errno(c.err),
		Pid: int(c.pid), Status: uint32(c.status), Violation: c.violation != 0, OverBudget: c.violation == 2, ViolNr: int32(c.viol_nr),
		ViolArch: uint32(c.viol_arch), UserUsec: int64(c.user_usec), SysUsec: int64(c.sys_usec),
		MaxRSSKiB: int64(c.maxrss_kib), WallUsec: int64(c.wall_usec), ExecID: int32(c.exec_id),
		MadeAhead: c.made_ahead != 0,
	}
	for i := range rep.At {
		rep.At[i] = int64(c.at_usec[i])
	}
	for i := range rep.ViolArgs {
		rep.ViolArgs[i] = uint64(c.viol_args[i])
	}
	rep.Pid1Died, rep.Pid1Status = c.pid1_died != 0, uint32(c.pid1_status)
	for _, d := range c.denied[:min(max(int(c.ndenied), 0), len(c.denied))] {
		rep.Denied = append(rep.Denied, Denied{Nr: int32(d.nr), Arch: uint32(d.arch), Count: int(d.count)})
	}
	rep.DeniedMore = int(c.denied_more)
	return rep, nil
}
