package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/rootfs"
	"jail/sandbox/native"
	"jail/seccomp"
)

// startNative starts the sandbox with the native launcher: the init runs
// only C, so no second Go runtime boots. When jail runs as root the
// parent writes the id maps, then gives the go-ahead on the ctl socket,
// which then stays open as the init's lifeline until the run is over.
func startNative(s *Spec, plan *Plan, stdio IO, enf *enforcer, from int64, early *native.Early) (*supervisor, error) {
	cfg := plan.Launch
	cgroups, into := enf.spawnFiles()
	cfg.Task.Exec.CgroupFDs, cfg.Task.Exec.CgroupInto = native.CgroupFDs(len(cgroups)), into
	std, null, terminal, err := streams(s, stdio, &cfg.Task)
	if err != nil {
		return nil, err
	}
	defer closeAll(null)

	selfMapped(&cfg, s)
	points := &runPoints{from: from, planned: native.Now(), untilReport: longLived.Load()}
	begin := time.Now()
	init, ctl, rep, err := launch(&cfg, std, enf, early)
	if err != nil {
		closeAll(terminal)
		return nil, err
	}
	enf.closeChildSide()
	if !cfg.SelfMaps {
		if err := mapIDs(init.Pid, s); err != nil {
			_ = init.Kill()
			_, _, _ = init.Wait()
			ctl.Close()
			rep.Close()
			closeAll(terminal)
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		// A failed write means the init already died; wait and the
		// report pipe tell the rest.
		_, _ = ctl.Write([]byte{0})
	}
	sup := watch(s, plan, stdio, enf, init, ctl, rep, points, begin, nil)
	sup.terminal = terminal
	return sup, nil
}

// launch starts cfg's init and returns it with jail's ends of its ctl
// socket and report pipe: the early init of `jail run` when there is one
// waiting (see takeEarly), whose namespaces were made while the Go
// runtime started; otherwise, or when it cannot serve, a clone.
func launch(cfg *native.Config, std []*os.File, enf *enforcer, e *native.Early) (*native.Init, *os.File, *os.File, error) {
	if e != nil {
		c := *cfg
		cgroups, _ := enf.spawnFiles()
		c.Files = native.Descriptors(std, e.Ctl, e.Rep, cgroups)
		// Its memory is its own and small, as a warm init's.
		c.SpawnSharesMemory = !execEntersTimeNS.Missing()
		if e.Start(&c) == nil {
			return e.Init, e.Ctl, e.Rep, nil
		}
	}
	ctl, ctlChild, rep, repChild, err := initChannels()
	if err != nil {
		return nil, nil, nil, err
	}
	cgroups, _ := enf.spawnFiles()
	cfg.Files = native.Descriptors(std, ctlChild, repChild, cgroups)
	cfg.SpawnSharesMemory = spawnSharesMemory(enf)
	init, err := native.Start(cfg)
	ctlChild.Close()
	repChild.Close()
	if err != nil {
		ctl.Close()
		rep.Close()
		return nil, nil, nil, explainCloneError(err)
	}
	return init, ctl, rep, nil
}

// spawnSharesMemory says PROG's spawner may share the init's memory. One
// that does cannot join PROG's time namespace itself (the kernel refuses
// a time namespace change to a shared mm): PROG enters it only at exec,
// which older kernels do not do. There the spawner copies.
func spawnSharesMemory(enf *enforcer) bool {
	return enf.peakFromCgroup() && !execEntersTimeNS.Missing()
}

// streams are PROG's stdin, stdout and stderr, /dev/null for a nil one
// (as os/exec does), and that /dev/null, for the caller to close once
// the init has its copies. With s.TTY they are the socket the init
// sends the master of PROG's terminal over, and terminal is our end;
// t is told so.
func streams(s *Spec, stdio IO, t *native.Task) (std []*os.File, null, terminal *os.File, err error) {
	if s.TTY {
		if stdio.Terminal == nil {
			return nil, nil, nil, errors.New("a run with a terminal needs IO.Terminal to take it")
		}
		ours, theirs, err := replySocket()
		if err != nil {
			return nil, nil, nil, err
		}
		t.PTY, t.Rows, t.Cols = true, stdio.Rows, stdio.Cols
		return []*os.File{theirs, theirs, theirs}, theirs, ours, nil
	}
	std = []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr}
	for i, f := range std {
		if f != nil {
			continue
		}
		if null == nil {
			if null, err = devNull(); err != nil {
				return nil, nil, nil, err
			}
		}
		std[i] = null
	}
	return std, null, nil, nil
}

// devNull opens /dev/null for a stream PROG is not given, once per run:
// one open file shared by runs would carry one PROG's flock(2) to the
// next. Not through os.OpenFile, which would try to make it non-blocking
// and add it to Go's poller, and undo both when the poller refuses it:
// it only goes to the sandbox.
func devNull() (*os.File, error) {
	fd, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	return os.NewFile(uintptr(fd), os.DevNull), nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// initChannels are the init's two channels, each end's parent and child
// side. ctl carries the go-ahead, the lifeline and, for a warm init, its
// description and tasks with their descriptors: a socket, since only a
// socket carries descriptors, seqpacket so that every write is one
// message. The report pipe carries the init's records.
func initChannels() (ctl, ctlChild, rep, repChild *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("creating the control socket: %w", err)
	}
	ctl, ctlChild = os.NewFile(uintptr(fds[0]), "jail-ctl"), os.NewFile(uintptr(fds[1]), "jail-ctl-init")
	if rep, repChild, err = os.Pipe(); err != nil {
		ctl.Close()
		ctlChild.Close()
		return nil, nil, nil, nil, fmt.Errorf("creating the report pipe: %w", err)
	}
	return ctl, ctlChild, rep, repChild, nil
}

// watch is the parent's side of a started init. Ending a run is the
// init's job: it kills PROG, has pid 1 kill and reap the rest, and reports
// what they used. A byte on the lifeline asks for that; SIGKILL of the
// init, which its pid 1 does not survive either, is only the backstop for
// an init that cannot answer; once the init is reaped, Kill does nothing.
// supervise ends a run once.
//
// kept is the reusable warm sandbox whose init outlives the run: its
// reports are read only up to the run's end, and its exit is the Warm's
// to wait for.
func watch(s *Spec, plan *Plan, stdio IO, enf *enforcer, init *native.Init, ctlW, repR *os.File, points *runPoints, begin time.Time,
	kept *Warm) *supervisor {
	var sup *supervisor
	// A byte on the lifeline may still be unread when PROG ends: a
	// sandbox whose lifeline was written to is not used again.
	end := func() error {
		sup.lifelineUsed.Store(true)
		time.AfterFunc(endGrace, func() { _ = init.Kill() })
		_, err := ctlW.Write([]byte{native.CtlEnd})
		return err
	}
	signal := func(sig syscall.Signal) error {
		if sig < 1 || sig > 63 {
			return fmt.Errorf("signal %d: give a signal from 1 to 63", int(sig))
		}
		sup.lifelineUsed.Store(true)
		_, err := ctlW.Write([]byte{byte(native.CtlSignal + int(sig))})
		return err
	}
	send := func(t *native.Task, files []*os.File) error {
		sup.lifelineUsed.Store(true)
		return native.SendTask(ctlW, t, files)
	}
	uid, _ := hostIDs()
	sup = &supervisor{spec: s, enf: enf, initPid: init.Pid, killInit: end, signalProg: signal, signals: stdio.Signals, started: stdio.Started,
		commands: stdio.Commands, sendTask: send, onTerminal: stdio.Terminal,
		hostUID: uid, begin: begin,
		reports: make(chan Report, 4), waited: make(chan error, 1), finished: make(chan struct{}), points: points, landlock: plan.Landlock}
	go sup.readNativeReports(repR, plan, kept != nil)
	if kept != nil {
		go func() {
			select {
			case <-kept.dead:
				sup.waited <- kept.deadErr
			case <-sup.finished:
			}
		}()
		return sup
	}
	go func() {
		ws, ru, err := init.Wait()
		points.reaped = native.Now()
		ctlW.Close()
		if err == nil {
			sup.initEnd, sup.initRusage = describeWaitStatus(ws), &ru
		}
		sup.waited <- err
	}()
	return sup
}

// endGrace is how long the init may take to end a run it was asked to end
// before it is killed.
const endGrace = 5 * time.Second

// runPoints are a native run's timestamps (CLOCK_MONOTONIC µs): the
// parent's, and the init's from its reports. Each is written before the
// channel send that publishes it to supervise.
type runPoints struct {
	// from is where this run's start stage begins: jail's own start for
	// the first run of the process, else the call of Run, so that one
	// step of a profile never counts the steps before it.
	from, planned, reaped int64
	init                  [native.Points]int64
	// warm says the sandbox was made before its task: its clone, id
	// maps, mounts and pivot are not this run's.
	warm bool
	// untilReport ends the run at the init's report (reported), not at
	// its reaping (see LongLivedProcess), and so does its teardown stage.
	untilReport bool
	reported    int64
	// madeAhead: PROG's process was made before the task (Result.MadeAhead).
	madeAhead bool
}

// stages is the breakdown, or nil when the run ended before PROG was
// reaped (a setup failure or a kill, whose stages would not add up).
func (p *runPoints) stages() *Stages {
	for i, t := range p.init {
		// A warm sandbox's making is not the run's: a reused one's
		// init does not carry its points past the first task.
		if t == 0 && !(p.warm && i < native.AtTask) {
			return nil
		}
	}
	end := p.reaped
	if p.untilReport {
		end = p.reported
	}
	if end == 0 {
		return nil
	}
	d := func(from, to int64) Seconds { return Seconds(time.Duration(to-from) * time.Microsecond) }
	in := p.init
	if p.warm {
		// Clone is the hand-over of the task, Prepare from its arrival.
		return &Stages{
			Start:    d(p.from, p.planned),
			Clone:    d(p.planned, in[native.AtTask]),
			Prepare:  d(in[native.AtTask], in[native.AtSpawn]),
			Spawn:    d(in[native.AtSpawn], in[native.AtFilter]),
			Exec:     d(in[native.AtFilter], in[native.AtExeced]),
			Run:      d(in[native.AtExeced], in[native.AtReaped]),
			Teardown: d(in[native.AtReaped], end),
		}
	}
	return &Stages{
		Start:    d(p.from, p.planned),
		Clone:    d(p.planned, in[native.AtEntered]),
		IDMaps:   d(in[native.AtEntered], in[native.AtGoAhead]),
		Mounts:   d(in[native.AtGoAhead], in[native.AtMounted]),
		Pivot:    d(in[native.AtMounted], in[native.AtPivoted]),
		Prepare:  d(in[native.AtPivoted], in[native.AtSpawn]),
		Spawn:    d(in[native.AtSpawn], in[native.AtFilter]),
		Exec:     d(in[native.AtFilter], in[native.AtExeced]),
		Run:      d(in[native.AtExeced], in[native.AtReaped]),
		Teardown: d(in[native.AtReaped], end),
	}
}

// describeWaitStatus says how a process ended, as os.ProcessState does.
func describeWaitStatus(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// mapIDs writes the id maps of the init pid, which waits for them: the
// subordinate ranges of Spec.IDs through newuidmap, else PROG's one id.
func mapIDs(pid int, s *Spec) error {
	if s.IDs != nil {
		return s.IDs.Apply(pid)
	}
	uid, gid := hostIDs()
	return writeIDMaps(pid, s, uid, gid)
}

// writeIDMaps maps PROG's ids inside to the caller's outside: the
// overflow id when jail runs as root, whose setgroups stays allowed (the
// init needs it to drop root's groups). An ordinary caller may map only
// its own ids, and its gid only once setgroups is denied.
func writeIDMaps(pid int, s *Spec, uid, gid int) error {
	dir := fmt.Sprintf("/proc/%d/", pid)
	if !asRoot() {
		if err := writeProcFile(dir+"setgroups", "deny"); err != nil {
			return err
		}
	}
	if err := writeProcFile(dir+"uid_map", fmt.Sprintf("%d %d 1\n", s.UID, uid)); err != nil {
		return err
	}
	return writeProcFile(dir+"gid_map", fmt.Sprintf("%d %d 1\n", s.GID, gid))
}

func writeProcFile(name, data string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// readNativeReports turns the init's binary records into the Reports the
// supervisor already understands.
//
// untilExited stops after the EXITED report and leaves r open: the init
// of a reused sandbox goes on to its next task.
func (sup *supervisor) readNativeReports(r *os.File, plan *Plan, untilExited bool) {
	defer close(sup.reports)
	defer sup.cmds.end()
	if !untilExited {
		defer r.Close()
	}
	for {
		nr, err := native.ReadReport(r)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			sup.reports <- Report{Error: &ChildError{Stage: "report", Detail: "unreadable report from the sandbox: " + err.Error()}}
			return
		}
		switch nr.Kind {
		case native.ReportExecStarted, native.ReportExecFailed, native.ReportExecExited:
			sup.cmds.report(nr)
		case native.ReportError:
			sup.reports <- Report{Error: nativeChildError(nr, plan)}
		case native.ReportStarted:
			copy(sup.points.init[:native.AtReaped], nr.At[:native.AtReaped])
			sup.points.madeAhead = nr.MadeAhead
			sup.reports <- Report{Started: &Started{Pid: nr.Pid}}
		case native.ReportExited:
			sup.points.init[native.AtReaped] = nr.At[native.AtReaped]
			sup.points.reported = native.Now()
			ex := &Exited{Status: nr.Status, UserUsec: nr.UserUsec, SysUsec: nr.SysUsec,
				MaxRSSKiB: nr.MaxRSSKiB, WallUsec: nr.WallUsec}
			if nr.Violation {
				ex.Violation = &Violation{Nr: nr.ViolNr, Arch: nr.ViolArch, Args: nr.ViolArgs, OverBudget: nr.OverBudget}
			}
			for _, d := range nr.Denied {
				ex.Denied = append(ex.Denied, Denied{Syscall: seccomp.SyscallName(d.Nr, d.Arch), Count: d.Count})
			}
			ex.DeniedMore = nr.DeniedMore
			if nr.Pid1Died {
				ws := syscall.WaitStatus(nr.Pid1Status)
				ex.Pid1Died = describeWaitStatus(ws)
			}
			sup.reports <- Report{Exited: ex}
			if untilExited {
				return
			}
		}
	}
}

func nativeChildError(nr *native.Report, plan *Plan) *ChildError {
	switch nr.Stage {
	case native.StageLookPath:
		return &ChildError{Stage: StageExec, Errno: unix.ENOENT, Detail: plan.Exec.Argv[0]}
	case native.StageSource, native.StageMount:
		ce := &ChildError{Stage: nr.Stage.Name(), Errno: nr.Errno}
		var op rootfs.Op
		if nr.Index >= 0 && nr.Index < len(plan.Mounts) {
			op = plan.Mounts[nr.Index]
			ce.Op = op.String()
		}
		detail := native.SubName(nr.Sub)
		if nr.Errno != 0 {
			detail += ": " + nr.Errno.Error()
		}
		if nr.Stage == native.StageSource && op.Source != "" {
			detail = op.Source + ": " + detail
			ce.Source = op.Source
		}
		ce.Detail = detail
		return ce
	}
	if name := nr.Stage.Name(); nr.Stage >= native.StageFDs && name != "" {
		return &ChildError{Stage: name, Errno: nr.Errno, Detail: native.StepName(nr.Stage, nr.Index)}
	}
	return spawnFailure(&plan.Exec, &native.SpawnError{Stage: nr.Stage, Index: nr.Index, Errno: syscall.Errno(nr.Errno)})
}
