package bench

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"jail/internal/testutil"
)

// portServer serves 127.0.0.1:PORT: a connection that sends "T" gets
// 256 MiB of zeros, one that sends "E" an echo of every byte after it;
// and UDP's PORT echoes every datagram.
const portServer = `
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", int(sys.argv[1])))
def echo():
    while True:
        b, a = u.recvfrom(65535)
        u.sendto(b, a)
threading.Thread(target=echo, daemon=True).start()
zeros = bytes(1 << 20)
def serve(c):
    with c:
        cmd = c.recv(1)
        if cmd == b"T":
            for _ in range(256):
                c.sendall(zeros)
        elif cmd == b"E":
            while True:
                b = c.recv(1)
                if not b:
                    return
                c.sendall(b)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

// BenchmarkPortRelay measures -p's relay against a direct loopback
// connection to the same server on the host, side by side: throughput
// of one stream, the round trip of a byte, and a new connection's first
// answer (the relay asks its helper for a socket per connection).
func BenchmarkPortRelay(b *testing.B) {
	e := newEnv(b)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testutil.Skip(b, "python3 serves the benchmark's port: %v", err)
	}
	rt := e.runtimeDir(b, "ports")
	jail := func(args ...string) string {
		cmd := exec.Command(e.jail.Bin, args...)
		cmd.Dir = e.jail.Dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "XDG_RUNTIME_DIR=" + rt}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.jail.Cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("jail %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// A port free for both protocols.
	free := func() int {
		for {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			u, err := net.ListenPacket("udp", l.Addr().String())
			l.Close()
			if err == nil {
				u.Close()
				return port
			}
		}
	}
	relayed := free()
	id := strings.TrimSpace(jail("run", "-d", "-p", fmt.Sprintf("%d:8000", relayed), "-p", fmt.Sprintf("%d:8000/udp", relayed),
		"--", "/usr/bin/python3", "-c", portServer, "8000"))
	defer jail("rm", "-f", id)
	direct := free()
	host := exec.Command("/usr/bin/python3", "-c", portServer, strconv.Itoa(direct))
	host.SysProcAttr = &syscall.SysProcAttr{Credential: e.jail.Cred}
	if err := host.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { host.Process.Kill(); host.Wait() }()

	dial := func(port int) net.Conn {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				// Through the relay a connection is accepted before the
				// inside answers; a first echo says it does.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := []byte{0}
				if _, err = c.Write([]byte("E!")); err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err == nil {
					c.SetDeadline(time.Time{})
					return c
				}
				c.Close()
			}
			if time.Now().After(deadline) {
				b.Fatalf("port %d never answered: %v", port, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	dial(relayed).Close()
	dial(direct).Close()

	// A datagram's echo; the first of a client through the relay also
	// makes its socket inside, so each port is asked until it answers.
	udpDial := func(port int) net.Conn {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 64)
		for range 100 {
			c.Write(buf)
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(buf); err == nil {
				c.SetReadDeadline(time.Time{})
				return c
			}
		}
		b.Fatalf("udp port %d never answered", port)
		return nil
	}
	udp := map[int]net.Conn{relayed: udpDial(relayed), direct: udpDial(direct)}
	defer udp[relayed].Close()
	defer udp[direct].Close()

	var tput = map[int][]time.Duration{}
	var rtt = map[int][]time.Duration{}
	var udpRTT = map[int][]time.Duration{}
	var fresh = map[int][]time.Duration{}
	for b.Loop() {
		for _, port := range []int{relayed, direct} {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			c.Write([]byte("T"))
			n, _ := io.Copy(io.Discard, c)
			tput[port] = append(tput[port], time.Since(start))
			c.Close()
			if n != 256<<20 {
				b.Fatalf("port %d sent %d bytes", port, n)
			}

			c = dial(port)
			one := []byte{'x'}
			for range 200 {
				start := time.Now()
				c.Write(one)
				io.ReadFull(c, one)
				rtt[port] = append(rtt[port], time.Since(start))
			}
			c.Close()

			dgram := make([]byte, 64)
			for range 200 {
				start := time.Now()
				udp[port].Write(dgram)
				udp[port].SetReadDeadline(time.Now().Add(time.Second))
				if _, err := udp[port].Read(dgram); err != nil {
					continue // lost: not a round trip
				}
				udpRTT[port] = append(udpRTT[port], time.Since(start))
			}

			for range 20 {
				start := time.Now()
				c := dial(port)
				fresh[port] = append(fresh[port], time.Since(start))
				c.Close()
			}
		}
	}
	gbit := func(ds []time.Duration) float64 { return float64(256<<20) * 8 / percentile(ds, 50).Seconds() / 1e9 }
	us := func(ds []time.Duration) float64 { return float64(percentile(ds, 50).Microseconds()) }
	var out bytes.Buffer
	fmt.Fprintf(&out, "\n| | relayed (-p) | direct loopback | ratio |\n|---|---|---|---|\n")
	fmt.Fprintf(&out, "| one stream, 256 MiB | %.1f Gbit/s | %.1f Gbit/s | %.2f |\n", gbit(tput[relayed]), gbit(tput[direct]), gbit(tput[relayed])/gbit(tput[direct]))
	fmt.Fprintf(&out, "| round trip of a byte | %.0f µs | %.0f µs | %.2f |\n", us(rtt[relayed]), us(rtt[direct]), us(rtt[relayed])/us(rtt[direct]))
	fmt.Fprintf(&out, "| round trip of a 64-byte UDP datagram | %.0f µs | %.0f µs | %.2f |\n", us(udpRTT[relayed]), us(udpRTT[direct]), us(udpRTT[relayed])/us(udpRTT[direct]))
	fmt.Fprintf(&out, "| new connection to its first echo | %.0f µs | %.0f µs | %.2f |\n", us(fresh[relayed]), us(fresh[direct]), us(fresh[relayed])/us(fresh[direct]))
	fmt.Fprintf(&out, "\nMedians of %d streams, %d round trips and %d connections each, interleaved.\n", len(tput[direct]), len(rtt[direct]), len(fresh[direct]))
	fmt.Print(out.String())
	b.ReportMetric(gbit(tput[relayed]), "relay-Gbit/s")
	b.ReportMetric(gbit(tput[direct]), "direct-Gbit/s")
}
