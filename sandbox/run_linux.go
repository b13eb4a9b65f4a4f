package sandbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/field"
	"jail/limits"
	"jail/rootfs"
	"jail/sandbox/native"
)

// IO is PROG's standard streams, handed to it as they are; a nil stream
// is /dev/null.
type IO struct {
	Stdin, Stdout, Stderr *os.File
	// Give hands the streams to the run: Run closes them once nothing in
	// this process needs them any more (once the sandbox holds them, or
	// once the output relay is done). Without it the caller's copy of a
	// pipe end PROG writes to keeps the reader from ever seeing EOF.
	Give bool
	// Observe, when set, is given every chunk of PROG's stdout and
	// stderr as the output relay passes it on, by stream ("stdout",
	// "stderr"), from the relay's goroutine; b is valid during the call
	// only. The relay runs whenever Observe is set, --output or not.
	Observe func(stream string, b []byte)
	// Signals, when set, are delivered to PROG while it runs (to PROG
	// itself, as a terminal's ^C reaches its foreground program); those
	// sent before PROG starts wait for it.
	Signals <-chan syscall.Signal
	// Started, when set, is called once PROG has started, with its pid
	// as this process sees it, from the supervisor's goroutine.
	Started func(pid int)
	// Terminal, with Spec.TTY, receives the master of PROG's terminal,
	// which the init opens in the sandbox's own devpts, Rows by Cols,
	// in place of PROG's three streams (so tty and ttyname work inside):
	// once, as PROG starts, before Started; the receiver owns it.
	Terminal   func(master *os.File)
	Rows, Cols uint16
	// Commands, when set, are run beside PROG while it runs (jail exec);
	// those sent before PROG starts wait for it; one after it ended is
	// refused.
	Commands <-chan *CommandRequest
}

// given is the part of a given IO this process still holds.
type given []*os.File

func (g *given) close() {
	for _, f := range *g {
		if f != nil {
			f.Close()
		}
	}
	*g = nil
}

// processStartCounted is set by the first Run of the process, whose start
// stage counts jail's own start-up before it.
var processStartCounted atomic.Bool

// longLived is set by LongLivedProcess.
var longLived atomic.Bool

// LongLivedProcess says this process is a service: no run's start stage
// counts the process's own start-up, which may have been long ago, and a
// run's result is ready once the init reports it, while the init's exit
// and the teardown of the namespaces finish in the background. A process
// that exits after its runs waits for them, so that nothing of a run
// outlives it.
func LongLivedProcess() {
	processStartCounted.Store(true)
	longLived.Store(true)
}

// OverflowID is the host id PROG runs as when jail itself runs as root, so
// that PROG is never host root.
const OverflowID = 65534

// Runner starts sandboxed runs on one host. It probes once what does not
// change while a process lives: the cgroup backend that enforces limits
// (the systemd user manager's D-Bus round trip included) and the host's
// root and /etc the default root is built from. A long-lived caller (a
// service, a judge running many tests) keeps one Runner; Run makes one for
// a single run. Its methods may be called from several goroutines.
type Runner struct {
	mu sync.Mutex
	// detected is limits.Detect's answer, by whether the systemd user
	// manager was asked; hosts is rootfs.ProbeHost's, by --net host.
	detected map[bool]limits.Detection
	hosts    map[bool]rootfs.Host
}

// NewRunner returns a Runner that has probed nothing yet.
func NewRunner() *Runner {
	return &Runner{detected: map[bool]limits.Detection{}, hosts: map[bool]rootfs.Host{}}
}

// detect is limits.Detect, once per askSystemd. Only the systemd user
// manager's answer depends on asking it: where a backend holds without
// it, both answers are that one, so a cgroup made ahead by one serves a
// run that asked the other.
func (r *Runner) detect(ctx context.Context, askSystemd bool) limits.Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.detectOnce(ctx, false)
	if askSystemd && d.Backend == nil {
		d = r.detectOnce(ctx, true)
	}
	// Each run appends its own notes.
	d.Notes = slices.Clip(d.Notes)
	return d
}

func (r *Runner) detectOnce(ctx context.Context, askSystemd bool) limits.Detection {
	d, ok := r.detected[askSystemd]
	if !ok {
		// The early init must be where runs start from, or its spawners
		// could not join the runs' cgroups.
		var with []int
		if pid := native.EarlyPid(); pid > 0 {
			with = append(with, pid)
		}
		d = limits.Detect(ctx, askSystemd, with...)
		r.detected[askSystemd] = d
	}
	return d
}

// Backend is the cgroup backend that enforces limits (asking the systemd
// user manager if need be, once), its controllers, and why there is none
// or what it lacks: what a long-lived caller reports about itself, having
// paid the probe at its start.
func (r *Runner) Backend(ctx context.Context) (name string, controllers, notes []string) {
	d := r.detect(ctx, true)
	if d.Backend == nil {
		return "none", nil, d.Notes
	}
	return d.Backend.Name(), d.Backend.Controllers(), d.Notes
}

// host is rootfs.ProbeHost, once per hostNet.
func (r *Runner) host(hostNet bool) rootfs.Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hosts[hostNet]
	if !ok {
		h = rootfs.ProbeHost(hostNet)
		r.hosts[hostNet] = h
	}
	return h
}

// Run executes one sandboxed program with a Runner of its own.
func Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	return NewRunner().Run(ctx, s, stdio)
}

// Run executes one sandboxed program and reports what happened. It returns
// an error only when it could not even try (bad spec, a limit that cannot
// be enforced under --strict, clone refused); every failure after that is
// a Result with verdict XX and an Error.
func (r *Runner) Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	return r.run(ctx, s, stdio, nil)
}

// run is Run, in the warm sandbox w when there is one: everything but
// starting the init is the same.
func (r *Runner) run(ctx context.Context, s *Spec, stdio IO, w *Warm) (*Result, error) {
	from := native.Now()
	if processStartCounted.CompareAndSwap(false, true) {
		from = native.ProcessStart()
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	landlock, landlockWarnings := planLandlock(s.Net == NetHost)
	if landlock.ABI == 0 && s.Strict {
		return nil, field.Errorf("strict", "refuses to run: %s", landlockWarnings[0])
	}
	// An image root brings its own /usr and /etc, so nothing of the
	// host's root is needed, and the host's /etc is not read.
	var host rootfs.Host
	if s.HostRoot() {
		host = r.host(s.Net != NetNone)
	}
	// A warm sandbox's root was built before its run's cgroup existed,
	// so it binds no cgroup v1 directory; whether it fits is known before
	// anything is created or the streams are taken.
	var plan *Plan
	if w != nil {
		var err error
		if plan, err = compile(s, host, nil, landlock, w.reuse); err != nil {
			return nil, err
		}
		if !w.fits(plan) {
			return nil, ErrNotWarmFor
		}
	}
	var held given
	if stdio.Give {
		held = given{stdio.Stdin, stdio.Stdout, stdio.Stderr}
	}
	// Registered first, so it runs after the output relays are done.
	defer held.close()
	// The systemd user manager is only asked (one D-Bus round trip) when a
	// limit needs a cgroup, or when --time asks for CPU time, which a
	// cgroup measures in µs and /proc only in 10 ms ticks.
	var ahead *aheadGroup
	if w != nil {
		ahead = w.takeGroup()
	}
	enf, err := prepareLimits(s, r.detect(ctx, s.Limits.NeedsCgroup() || s.Limits.CPUTime > 0), ahead)
	if err != nil {
		return nil, err
	}
	defer enf.release()
	var early *native.Early
	if w == nil {
		if plan, err = compile(s, host, enf.cgroupView(), landlock, false); err != nil {
			return nil, err
		}
		w, early = r.takeEarly(s, plan, enf)
	}
	direct := stdio
	if err := enf.wireOutput(&stdio); err != nil {
		return nil, err
	}
	var sup *supervisor
	if w == nil {
		sup, err = startNative(s, plan, stdio, enf, from, early)
	} else {
		sup, err = w.start(s, plan, stdio, enf, from)
	}
	if err != nil {
		return nil, err
	}
	// The sandbox holds its copies now; a stream the output relay
	// writes to stays open until the relay is done.
	relayed := func(f *os.File) bool {
		return f == direct.Stdout && stdio.Stdout != direct.Stdout || f == direct.Stderr && stdio.Stderr != direct.Stderr
	}
	for i, f := range held {
		if f != nil && !relayed(f) {
			f.Close()
			held[i] = nil
		}
	}
	sup.warnings = landlockWarnings
	return sup.supervise(ctx), nil
}

// supervisor is the parent's view of one running sandbox.
type supervisor struct {
	spec     *Spec
	enf      *enforcer
	initPid  int
	killInit func() error
	// signalProg asks the init to deliver a signal to PROG; signals are
	// the caller's.
	signalProg func(syscall.Signal) error
	signals    <-chan syscall.Signal
	// commands are the caller's (IO.Commands), sent to the init with
	// sendTask; cmds the ones it was asked for.
	commands <-chan *CommandRequest
	sendTask func(*native.Task, []*os.File) error
	cmds     commands
	// terminal is our end of the socket the master of PROG's terminal
	// comes over (IO.Terminal), until it came.
	terminal   *os.File
	onTerminal func(*os.File)
	started    func(pid int)
	hostUID    int
	begin      time.Time
	reports    chan Report
	// waited delivers once the init is reaped; initEnd (how it ended, as
	// in "exit status 1") and initRusage (its own and its reaped
	// children's) are set before.
	waited     chan error
	initEnd    string
	initRusage *syscall.Rusage
	// points are the native launcher's timestamps, set like initEnd.
	points *runPoints
	// finished is closed when supervise returns; lifelineUsed says a
	// byte was written on the init's lifeline (an end, a signal).
	finished     chan struct{}
	lifelineUsed atomic.Bool
	// landlock is the ruleset PROG runs under; warnings say what of the
	// isolation this host could not give, beside the limits' own.
	landlock LandlockPlan
	warnings []string
	// interruption is why the caller's context ended the run, when it
	// gave a cause.
	interruption error
}

func hostIDs() (uid, gid int) {
	uid, gid = os.Getuid(), os.Getgid()
	if !asRoot() {
		return uid, gid
	}
	if uid == 0 {
		uid = OverflowID
	}
	if gid == 0 {
		gid = OverflowID
	}
	return uid, gid
}

// asRoot says jail maps ids as the host's root does: PROG as the
// overflow ids outside, its groups dropped. That takes uid 0 with
// CAP_SETUID and CAP_SETGID, the overflow ids mapped in jail's own user
// namespace and setgroups allowed there. uid 0 of a user namespace
// without them (a Kubernetes pod's own user, an unshare -r shell) maps
// as an ordinary user does: its own ids, setgroups denied.
var asRoot = sync.OnceValue(func() bool {
	if os.Getuid() != 0 {
		return false
	}
	if !hasCap(unix.CAP_SETUID) || !hasCap(unix.CAP_SETGID) {
		return false
	}
	setgroups, _ := os.ReadFile("/proc/self/setgroups")
	return strings.TrimSpace(string(setgroups)) == "allow" && idMapped("/proc/self/uid_map", OverflowID) && idMapped("/proc/self/gid_map", OverflowID)
})

// hasCap says this process has capability c in effect, in its own user
// namespace.
func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// idMapped says id is one of the ids the map file (uid_map, gid_map)
// maps in this process's user namespace.
func idMapped(file string, id uint32) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		var inner, outer, n uint64
		if _, err := fmt.Sscan(line, &inner, &outer, &n); err == nil && uint64(id) >= inner && uint64(id) < inner+n {
			return true
		}
	}
	return false
}

// cloneFlags are the namespaces of a sandbox's init; the network
// namespace is left out only for --net host. Not a cgroup namespace: PROG's
// spawner makes PROG's, rooted at its run's cgroup, and a clone into that
// cgroup from a namespace that does not hold it is refused.
func cloneFlags(s *Spec) uintptr {
	f := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUTS)
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
