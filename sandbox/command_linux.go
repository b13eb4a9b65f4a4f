package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"jail/sandbox/native"
	"jail/seccomp"
)

// Command is a command run beside PROG while PROG runs (jail exec). The
// sandbox's init starts it as it started PROG: in every namespace of the
// sandbox, PROG's cgroup and time namespace, with PROG's ids, rlimits,
// seccomp policy and Landlock ruleset. A call the policy kills kills the
// command only; its errno denials are not counted in the run's result.
type Command struct {
	Argv []string
	// Env is added to PROG's environment (NAME=VALUE; a NAME already
	// there is replaced).
	Env []string
	// Dir is the working directory; "" is PROG's.
	Dir string
	// Stdio are the command's stdin, stdout and stderr, without TTY.
	Stdio [3]*os.File
	// TTY gives it a terminal of the sandbox's own devpts, Rows by Cols,
	// instead: tty and ttyname work inside, and the master is the
	// caller's to relay (CommandStart.Terminal).
	TTY        bool
	Rows, Cols uint16
}

// CommandRequest asks a running sandbox for a command (IO.Commands).
// Started gets one CommandStart, and, if it started, Exited then gets
// how it ended; both need room for one value.
type CommandRequest struct {
	Command
	Started chan<- CommandStart
	Exited  chan<- CommandExit
}

// CommandStart is how the start of a command went: its pid, as this
// process sees it, and the master of its terminal (TTY), which the
// receiver owns; or why it did not start.
type CommandStart struct {
	Pid      int
	Terminal *os.File
	Err      error
}

// CommandExit is how a command ended: its exit code (128+N for signal
// N, as a shell says it), or why it is not known.
type CommandExit struct {
	ExitCode int
	Signal   syscall.Signal
	Err      error
}

// ErrSandboxEnded is a command's error when the sandbox ended first.
var ErrSandboxEnded = errors.New("the sandbox ended")

// commands are the commands of one run the init was asked for, by id.
type commands struct {
	mu      sync.Mutex
	next    int32
	pending map[int32]*pendingCommand
	closed  bool
}

type pendingCommand struct {
	req   *CommandRequest
	plan  *ExecPlan
	reply *os.File // our end of the socket a terminal's master comes over
}

// start compiles cmd for the init and sends it; the init's reports
// finish the request (report).
func (c *commands) start(sup *supervisor, req *CommandRequest) {
	t, plan, err := commandTask(sup.spec, sup.landlock, &req.Command)
	if err != nil {
		req.Started <- CommandStart{Err: err}
		return
	}
	files := []*os.File{req.Stdio[0], req.Stdio[1], req.Stdio[2]}
	var reply, theirs *os.File
	if req.TTY {
		if reply, theirs, err = replySocket(); err != nil {
			req.Started <- CommandStart{Err: err}
			return
		}
		defer theirs.Close()
		files = []*os.File{theirs}
	} else if files[0] == nil || files[1] == nil || files[2] == nil {
		req.Started <- CommandStart{Err: errors.New("a command without a terminal needs its three streams")}
		return
	}
	cgroups := sup.enf.cgroupFiles()
	files = append(files, cgroups...)
	// Where the init puts them is its own choice; the count is what
	// the task carries.
	t.Exec.CgroupFDs = make([]int, len(cgroups))

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if reply != nil {
			reply.Close()
		}
		req.Started <- CommandStart{Err: ErrSandboxEnded}
		return
	}
	c.next++
	t.ID = c.next
	if c.pending == nil {
		c.pending = map[int32]*pendingCommand{}
	}
	c.pending[t.ID] = &pendingCommand{req: req, plan: plan, reply: reply}
	c.mu.Unlock()
	if err := sup.sendTask(t, files); err != nil {
		c.finish(t.ID, func(p *pendingCommand) { p.req.Started <- CommandStart{Err: err} })
	}
}

// report finishes the request of an exec record of the init.
func (c *commands) report(nr *native.Report) {
	switch nr.Kind {
	case native.ReportExecStarted:
		c.mu.Lock()
		p := c.pending[nr.ExecID]
		c.mu.Unlock()
		if p == nil {
			return
		}
		st := CommandStart{Pid: nr.Pid}
		if p.reply != nil {
			// The init sent the master before it started the command.
			st.Terminal, st.Err = receiveFile(p.reply)
			p.reply.Close()
			p.reply = nil
		}
		p.req.Started <- st
	case native.ReportExecFailed:
		c.finish(nr.ExecID, func(p *pendingCommand) {
			p.req.Started <- CommandStart{Err: nativeChildError(nr, &Plan{Exec: *p.plan})}
		})
	case native.ReportExecExited:
		c.finish(nr.ExecID, func(p *pendingCommand) {
			ws := syscall.WaitStatus(nr.Status)
			ex := CommandExit{ExitCode: ws.ExitStatus()}
			if ws.Signaled() {
				ex.Signal, ex.ExitCode = ws.Signal(), 128+int(ws.Signal())
			}
			p.req.Exited <- ex
		})
	}
}

func (c *commands) finish(id int32, with func(*pendingCommand)) {
	c.mu.Lock()
	p := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if p == nil {
		return
	}
	if p.reply != nil {
		p.reply.Close()
	}
	with(p)
}

// end finishes every request still open once the init is gone: a
// command that started ended with the sandbox.
func (c *commands) end() {
	c.mu.Lock()
	c.closed = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range pending {
		if p.reply != nil {
			p.reply.Close()
			p.req.Started <- CommandStart{Err: ErrSandboxEnded}
			continue
		}
		p.req.Exited <- CommandExit{ExitCode: 137, Signal: syscall.SIGKILL, Err: ErrSandboxEnded}
	}
}

// commandTask is cmd as the init runs it: PROG's plan for everything
// but the command itself, and the policy's own kill actions, since no
// one answers notifications for it.
func commandTask(s *Spec, landlock LandlockPlan, cmd *Command) (*native.Task, *ExecPlan, error) {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return nil, nil, errors.New("no command given: name it after --")
	}
	dir := s.Dir
	if cmd.Dir != "" {
		if !path.IsAbs(cmd.Dir) {
			return nil, nil, fmt.Errorf("-w %q: give an absolute path inside the sandbox", cmd.Dir)
		}
		dir = cmd.Dir
	}
	env, err := mergeEnv(s.Env, cmd.Env)
	if err != nil {
		return nil, nil, err
	}
	plan := &ExecPlan{Argv: cmd.Argv, Env: env, Dir: path.Clean(dir), Rlimits: rlimits(s),
		UID: s.UID, GID: s.GID, RootCaps: rootCaps(s), SeccompLog: s.SeccompLog}
	if s.Seccomp != nil {
		prog, err := s.Seccomp.Compile(seccomp.CompileOptions{})
		if err != nil {
			return nil, nil, err
		}
		plan.Seccomp = prog.Raw
	}
	t := &native.Task{Exec: *nativeExec(plan), LandlockABI: landlock.ABI, LandlockFS: landlock.FS,
		LandlockScoped: landlock.Scoped, PTY: cmd.TTY, Rows: cmd.Rows, Cols: cmd.Cols}
	t.Candidates, t.Check = pathCandidates(plan)
	return t, plan, nil
}

// mergeEnv is env with each of extra's NAME=VALUE in place of NAME's.
func mergeEnv(env, extra []string) ([]string, error) {
	out := append([]string(nil), env...)
	for _, kv := range extra {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("-e %q: give NAME=VALUE", kv)
		}
		out = append(slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, name+"=") }), kv)
	}
	return out, nil
}

// replySocket is a socket pair whose second end the init gets, to hand
// a terminal's master back over.
func replySocket() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the terminal's socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "jail-pty-reply"), os.NewFile(uintptr(fds[1]), "jail-pty-reply-init"), nil
}

// receiveFile receives the one descriptor sent over f.
func receiveFile(f *os.File) (*os.File, error) {
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
	if err != nil {
		return nil, fmt.Errorf("receiving the terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receiving the terminal: no descriptor came")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receiving the terminal: no descriptor came")
	}
	return os.NewFile(uintptr(fds[0]), "ptmx"), nil
}
