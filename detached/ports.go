package detached

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Ports without a helper binary: the monitor listens on the host, and
// per connection asks its port helper (jail __netns, which entered the
// sandbox's user and network namespaces before its Go started, see
// sandbox/native/enter.c) for a socket connected to the port inside. The
// helper passes the socket back over a unix socket; the monitor checks it
// is a TCP (or UDP) socket of another network namespace than its own,
// and relays both ways. The server inside sees a loopback peer. A sandbox without
// -p stays unreachable.

// Port is one -p mapping.
type Port struct {
	HostIP   string `json:"host_ip"`
	HostPort int    `json:"host_port"`
	Port     int    `json:"port"`
	Proto    string `json:"proto"`
}

func (p Port) String() string {
	return fmt.Sprintf("%s/%s -> %s", strconv.Itoa(p.Port), p.Proto, net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)))
}

// ParsePort reads -p [IP:]HOSTPORT:PORT[/tcp|/udp]; the host side is
// 127.0.0.1 unless an address is given.
func ParsePort(v string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, fmt.Errorf("-p %q: %s; write [IP:]HOSTPORT:PORT[/tcp|/udp], as -p 8080:80 or -p 0.0.0.0:5353:53/udp", v, why)
	}
	spec, proto, _ := strings.Cut(v, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad(fmt.Sprintf("%q is not a protocol; give tcp or udp", proto))
	}
	p := Port{HostIP: "127.0.0.1", Proto: proto}
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return bad("give both ports")
	}
	host, inner := spec[:i], spec[i+1:]
	if j := strings.LastIndexByte(host, ':'); j >= 0 && !strings.HasSuffix(host, "]") {
		p.HostIP, host = strings.Trim(host[:j], "[]"), host[j+1:]
	} else if strings.HasPrefix(host, "[") {
		return bad("give the host port after the address")
	}
	if net.ParseIP(p.HostIP) == nil {
		return bad(fmt.Sprintf("%q is not an IP address", p.HostIP))
	}
	var err error
	if p.HostPort, err = strconv.Atoi(host); err != nil || p.HostPort < 1 || p.HostPort > 65535 {
		return bad("the host port is not a number from 1 to 65535")
	}
	if p.Port, err = strconv.Atoi(inner); err != nil || p.Port < 1 || p.Port > 65535 {
		return bad("the sandbox's port is not a number from 1 to 65535")
	}
	return p, nil
}

// hostSocket is the host side of one port: a listener for TCP, a
// socket for UDP's datagrams.
type hostSocket struct {
	port Port
	ln   net.Listener
	pc   net.PacketConn
}

func (h hostSocket) Close() error {
	if h.ln != nil {
		return h.ln.Close()
	}
	return h.pc.Close()
}

// listen opens the host side of each port, saying what to do about a
// refusal.
func listen(ports []Port) ([]hostSocket, error) {
	var out []hostSocket
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		h := hostSocket{port: p}
		var err error
		if p.Proto == "udp" {
			h.pc, err = net.ListenPacket("udp", addr)
		} else {
			h.ln, err = net.Listen("tcp", addr)
		}
		if err != nil {
			for _, h := range out {
				h.Close()
			}
			name := fmt.Sprintf("-p %d:%d/%s", p.HostPort, p.Port, p.Proto)
			switch {
			case errors.Is(err, syscall.EADDRINUSE):
				return nil, fmt.Errorf("%s: %s/%s is in use: choose another host port", name, addr, p.Proto)
			case errors.Is(err, syscall.EACCES):
				start, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
				return nil, fmt.Errorf("%s: an ordinary user may not listen below port %s (sysctl net.ipv4.ip_unprivileged_port_start): choose a higher host port",
					name, strings.TrimSpace(string(start)))
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// serve relays what comes to h to its port inside, while PROG runs.
func (m *Monitor) serve(h hostSocket) {
	if h.pc != nil {
		m.relayUDP(h.pc, h.port.Port)
		return
	}
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		helper := m.currentHelper()
		if helper == nil {
			c.Close() // between runs: nothing inside to reach
			continue
		}
		go helper.forward(c, h.port.Port)
	}
}

func (m *Monitor) currentHelper() *portHelper {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.helper
}

// UDP has no connections: each client (by address) gets a socket of its
// own inside, connected to the port, whose answers go back to it; one
// quiet for udpIdle is forgotten, as docker's proxy forgets it, and no
// more than maxUDPClients are kept at once (a datagram from one more is
// dropped, as a full conntrack table would).
const (
	udpIdle       = 90 * time.Second
	maxUDPClients = 1024
)

type udpClient struct {
	in     net.Conn
	helper *portHelper
	seen   atomic.Int64 // unix nanoseconds of its last datagram either way
}

func (m *Monitor) relayUDP(pc net.PacketConn, port int) {
	var mu sync.Mutex
	clients := map[string]*udpClient{}
	defer func() {
		mu.Lock()
		for _, c := range clients {
			c.in.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		helper := m.currentHelper()
		key := addr.String()
		mu.Lock()
		c := clients[key]
		if c != nil && c.helper != helper {
			// A socket of a run that ended.
			c.in.Close()
			delete(clients, key)
			c = nil
		}
		full := len(clients) >= maxUDPClients
		mu.Unlock()
		if helper == nil || (c == nil && full) {
			continue
		}
		if c == nil {
			in, err := helper.connect(port, "udp")
			if err != nil {
				fmt.Fprintf(os.Stderr, "jail monitor: port %d/udp: %v\n", port, err)
				continue
			}
			c = &udpClient{in: in, helper: helper}
			mu.Lock()
			clients[key] = c
			mu.Unlock()
			go func() {
				answers(pc, addr, c)
				mu.Lock()
				if clients[key] == c {
					delete(clients, key)
				}
				mu.Unlock()
				c.in.Close()
			}()
		}
		c.seen.Store(time.Now().UnixNano())
		_, _ = c.in.Write(buf[:n])
	}
}

// answers sends what comes from inside back to the client at addr until
// the client has been quiet for udpIdle, or the socket inside fails.
func answers(pc net.PacketConn, addr net.Addr, c *udpClient) {
	b := make([]byte, 65535)
	for {
		c.in.SetReadDeadline(time.Now().Add(udpIdle))
		n, err := c.in.Read(b)
		if n > 0 {
			c.seen.Store(time.Now().UnixNano())
			_, _ = pc.WriteTo(b[:n], addr)
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, c.seen.Load())) < udpIdle:
		default:
			return
		}
	}
}

// portHelper is the monitor's end of its port helper.
type portHelper struct {
	mu   sync.Mutex
	conn *os.File
	proc *os.Process
	// own is the cookie of the monitor's network namespace, which no
	// socket from the helper may have.
	own uint64
}

// startPortHelper starts the helper in the namespaces of PROG, by its
// pidfd.
func startPortHelper(pid int) (*portHelper, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("ports: PROG is gone: %w", err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	defer pidfd.Close()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(pair[0]), "ports"), os.NewFile(uintptr(pair[1]), "ports")
	defer theirs.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{"jail", "__netns"}, &os.ProcAttr{
		Env:   []string{},
		Files: []*os.File{nil, nil, os.Stderr, pidfd, theirs},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("starting the port helper: %w", err)
	}
	h := &portHelper{conn: mine, proc: p}
	if h.own, err = ownNetnsCookie(); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func ownNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
}

func (h *portHelper) close() {
	h.conn.Close()
	h.proc.Kill()
	h.proc.Wait()
}

// connect is a socket connected to port inside the sandbox, of proto
// (tcp or udp).
func (h *portHelper) connect(port int, proto string) (net.Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var req [3]byte
	binary.BigEndian.PutUint16(req[:], uint16(port))
	if proto == "udp" {
		req[2] = 1
	}
	if _, err := h.conn.Write(req[:]); err != nil {
		return nil, fmt.Errorf("the port helper: %w", err)
	}
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(h.conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("the port helper: %w", err)
	}
	files := parseRights(oob[:oobn])
	if len(files) != 1 {
		closeAll(files)
		return nil, fmt.Errorf("inside the sandbox: %s", buf[:n])
	}
	f := files[0]
	defer f.Close()
	if err := h.check(int(f.Fd()), proto); err != nil {
		return nil, err
	}
	return net.FileConn(f)
}

// check refuses what is not a socket of proto of another network
// namespace.
func (h *portHelper) check(fd int, proto string) error {
	want := unix.SOCK_STREAM
	if proto == "udp" {
		want = unix.SOCK_DGRAM
	}
	typ, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	dom, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	cookie, err3 := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	switch {
	case err1 != nil || err2 != nil || err3 != nil || typ != want || dom != unix.AF_INET && dom != unix.AF_INET6:
		return fmt.Errorf("the port helper passed something other than a %s socket", strings.ToUpper(proto))
	case cookie == h.own:
		return errors.New("the port helper's socket is of the host's network namespace, not the sandbox's")
	}
	return nil
}

// forward relays the host's connection c to port inside.
func (h *portHelper) forward(c net.Conn, port int) {
	defer c.Close()
	in, err := h.connect(port, "tcp")
	if err != nil {
		fmt.Fprintf(os.Stderr, "jail monitor: port %d: %v\n", port, err)
		return
	}
	defer in.Close()
	pipe(c, in)
}

// pipe copies both ways, passing on each side's end of writing.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	half := func(dst, src net.Conn) {
		io.Copy(dst, src) // splice(2) between TCP sockets
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go half(a, b)
	go half(b, a)
	<-done
	<-done
}

// ServePorts is the port helper's loop, in the sandbox's network
// namespace: each request is a port and a protocol (0 tcp, 1 udp), each
// answer a socket connected to it (or why not), until the monitor closes
// conn.
func ServePorts(conn *os.File) error {
	req := make([]byte, 3)
	for {
		n, err := conn.Read(req)
		if err != nil || n != 3 {
			return err
		}
		port, proto := int(binary.BigEndian.Uint16(req)), "tcp"
		if req[2] == 1 {
			proto = "udp"
		}
		c, err := net.DialTimeout(proto, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
		if err != nil {
			msg := fmt.Sprintf("nothing answers on port %d/%s (%v)", port, proto, err)
			if _, err := conn.Write([]byte(msg)); err != nil {
				return err
			}
			continue
		}
		f, err := c.(interface{ File() (*os.File, error) }).File()
		c.Close()
		if err != nil {
			conn.Write([]byte(err.Error()))
			continue
		}
		err = unix.Sendmsg(int(conn.Fd()), []byte("ok"), unix.UnixRights(int(f.Fd())), nil, 0)
		f.Close()
		if err != nil {
			return err
		}
	}
}
