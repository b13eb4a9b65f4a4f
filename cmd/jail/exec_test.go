package main_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/sandbox"
)

// TestExec runs commands beside a detached sandbox's PROG: in the same
// namespaces, with PROG's limits and policy, its status its own.
func TestExec(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	e.start(t, "--name", "box", "--", "sleep", "120")

	// Every namespace PROG has, as the host sees PROG's; PROG is pid 2,
	// under the sandbox's own pid 1. PROG's user and rlimits.
	namespaces := []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"}
	r := e.run(t, "exec", "box", "--", "sh", "-c", `for ns in `+strings.Join(namespaces, " ")+`; do readlink /proc/self/ns/$ns; done
ps -o pid=,args= -p 2; id -u; ulimit -n; ulimit -c`)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	pid := e.state(t, "box").Pid
	var want strings.Builder
	for _, ns := range namespaces {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		require.NoError(t, err)
		want.WriteString(link + "\n")
	}
	prog := e.j.Run(t, "run", "--", "sh", "-c", "id -u; ulimit -n; ulimit -c")
	require.Equal(t, 0, prog.ExitCode, "%s", prog)
	assert.Regexp(t, `^`+regexp.QuoteMeta(want.String())+`\s*2 sleep 120\n`+regexp.QuoteMeta(prog.Stdout)+`$`, r.Stdout,
		"the command runs in PROG's namespaces, as PROG's user, with PROG's rlimits")

	// Its own status, environment and directory; /dev/null for stdin
	// unless -i.
	r = e.run(t, "exec", "box", "--", "sh", "-c", "exit 3")
	assert.Equal(t, 3, r.ExitCode, "%s", r)
	r = e.run(t, "exec", "-e", "GREETING=hi", "-w", "/tmp", "box", "--", "sh", "-c", `echo "$GREETING $(pwd)"; cat`)
	assert.Equal(t, "hi /tmp\n", r.Stdout, "%s", r)
	r = e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: strings.NewReader("typed\n")},
		"exec", "-i", "box", "--", "cat")
	assert.Equal(t, "typed\n", r.Stdout, "%s", r)

	// A call the policy kills kills the command, not the sandbox.
	r = e.run(t, "exec", "box", "--", "unshare", "-U", "true")
	assert.Equal(t, 128+31, r.ExitCode, "SIGSYS: %s", r)
	assert.Equal(t, "running", e.state(t, "box").Status)

	// Nothing of the init's reaches the command: only its three streams
	// (and the directory ls reads) are open in it.
	r = e.run(t, "exec", "box", "--", "ls", "/proc/self/fd")
	assert.Equal(t, "0\n1\n2\n3\n", r.Stdout, "%s", r)

	// The caller's terminal, handed over as a stream without -t, is not
	// the command's controlling terminal: it cannot push keys into it.
	_, slave := openPTY(t)
	if e.j.Cred != nil {
		require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
	}
	r = e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: slave},
		"exec", "-i", "box", "--", python, "-c", tiocsti)
	assert.NotContains(t, r.Stdout, "INJECTED", "%s", r)
	assert.Equal(t, 128+31, r.ExitCode, "the policy kills TIOCSTI outright: %s", r)

	// What cannot start says so, with the shell's statuses.
	r = e.run(t, "exec", "box", "--", "no-such-command")
	assert.Equal(t, 127, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: no-such-command: not found in the sandbox")
	r = e.run(t, "exec", "box", "--", "/etc/passwd")
	assert.Equal(t, 126, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "/etc/passwd")
	r = e.run(t, "exec", "-w", "/no/such/dir", "box", "--", "true")
	assert.Equal(t, 126, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "/no/such/dir")

	// Not into what does not run.
	r = e.run(t, "exec", "nobox", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, `jail: no sandbox "nobox"`)
	require.Equal(t, 0, e.run(t, "stop", "-t", "0", "box").ExitCode)
	r = e.run(t, "exec", "box", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, "jail: sandbox box is not running (exited): start it first (jail start box)")
}

// TestExecTerminal: exec -t gives the command a terminal of the
// sandbox's own devpts, sized as the caller's.
func TestExecTerminal(t *testing.T) {
	e := newDetachedEnv(t)
	e.start(t, "--name", "box", "--", "sleep", "120")
	master, slave := openPTY(t)
	require.NoError(t, sandbox.Resize(master, 31, 97))
	if e.j.Cred != nil {
		require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
	}
	// The caller's terminal is stdin; what the command writes comes
	// through the relay to jail's stdout.
	r := e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: slave},
		"exec", "-t", "box", "--", "sh", "-c", `tty; stty size; readlink /proc/self/fd/0; [ -e "$(tty)" ] && echo FOUND; exit 2`)
	assert.Equal(t, 2, r.ExitCode, "%s", r)
	got := r.Stdout
	assert.Regexp(t, `^/dev/pts/\d+\r\n31 97\r\n/dev/pts/\d+\r\nFOUND\r\n$`, got)
}

// TestRunTerminal: run -t gives PROG a terminal of the sandbox's own
// devpts, so tty names it and ttyname finds it; sized as the caller's.
func TestRunTerminal(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	master, slave := openPTY(t)
	require.NoError(t, sandbox.Resize(master, 27, 88))
	if j.Cred != nil {
		require.NoError(t, slave.Chown(int(j.Cred.Uid), int(j.Cred.Gid)))
	}
	r := j.RunWith(t, testutil.Opts{Stdin: slave}, "run", "-t", "--", "sh", "-c", `tty; stty size; [ -e "$(tty)" ] && echo FOUND; exit 4`)
	assert.Equal(t, 4, r.ExitCode, "%s", r)
	assert.Regexp(t, `^/dev/pts/\d+\r\n27 88\r\nFOUND\r\n$`, r.Stdout)
}

// terminalScreen collects what a pseudo-terminal's master reads.
type terminalScreen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func readScreen(master *os.File) *terminalScreen {
	s := &terminalScreen{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor waits until the screen shows want, and returns it all.
func (s *terminalScreen) waitFor(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		got := s.buf.String()
		s.mu.Unlock()
		if strings.Contains(got, want) {
			return got
		}
		require.True(t, time.Now().Before(deadline), "the terminal never showed %q: %q", want, got)
		time.Sleep(10 * time.Millisecond)
	}
}

// typeUntil types keys at master again and again until the screen shows
// want: what comes of keys, whenever it comes.
func (s *terminalScreen) typeUntil(t *testing.T, master *os.File, keys, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := master.WriteString(keys)
		require.NoError(t, err)
		s.mu.Lock()
		shown := strings.Contains(s.buf.String(), want)
		s.mu.Unlock()
		if shown {
			return
		}
		require.True(t, time.Now().Before(deadline), "typing %q never showed %q", keys, want)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAttach: run -d -t, then attach under a real terminal: keys go to
// PROG, its output comes back, the size follows the terminal's, the
// detach keys leave PROG running, and PROG's exit ends attach with its
// status.
func TestAttach(t *testing.T) {
	e := newDetachedEnv(t)
	e.start(t, "-t", "--name", "tt", "--", "sh")
	r := e.run(t, "inspect", "--format", "{{.Config.Tty}}", "tt")
	assert.Equal(t, "true\n", r.Stdout)
	r = e.run(t, "logs", "tt")
	assert.Equal(t, 0, r.ExitCode, "%s", r)

	attach := func(t *testing.T, rows, cols uint16) (*os.File, *terminalScreen, *testutil.Running) {
		master, slave := openPTY(t)
		require.NoError(t, sandbox.Resize(master, rows, cols))
		if e.j.Cred != nil {
			require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
		}
		screen := readScreen(master)
		run := e.j.Start(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: slave, Stdout: slave, Stderr: slave, Ctty: true},
			"attach", "tt")
		return master, screen, run
	}

	master, screen, run := attach(t, 41, 132)
	// Typed until the shell echoes it: keys typed before attach is
	// relaying would be the host terminal's alone.
	screen.typeUntil(t, master, "echo rea''dy\r", "ready\r\n")
	_, err := master.WriteString("stty size; tty; [ -e \"$(tty)\" ] && echo FOU''ND\r")
	require.NoError(t, err)
	got := screen.waitFor(t, "FOUND\r\n")
	assert.Contains(t, got, "41 132\r\n", "the sandbox's terminal has the attached one's size")
	assert.Regexp(t, `/dev/pts/\d+\r\nFOUND`, got)
	// A resize reaches attach as SIGWINCH, and the sandbox's terminal;
	// asked until it shows, since the signal comes when it comes.
	require.NoError(t, sandbox.Resize(master, 50, 100))
	screen.typeUntil(t, master, "stty size\r", "50 100\r\n")
	// ctrl-p alone goes through; ctrl-p ctrl-q detaches.
	_, err = master.Write([]byte{0x10, 0x10, 0x11})
	require.NoError(t, err)
	r = run.Wait(t)
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	screen.waitFor(t, "jail: detached; PROG goes on")
	assert.Equal(t, "running", e.state(t, "tt").Status)
	r = e.run(t, "logs", "tt")
	assert.Contains(t, r.Stdout, "41 132", "the log has the terminal's output")

	// Again; PROG's exit ends attach, with PROG's status.
	master, screen, run = attach(t, 24, 80)
	screen.typeUntil(t, master, "echo ag''ain\r", "again\r\n")
	_, err = master.WriteString("exit 6\r")
	require.NoError(t, err)
	r = run.Wait(t)
	assert.Equal(t, 6, r.ExitCode, "%s", r)
	st := e.state(t, "tt")
	assert.Equal(t, "exited", st.Status)
	assert.Equal(t, 6, st.ExitCode)

	// What cannot be attached to says so.
	e.start(t, "-t", "--name", "tt2", "--", "sleep", "60")
	e.start(t, "--name", "plain", "--", "sleep", "60")
	_, slave := openPTY(t)
	if e.j.Cred != nil {
		require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attach", "tt"}, "jail: sandbox tt is not running (exited): start it first (jail start tt)"},
		{[]string{"attach", "--detach-keys", "ctrl-1", "plain"}, `jail: --detach-keys "ctrl-1": give keys such as ctrl-p,ctrl-q`},
	} {
		r := e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: slave}, tc.args...)
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Contains(t, r.Stderr, tc.want)
	}
	r = e.run(t, "attach", "tt2")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: sandbox tt2 runs on a terminal: jail attach to it needs a terminal on stdin")
}

// ticker writes to both streams until SIGINT, which it answers on
// stderr before it exits 5.
const ticker = `
import signal, sys, time
def stop(*_):
    print("interrupted", file=sys.stderr, flush=True)
    sys.exit(5)
signal.signal(signal.SIGINT, stop)
i = 0
while True:
    print("tick", i, flush=True)
    print("tock", i, file=sys.stderr, flush=True)
    i += 1
    time.sleep(0.05)
`

// TestAttachOutput: attach to a sandbox without a terminal follows its
// stdout and stderr, each to its own, passes a signal to PROG, and
// exits with PROG's status; with --sig-proxy=false the signal detaches.
func TestAttachOutput(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	opts := testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}}
	e.start(t, "--name", "tick", "--", python, "-c", ticker)

	// attach's output through pipes the test reads, so it knows when
	// attach is relaying (and has its signal handlers) before it signals.
	attach := func(args ...string) (*testutil.Running, *os.File, *os.File) {
		outR, outW, err := os.Pipe()
		require.NoError(t, err)
		errR, errW, err := os.Pipe()
		require.NoError(t, err)
		o := opts
		o.Stdout, o.Stderr = outW, errW
		run := e.j.Start(t, o, append([]string{"attach"}, args...)...)
		outW.Close()
		errW.Close()
		line, err := bufio.NewReader(outR).ReadString('\n')
		require.NoError(t, err)
		require.Regexp(t, `^tick \d+\n$`, line)
		return run, outR, errR
	}
	run, outR, errR := attach("--sig-proxy=false", "tick")
	require.NoError(t, run.Cmd.Process.Signal(syscall.SIGINT))
	r := run.Wait(t)
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	outR.Close()
	errR.Close()
	assert.Equal(t, "running", e.state(t, "tick").Status, "--sig-proxy=false: ^C leaves PROG running")

	run, outR, errR = attach("tick")
	require.NoError(t, run.Cmd.Process.Signal(syscall.SIGINT))
	stdout, _ := io.ReadAll(outR)
	stderr, _ := io.ReadAll(errR)
	r = run.Wait(t)
	assert.Equal(t, 5, r.ExitCode, "%s", r)
	assert.Regexp(t, `^(tick \d+\n)*$`, string(stdout))
	assert.Regexp(t, `^(tock \d+\n)*interrupted\n$`, string(stderr))
	assert.Equal(t, 5, e.state(t, "tick").ExitCode)
}
