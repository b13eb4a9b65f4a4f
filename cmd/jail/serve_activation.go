package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// serveListener is where jail serve accepts connections: the sockets
// systemd passed (socket activation: LISTEN_FDS and LISTEN_PID naming this
// process), else a listener of its own on --listen. where says which, for
// the "serving" log line and errors: "systemd:ADDR[,ADDR]" or ADDR.
//
// The passed sockets belong to the socket unit, which keeps them open and
// removes a unix socket's file itself (RemoveOnStop=), so cleanup only
// closes this process's copies. LISTEN_* is unset so that nothing started
// from here sees sockets it was not given.
func serveListener(addr string) (ln net.Listener, where string, cleanup func(), err error) {
	files := activation.Files(true)
	if len(files) == 0 {
		ln, cleanup, err := listen(addr)
		return ln, addr, cleanup, err
	}
	var lns []net.Listener
	var addrs []string
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	for _, f := range files {
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			closeAll()
			return nil, "", nil, fmt.Errorf("socket activation: fd %s is not a listening stream socket (ListenStream= in the socket unit): %w", f.Name(), err)
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().String())
	}
	where = "systemd:" + strings.Join(addrs, ",")
	if len(lns) == 1 {
		return lns[0], where, closeAll, nil
	}
	m := newMultiListener(lns)
	return m, where, func() { m.Close() }, nil
}

// sdNotify tells systemd the service's state (Type=notify units): READY=1
// once it serves, STOPPING=1 when it drains. Without NOTIFY_SOCKET (not
// started by systemd) it does nothing.
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("telling systemd the service's state", "state", state, "err", err.Error())
	}
}

// multiListener accepts on several listeners at once, for a socket unit
// with more than one ListenStream=.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newMultiListener(lns []net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error, len(lns)), done: make(chan struct{})}
	for _, l := range lns {
		go m.accept(l)
	}
	return m
}

func (m *multiListener) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			// http.Server retries temporary errors itself; anything
			// else ends this listener, and is reported once.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case m.errs <- err:
			case <-m.done:
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.lns {
			l.Close()
		}
	})
	return nil
}

func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
