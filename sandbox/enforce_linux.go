package sandbox

import (
	"errors"
	"fmt"
	"math"

	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/field"
	"jail/limits"
	"jail/rootfs"
)

// enforcer owns everything that makes the limits hold for one run: the
// cgroup, the CPU-time watch and the output relay. It is prepared before
// clone and released after the sandbox is gone.
type enforcer struct {
	spec        *Spec
	det         limits.Detection
	group       limits.Group
	notEnforced map[string]string
	// intoDir is the run's cgroup v2 directory, which PROG is cloned
	// into (native's cgroup_into), for an ordinary user's run: the init's
	// credentials are that user's, who owns the delegated subtree, and
	// the kernel checks the caller's. Root's sandboxes run as an
	// unprivileged host uid, so theirs join by a write.
	intoDir *os.File
	// cgroupAhead says group is the one a warm sandbox made ahead of the
	// run, which PROG's process made ahead is in; spare is one made
	// ahead that the run does not use, removed with the run's.
	cgroupAhead bool
	spare       limits.Group

	// hit receives the name of the first limit the watchers see crossed;
	// the supervisor kills the sandbox on it.
	hit chan string

	childSide []*os.File // write ends of the output pipes, PROG's copies
	relays    sync.WaitGroup
	written   atomic.Int64

	// lastTree is the last CPU sample of the process tree without a
	// cgroup: when the sandbox is killed, it is the best figure there is,
	// because the kernel's rusage of the killed init does not include the
	// processes the namespace teardown reaps.
	mu       sync.Mutex
	lastTree procTimes
}

// aheadGroup is a cgroup made before its run, without limits, by backend
// (Warm.sendAheadCgroup).
type aheadGroup struct {
	backend limits.Backend
	group   limits.Group
}

// prepareLimits creates the run's cgroup with the backend det chose, or
// limits the one made ahead of the run by that backend.
func prepareLimits(s *Spec, det limits.Detection, ahead *aheadGroup) (*enforcer, error) {
	e := &enforcer{spec: s, hit: make(chan string, 2), det: det}
	if ahead != nil && ahead.backend != det.Backend {
		e.spare, ahead = ahead.group, nil
	}
	if b := e.det.Backend; b != nil {
		var g limits.Group
		var err error
		if ahead != nil {
			g, err = ahead.group, ahead.group.Limit(s.Limits)
			if err != nil {
				e.spare = g
			}
		} else {
			g, err = b.Create(s.Limits)
		}
		if err != nil {
			e.det.Notes = append(e.det.Notes, fmt.Sprintf("%s: %v", b.Name(), err))
			e.det.Backend = nil
		} else {
			e.group, e.cgroupAhead = g, ahead != nil
			e.intoDir = openIntoDir(g)
		}
	}
	e.notEnforced = s.Limits.NotEnforced(e.det.Backend, e.det.Why())
	if e.group == nil && s.Limits.CPUTime > 0 {
		// /proc only shows the CPU time of live processes and of children
		// reaped with wait: a program that ignores SIGCHLD has the kernel
		// reap its children, and their time is lost. Without a cgroup
		// --time is a lower bound, so say so.
		e.notEnforced["time"] = "without a cgroup, CPU time of children the kernel reaps (SIGCHLD ignored) is not counted, so a program can evade it; " + e.det.Why()
	}
	if len(e.notEnforced) > 0 && s.Strict {
		e.release()
		return nil, field.Errorf("strict", "refuses to run: %s", strings.Join(e.warnings(), "; "))
	}
	return e, nil
}

// warnings are one line per limit that is requested but not enforced,
// in the descriptors' order, each naming the limit as a {field} reference
// for the face to spell (Result.SpellWarnings).
func (e *enforcer) warnings() []string {
	var out []string
	for _, f := range limits.Fields {
		if why, no := e.notEnforced[f.Name]; no {
			out = append(out, fmt.Sprintf("{limits.%s} is NOT enforced: %s", f.Name, why))
		}
	}
	return out
}

func (e *enforcer) backendName() string {
	if e.det.Backend == nil {
		return "none"
	}
	return e.det.Backend.Name()
}

func (e *enforcer) controllers() []string {
	if e.det.Backend == nil {
		return nil
	}
	return e.det.Backend.Controllers()
}

// peakFromCgroup says the run's peak memory will come from its cgroup.
func (e *enforcer) peakFromCgroup() bool { return e.group != nil && e.group.TracksPeakMemory() }

func (e *enforcer) cgroupFiles() []*os.File {
	if e.group == nil {
		return nil
	}
	return e.group.ProcsFiles()
}

// spawnFiles are the cgroup files PROG's spawner gets: the cgroup.procs
// files, and with into the directory to clone PROG into, last.
func (e *enforcer) spawnFiles() (files []*os.File, into bool) {
	files = e.cgroupFiles()
	if e.intoDir == nil {
		return files, false
	}
	return append(slices.Clip(files), e.intoDir), true
}

// openIntoDir opens a cgroup v2 run's directory for an ordinary user;
// nil otherwise, or when it cannot be opened (the spawner then writes).
func openIntoDir(g limits.Group) *os.File {
	dirs := g.Dirs()
	if os.Geteuid() == 0 || len(dirs) != 1 || dirs[0].Hierarchy != "" {
		return nil
	}
	f, err := os.OpenFile(dirs[0].Path, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	return f
}

// cgroupView is the run's cgroup as the mount plan shows it to PROG;
// nothing without a cgroup, so /sys/fs/cgroup stays empty rather than
// show a cgroup that does not limit PROG.
func (e *enforcer) cgroupView() []rootfs.Cgroup {
	if e.group == nil {
		return nil
	}
	return cgroupViewOf(e.group)
}

// cgroupViewOf is group as the mount plan shows it to PROG.
func cgroupViewOf(g limits.Group) []rootfs.Cgroup {
	var out []rootfs.Cgroup
	for _, d := range g.Dirs() {
		out = append(out, rootfs.Cgroup{Hierarchy: d.Hierarchy, Source: d.Path})
	}
	return out
}

// wireOutput routes PROG's stdout and stderr through counting relays when
// --output is set or the caller observes them; otherwise PROG writes to
// jail's own streams directly.
func (e *enforcer) wireOutput(stdio *IO) error {
	if e.spec.Limits.Output <= 0 && stdio.Observe == nil {
		return nil
	}
	streams := []struct {
		name string
		dst  **os.File
	}{{"stdout", &stdio.Stdout}, {"stderr", &stdio.Stderr}}
	for _, st := range streams {
		r, w, err := outputPipe()
		if err != nil {
			return fmt.Errorf("creating the output pipe: %w", err)
		}
		out := *st.dst
		*st.dst = w
		e.childSide = append(e.childSide, w)
		e.relays.Add(1)
		go e.relay(r, out, st.name, stdio.Observe)
	}
	return nil
}

// outputPipe is a pipe for one of PROG's streams: the read end the
// relay's, non-blocking in Go's poller; the write end PROG's, blocking and
// never polled. os.Pipe would make both ends non-blocking and register
// both with the poller, three system calls more per end, and the write
// end only goes to the sandbox.
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, &os.SyscallError{Syscall: "pipe2", Err: err}
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, nil, &os.SyscallError{Syscall: "fcntl", Err: err}
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

// relay copies one stream to w (none when nil) and to observe, counting
// bytes against the shared --output budget; past it, the rest is dropped
// and the run is ended.
func (e *enforcer) relay(r, w *os.File, stream string, observe func(string, []byte)) {
	defer e.relays.Done()
	defer r.Close()
	limit := e.spec.Limits.Output
	if limit <= 0 {
		limit = math.MaxInt64
	}
	b := relayBuffers.Get().(*[64 << 10]byte)
	defer relayBuffers.Put(b)
	buf := b[:]
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total := e.written.Add(int64(n))
			keep := n
			if total > limit {
				keep = max(0, n-int(total-limit))
				e.signal("output")
			}
			if keep > 0 && w != nil {
				_, _ = w.Write(buf[:keep])
			}
			if keep > 0 && observe != nil {
				observe(stream, buf[:keep])
			}
		}
		if err != nil {
			return
		}
	}
}

// relayBuffers hold a pipe's capacity each. Made per relay, two per
// run were half of what a service allocated, by bytes, for /bin/true
// tasks; observers see a chunk during their call only (IO.Observe).
var relayBuffers = sync.Pool{New: func() any { return new([64 << 10]byte) }}

func (e *enforcer) signal(limit string) {
	select {
	case e.hit <- limit:
	default:
	}
}

// closeChildSide drops the parent's copies of PROG's pipe ends, so the
// relays see EOF once the sandbox is gone.
func (e *enforcer) closeChildSide() {
	for _, f := range e.childSide {
		f.Close()
	}
	e.childSide = nil
}

// watchCPU ends the run once the process tree's CPU time passes --time
// plus --extra-time. It checks more often as the budget runs out, so the
// overshoot stays within a few ms without polling all the time.
func (e *enforcer) watchCPU(initPid int, stop <-chan struct{}) {
	budget := e.spec.Limits.CPUTime + e.spec.Limits.ExtraTime
	if e.spec.Limits.CPUTime <= 0 {
		return
	}
	// PROG has used next to nothing when it starts, so the first look is
	// a wait away: a short run ends without the watch reading /proc or
	// the cgroup at all (about 0.3 ms of every --time run otherwise).
	var used time.Duration
	for {
		wait := min(max((budget-used)/4, time.Millisecond), 50*time.Millisecond)
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		var err error
		used, err = e.cpuUsage(initPid)
		if err == nil && used >= budget {
			e.signal("time")
			return
		}
	}
}

func (e *enforcer) cpuUsage(initPid int) (time.Duration, error) {
	if e.group != nil {
		return e.group.Usage()
	}
	t, err := e.sampleTree(initPid)
	return t.total(), err
}

// sampleTree reads the process tree's CPU time and keeps the sample.
func (e *enforcer) sampleTree(initPid int) (procTimes, error) {
	t, err := procTreeCPU(initPid)
	if err != nil {
		return t, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.total() > e.lastTree.total() {
		e.lastTree = t
	}
	return e.lastTree, nil
}

// release waits for the relays to drain and removes the cgroups, Later:
// a v1 memory cgroup's rmdir alone took 0.2 ms of a pooled task.
func (e *enforcer) release() {
	e.closeChildSide()
	e.relays.Wait()
	if e.intoDir != nil {
		e.intoDir.Close()
		e.intoDir = nil
	}
	var groups []limits.Group
	for _, g := range []limits.Group{e.group, e.spare} {
		if g != nil {
			groups = append(groups, g)
		}
	}
	e.group, e.spare = nil, nil
	if len(groups) > 0 {
		removeGroups(groups)
	}
}

func removeGroups(groups []limits.Group) {
	Later(func() {
		for _, g := range groups {
			_ = g.Remove()
		}
	})
}

// later is the clean-up runs left to the background.
var later sync.WaitGroup

// Later runs f, the clean-up of a finished run that its result need not
// wait for (a cgroup's removal, a work directory's): in a long-lived
// process (LongLivedProcess) in the background, else now.
func Later(f func()) {
	if longLived.Load() {
		later.Go(f)
	} else {
		f()
	}
}

// Settle waits for the clean-up Later left to the background: a
// long-lived process calls it before it exits, so that nothing of its
// runs outlives it.
func Settle() { later.Wait() }

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture jail builds for.
const clockTick = 10 * time.Millisecond

// treeSample is the largest CPU sample of the tree taken so far.
func (e *enforcer) treeSample() procTimes {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastTree
}

// procTreeCPU is the CPU time of the sandbox without a cgroup: every live
// descendant of the init, with what each has reaped, plus what the init
// reaped, as user and system time. Its resolution is the 10ms clock tick.
func procTreeCPU(initPid int) (procTimes, error) {
	var total procTimes
	self, err := statTimes(initPid)
	if err != nil {
		return total, err
	}
	total.user, total.sys = self.childUser, self.childSys
	queue := childrenOf(initPid)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		t, err := statTimes(pid)
		if err != nil {
			continue // exited meanwhile; its time moved to its parent
		}
		total.user += t.user + t.childUser
		total.sys += t.sys + t.childSys
		queue = append(queue, childrenOf(pid)...)
	}
	return total, nil
}

type procTimes struct{ user, sys, childUser, childSys time.Duration }

func (t procTimes) total() time.Duration { return t.user + t.sys + t.childUser + t.childSys }

func statTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procTimes{}, err
	}
	// The command name may contain spaces and parentheses; fields resume
	// after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procTimes{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procTimes{}, errors.New("short stat")
	}
	n := func(k int) time.Duration {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		return time.Duration(v) * clockTick
	}
	// Fields 14-17 of stat(5) (utime stime cutime cstime) are 11-14 here.
	return procTimes{user: n(11), sys: n(12), childUser: n(13), childSys: n(14)}, nil
}

func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
