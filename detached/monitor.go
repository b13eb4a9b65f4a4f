package detached

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"jail/sandbox"
	"jail/verdict"
)

// Request is one control request to a monitor, a JSON line.
type Request struct {
	// Op is "stop" (Signal, then SIGKILL after Timeout seconds) or
	// "kill" (Signal alone; SIGKILL ends the sandbox at once).
	// "exec" runs Command beside PROG (StartExec); "attach" attaches
	// to PROG's terminal (Attach).
	Op      string   `json:"op"`
	Signal  string   `json:"signal,omitempty"`
	Timeout float64  `json:"timeout,omitempty"`
	Command *Command `json:"command,omitempty"`
}

type response struct {
	Error string `json:"error,omitempty"`
}

// Send sends req to the monitor of the sandbox at dir.
func Send(dir string, req Request) error {
	c, err := dial(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeLine(c, req, nil); err != nil {
		return err
	}
	var resp response
	var rest []byte
	fds, err := readLine(c, &rest, &resp)
	closeAll(fds)
	if err != nil {
		return fmt.Errorf("its monitor's answer: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return nil
}

// dial connects to the control socket of the sandbox at dir.
func dial(dir string) (*net.UnixConn, error) {
	var c net.Conn
	if err := withSocketPath(dir, func(p string) (err error) {
		c, err = net.DialTimeout("unix", p, 5*time.Second)
		return err
	}); err != nil {
		return nil, fmt.Errorf("its monitor does not answer (%v): it has ended", err)
	}
	return c.(*net.UnixConn), nil
}

// Monitor runs one detached sandbox to its end.
type Monitor struct {
	Dir   string
	State *State
	// Run runs the sandbox as jail run does, with io as PROG's.
	Run func(ctx context.Context, io sandbox.IO) (*sandbox.Result, error)
	// StopSignal is what stop sends first (the image's, else SIGTERM).
	StopSignal syscall.Signal

	mu      sync.Mutex
	cancel  context.CancelCauseFunc
	signals chan syscall.Signal
	// commands go to the run in progress, which alone reads them.
	commands chan *sandbox.CommandRequest
	timer    *time.Timer
	// stopped is set by a stop or a kill with SIGKILL: no restart after
	// it; wake ends a wait for one.
	stopped bool
	wake    chan struct{}
	helper  *portHelper
	// live says a run is in progress; master is PROG's terminal while it
	// runs (State.TTY); attached are the clients its output goes to.
	live     bool
	master   *os.File
	attached map[*attachment]struct{}
}

// Serve runs the sandbox until PROG ends, writing the state as it goes.
// ready gets one line once PROG has started ("started PID") or could
// not ("error: WHY"), and is closed.
func (m *Monitor) Serve(ready *os.File) error {
	// A start after a stop begins afresh but for what PROG wrote.
	st := m.State
	st.Status, st.Pid, st.ExitCode, st.OOMKilled, st.Error, st.Result = Created, 0, 0, false, "", nil
	st.StartedAt, st.FinishedAt, st.BootID, st.RestartCount = time.Time{}, time.Time{}, BootID(), 0
	st.MonitorPid = os.Getpid()
	m.signals, m.wake, m.commands = make(chan syscall.Signal, 8), make(chan struct{}), make(chan *sandbox.CommandRequest)
	m.cancel = func(error) {}
	if m.StopSignal == 0 {
		m.StopSignal = syscall.SIGTERM
	}
	log, err := OpenLog(m.Dir)
	if err != nil {
		return m.failed(ready, err)
	}
	defer log.Close()
	var ln *net.UnixListener
	if err := withSocketPath(m.Dir, func(p string) (err error) {
		// One a monitor that died left, which answers no one.
		os.Remove(p)
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	}); err != nil {
		return m.failed(ready, err)
	}
	// The path it was bound by goes with the descriptor; removed by name.
	ln.SetUnlinkOnClose(false)
	defer os.Remove(socketFile(m.Dir))
	defer ln.Close()
	go m.serveControl(ln)
	// The monitor's own SIGTERM (a logout, kill PID) is a stop; SIGHUP
	// and SIGINT are no business of a process without a terminal.
	own := make(chan os.Signal, 4)
	signal.Notify(own, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for sig := range own {
			if sig == syscall.SIGTERM {
				m.stop(m.StopSignal, 10*time.Second)
			}
		}
	}()
	// The host's ports first: one in use fails the start.
	listeners, err := listen(st.Ports)
	if err != nil {
		return m.failed(ready, err)
	}
	for _, h := range listeners {
		defer h.Close()
		go m.serve(h)
	}
	defer m.setHelper(nil)

	var announced sync.Once
	announce := func(line string) {
		announced.Do(func() {
			fmt.Fprintln(ready, line)
			ready.Close()
		})
	}
	backoff := restartBackoff
	for {
		began := time.Now()
		m.runOnce(log, len(listeners) > 0, announce)
		// PROG never started: the caller of jail run -d says why.
		why := st.Error
		if why == "" {
			why = fmt.Sprintf("PROG ended before it started, with status %d", st.ExitCode)
		}
		announce("error: " + why)
		if !m.restarts() {
			break
		}
		if time.Since(began) > 10*time.Second {
			backoff = restartBackoff // it ran a while: as a fresh start
		}
		st.RestartCount++
		st.Status = Restarting
		WriteState(m.Dir, st)
		select {
		case <-time.After(backoff):
		case <-m.wake:
		}
		backoff = min(2*backoff, maxRestartBackoff)
		if m.isStopped() {
			st.Status = Exited
			break
		}
	}
	// The final state before the control socket goes (the defers): a
	// reader that finds no monitor reads the state again, and must find
	// how PROG ended, not a sandbox whose monitor died.
	if st.Remove {
		return m.remove()
	}
	return WriteState(m.Dir, st)
}

// Backoff between restarts, as docker's: doubling from 100 ms, at most
// a minute, and from the start again after a run of 10 s.
const (
	restartBackoff    = 100 * time.Millisecond
	maxRestartBackoff = time.Minute
)

// restarts says the policy wants PROG run again: not after a stop.
func (m *Monitor) restarts() bool {
	st := m.State
	switch {
	case m.isStopped() || st.Restart.Policy == "" || st.Restart.Policy == "no":
		return false
	case st.Restart.Policy == "on-failure":
		return st.ExitCode != 0 && (st.Restart.Max == 0 || st.RestartCount < st.Restart.Max)
	}
	return true // always
}

func (m *Monitor) isStopped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopped
}

// runOnce runs PROG to its end, its output to log, and records how it
// ended; announce tells jail run -d it started.
func (m *Monitor) runOnce(log *Logger, ports bool, announce func(string)) {
	st := m.State
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	m.mu.Lock()
	m.cancel = cancel
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		st.Status, st.ExitCode, st.Error = Exited, sandbox.ExitSetupFailed, err.Error()
		return
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		st.Status, st.ExitCode, st.Error = Exited, sandbox.ExitSetupFailed, err.Error()
		return
	}
	var copied sync.WaitGroup
	copied.Go(func() { log.Copy("stdout", &streamOutput{m: m, r: outR, stream: streamStdout}) })
	copied.Go(func() { log.Copy("stderr", &streamOutput{m: m, r: errR, stream: streamStderr}) })
	m.setLive(true)
	started := func(pid int) {
		if ports {
			h, err := startPortHelper(pid)
			if err != nil {
				st.Error = err.Error()
				cancel(err)
				return
			}
			m.setHelper(h)
		}
		st.Status, st.Pid, st.StartedAt, st.Error = Running, pid, time.Now().UTC(), ""
		if err := WriteState(m.Dir, st); err != nil {
			fmt.Fprintf(os.Stderr, "jail monitor: %v\n", err)
		}
		announce(fmt.Sprintf("started %d", pid))
	}
	stdio := sandbox.IO{Stdout: outW, Stderr: errW, Give: true, Signals: m.signals, Started: started, Commands: m.commands}
	if st.TTY {
		// The size a terminal has until someone attaches with theirs.
		stdio.Rows, stdio.Cols = 24, 80
		stdio.Terminal = func(master *os.File) { copied.Go(m.takeTerminal(master, log)) }
	}
	res, err := m.Run(ctx, stdio)
	copied.Wait()
	m.setLive(false)
	m.setHelper(nil)
	st.Status, st.FinishedAt, st.Pid = Exited, time.Now().UTC(), 0
	switch {
	case err != nil:
		st.ExitCode, st.Error = sandbox.ExitSetupFailed, err.Error()
	default:
		st.ExitCode = res.ExitCode
		st.OOMKilled = res.Verdict == verdict.MLE || res.OOMKills > 0
		if st.Error == "" {
			st.Error = res.Error
		}
		if res.Interrupted {
			st.Error = res.Reason
		}
		st.Result, _ = json.Marshal(res)
	}
}

// setHelper makes h the port helper new connections use, ending the one
// before.
func (m *Monitor) setHelper(h *portHelper) {
	m.mu.Lock()
	old := m.helper
	m.helper = h
	m.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// remove removes the sandbox once PROG has ended (--rm), as jail rm does.
func (m *Monitor) remove() error {
	s := &Store{Root: filepath.Dir(m.Dir)}
	return s.Remove(&Entry{Dir: m.Dir, State: *m.State})
}

func (m *Monitor) failed(ready *os.File, err error) error {
	fmt.Fprintf(ready, "error: %v\n", err)
	ready.Close()
	m.State.Status, m.State.Error, m.State.ExitCode = Exited, err.Error(), sandbox.ExitSetupFailed
	m.State.FinishedAt = time.Now().UTC()
	WriteState(m.Dir, m.State)
	return err
}

func socketFile(dir string) string { return filepath.Join(dir, "ctl.sock") }

func (m *Monitor) serveControl(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go m.answer(c)
	}
}

func (m *Monitor) answer(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if !peerIsUs(c) {
		return
	}
	var req Request
	var rest []byte
	fds, err := readLine(c.(*net.UnixConn), &rest, &req)
	switch {
	case err == nil && req.Op == "exec":
		m.exec(c.(*net.UnixConn), req.Command, fds)
		return
	case err == nil && req.Op == "attach":
		closeAll(fds)
		m.attach(c.(*net.UnixConn))
		return
	}
	closeAll(fds)
	resp := response{}
	if err != nil {
		resp.Error = "a request the monitor cannot read: " + err.Error()
	} else if err := m.do(req); err != nil {
		resp.Error = err.Error()
	}
	_ = writeLine(c.(*net.UnixConn), resp, nil)
}

func (m *Monitor) do(req Request) error {
	sig := m.StopSignal
	if req.Signal != "" {
		var err error
		if sig, err = sandbox.ParseSignal(req.Signal); err != nil {
			return err
		}
	}
	switch req.Op {
	case "stop":
		m.stop(sig, time.Duration(req.Timeout*float64(time.Second)))
		return nil
	case "kill":
		if sig == syscall.SIGKILL {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.markStopped()
			m.cancel(errors.New("killed with SIGKILL (jail kill)"))
			return nil
		}
		select {
		case m.signals <- sig:
			return nil
		default:
			return errors.New("too many signals at once; try again")
		}
	}
	return fmt.Errorf("no operation %q", req.Op)
}

// stop sends sig to PROG and ends the sandbox if PROG is still running
// after timeout; a second stop keeps the first one's deadline.
func (m *Monitor) stop(sig syscall.Signal, timeout time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.markStopped()
	if timeout <= 0 {
		m.cancel(fmt.Errorf("stopped with SIGKILL (jail stop -t 0)"))
		return
	}
	select {
	case m.signals <- sig:
	default:
	}
	if m.timer == nil {
		cancel := m.cancel
		m.timer = time.AfterFunc(timeout, func() {
			cancel(fmt.Errorf("PROG did not exit within %v of %s (jail stop)", timeout, unix.SignalName(sig)))
		})
	}
}

// markStopped rules out a restart, and ends a wait for one. The caller
// holds mu.
func (m *Monitor) markStopped() {
	if !m.stopped {
		m.stopped = true
		close(m.wake)
	}
}

// peerIsUs says the connection's other end runs as this user.
func peerIsUs(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return cred != nil && cred.Uid == uint32(os.Getuid())
}
