package main_test

// These tests attack each isolation property of `jail run` from inside the
// sandbox, running the real binary as an unprivileged user (testutil), and
// each one has a way to fail: a baseline outside the sandbox, or a flag
// that turns the protection off, shows the probe would notice.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"jail/internal/testutil"
	"jail/profiles"
)

func TestMain(m *testing.M) { os.Exit(testutil.Main(m)) }

const python = "/usr/bin/python3"

// sh runs a shell script in a default sandbox with extra flags before --.
func sh(t *testing.T, j *testutil.Jail, script string, flags ...string) testutil.Result {
	t.Helper()
	args := append(append([]string{"run"}, flags...), "--", "/bin/sh", "-c", script)
	return j.Run(t, args...)
}

// requireOK fails unless the run ended with verdict OK.
func requireOK(t *testing.T, r testutil.Result) {
	t.Helper()
	require.Equal(t, 0, r.ExitCode, "%s", r)
	require.NotNil(t, r.Report, "%s", r)
	require.Equal(t, "OK", r.Report.Verdict, "%s", r)
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		testutil.Skip(t, "%s is needed for this probe: %v", python, err)
	}
}

// marker is a number unlikely to appear in any other process's argv, to
// find this test's processes by their command line.
func marker() string { return strconv.Itoa(100000 + rand.IntN(900000)) }

// hostProcsWith lists host pids whose argv contains every one of args,
// consecutively.
func hostProcsWith(t *testing.T, args ...string) []string {
	t.Helper()
	want := strings.Join(args, "\x00")
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), want) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestHostname(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	host, err := os.Hostname()
	require.NoError(t, err)

	r := sh(t, j, "uname -n; cat /proc/sys/kernel/hostname")
	requireOK(t, r)
	assert.Equal(t, "jail\njail\n", r.Stdout)
	assert.NotEqual(t, host, strings.TrimSpace(strings.Split(r.Stdout, "\n")[0]))

	r = sh(t, j, "uname -n", "--hostname", "box-"+marker())
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "box-")

	// Renaming from inside must neither work nor leak to the host, even
	// without the seccomp policy (which kills sethostname outright).
	r = sh(t, j, "echo evil > /proc/sys/kernel/hostname; "+python+` -c 'import socket; socket.sethostname("evil")' 2>/dev/null; uname -n`, "--seccomp", "none")
	assert.Equal(t, "jail\n", r.Stdout, "%s", r)
	after, err := os.Hostname()
	require.NoError(t, err)
	assert.Equal(t, host, after)
}

func TestPIDNamespace(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	// A host process with a recognisable argv that must stay invisible.
	m := marker()
	host := exec.Command("sleep", m)
	require.NoError(t, host.Start())
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })

	// jail's own command line must not show either: its init shares
	// jail's memory with the native launcher, so /proc/1/cmdline is masked.
	own := marker()
	r := sh(t, j, `for p in /proc/[0-9]*; do printf '%s ' "${p#/proc/}"; tr '\0' ' ' < "$p/cmdline"; echo; done; echo ---; ps -e -o pid=,args=`,
		"--hostname", "h"+own)
	requireOK(t, r)
	listing, ps, ok := strings.Cut(r.Stdout, "---\n")
	require.True(t, ok, "%s", r)

	cmdlines := map[int]string{}
	sc := bufio.NewScanner(strings.NewReader(listing))
	for sc.Scan() {
		pid, cmd, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(pid)
		require.NoError(t, err, "line %q", sc.Text())
		cmdlines[n] = strings.TrimSpace(cmd)
	}
	_, hasInit := cmdlines[1]
	assert.True(t, hasInit, "pid 1 must be the sandbox init: %v", cmdlines)
	assert.Contains(t, []string{"jail:init", ""}, cmdlines[1], "pid 1's command line")
	// init, the shell, and the shell's short-lived children only.
	assert.LessOrEqual(t, len(cmdlines), 4, "processes visible inside: %v", cmdlines)
	for _, out := range []string{listing, ps} {
		assert.NotContains(t, out, m, "a host process is visible inside")
		assert.NotContains(t, out, own, "jail's own command line is visible inside")
		assert.NotContains(t, out, filepath.Base(os.Args[0]), "the test binary is visible inside")
	}
	assert.NotContains(t, cmdlines, os.Getpid(), "the test's own pid exists inside")
}

// netProbe connects to 127.0.0.1:PORT from inside after proving that
// loopback itself works.
const netProbe = `
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
socket.create_connection(srv.getsockname(), timeout=5).close()
print("LO_OK")
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("HOST_REACHED")
except OSError as e:
    print("HOST_UNREACHABLE", e.errno)
`

func TestNetwork(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	t.Run("interfaces", func(t *testing.T) {
		r := sh(t, j, `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo ---; ls /sys/class/net`)
		requireOK(t, r)
		assert.Equal(t, "lo\n---\nlo\n", r.Stdout)
	})
	t.Run("none", func(t *testing.T) {
		r := j.Run(t, "run", "--", python, "-c", netProbe, port)
		requireOK(t, r)
		assert.Contains(t, r.Stdout, "LO_OK")
		assert.Contains(t, r.Stdout, "HOST_UNREACHABLE")
		assert.NotContains(t, r.Stdout, "HOST_REACHED")
	})
	// The same probe must reach the listener when isolation is off, or
	// the test above proves nothing.
	t.Run("host", func(t *testing.T) {
		r := j.Run(t, "run", "--net", "host", "--", python, "-c", netProbe, port)
		requireOK(t, r)
		assert.Contains(t, r.Stdout, "HOST_REACHED")
	})
}

func TestFilesystemHidesHost(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	hidden := []string{"/root", "/home", "/work", j.Dir, j.Bin}
	// go test runs in the package directory, inside the checkout; a
	// test binary copied elsewhere has no checkout to hide.
	if root, err := testutil.ModuleRoot(); err == nil {
		hidden = append(hidden, root)
	}
	// The fixture is readable by the sandbox user on the host, so only
	// the mount namespace can hide it.
	secret := j.Fixture(t, "visible-on-host", "x", 0o644)
	hidden = append(hidden, secret)

	script := `for p in "$@"; do if [ -e "$p" ]; then echo "VISIBLE $p"; fi; done; echo done`
	r := j.Run(t, append([]string{"run", "--", "/bin/sh", "-c", script, "sh"}, hidden...)...)
	requireOK(t, r)
	assert.Equal(t, "done\n", r.Stdout)

	// The probe sees what is bound in, so it can fail.
	r = j.Run(t, "run", "-v", filepath.Dir(secret)+":/fx", "--", "/bin/sh", "-c", script, "sh", "/fx/visible-on-host")
	requireOK(t, r)
	assert.Equal(t, "VISIBLE /fx/visible-on-host\ndone\n", r.Stdout)
}

func TestFilesystemWritesVanish(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	m := marker()
	paths := []string{"/m" + m, "/tmp/m" + m, "/dev/shm/m" + m, "/etc/m" + m}
	r := sh(t, j, "for p in "+strings.Join(paths, " ")+"; do echo data > $p || exit 1; done; mkdir /d"+m+" && cat "+strings.Join(paths, " "))
	requireOK(t, r)
	assert.Equal(t, strings.Repeat("data\n", len(paths)), r.Stdout)

	r = sh(t, j, "for p in "+strings.Join(paths, " ")+" /d"+m+"; do if [ -e $p ]; then echo LEFT $p; fi; done; echo done")
	requireOK(t, r)
	assert.Equal(t, "done\n", r.Stdout, "a second run sees the first one's files")
	for _, p := range append(paths, "/d"+m) {
		assert.NoFileExists(t, p, "a sandbox write reached the host")
		assert.NoDirExists(t, p, "a sandbox write reached the host")
	}
}

// busyboxRoot builds a --rootfs of the test user's in the fixture directory
// root: a static busybox as /bin/busybox with each of tools linked to it,
// and files (path inside the root: content).
func busyboxRoot(t *testing.T, j *testutil.Jail, files map[string]string, tools ...string) string {
	t.Helper()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testutil.Skip(t, "busybox-static is needed to build a root: %v", err)
	}
	dir := filepath.Dir(filepath.Dir(j.Fixture(t, "root/bin/busybox", string(b), 0o755)))
	for name, content := range files {
		j.Fixture(t, "root/"+name, content, 0o644)
	}
	for _, tool := range tools {
		p := filepath.Join(dir, "bin", tool)
		require.NoError(t, os.Symlink("busybox", p))
		j.Chown(t, p)
	}
	return dir
}

func TestFilesystemRootfsOverlay(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	dir := busyboxRoot(t, j, map[string]string{"etc/motd": "hello\n"}, "sh", "ls", "cat", "touch", "rm", "mkdir", "echo", "id")
	before := snapshot(t, dir)

	r := j.Run(t, "run", "--rootfs", dir, "--", "/bin/sh", "-c",
		`set -e; touch /top; echo new > /bin/new; echo changed > /etc/motd; rm /bin/ls; mkdir /opt; echo x > /opt/x
cat /etc/motd /bin/new; id -u`)
	requireOK(t, r)
	assert.Equal(t, "changed\nnew\n1000\n", r.Stdout)
	assert.Equal(t, before, snapshot(t, dir), "writes inside the sandbox reached the rootfs on the host")

	r = j.Run(t, "run", "--rootfs", dir, "--", "/bin/cat", "/etc/motd")
	requireOK(t, r)
	assert.Equal(t, "hello\n", r.Stdout, "a second run sees the first one's writes")
}

// snapshot maps every path below dir to its mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			v += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %d %x", len(b), b[:min(len(b), 64)])
		}
		s[p] = v
		return nil
	})
	require.NoError(t, err)
	return s
}

func TestKernelInterfacesReadOnly(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	targets := []string{"/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
		"/proc/sysrq-trigger", "/sys/kernel/uevent_helper", "/sys/kernel/mm/ksm/run", "/sys/fs/cgroup/x"}
	script := `for p in "$@"; do if (echo 1 > "$p") 2>/dev/null; then echo "WROTE $p"; fi; done; ` +
		`touch /sys/new /proc/sys/new 2>/dev/null && echo CREATED; echo done`
	for _, uid := range []string{"1000", "0"} {
		t.Run("uid="+uid, func(t *testing.T) {
			r := j.Run(t, append([]string{"run", "--uid", uid, "--", "/bin/sh", "-c", script, "sh"}, targets...)...)
			requireOK(t, r)
			assert.Equal(t, "done\n", r.Stdout)
		})
	}
	// The probe itself can write where writes are allowed.
	r := j.Run(t, "run", "--", "/bin/sh", "-c", script, "sh", "/tmp/ok")
	requireOK(t, r)
	assert.Equal(t, "WROTE /tmp/ok\ndone\n", r.Stdout)
}

func TestProcMasked(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	var present []string
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kallsyms", "/proc/kmsg"} {
		if _, err := os.Stat(p); err == nil {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		testutil.Skip(t, "none of the masked /proc files exists on this kernel")
	}
	t.Logf("masked files present on this host: %v", present)
	// A mask is /dev/null bound over the file: a character device that
	// reads empty. An unmasked proc file is a regular file.
	script := `for p in "$@"; do printf '%s %s ' "$p" "$(stat -c %F "$p")"; if cat "$p" > /tmp/out 2>/dev/null; then wc -c < /tmp/out; else echo unreadable; fi; done`
	r := j.Run(t, append([]string{"run", "--", "/bin/sh", "-c", script, "sh"}, present...)...)
	requireOK(t, r)
	var want strings.Builder
	for _, p := range present {
		fmt.Fprintf(&want, "%s character special file 0\n", p)
	}
	assert.Equal(t, want.String(), r.Stdout)
}

// fdProbe lists the shell's fds. No pipe or redirection, which would open
// fds in the shell while ls looks, and a command after ls so the shell
// does not exec it in its own place.
const fdProbe = `ls /proc/$$/fd; true`

func TestOnlyStdioFDs(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	// jail itself gets extra fds (as from a careless caller); none may
	// reach PROG.
	leak, err := os.Open("/dev/null")
	require.NoError(t, err)
	t.Cleanup(func() { leak.Close() })
	leak2, err := os.Open(j.Dir)
	require.NoError(t, err)
	t.Cleanup(func() { leak2.Close() })

	r := j.RunWith(t, testutil.Opts{ExtraFiles: []*os.File{leak, leak2}}, "run", "--", "/bin/sh", "-c", fdProbe)
	requireOK(t, r)
	assert.Equal(t, "0\n1\n2\n", r.Stdout)

	// The probe sees fds that are open, so it can fail.
	r = sh(t, j, "exec 7</dev/null; "+fdProbe)
	requireOK(t, r)
	assert.Equal(t, "0\n1\n2\n7\n", r.Stdout)
}

func TestNoCapabilities(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, uid := range []string{"1000", "0"} {
		t.Run("uid="+uid, func(t *testing.T) {
			r := j.Run(t, "run", "--uid", uid, "--", "/bin/cat", "/proc/self/status")
			requireOK(t, r)
			status := map[string]string{}
			for _, line := range strings.Split(r.Stdout, "\n") {
				k, v, _ := strings.Cut(line, ":")
				status[k] = strings.TrimSpace(v)
			}
			for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
				assert.Equal(t, "0000000000000000", status[k], k)
			}
			assert.Equal(t, "1", status["NoNewPrivs"])
			assert.Equal(t, uid, strings.Fields(status["Uid"])[1], "effective uid inside")
		})
	}
}

func TestSetuidDoesNotElevate(t *testing.T) {
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "making a setuid-root fixture")
	j := testutil.New(t)
	b, err := os.ReadFile("/usr/bin/id")
	require.NoError(t, err)
	p := j.Fixture(t, "suid/id", string(b), 0o755)
	require.NoError(t, os.Chown(p, 0, 0))
	require.NoError(t, os.Chmod(p, os.ModeSetuid|0o755))

	// Baseline: outside the sandbox the fixture does make the test user
	// root, so the check below can fail.
	cmd := exec.Command(p, "-u")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "0\n", string(out), "the fixture is not an effective setuid-root binary on this host")

	r := j.Run(t, "run", "-v", filepath.Dir(p)+":/suid", "--", "/suid/id")
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "uid=1000")
	assert.NotContains(t, r.Stdout, "euid=")
	r = j.Run(t, "run", "-v", filepath.Dir(p)+":/suid", "--", "/suid/id", "-u")
	requireOK(t, r)
	assert.Equal(t, "1000\n", r.Stdout)
}

// TestInitExeUnreachable covers the CVE-2019-5736 class: PROG must not be
// able to open the jail binary through /proc/1/exe (or find it by path) and
// overwrite it for the next caller.
func TestInitExeUnreachable(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	script := `cat /proc/1/exe > /dev/null 2>&1 && echo READ; (exec 3>>/proc/1/exe) 2>/dev/null && echo WRITE
l=$(readlink /proc/1/exe 2>/dev/null) && echo "LINK $l"
cat /proc/1/environ > /dev/null 2>&1 && echo ENVIRON
[ -e "$1" ] && echo "PATH $1"; echo done`
	for _, uid := range []string{"1000", "0"} {
		t.Run("uid="+uid, func(t *testing.T) {
			r := j.Run(t, "run", "--uid", uid, "--", "/bin/sh", "-c", script, "sh", j.Bin)
			requireOK(t, r)
			assert.Equal(t, "done\n", r.Stdout)
			assert.NotContains(t, r.Stdout, j.Dir)
		})
	}
	// The same probe on PROG's own exe succeeds: the denial above is the
	// init's protection, not a broken probe.
	r := j.Run(t, "run", "--", "/bin/sh", "-c", strings.ReplaceAll(script, "/proc/1/", "/proc/self/"), "sh", j.Bin)
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "READ")
}

// tiocsti tries to push a character into the terminal on stdin.
const tiocsti = `
import fcntl, os, termios
print("TTY" if os.isatty(0) else "NOTTY")
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x")
    print("INJECTED")
except OSError as e:
    print("REFUSED", e.errno)
`

// openPTY returns a pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestNewSessionNoTIOCSTI(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	t.Run("session", func(t *testing.T) {
		r := sh(t, j, `echo $$; cat /proc/$$/stat`)
		requireOK(t, r)
		lines := strings.SplitN(r.Stdout, "\n", 2)
		require.Len(t, lines, 2, "%s", r)
		_, rest, ok := strings.Cut(lines[1], ") ")
		require.True(t, ok, "%s", r)
		f := strings.Fields(rest) // state ppid pgrp session ...
		require.GreaterOrEqual(t, len(f), 4)
		assert.Equal(t, lines[0], f[3], "PROG's session is not its own")
		assert.NotEqual(t, "1", f[3], "PROG shares the sandbox init's session")
	})
	t.Run("tiocsti", func(t *testing.T) {
		needPython(t)
		_, slave := openPTY(t)
		if j.Cred != nil {
			require.NoError(t, slave.Chown(int(j.Cred.Uid), int(j.Cred.Gid)))
		}
		// Baseline: PROG with this terminal as its controlling one can
		// inject, unless the kernel forbids TIOCSTI for everyone
		// (dev.tty.legacy_tiocsti=0, Linux 6.2+).
		cmd := exec.Command(python, "-c", tiocsti)
		cmd.Stdin = slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Credential: j.Cred}
		base, err := cmd.Output()
		require.NoError(t, err)
		t.Logf("outside the sandbox, with a controlling terminal: %s", base)

		// The session alone must refuse it; the seccomp policy, a second
		// layer, kills the attempt outright and names it.
		r := j.RunWith(t, testutil.Opts{Stdin: slave}, "run", "--seccomp", "none", "--", python, "-c", tiocsti)
		requireOK(t, r)
		assert.Contains(t, r.Stdout, "TTY\n")
		assert.Contains(t, r.Stdout, "REFUSED")
		assert.NotContains(t, r.Stdout, "INJECTED")

		r = j.RunWith(t, testutil.Opts{Stdin: slave}, "run", "--", python, "-c", tiocsti)
		require.NotNil(t, r.Report, r.String())
		assert.Equal(t, "SV", r.Report.Verdict, r.String())
		assert.NotContains(t, r.Stdout, "INJECTED")
	})
}

func TestDaemonDiesWithRun(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	m := marker()
	// Double fork, new session, SIGHUP ignored: the daemon escapes
	// everything but the pid namespace.
	script := `(setsid nohup sleep ` + m + ` >/dev/null 2>&1 &)
i=0; while ! pgrep -x sleep >/dev/null; do i=$((i+1)); [ $i -gt 500 ] && break; sleep 0.01; done
pgrep -a sleep`
	r := sh(t, j, script)
	requireOK(t, r)
	require.Contains(t, r.Stdout, "sleep "+m, "the daemon did not start inside")
	assert.Empty(t, hostProcsWith(t, "sleep", m), "the daemon outlived jail")
}

func TestExitCodes(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantVerd   string
		wantSignal string
		wantStderr string
	}{
		{name: "zero", args: []string{"--", "true"}, wantCode: 0, wantVerd: "OK"},
		{name: "three", args: []string{"--", "sh", "-c", "exit 3"}, wantCode: 3, wantVerd: "RE"},
		{name: "sigkill", args: []string{"--", "sh", "-c", "kill -9 $$"}, wantCode: 137, wantVerd: "SIG", wantSignal: "SIGKILL"},
		{name: "sigsegv", args: []string{"--", "sh", "-c", "kill -SEGV $$"}, wantCode: 139, wantVerd: "SIG", wantSignal: "SIGSEGV"},
		{name: "not found", args: []string{"--", "/no/such/prog"}, wantCode: 127, wantVerd: "XX", wantStderr: "/no/such/prog"},
		{name: "not found in path", args: []string{"--", "no-such-prog-" + marker()}, wantCode: 127, wantVerd: "XX", wantStderr: "no-such-prog-"},
		{name: "not executable", args: []string{"--", "/etc/passwd"}, wantCode: 126, wantVerd: "XX", wantStderr: "/etc/passwd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := j.Run(t, append([]string{"run"}, tc.args...)...)
			assert.Equal(t, tc.wantCode, r.ExitCode, "%s", r)
			require.NotNil(t, r.Report, "%s", r)
			assert.Equal(t, tc.wantVerd, r.Report.Verdict)
			assert.Equal(t, tc.wantCode, r.Report.ExitCode)
			assert.Equal(t, tc.wantSignal, r.Report.Signal)
			assert.Contains(t, r.Stderr, tc.wantStderr)
		})
	}
	t.Run("bad flag", func(t *testing.T) {
		r := j.Run(t, "run", "--disk", "foo", "--", "true")
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Nil(t, r.Report, "nothing ran, so nothing is reported")
		assert.Contains(t, r.Stderr, "--disk")
		assert.Equal(t, 1, strings.Count(strings.TrimRight(r.Stderr, "\n"), "\n")+1, "one-line error: %q", r.Stderr)
	})
}

func TestWallLimit(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	m := "100." + marker()
	r := j.Run(t, "run", "--wall", "1s", "--", "sleep", m)
	assert.Equal(t, 137, r.ExitCode, "%s", r)
	require.NotNil(t, r.Report, "%s", r)
	assert.Equal(t, "TLE", r.Report.Verdict)
	assert.Equal(t, "SIGKILL", r.Report.Signal)
	assert.Contains(t, r.Report.Reason, "wall")
	assert.Empty(t, hostProcsWith(t, "sleep", m), "sleep outlived the wall limit")
}

func TestEnvironment(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	canary := "JAIL_CANARY_" + marker()
	envFile := j.Fixture(t, "env", "# comment\n\nFROM_FILE=file value\nOVERRIDE=file\n", 0o644)
	o := testutil.Opts{Env: []string{canary + "=secret", "TERM="}}

	r := j.RunWith(t, o, "run", "--", "env")
	requireOK(t, r)
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	assert.NotContains(t, r.Stdout, canary)
	assert.NotContains(t, r.Stdout, "secret")
	assert.Equal(t, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", env["PATH"])
	assert.Equal(t, "/tmp", env["HOME"])
	assert.Equal(t, "C.UTF-8", env["LANG"])
	assert.Equal(t, "dumb", env["TERM"])

	r = j.RunWith(t, o, "run", "--env-file", envFile,
		"-e", "A=1", "-e", "OVERRIDE=flag", "-e", canary, "--", "env")
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "A=1\n")
	assert.Contains(t, r.Stdout, "FROM_FILE=file value\n")
	assert.Contains(t, r.Stdout, "OVERRIDE=flag\n")
	assert.NotContains(t, r.Stdout, "OVERRIDE=file")
	// Named explicitly, the host's value does come in: the probe above
	// would see the canary if it leaked.
	assert.Contains(t, r.Stdout, canary+"=secret\n")
}

func TestConcurrentRunsIsolated(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	sync := j.FixtureDir(t, "sync")
	require.NoError(t, os.Chmod(sync, 0o777))
	m := marker()
	// Each run waits until the other is up, so the listings overlap.
	script := `me=$1; other=$2
echo $me > /tmp/mine-$me; echo $me > /dev/shm/mine-$me
sleep ` + m + `$me &
touch /sync/ready-$me
i=0; while [ ! -e /sync/ready-$other ]; do i=$((i+1)); [ $i -gt 1000 ] && echo TIME""OUT && break; sleep 0.01; done
ls /tmp /dev/shm; for p in /proc/[0-9]*; do tr '\0' ' ' < $p/cmdline; echo; done`
	start := func(me, other string) *testutil.Running {
		return j.Start(t, testutil.Opts{}, "run", "-v", sync+":/sync:rw", "--", "/bin/sh", "-c", script, "sh", me, other)
	}
	a, b := start("1", "2"), start("2", "1")
	ra, rb := a.Wait(t), b.Wait(t)
	for _, c := range []struct {
		me, other string
		r         testutil.Result
	}{{"1", "2", ra}, {"2", "1", rb}} {
		requireOK(t, c.r)
		assert.NotContains(t, c.r.Stdout, "TIMEOUT", "the runs did not overlap")
		assert.Contains(t, c.r.Stdout, "mine-"+c.me, "run %s lost its own files", c.me)
		assert.Contains(t, c.r.Stdout, "sleep "+m+c.me, "run %s does not see its own process", c.me)
		assert.NotContains(t, c.r.Stdout, "mine-"+c.other, "run %s sees run %s's files", c.me, c.other)
		assert.NotContains(t, c.r.Stdout, "sleep "+m+c.other, "run %s sees run %s's process", c.me, c.other)
	}
}

func TestStdinPassesThrough(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	var in strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	r := j.RunWith(t, testutil.Opts{Stdin: strings.NewReader(in.String())}, "run", "--", "cat")
	requireOK(t, r)
	assert.Equal(t, in.String(), r.Stdout)
}

func TestFileLimits(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	dd := []string{"--", "dd", "if=/dev/zero", "of=/tmp/big", "bs=1024", "count=10"}
	t.Run("fsize", func(t *testing.T) {
		r := j.Run(t, append([]string{"run", "--fsize", "1K"}, dd...)...)
		assert.Equal(t, 128+int(syscall.SIGXFSZ), r.ExitCode, "%s", r)
		require.NotNil(t, r.Report, "%s", r)
		assert.Equal(t, "OLE", r.Report.Verdict)
		assert.Equal(t, "SIGXFSZ", r.Report.Signal)
		requireOK(t, j.Run(t, append([]string{"run"}, dd...)...))
	})
	t.Run("nofile", func(t *testing.T) {
		needPython(t)
		probe := `
import os
fds = []
try:
    for _ in range(20):
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("OPENED", len(fds))
except OSError as e:
    print("FAILED", len(fds), e.errno)
`
		r := j.Run(t, "run", "--nofile", "10", "--", python, "-c", probe)
		requireOK(t, r)
		assert.Regexp(t, `^FAILED \d+ `+strconv.Itoa(int(syscall.EMFILE))+`\n$`, r.Stdout)
		r = j.Run(t, "run", "--", python, "-c", probe)
		requireOK(t, r)
		assert.Equal(t, "OPENED 20\n", r.Stdout)
	})
}

func TestRootCallerRunsProgAsNobody(t *testing.T) {
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "a test of jail started by root")
	j := testutil.New(t)
	secret := j.Fixture(t, "secret/f", "secret\n", 0o600)
	require.NoError(t, os.Chown(secret, 0, 0))
	out := j.FixtureDir(t, "out")
	require.NoError(t, os.Chmod(out, os.ModeSticky|0o777))
	o := testutil.Opts{AsCaller: true}

	r := j.RunWith(t, o, "run", "-v", filepath.Dir(secret)+":/secret", "-v", out+":/out:rw", "--", "/bin/sh", "-c",
		`id -u; cat /secret/f 2>/dev/null && echo READ_SECRET; touch /out/made`)
	requireOK(t, r)
	assert.Equal(t, "1000\n", r.Stdout)
	assert.Equal(t, 65534, r.Report.Isolation.HostUID)
	var st unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(out, "made"), &st))
	assert.Equal(t, uint32(65534), st.Uid, "the host owner of a file PROG created")

	// Under --json too.
	r = j.RunWith(t, o, "run", "--json", "--", "true")
	requireOK(t, r)
	assert.Contains(t, r.Stderr, `"host_uid":65534`)
}

// TestRootBindBelowUnsearchableDir: root reaches any directory, but its
// sandboxes open their binds as the overflow uid; a bind below a directory
// that uid may not search fails, and the error names the directory and
// the fix rather than a bare EACCES (root's jail serve with its TMPDIR in
// a user's home failed every making so).
func TestRootBindBelowUnsearchableDir(t *testing.T) {
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "a test of jail started by root")
	j := testutil.New(t)
	closed := j.FixtureDir(t, "closed")
	data := filepath.Join(closed, "data")
	require.NoError(t, os.Mkdir(data, 0o755))
	require.NoError(t, os.Chmod(closed, 0o700))
	r := j.RunWith(t, testutil.Opts{AsCaller: true}, "run", "-v", data+":/data", "--", "/bin/true")
	assert.Equal(t, 125, r.ExitCode, r.String())
	assert.Contains(t, r.Stderr, "open_tree: permission denied")
	assert.Contains(t, r.Stderr, fmt.Sprintf("host uid 65534, which may not search %s (mode 0700", closed))
	assert.Contains(t, r.Stderr, "chmod o+x "+closed)

	require.NoError(t, os.Chmod(closed, 0o711))
	requireOK(t, j.RunWith(t, testutil.Opts{AsCaller: true}, "run", "-v", data+":/data", "--", "/bin/true"))
}

// TestRefusesSetuidInstall installs the binary the way bubblewrap's and
// firejail's setuid modes are installed, and checks jail refuses to run
// instead of lending root's powers to whoever calls it.
func TestRefusesSetuidInstall(t *testing.T) {
	testutil.NeedRoot(t, "making a setuid-root binary")
	j := testutil.New(t)
	require.NoError(t, os.Chown(j.Bin, 0, 0))
	require.NoError(t, os.Chmod(j.Bin, os.ModeSetuid|0o755))
	r := j.Run(t, "run", "--", "/bin/true")
	assert.Equal(t, 125, r.ExitCode, r.String())
	assert.Contains(t, r.Stderr, "refusing to run setuid")
	assert.Nil(t, r.Report, "no sandbox may have run")
}

// TestInitSurvivesSignalsFromProg sends every signal to the sandbox's
// init (pid 1) from inside. The init must neither die (which would end the
// run as a jail failure) nor print anything into PROG's streams: Go's
// fault handlers used to turn kill(1, SIGSEGV) into a crash with a stack
// trace.
func TestInitSurvivesSignalsFromProg(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, policy := range []string{"none", "default"} {
		r := sh(t, j, `i=1; while [ $i -le 64 ]; do kill -$i 1 2>/dev/null; i=$((i+1)); done; sleep 0.2; echo alive`,
			"--seccomp", policy)
		requireOK(t, r)
		assert.Equal(t, "alive\n", r.Stdout, "policy %s", policy)
		assert.NotContains(t, r.Stderr, "goroutine", "the init printed a crash into the sandbox (policy %s)", policy)
	}
}

// stageNames are the stages of a native run, in order.
var stageNames = []string{"start", "clone", "id_maps", "mounts", "pivot", "prepare", "spawn", "exec", "run", "teardown"}

// checkStages asserts every stage is there and none is negative, and
// returns their sum.
func checkStages(t *testing.T, what string, stages map[string]float64) float64 {
	t.Helper()
	var sum float64
	for _, name := range stageNames {
		v, ok := stages[name]
		if assert.True(t, ok, "%s: stage %s missing: %v", what, name, stages) {
			assert.GreaterOrEqual(t, v, 0.0, "%s: stage %s: %v", what, name, stages)
			sum += v
		}
	}
	assert.Len(t, stages, len(stageNames), "%s: %v", what, stages)
	return sum
}

// TestStepStagesAreOwn runs a language profile's two steps, each in its
// own sandbox, one after the other: each step's stages must measure that
// step alone, so the two breakdowns together fit in the time jail took.
// A run step whose "start" counted from jail's own start would hold the
// whole compile step a second time.
func TestStepStagesAreOwn(t *testing.T) {
	testutil.NeedUserNS(t)
	p, err := profiles.Builtin("c")
	require.NoError(t, err)
	if missing := p.Missing(p.HostLookPath()); len(missing) > 0 {
		testutil.Skip(t, "profile c needs %v on this host", missing)
	}
	j := testutil.New(t)
	src := j.Fixture(t, "stages.c", "int main(void) { return 0; }\n", 0o644)
	begin := time.Now()
	r := j.Run(t, "run", "--profile", "c", "--", src)
	took := time.Since(begin)
	requireOK(t, r)
	run, compile := r.Report, r.Report.Compile
	require.NotNil(t, compile, "the run step's report carries the compile step's: %s", r)
	require.Equal(t, "compile", compile.Step)
	require.Equal(t, "run", run.Step)
	compileSum := checkStages(t, "compile step", compile.Stages)
	runSum := checkStages(t, "run step", run.Stages)
	assert.LessOrEqual(t, compileSum+runSum, took.Seconds(),
		"the steps' stages overlap: compile %v (%.4fs), run %v (%.4fs), jail took %.4fs",
		compile.Stages, compileSum, run.Stages, runSum, took.Seconds())
}

// TestStages checks the breakdown of a run's time the result carries: with
// every stage is there, none is negative, and together they fit in the time
// jail took, also for a run that was killed.
//
// The stages are differences of timestamps taken by the init and by
// jail's threads, so a race between those shows only now and then, as a
// stage that is missing, negative or too long (id_maps came out negative
// under load): two runs at a time for many rounds, each one checked.
func TestStages(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	const rounds, parallel = 40, 2
	// Far beyond a /bin/true run, even on a loaded machine; past it jail
	// is killed, so a hang fails the round instead of the package.
	const bound = 20 * time.Second
	type outcome struct {
		res  testutil.Result
		err  error
		took time.Duration
	}
	for round := range rounds {
		var wg sync.WaitGroup
		out := make([]outcome, parallel)
		for i := range out {
			begin := time.Now()
			run := j.Start(t, testutil.Opts{}, "run", "--", "/bin/true")
			wg.Go(func() {
				kill := time.AfterFunc(bound, func() { _ = run.Cmd.Process.Kill() })
				defer kill.Stop()
				out[i].res, out[i].err = run.WaitErr()
				out[i].took = time.Since(begin)
			})
		}
		wg.Wait()
		for i, o := range out {
			what := fmt.Sprintf("round %d, run %d", round, i)
			require.NoError(t, o.err, what)
			require.Less(t, o.took, bound, "%s: jail did not end", what)
			require.NotNil(t, o.res.Report, "%s: %s", what, o.res)
			require.Equal(t, "OK", o.res.Report.Verdict, "%s: %s", what, o.res)
			// took runs from before jail's fork to after its exit, so it
			// holds every stage, "start" (jail's own start-up) included.
			sum := checkStages(t, what, o.res.Report.Stages)
			assert.LessOrEqual(t, sum, o.took.Seconds(), "%s: the stages add up to more than the run: %v", what, o.res.Report.Stages)
		}
		if t.Failed() {
			break // one failing round tells it; forty repeat it
		}
	}

	// The init ends a killed run itself and reaps it, so its stages are
	// whole too.
	r := j.Run(t, "run", "--wall", "200ms", "--", "/bin/sleep", "10")
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "TLE", r.Report.Verdict)
	assert.Len(t, r.Report.Stages, 10, "a killed run's stages")
	for name, v := range r.Report.Stages {
		assert.GreaterOrEqual(t, v, 0.0, "stage %s of a killed run", name)
	}
}
