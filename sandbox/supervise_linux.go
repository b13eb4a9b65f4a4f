package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/limits"
	"jail/sandbox/native"
	"jail/seccomp"
	"jail/verdict"
)

// handTerminal gives the caller the master of PROG's terminal, which
// the init sent before it started PROG.
func (sup *supervisor) handTerminal() error {
	if sup.terminal == nil {
		return nil
	}
	master, err := receiveFile(sup.terminal)
	sup.terminal.Close()
	sup.terminal = nil
	if err != nil {
		return err
	}
	sup.onTerminal(master)
	return nil
}

// supervise waits for the end of the run while enforcing the limits that
// need a watcher (wall clock, CPU time, output), then builds the Result.
func (sup *supervisor) supervise(ctx context.Context) *Result {
	var (
		out        verdict.Outcome
		childErr   *ChildError
		exited     *Exited
		started    time.Time
		ended      time.Time
		wallTimer  <-chan time.Time
		limitHit   string
		killedBy   string
		violation  string
		overBudget bool
	)
	defer close(sup.finished)
	// A run that never started never sent its terminal.
	defer func() { closeAll(sup.terminal) }()
	// The CPU watch reads the enforcer's cgroup, which Run releases as
	// soon as this returns: stop it and wait until it is gone.
	stopWatch := make(chan struct{})
	var watching sync.WaitGroup
	defer watching.Wait()
	defer close(stopWatch)
	reports, waited, signals, commands, done := sup.reports, sup.waited, sup.signals, sup.commands, ctx.Done()
	// Signals and commands that came before PROG started wait for it.
	var pending []syscall.Signal
	var waiting []*CommandRequest
	defer func() {
		for _, req := range waiting {
			req.Started <- CommandStart{Err: errors.New("PROG never started")}
		}
	}()
	kill := func(reason string) {
		if killedBy != "" {
			return
		}
		killedBy = reason
		if sup.enf.group != nil {
			_ = sup.enf.group.Kill()
		} else {
			_, _ = sup.enf.sampleTree(sup.initPid)
		}
		// The init kills PROG and has the sandbox's pid 1 kill and reap
		// the rest, and reports what they used.
		_ = sup.killInit()
	}
	for reports != nil || waited != nil {
		if exited != nil && sup.points.untilReport {
			break
		}
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
				if err := sup.handTerminal(); err != nil {
					childErr = &ChildError{Stage: "the sandbox's terminal", Detail: err.Error()}
					kill("terminal")
				}
				if sup.started != nil {
					sup.started(rep.Started.Pid)
				}
				for _, sig := range pending {
					_ = sup.signalProg(sig)
				}
				pending = nil
				for _, req := range waiting {
					go sup.cmds.start(sup, req)
				}
				waiting = nil
				if w := sup.spec.Limits.Wall; w > 0 {
					wallTimer = time.After(w)
				}
				watching.Go(func() { sup.enf.watchCPU(sup.initPid, stopWatch) })
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
			limitHit = "wall"
			kill("wall")
		case which := <-sup.enf.hit:
			if limitHit == "" {
				limitHit = which
			}
			switch which {
			case "time":
				out.CPUExceeded = true
			case "output":
				out.OutputCut = true
			}
			kill(which)
		case req, ok := <-commands:
			switch {
			case !ok:
				commands = nil
			case exited != nil || killedBy != "":
				req.Started <- CommandStart{Err: errors.New("PROG is not running")}
			case started.IsZero():
				waiting = append(waiting, req)
			default:
				go sup.cmds.start(sup, req)
			}
		case sig, ok := <-signals:
			switch {
			case !ok:
				signals = nil
			case started.IsZero():
				pending = append(pending, sig)
			default:
				_ = sup.signalProg(sig)
			}
		case <-done:
			done = nil
			sup.interruption = context.Cause(ctx)
			kill("interrupted")
		}
	}
	// The relays end once the sandbox is gone; the output count is final,
	// and decides OLE even when the relay saw the excess only after PROG
	// had exited (a slow reader of jail's stdout).
	sup.enf.relays.Wait()
	if l := sup.spec.Limits.Output; l > 0 && sup.enf.written.Load() > l {
		out.OutputCut = true
		if limitHit == "" {
			limitHit = "output"
		}
	}
	out.TimeLimit = sup.spec.Limits.CPUTime > 0
	out.FileSizeLimit = sup.spec.Limits.FileSize > 0
	if started.IsZero() {
		started = ended
	}
	res := &Result{
		WallTime:     Seconds(ended.Sub(started)),
		SetupTime:    Seconds(started.Sub(sup.begin)),
		Isolation:    sup.isolation(),
		Limits:       sup.limitsInForce(),
		LimitBackend: sup.enf.backendName(),
		Controllers:  sup.enf.controllers(),
		Warnings:     append(append(sup.enf.warnings(), rootfsWarnings(sup.spec)...), sup.warnings...),
	}
	if sup.points != nil {
		res.Stages = sup.points.stages()
		res.MadeAhead = sup.points.madeAhead
	}
	switch {
	case childErr != nil:
		out.SetupFailed = true
		res.Error = explainChildError(childErr, sup.spec).Error()
		res.ExitCode = setupExitCode(childErr)
	case exited != nil:
		ws := syscall.WaitStatus(exited.Status)
		switch {
		case exited.Violation != nil:
			// The init killed the run for the call, as the kernel's
			// SECCOMP_RET_KILL_PROCESS would have with SIGSYS.
			out.Violation, out.Signal = true, syscall.SIGSYS
			v := exited.Violation
			res.Syscall, res.SyscallArch = seccomp.SyscallName(v.Nr, v.Arch), seccomp.ABIName(v.Nr, v.Arch)
			violation, overBudget = seccomp.Describe(v.Arch, v.Nr, v.Args), v.OverBudget
		case ws.Signaled():
			out.Signal = ws.Signal()
		default:
			out.Exited, out.ExitCode = true, ws.ExitStatus()
		}
		res.Denied, res.DeniedMore = exited.Denied, exited.DeniedMore
		res.WallTime = Seconds(time.Duration(exited.WallUsec) * time.Microsecond)
		res.CPUUser = Seconds(time.Duration(exited.UserUsec) * time.Microsecond)
		res.CPUSys = Seconds(time.Duration(exited.SysUsec) * time.Microsecond)
		res.PeakMemory = exited.MaxRSSKiB << 10
		res.PeakMemorySource = "rusage maxrss: the largest single process, counting the sandbox's spawner (a few MiB) when PROG is smaller"
	case killedBy != "":
		out.Signal = syscall.SIGKILL
		sup.fillFromInitRusage(res)
	default:
		out.SetupFailed = true
		res.Error = fmt.Sprintf("the sandbox init ended without a report (%v); this is a bug in jail", sup.initEnd)
		res.ExitCode = ExitSetupFailed
	}
	sup.fillFromCgroup(res, &out)
	if t := sup.spec.Limits.CPUTime; t > 0 && time.Duration(res.CPUUser+res.CPUSys) > t && !out.SetupFailed {
		// isolate's semantics: over --time is TLE even when the run
		// finished inside the --extra-time grace.
		out.CPUExceeded = true
		if limitHit == "" {
			limitHit = "time"
		}
	}
	if out.Signal == syscall.SIGXFSZ && out.FileSizeLimit && limitHit == "" {
		limitHit = "fsize"
	}
	if out.OOMKilled {
		limitHit = "memory"
	}
	if out.Signal != 0 {
		res.Signal = unix.SignalName(out.Signal)
		res.ExitCode = 128 + int(out.Signal)
	} else if out.Exited {
		res.ExitCode = out.ExitCode
	}
	res.Outcome = out
	res.Verdict = verdict.Decide(out)
	if res.Verdict == verdict.TLE || res.Verdict == verdict.MLE || res.Verdict == verdict.OLE {
		res.LimitHit = limitHit
	}
	res.Reason = sup.reason(res, limitHit, killedBy, violation, overBudget)
	res.Interrupted = killedBy == "interrupted"
	if exited != nil && exited.Pid1Died != "" && res.Reason == "" {
		res.Reason = fmt.Sprintf("the sandbox's pid 1 died (%s) while PROG ran, and every process of the sandbox with it: PROG had lowered pid 1's resource limits", exited.Pid1Died)
	}
	return res
}

// reason says in words what decided the verdict; violation is the call
// that broke the seccomp policy with its deciding argument, if one did, and
// overBudget says it was an errno denial past the init's budget.
func (sup *supervisor) reason(res *Result, limitHit, killedBy, violation string, overBudget bool) string {
	l, v := sup.spec.Limits, res.Verdict
	switch {
	case v == verdict.SV && overBudget:
		return fmt.Sprintf("the program made more than %d system calls the seccomp policy %q denies; the last, %s (%s), ended the run", native.DeniedBudget, sup.spec.Seccomp.Name, violation, res.SyscallArch)
	case v == verdict.SV && violation != "":
		return fmt.Sprintf("the seccomp policy %q forbids %s (%s); the run was killed", sup.spec.Seccomp.Name, violation, res.SyscallArch)
	case v == verdict.SV:
		return "killed by SIGSYS: a system call of a non-native ABI, or the program's own filter"
	case v == verdict.TLE && limitHit == "wall":
		return fmt.Sprintf("wall-clock limit of %v reached", l.Wall)
	case v == verdict.TLE:
		return fmt.Sprintf("CPU time limit of %v exceeded", l.CPUTime)
	case v == verdict.MLE:
		return fmt.Sprintf("memory limit of %d bytes reached; the kernel's OOM killer ended the run", l.Memory)
	case v == verdict.OLE && limitHit == "output":
		return fmt.Sprintf("output limit of %d bytes reached; the rest was dropped", l.Output)
	case v == verdict.OLE:
		return "file-size limit reached (SIGXFSZ)"
	case killedBy == "interrupted" && sup.interruption != nil && !errors.Is(sup.interruption, context.Canceled):
		// The face said why: a signal, a stop timeout.
		return fmt.Sprintf("jail was interrupted: %v; the sandbox was killed", sup.interruption)
	case killedBy == "interrupted":
		return "jail was interrupted; the sandbox was killed"
	}
	return ""
}

// fillFromCgroup replaces rusage figures with the cgroup's, which count
// every process of the run, exactly, and nothing of the sandbox's own.
func (sup *supervisor) fillFromCgroup(res *Result, out *verdict.Outcome) {
	g := sup.enf.group
	if g == nil {
		return
	}
	st, err := g.Stats()
	if err != nil {
		res.Warnings = append(res.Warnings, "reading the cgroup's accounting: "+err.Error())
		return
	}
	res.CPUUser, res.CPUSys = Seconds(st.CPUUser), Seconds(st.CPUSys)
	if st.PeakMemorySource != "" {
		res.PeakMemory, res.PeakMemorySource = st.PeakMemory, st.PeakMemorySource
	}
	res.PeakPids, res.OOMKills = st.PeakPids, st.OOMKills
	if st.OOMKills > 0 && sup.spec.Limits.Memory > 0 {
		out.OOMKilled = true
	}
}

// fillFromInitRusage is the fallback when the init was killed before it
// could report: the kernel's rusage of the init covers every process it or
// the namespace teardown reaped, plus the init's own small share.
func (sup *supervisor) fillFromInitRusage(res *Result) {
	ru := sup.initRusage
	if ru == nil {
		return
	}
	res.CPUUser = Seconds(time.Duration(ru.Utime.Nano()))
	res.CPUSys = Seconds(time.Duration(ru.Stime.Nano()))
	if t := sup.enf.treeSample(); t.total() > time.Duration(res.CPUUser+res.CPUSys) {
		res.CPUUser, res.CPUSys = Seconds(t.user+t.childUser), Seconds(t.sys+t.childSys)
	}
	res.PeakMemory = ru.Maxrss << 10
	res.PeakMemorySource = "rusage maxrss: the largest single process, including the sandbox init (the run was killed)"
}

func (sup *supervisor) isolation() Isolation {
	s := sup.spec
	root := "tmpfs with the host's /usr read-only"
	switch {
	case s.RootFS != "":
		root = "overlay over " + s.RootFS
	case len(s.Layers) > 0:
		root = fmt.Sprintf("overlay over the image %s (%d layers)", s.Image, len(s.Layers))
	}
	return Isolation{
		Namespaces: namespaceNames(s), Root: root, UID: s.UID, GID: s.GID, HostUID: sup.hostUID,
		NoNewPrivs: true, Capabilities: "none", Seccomp: seccompName(s), Landlock: sup.landlock.describe(),
	}
}

// limitsInForce lists each requested limit with what enforces it, in the
// descriptors' order.
func (sup *supervisor) limitsInForce() []Limit {
	l := sup.spec.Limits
	out := []Limit{
		{Name: "disk", Value: fmt.Sprint(sup.spec.Disk), Mechanism: "tmpfs size behind /, /tmp and /dev/shm"},
		{Name: "core", Value: "0", Mechanism: "RLIMIT_CORE"},
	}
	for _, f := range limits.Fields {
		if !f.IsSet(l) || f.Mechanism == "" {
			continue
		}
		mech := f.Mechanism
		switch {
		case f.Controller != "":
			mech = sup.enf.backendName() + " " + mech
			if why, no := sup.enf.notEnforced[f.Name]; no {
				mech = "NOT ENFORCED: " + why
			}
		case f.Name == "time":
			clock := "CPU time of the cgroup"
			if sup.enf.group == nil {
				clock = "CPU time of the process tree from /proc (10ms ticks)"
			}
			mech = fmt.Sprintf("supervisor watching the %s, kill at %v; RLIMIT_CPU backstop", clock, l.CPUTime+l.ExtraTime)
		}
		out = append(out, Limit{Name: f.Name, Value: limitValue(f, l), Mechanism: mech})
	}
	return out
}

// limitValue is a limit's value as the result shows it: bytes and counts
// as numbers, durations as Go spells them, a CPU share with its percent.
func limitValue(f limits.Field, l limits.Spec) string {
	switch v := f.Value(l).(type) {
	case float64:
		return fmt.Sprintf("%g%%", v)
	case time.Duration:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

func seccompName(s *Spec) string {
	if s.Seccomp == nil {
		return "none"
	}
	return s.Seccomp.Name
}
