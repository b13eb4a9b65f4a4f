package detached

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A sandbox run with -t has a terminal whose master the monitor holds:
// it alone reads it, into the log and to every attached client; a
// client writes its keys, and sets the size, through a copy of the
// master it is handed.

// attachment is one attached client's stream of PROG's output.
type attachment struct {
	out chan []byte
}

// attachBacklog is how many chunks of output an attached client may lag
// behind; one further behind is let go, so that it never slows PROG or
// the log.
const attachBacklog = 256

// terminalOutput reads PROG's terminal for the log, handing every chunk
// to the attached clients as it comes (the log keeps whole lines).
type terminalOutput struct {
	m      *Monitor
	master *os.File
}

func (t *terminalOutput) Read(p []byte) (int, error) {
	n, err := t.master.Read(p)
	if n > 0 {
		t.m.broadcast(p[:n])
	}
	// EIO: the terminal side has no holder left, PROG and all it
	// started are gone.
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}

// takeTerminal holds PROG's terminal for this run, and logs it.
func (m *Monitor) takeTerminal(master *os.File, log *Logger) func() {
	m.mu.Lock()
	m.master = master
	m.mu.Unlock()
	return func() {
		log.Copy("stdout", &terminalOutput{m: m, master: master})
		m.mu.Lock()
		m.master = nil
		for a := range m.attached {
			close(a.out)
			delete(m.attached, a)
		}
		m.mu.Unlock()
		master.Close()
	}
}

func (m *Monitor) broadcast(b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := range m.attached {
		select {
		case a.out <- append([]byte(nil), b...):
		default:
			close(a.out)
			delete(m.attached, a)
		}
	}
}

func (m *Monitor) detach(a *attachment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.attached[a]; ok {
		close(a.out)
		delete(m.attached, a)
	}
}

// attach serves an attached client at c: a reply line with a copy of the
// master, then PROG's output as it comes, until PROG's terminal closes
// or the client goes.
func (m *Monitor) attach(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Time{})
	reply := func(r response, rights []byte) error {
		b, _ := json.Marshal(r)
		_, _, err := c.WriteMsgUnix(append(b, '\n'), rights, nil)
		return err
	}
	m.mu.Lock()
	master := m.master
	var a *attachment
	if master != nil {
		a = &attachment{out: make(chan []byte, attachBacklog)}
		if m.attached == nil {
			m.attached = map[*attachment]struct{}{}
		}
		m.attached[a] = struct{}{}
	}
	tty := m.State.TTY
	m.mu.Unlock()
	switch {
	case master == nil && !tty:
		reply(response{Error: "it has no terminal (it was started without -t): follow its output with jail logs -f"}, nil)
		return
	case master == nil:
		reply(response{Error: "PROG is not running"}, nil)
		return
	}
	defer m.detach(a)
	// Within Control the descriptor stays open while it is sent, though
	// PROG's end closes the master meanwhile.
	raw, err := master.SyscallConn()
	if err != nil {
		return
	}
	var sent error
	if err := raw.Control(func(fd uintptr) { sent = reply(response{}, unix.UnixRights(int(fd))) }); err != nil || sent != nil {
		return
	}
	// A client that goes away is seen by its read end, output or not.
	go func() {
		_, _ = io.Copy(io.Discard, c)
		m.detach(a)
	}()
	for b := range a.out {
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

// Attached is a client's side of an attach.
type Attached struct {
	// Master is a copy of the master of PROG's terminal: keys typed go
	// there, and the size is set there.
	Master *os.File
	// Output is PROG's output from the moment of attaching; it ends when
	// PROG's terminal closes.
	Output io.ReadCloser
}

// Attach attaches to the terminal of the sandbox at dir.
func Attach(dir string) (*Attached, error) {
	var c net.Conn
	if err := withSocketPath(dir, func(p string) (err error) {
		c, err = net.DialTimeout("unix", p, 5*time.Second)
		return err
	}); err != nil {
		return nil, fmt.Errorf("its monitor does not answer (%v): it has ended", err)
	}
	uc := c.(*net.UnixConn)
	line, _ := json.Marshal(Request{Op: "attach"})
	if _, err := uc.Write(append(line, '\n')); err != nil {
		c.Close()
		return nil, fmt.Errorf("asking its monitor: %w", err)
	}
	var r response
	var rest []byte
	fds, err := readLine(uc, &rest, &r)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("its monitor's answer: %w", err)
	}
	if r.Error != "" || len(fds) != 1 {
		closeAll(fds)
		c.Close()
		if r.Error == "" {
			r.Error = "its monitor sent no terminal"
		}
		return nil, errors.New(r.Error)
	}
	return &Attached{Master: fds[0], Output: &prefixed{rest: rest, conn: uc}}, nil
}

// prefixed is the connection's stream, after what readLine read past
// the reply.
type prefixed struct {
	rest []byte
	conn *net.UnixConn
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		return n, nil
	}
	return p.conn.Read(b)
}

func (p *prefixed) Close() error { return p.conn.Close() }
