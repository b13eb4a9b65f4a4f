package detached

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Attaching. A sandbox run with -t has a terminal whose master the
// monitor holds: it alone reads it, into the log and to every attached
// client, as one raw stream; a client writes its keys, and sets the size,
// through a copy of the master it is handed. A sandbox without one sends
// its clients PROG's stdout and stderr as they come, framed as docker's
// attach stream is: a header of the stream (1 stdout, 2 stderr), three
// zero bytes and the length (big-endian), then the bytes.

const (
	streamStdout = 1
	streamStderr = 2
)

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

// streamOutput reads one of PROG's pipes for the log, handing each chunk
// to the attached clients in a frame of its stream.
type streamOutput struct {
	m      *Monitor
	r      io.Reader
	stream byte
}

func (s *streamOutput) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		frame := make([]byte, 8+n)
		frame[0] = s.stream
		binary.BigEndian.PutUint32(frame[4:], uint32(n))
		copy(frame[8:], p[:n])
		s.m.broadcast(frame)
	}
	return n, err
}

func (m *Monitor) setLive(live bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = live
	if !live {
		// PROG's output has ended: so do the clients' streams.
		for a := range m.attached {
			close(a.out)
			delete(m.attached, a)
		}
	}
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
		m.mu.Unlock()
		master.Close()
	}
}

// broadcast hands b to every attached client; the caller's buffer is
// its own again on return.
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

// attach serves an attached client at c: a reply line (with a copy of
// the master, for a terminal), then PROG's output as it comes, until it
// ends or the client goes.
func (m *Monitor) attach(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Time{})
	reply := func(r response, rights []byte) error { return writeLine(c, r, rights) }
	m.mu.Lock()
	master, tty := m.master, m.State.TTY
	live := m.live && (master != nil || !tty)
	var a *attachment
	if live {
		a = &attachment{out: make(chan []byte, attachBacklog)}
		if m.attached == nil {
			m.attached = map[*attachment]struct{}{}
		}
		m.attached[a] = struct{}{}
	}
	m.mu.Unlock()
	if !live {
		reply(response{Error: "PROG is not running"}, nil)
		return
	}
	defer m.detach(a)
	if master == nil {
		if reply(response{}, nil) != nil {
			return
		}
	} else {
		// Within Control the descriptor stays open while it is sent,
		// though PROG's end closes the master meanwhile.
		raw, err := master.SyscallConn()
		if err != nil {
			return
		}
		var sent error
		if err := raw.Control(func(fd uintptr) { sent = reply(response{}, unix.UnixRights(int(fd))) }); err != nil || sent != nil {
			return
		}
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
	// Master is a copy of the master of PROG's terminal, for a sandbox
	// run with -t: keys typed go there, and the size is set there.
	Master *os.File
	// Output is PROG's output from the moment of attaching, raw from a
	// terminal, else framed by stream (Demux); it ends with PROG's.
	Output io.ReadCloser
}

// Demux copies a framed attach stream to stdout and stderr until it
// ends.
func Demux(r io.Reader, stdout, stderr io.Writer) error {
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		w := stdout
		if head[0] == streamStderr {
			w = stderr
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(head[4:]))); err != nil {
			return err
		}
	}
}

// Attach attaches to the terminal of the sandbox at dir.
func Attach(dir string) (*Attached, error) {
	c, err := dial(dir)
	if err != nil {
		return nil, err
	}
	if err := writeLine(c, Request{Op: "attach"}, nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("asking its monitor: %w", err)
	}
	var r response
	var rest []byte
	fds, err := readLine(c, &rest, &r)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("its monitor's answer: %w", err)
	}
	if r.Error != "" || len(fds) > 1 {
		closeAll(fds)
		c.Close()
		if r.Error == "" {
			r.Error = "its monitor sent more than a terminal"
		}
		return nil, errors.New(r.Error)
	}
	a := &Attached{Output: &prefixed{rest: rest, conn: c}}
	if len(fds) == 1 {
		a.Master = fds[0]
	}
	return a, nil
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
