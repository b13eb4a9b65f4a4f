package detached

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"jail/sandbox"
)

// Command is what jail exec asks a monitor to run beside PROG.
type Command struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	TTY  bool     `json:"tty,omitempty"`
	Rows uint16   `json:"rows,omitempty"`
	Cols uint16   `json:"cols,omitempty"`
}

// execReply is a monitor's answer to an exec, one JSON line each: the
// start (Pid, with the terminal's master as SCM_RIGHTS for a TTY), then
// the end (Exited).
type execReply struct {
	Error    string `json:"error,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
	Pid      int    `json:"pid,omitempty"`
	Exited   bool   `json:"exited,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
}

// Exec is a command started beside PROG by its monitor.
type Exec struct {
	Pid int
	// Terminal is the master of its terminal, with Command.TTY; the
	// caller relays it and closes it.
	Terminal *os.File
	conn     *net.UnixConn
	rest     []byte
}

func (e *Exec) readLine(v any) ([]*os.File, error) { return readLine(e.conn, &e.rest, v) }

// StartError is a command that did not start; NotFound says its program
// was not found.
type StartError struct {
	Msg      string
	NotFound bool
}

func (e *StartError) Error() string { return e.Msg }

// StartExec asks the monitor of the sandbox at dir to run cmd, with
// stdio as its streams unless it has a terminal, and returns once it
// started.
func StartExec(dir string, cmd Command, stdio [3]*os.File) (*Exec, error) {
	c, err := dial(dir)
	if err != nil {
		return nil, err
	}
	var rights []byte
	if !cmd.TTY {
		rights = unix.UnixRights(int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	}
	if err := writeLine(c, Request{Op: "exec", Command: &cmd}, rights); err != nil {
		c.Close()
		return nil, fmt.Errorf("asking its monitor: %w", err)
	}
	var r execReply
	e := &Exec{conn: c}
	fds, err := e.readLine(&r)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("its monitor's answer: %w", err)
	}
	if r.Error != "" {
		closeAll(fds)
		c.Close()
		return nil, &StartError{Msg: r.Error, NotFound: r.NotFound}
	}
	if cmd.TTY {
		if len(fds) != 1 {
			closeAll(fds)
			c.Close()
			return nil, errors.New("its monitor sent no terminal")
		}
		e.Terminal = fds[0]
	} else {
		closeAll(fds)
	}
	e.Pid = r.Pid
	return e, nil
}

// Wait waits for the command's end and returns its exit code.
func (e *Exec) Wait() (int, error) {
	defer e.conn.Close()
	var r execReply
	fds, err := e.readLine(&r)
	closeAll(fds)
	if err != nil {
		return 0, fmt.Errorf("its monitor's answer: %w", err)
	}
	if r.Error != "" {
		return r.ExitCode, errors.New(r.Error)
	}
	return r.ExitCode, nil
}

// readLine reads one JSON line of c into v, with the descriptors that
// came with it; rest keeps what came after the line.
func readLine(c *net.UnixConn, rest *[]byte, v any) ([]*os.File, error) {
	var fds []*os.File
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	for bytes.IndexByte(*rest, '\n') < 0 {
		if len(*rest) > maxControlLine {
			closeAll(fds)
			return nil, errors.New("a line too long")
		}
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			fds = append(fds, parseRights(oob[:oobn])...)
		}
		// On an error n may be negative (a connection reset).
		if n > 0 {
			*rest = append(*rest, buf[:n]...)
		}
		if err != nil {
			closeAll(fds)
			return nil, err
		}
		if n == 0 {
			closeAll(fds)
			return nil, errors.New("it closed the connection")
		}
	}
	i := bytes.IndexByte(*rest, '\n')
	line := (*rest)[:i]
	*rest = (*rest)[i+1:]
	if err := json.Unmarshal(line, v); err != nil {
		closeAll(fds)
		return nil, err
	}
	return fds, nil
}

// writeLine writes v as one JSON line of c, with rights (SCM_RIGHTS) if
// any.
func writeLine(c *net.UnixConn, v any, rights []byte) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _, err = c.WriteMsgUnix(append(b, '\n'), rights, nil)
	return err
}

// maxControlLine bounds a control line: a command's arguments and environment.
const maxControlLine = 1 << 20

func parseRights(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var out []*os.File
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			out = append(out, os.NewFile(uintptr(fd), "received"))
		}
	}
	return out
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// exec runs a command beside PROG for the client at c, whose streams
// came with the request, and answers as execReply says.
func (m *Monitor) exec(c *net.UnixConn, cmd *Command, fds []*os.File) {
	defer closeAll(fds)
	c.SetDeadline(time.Time{}) // the command runs as long as it runs
	reply := func(r execReply, rights []byte) { _ = writeLine(c, r, rights) }
	var stdio [3]*os.File
	switch {
	case cmd == nil:
		reply(execReply{Error: "an exec request names no command"}, nil)
		return
	case cmd.TTY && len(fds) != 0, !cmd.TTY && len(fds) != 3:
		reply(execReply{Error: fmt.Sprintf("an exec request came with %d descriptors", len(fds))}, nil)
		return
	case !cmd.TTY:
		copy(stdio[:], fds)
	}
	started, exited := make(chan sandbox.CommandStart, 1), make(chan sandbox.CommandExit, 1)
	req := &sandbox.CommandRequest{Command: sandbox.Command{Argv: cmd.Argv, Env: cmd.Env, Dir: cmd.Dir, Stdio: stdio,
		TTY: cmd.TTY, Rows: cmd.Rows, Cols: cmd.Cols}, Started: started, Exited: exited}
	// A run being set up takes it once it watches PROG, and holds it
	// until PROG has started; none comes between runs (a restart's
	// backoff) or after the last.
	select {
	case m.commands <- req:
	case <-time.After(10 * time.Second):
		reply(execReply{Error: "PROG is not running"}, nil)
		return
	}
	st := <-started
	if st.Err != nil {
		reply(startFailure(cmd, st.Err), nil)
		return
	}
	// The command holds its streams now; the client holds the master.
	closeAll(fds)
	fds = nil
	var rights []byte
	if st.Terminal != nil {
		rights = unix.UnixRights(int(st.Terminal.Fd()))
	}
	reply(execReply{Pid: st.Pid}, rights)
	if st.Terminal != nil {
		st.Terminal.Close()
	}
	ex := <-exited
	r := execReply{Exited: true, ExitCode: ex.ExitCode}
	if ex.Err != nil {
		r.Error = ex.Err.Error()
	}
	reply(r, nil)
}

// startFailure words why cmd did not start, as a shell would say it.
func startFailure(cmd *Command, err error) execReply {
	var ce *sandbox.ChildError
	if !errors.As(err, &ce) {
		return execReply{Error: err.Error()}
	}
	if ce.Stage == sandbox.StageExec && ce.Errno == unix.ENOENT {
		return execReply{Error: fmt.Sprintf("%s: not found in the sandbox", cmd.Argv[0]), NotFound: true}
	}
	return execReply{Error: fmt.Sprintf("%s did not start: %s", cmd.Argv[0], strings.TrimPrefix(ce.Error(), "sandbox setup: "))}
}
