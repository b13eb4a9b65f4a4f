package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"jail/limits"
	"jail/rootfs"
	"jail/sandbox/native"
)

// ErrNotWarmFor is Warm.Run's answer to a Spec whose sandbox is not the
// one the Warm was made for (another root, binds, network, hostname or
// user); nothing was started, and the streams are the caller's still.
var ErrNotWarmFor = errors.New("the warm sandbox was made for another configuration")

// Warm is a sandbox made ahead of its task: its namespaces exist, its root
// is built and pivoted into, and its init waits for PROG. What a run adds
// is PROG's own start, so a task that finds one ready skips the set-up.
// A single-use one serves one run (Run) and is then gone. A reusable one
// (Runner.Warm with reuse) serves again once Renew says so; Close
// destroys either.
//
// Its init is this binary in its C start-up, before the Go runtime starts
// (warm.c: forked by the zygote, or a fresh exec), not a clone of this
// process: an init
// that waits for a long time must not hold a copy of a service's memory,
// which would make every page the service writes meanwhile a
// copy-on-write fault.
type Warm struct {
	r      *Runner
	config warmConfig
	init   *native.Init
	ctl    *os.File
	rep    *os.File
	// Ready is how long the sandbox took to make, from the exec of its
	// init to its READY report; Making is where that time went.
	Ready  time.Duration
	Making MakingStages

	// reuse: it serves task after task. dead is closed once its init is
	// reaped, with deadErr; only a reusable one keeps a watch on that
	// across runs.
	reuse   bool
	dead    chan struct{}
	deadErr error

	// backend, where runs have cgroups, makes the next task's ahead of
	// it (sendAheadCgroup): group, until a run takes it.
	backend limits.Backend

	mu    sync.Mutex
	state warmState
	sup   *supervisor // the last run's
	group limits.Group
}

type warmState int

const (
	warmIdle warmState = iota // waiting for a task
	warmBusy                  // a run in it has started
	warmRan                   // a reusable one's run has ended; Renew decides
	warmGone                  // destroyed, or a single-use one that ran
)

// MakingStages split the making of a warm sandbox at the init's points:
// Exec is the exec of the init up to its first instruction of the init
// proper (its description received, its namespaces made: warm.c),
// IDMaps the round trip in which jail writes its id maps, Mounts and
// Pivot as in Stages, Ready the rest up to the READY report (hostname,
// lo, joining the network namespace) and jail reading it.
type MakingStages struct {
	Exec, IDMaps, Mounts, Pivot, Ready Seconds
}

// warmConfig is what of a Plan the sandbox is made of before the task:
// two Specs whose warmConfig is equal run in the same kind of sandbox.
type warmConfig struct {
	Ops []native.Op
	warmSettings
}

// warmSettings are warmConfig's fields but its ops: comparable with ==.
type warmSettings struct {
	CloneFlags uintptr
	Hostname   string
	Loopback   bool
	UID, GID   uint32
	DropGroups bool
}

// warmTimeout bounds the making of a warm sandbox, which takes a few
// milliseconds; an init that does not report by then is killed.
const warmTimeout = 10 * time.Second

// Warm makes a sandbox for s's configuration and waits until it is ready
// for a task. Of s only what the sandbox is made of counts (root, binds,
// network, hostname, user); PROG, its limits and its streams come with
// the task. On cgroup v1 the sandbox shows no /sys/fs/cgroup, because the
// task's cgroup does not exist yet when the root is built; a v2 one is
// mounted by the task's spawner.
//
// With reuse it serves task after task: its root and /dev are read-only,
// its /tmp and /dev/shm are tmpfs mounts of their own, mounted afresh
// between tasks, and each task gets an IPC namespace of its own; a task
// that leaves a process or a unix socket behind, or whose run jail had to
// end or signal, ends it (Renew).
func (r *Runner) Warm(ctx context.Context, s *Spec, reuse bool) (*Warm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec := *s
	if len(spec.Argv) == 0 {
		// Validate wants a PROG; the sandbox does not.
		spec.Argv = []string{"true"}
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var host rootfs.Host
	if spec.HostRoot() {
		host = r.host(spec.Net != NetNone)
	}
	// The task's PROG is made ahead as this Spec's would be (its policy,
	// directory and Landlock ruleset); a task set up otherwise is spawned.
	landlock, _ := planLandlock(spec.Net == NetHost)
	plan, err := compile(&spec, host, nil, landlock, reuse)
	if err != nil {
		return nil, err
	}
	cfg := plan.Launch
	backend := r.detect(ctx, true).Backend
	cfg.Ahead = !execEntersTimeNS.Missing()
	cfg.AheadCgroup = cfg.Ahead && backend != nil
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	ctl, ctlChild, repR, repW, err := initChannels()
	if err != nil {
		return nil, err
	}
	cfg.Files = native.Descriptors([]*os.File{null, null, null}, ctlChild, repW, nil)
	begin, planned := time.Now(), native.Now()
	init, err := native.StartWarm(&cfg, ctl)
	ctlChild.Close()
	repW.Close()
	if err != nil {
		ctl.Close()
		repR.Close()
		return nil, fmt.Errorf("starting a warm sandbox: %w", err)
	}
	w := &Warm{r: r, config: configOf(&cfg), init: init, ctl: ctl, rep: repR, reuse: reuse, dead: make(chan struct{})}
	if cfg.AheadCgroup {
		w.backend = backend
	}
	if reuse {
		go func() {
			_, _, w.deadErr = init.Wait()
			close(w.dead)
		}()
	}
	timer := time.AfterFunc(warmTimeout, func() { _ = init.Kill() })
	defer timer.Stop()
	if err := w.handshake(&spec, plan, planned); err != nil {
		w.destroy()
		return nil, err
	}
	if err := w.sendAheadCgroup(); err != nil {
		w.destroy()
		return nil, err
	}
	w.Ready = time.Since(begin)
	return w, nil
}

// sendAheadCgroup makes the next task's cgroup, without limits until the
// task's run writes them, and sends it to the init, which makes that
// task's PROG's process in it: the cgroup's making (0.5 ms on cgroup v1)
// and PROG's move into it (which waits for an RCU grace period after a
// quiet moment) are then off the task's path. One that cannot be made is
// no error: the init makes no process ahead, and the run makes its own.
func (w *Warm) sendAheadCgroup() error {
	if w.backend == nil {
		return nil
	}
	var procs []*os.File
	var view bool
	if g, err := w.backend.Create(limits.Spec{}); err == nil {
		procs, view = g.ProcsFiles(), rootfs.UnifiedView(cgroupViewOf(g))
		w.mu.Lock()
		w.group = g
		w.mu.Unlock()
	}
	return native.SendAheadCgroup(w.ctl, procs, view)
}

// takeGroup hands a run the cgroup made ahead of it, if any.
func (w *Warm) takeGroup() *aheadGroup {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.group
	w.group = nil
	if g == nil {
		return nil
	}
	return &aheadGroup{backend: w.backend, group: g}
}

func configOf(cfg *native.Config) warmConfig {
	return warmConfig{Ops: cfg.Ops, warmSettings: warmSettings{CloneFlags: cfg.CloneFlags, Hostname: cfg.Hostname,
		Loopback: cfg.Loopback, UID: cfg.UID, GID: cfg.GID, DropGroups: cfg.DropGroups}}
}

// handshake sees the init through its start: once it has its namespaces,
// jail writes its id maps (the init is a process of its own, so the kernel
// lets jail write them, whichever user jail runs as) and gives the
// go-ahead; then it reports READY, or where it failed.
func (w *Warm) handshake(s *Spec, plan *Plan, begin int64) error {
	var last *native.Report
	next := func(want int) error {
		rep, err := native.ReadReport(w.rep)
		last = rep
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("starting a warm sandbox: its init died")
		case err != nil:
			return fmt.Errorf("starting a warm sandbox: %w", err)
		case rep.Kind == native.ReportError && rep.Stage == native.StageWarm && rep.Index == 1:
			return explainCloneError(rep.Errno)
		case rep.Kind == native.ReportError:
			return explainChildError(nativeChildError(rep, plan), s)
		case rep.Kind != want:
			return fmt.Errorf("starting a warm sandbox: report %d where %d was due", rep.Kind, want)
		}
		return nil
	}
	if err := next(native.ReportUnshared); err != nil {
		return err
	}
	if err := mapIDs(w.init.Pid, s); err != nil {
		return fmt.Errorf("starting a warm sandbox: %w", err)
	}
	if _, err := w.ctl.Write([]byte{0}); err != nil {
		return fmt.Errorf("starting a warm sandbox: %w", err)
	}
	if err := next(native.ReportReady); err != nil {
		return err
	}
	d := func(from, to int64) Seconds { return Seconds(time.Duration(to-from) * time.Microsecond) }
	at := last.At
	w.Making = MakingStages{Exec: d(begin, at[native.AtEntered]), IDMaps: d(at[native.AtEntered], at[native.AtGoAhead]),
		Mounts: d(at[native.AtGoAhead], at[native.AtMounted]), Pivot: d(at[native.AtMounted], at[native.AtPivoted]),
		Ready: d(at[native.AtPivoted], native.Now())}
	return nil
}

// EndZygote ends the process that forks warm inits (native's zygote),
// once no more are to be made; another starts with the next one.
func EndZygote() { native.EndZygote() }

// fits says whether the sandbox planned as plan is this one. (Compared
// field by field: reflect.DeepEqual of some 50 ops cost a pooled task
// 60 µs of the server's CPU.)
func (w *Warm) fits(plan *Plan) bool {
	c := configOf(&plan.Launch)
	return c.warmSettings == w.config.warmSettings && slices.Equal(c.Ops, w.config.Ops)
}

// Run runs s in the warm sandbox, as Runner.Run would in a new one; with
// ErrNotWarmFor when s's sandbox is another one. A single-use Warm runs
// once; a reusable one again after Renew.
func (w *Warm) Run(ctx context.Context, s *Spec, stdio IO) (*Result, error) {
	res, err := w.r.run(ctx, s, stdio, w)
	w.mu.Lock()
	if w.state == warmBusy {
		w.state = warmGone
		if w.reuse {
			w.state = warmRan
		}
	}
	w.mu.Unlock()
	return res, err
}

// Renew readies a reusable Warm whose run has ended for its next task:
// the init renews the sandbox (see Runner.Warm) and says READY. It is
// false, and the Warm destroyed, when the sandbox may not serve again: the
// run left something behind, jail had to write on its lifeline (an end,
// a signal), or the init could not renew it. A single-use Warm is never
// renewed.
func (w *Warm) Renew() bool {
	w.mu.Lock()
	ran, sup := w.state == warmRan, w.sup
	if ran {
		w.state = warmBusy
	}
	w.mu.Unlock()
	if !ran {
		return false
	}
	if sup == nil || sup.lifelineUsed.Load() {
		w.destroy()
		return false
	}
	timer := time.AfterFunc(warmTimeout, func() { _ = w.init.Kill() })
	rep, err := native.ReadReport(w.rep)
	timer.Stop()
	if err != nil || rep.Kind != native.ReportReady || w.sendAheadCgroup() != nil {
		w.destroy()
		return false
	}
	w.mu.Lock()
	w.state, w.sup = warmIdle, nil
	w.mu.Unlock()
	return true
}

// start hands the init its task; from then on the run is watched as a
// cold one is.
func (w *Warm) start(s *Spec, plan *Plan, stdio IO, enf *enforcer, from int64) (*supervisor, error) {
	w.mu.Lock()
	idle := w.state == warmIdle
	if idle {
		w.state = warmBusy
	}
	w.mu.Unlock()
	if !idle {
		return nil, errors.New("the warm sandbox is not waiting for a task: a single-use one runs once, a reusable one again after Renew")
	}
	task := plan.Launch.Task
	std, null, terminal, err := streams(s, stdio, &task)
	if err != nil {
		w.destroy()
		return nil, err
	}
	defer closeAll(null)
	cgroups, into := enf.spawnFiles()
	task.Exec.CgroupFDs, task.Exec.CgroupInto = native.CgroupFDs(len(cgroups)), into
	// Its root was built before this cgroup existed; a v2 one is the
	// spawner's to show.
	task.Exec.CgroupView = rootfs.UnifiedView(enf.cgroupView())
	task.CgroupAhead = enf.cgroupAhead
	// The init's memory is its own and small (under 2 MiB resident), so
	// a spawner that shares it adds no more to PROG's ru_maxrss than a
	// copy would, and saves the copy.
	task.SpawnSharesMemory = !execEntersTimeNS.Missing()
	// A reused sandbox's init outlives the run, which ends at its report.
	points := &runPoints{from: from, planned: native.Now(), warm: true, untilReport: longLived.Load() || w.reuse}
	begin := time.Now()
	err = native.SendTask(w.ctl, &task, append(std, cgroups...))
	enf.closeChildSide()
	if err != nil {
		closeAll(terminal)
		w.destroy()
		return nil, err
	}
	var kept *Warm
	if w.reuse {
		kept = w
	}
	sup := watch(s, plan, stdio, enf, w.init, w.ctl, w.rep, points, begin, kept)
	sup.terminal = terminal
	w.mu.Lock()
	w.sup = sup
	w.mu.Unlock()
	return sup, nil
}

// Close destroys a Warm unless it is gone already; not while it runs.
func (w *Warm) Close() error {
	w.mu.Lock()
	state := w.state
	if state == warmIdle || state == warmRan {
		w.state = warmBusy
	}
	w.mu.Unlock()
	if state == warmIdle || state == warmRan {
		w.destroy()
	}
	return nil
}

// destroy ends the init: the end of its ctl socket ends a waiting init,
// and SIGKILL one that cannot answer.
func (w *Warm) destroy() {
	w.ctl.Close()
	timer := time.AfterFunc(endGrace, func() { _ = w.init.Kill() })
	if w.reuse {
		<-w.dead
	} else {
		_, _, _ = w.init.Wait()
	}
	timer.Stop()
	w.rep.Close()
	w.mu.Lock()
	w.state = warmGone
	g := w.group
	w.group = nil
	w.mu.Unlock()
	// Its process made ahead went with the init.
	if g != nil {
		removeGroups([]limits.Group{g})
	}
}
