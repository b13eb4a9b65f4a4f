package main_test

// Attacks on jail from inside the sandbox and through its inputs. Each
// test either keeps an attack that is blocked today blocked, or reproduces
// a bug; bug tests say so in their comment and fail until it is fixed.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"jail/internal/testutil"
)

// initProbe tries every way a same-uid process has to reach into the
// sandbox's init (pid 1), and prints one "name errno" line per attempt.
const initProbe = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def res(name, r):
    print(name, "ok" if r >= 0 else os.strerror(ctypes.get_errno()))
res("ptrace_attach", libc.ptrace(16, 1, 0, 0))
res("ptrace_seize", libc.ptrace(0x4206, 1, 0, 0))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(16)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 16)
remote = iovec(0x400000, 16)
res("process_vm_readv", libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
pidfd = libc.syscall(434, 1, 0)
got = -1
for fd in range(0, 16):
    if libc.syscall(438, pidfd, fd, 0) >= 0:
        got = fd
res("pidfd_getfd", got)
for p in ("/proc/1/environ", "/proc/1/mem", "/proc/1/fd", "/proc/1/exe", "/proc/1/root/", "/proc/1/map_files"):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            open(p, "rb").read(1)
        print(p, "ok")
    except OSError as e:
        print(p, os.strerror(e.errno))
`

// TestAdversarialInitUnreachable: BLOCKED. Without any seccomp policy,
// PROG (same host uid as the init) can neither trace, read the memory of,
// steal descriptors from, nor open the private /proc files of the init.
func TestAdversarialInitUnreachable(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--seccomp", "none", "--", python, "-c", initProbe)
	requireOK(t, r)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 10, "%s", r)
	for _, l := range lines {
		name, outcome, _ := strings.Cut(l, " ")
		assert.NotEqual(t, "ok", outcome, "%s reached the init", name)
	}
}

// TestAdversarialInitIgnoresStopAndJobSignals: BLOCKED. The init must keep
// reaping when PROG sends it the stop and job-control signals, or PROG's
// exit would never be reported and jail would hang.
func TestAdversarialInitIgnoresStopAndJobSignals(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := sh(t, j, `for s in STOP TSTP TTIN TTOU CONT CHLD WINCH URG; do kill -$s 1; done; sleep 0.1; `+
		`sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/1/status`,
		"--seccomp", "none", "--wall", "20s")
	requireOK(t, r)
	assert.Equal(t, "S\n", r.Stdout, "the init is not sleeping in wait4: %s", r)
}

// TestAdversarialSelfSignalFakesLimitVerdict: a regression test. A program that sends
// itself SIGXCPU or SIGXFSZ, with no --time and no --fsize given, gets the
// verdict TLE ("CPU time limit of 0s exceeded") or OLE ("file-size limit
// reached"): Decide maps those signals to limit verdicts whether or not a
// limit that raises them is in force. It failed until a limit verdict needs
// its limit (e.g. SIGXCPU is TLE only with --time, SIGXFSZ OLE only with
// --fsize; otherwise SIG).
func TestAdversarialSelfSignalFakesLimitVerdict(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, tc := range []struct {
		name, signal string
		code         int
	}{
		{"xcpu", "XCPU", 128 + int(syscall.SIGXCPU)},
		{"xfsz", "XFSZ", 128 + int(syscall.SIGXFSZ)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sh(t, j, "kill -"+tc.signal+" $$")
			require.NotNil(t, r.Report, "%s", r)
			assert.Equal(t, tc.code, r.ExitCode, "%s", r)
			assert.Equal(t, "SIG", r.Report.Verdict, "no limit was set, so no limit was hit: %s", r)
			assert.Empty(t, r.Report.LimitHit, "%s", r)
		})
	}
}

// burnAutoReaped burns CPU in short-lived children that the kernel reaps
// by itself (SIGCHLD ignored), so their time is never added to any
// parent's cutime/cstime and never appears in wait4's rusage.
const burnAutoReaped = `
import os, signal, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for i in range(int(sys.argv[1])):
    if os.fork() == 0:
        t = time.process_time()
        while time.process_time() - t < 0.05:
            pass
        os._exit(0)
    time.sleep(0.06)
print("done")
`

// TestAdversarialCPUTimeDodgeAutoReap: a regression test (without a cgroup backend, i.e.
// every rootless run on a host without a delegated cgroup). The --time
// watch sums /proc/PID/stat of the live tree plus the cutime of parents,
// and the result sums wait4 rusage; children auto-reaped because SIGCHLD
// is ignored are in neither. 1.5 s of CPU under --time 300ms ends with
// verdict OK and a cpu figure of a few ms. It failed until --time accounts
// for every process of the run (a cgroup's cpuacct, or refusing --time
// without one, as --strict does for --mem).
func TestAdversarialCPUTimeDodgeAutoReap(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--time", "300ms", "--wall", "30s", "--", python, "-c", burnAutoReaped, "30")
	require.NotNil(t, r.Report, "%s", r)
	if r.Report.LimitBackend != "none" {
		// A cgroup's clock counts every process, reaped or not.
		assert.Equal(t, "TLE", r.Report.Verdict, "1.5s of CPU under --time 300ms: %s", r)
		assert.Equal(t, "time", r.Report.LimitHit, "%s", r)
		return
	}
	// Without a cgroup the evasion cannot be seen, so jail must say that
	// --time is not exact, and --strict must refuse to run.
	assert.Contains(t, r.Stderr, "warning: --time is NOT enforced", "%s", r)
	strict := j.Run(t, "run", "--strict", "--time", "300ms", "--", "/bin/true")
	assert.Equal(t, 125, strict.ExitCode, "%s", strict)
	assert.Contains(t, strict.Stderr, "--time is NOT enforced")
}

// TestAdversarialOutputLimitRaceAtExit: a regression test. When PROG writes past
// --output and exits while the relay is still blocked writing earlier
// output to jail's own (slow) stdout, the relay only sees the excess after
// the supervisor has stopped listening for limit hits: the output is cut
// but the verdict is OK. (When the race goes the other way, the verdict is
// OLE with exit code 0 instead of 137.) It failed until the verdict checks the
// relays' byte count after they have drained.
func TestAdversarialOutputLimitRaceAtExit(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	const limit = 128 << 10
	// The relay holds at most one 64 KiB chunk plus a full 64 KiB pipe of
	// jail's stdout before it blocks, so it never sees more than limit
	// bytes; PROG's own pipe takes the one byte over and PROG can exit.
	prog := fmt.Sprintf("import os; os.write(1, b'x' * %d)", limit+1)
	outDir := j.FixtureDir(t, "reports")
	report := filepath.Join(outDir, "r.json")

	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	cmd := exec.Command(j.Bin, "run", "--report", report, "--output", strconv.Itoa(limit), "--", python, "-c", prog)
	cmd.Dir = j.Dir
	cmd.Stdout = pw
	if j.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	}
	require.NoError(t, cmd.Start())
	pw.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Output in our pipe means PROG ran; no child of jail left means the
	// init, and so PROG, are gone and every byte has been written.
	deadline := time.Now().Add(20 * time.Second)
	for pending(t, pr) == 0 || len(childrenOfProc(cmd.Process.Pid)) > 0 {
		require.True(t, time.Now().Before(deadline), "jail's run did not end")
		time.Sleep(5 * time.Millisecond)
	}
	// The race needs the supervisor out of its loop before the relay sees
	// the excess. It leaves once the init's report pipe is at EOF and the
	// init is reaped, after jail has closed its ends of the report and
	// control pipes; that leaves jail one pipe of its own, the stdout
	// relay's (its stdout is ours, and it may have inherited others from
	// the test). Then, once no thread of jail is running, twice in a row,
	// the supervisor is parked past its loop, in the wait for the relays.
	ownPipes := func() []string {
		shared := pipesOf(os.Getpid())
		return slices.DeleteFunc(pipesOf(cmd.Process.Pid), func(p string) bool { return slices.Contains(shared, p) })
	}
	idleLooks := 0
	for idleLooks < 2 {
		require.True(t, time.Now().Before(deadline), "jail did not settle: its own pipes %v, task states %v",
			ownPipes(), taskStates(cmd.Process.Pid))
		if len(ownPipes()) == 1 && !slices.Contains(taskStates(cmd.Process.Pid), "R") {
			idleLooks++
		} else {
			idleLooks = 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, err := io.ReadAll(pr)
	require.NoError(t, err)
	_ = cmd.Wait()
	assert.Len(t, out, limit, "the relay passes exactly --output bytes")

	b, err := os.ReadFile(report)
	require.NoError(t, err)
	var rep testutil.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "OLE", rep.Verdict, "output was cut, yet: %s", b)
	assert.Equal(t, "output", rep.LimitHit, "%s", b)
}

// pending is FIONREAD (TIOCINQ) of a pipe: the bytes waiting in it.
func pending(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
	require.NoError(t, err)
	return n
}

// pipesOf lists the pipes among pid's descriptors.
func pipesOf(pid int) []string {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	var out []string
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "pipe:") {
			out = append(out, l)
		}
	}
	return out
}

// taskStates is the state letter (R, S, D, ...) of each of pid's threads.
func taskStates(pid int) []string {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	var out []string
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// The state follows the command name, which may hold spaces.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 0 {
				out = append(out, f[0])
			}
		}
	}
	return out
}

func childrenOfProc(pid int) []string {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err == nil {
			out = append(out, strings.Fields(string(b))...)
		}
	}
	return out
}

// TestAdversarialRootfsSymlinksStayInside: BLOCKED. Symlinks in a user
// --rootfs at the places jail mounts on cannot send a mount, or PROG's
// writes, to the host: absolute and ..-escaping targets resolve inside the
// new root, and magic links are refused. The target is a host directory
// the test user may write to, and the same path exists in the rootfs.
func TestAdversarialRootfsSymlinksStayInside(t *testing.T) {
	testutil.NeedUserNS(t)
	const busybox = "/bin/busybox"
	bb, err := os.ReadFile(busybox)
	if err != nil {
		testutil.Skip(t, "a static %s is needed for the rootfs: %v", busybox, err)
	}
	j := testutil.New(t)
	home := testUserHome(t)
	hostSide := filepath.Join(home, "jail-adv-"+marker())
	require.NoError(t, os.Mkdir(hostSide, 0o755))
	t.Cleanup(func() { os.RemoveAll(hostSide) })
	j.Chown(t, hostSide)
	rel := strings.TrimPrefix(hostSide, "/")
	for _, tc := range []struct {
		name, link, target string
		wantSetupErr       string
	}{
		{"tmp-absolute", "tmp", hostSide, ""},
		{"tmp-dotdot", "tmp", "../../../../../../../../" + rel, ""},
		// Refused before RESOLVE_NO_MAGICLINKS is reached: the init that
		// builds the mounts is outside the pid namespace whose /proc it
		// mounted, so it has no /proc/self there.
		{"tmp-magic-link", "tmp", "/proc/self/root" + hostSide, "mounts (scratch /tmp): open: no such file"},
		{"dev-dangling", "dev", hostSide + "-absent", "tmpfs /dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "rootfs-" + tc.name
			root := j.FixtureDir(t, name)
			j.Fixture(t, name+"/bin/busybox", string(bb), 0o755)
			j.FixtureDir(t, name+"/"+rel)
			link := filepath.Join(root, tc.link)
			require.NoError(t, os.Symlink(tc.target, link))
			j.Chown(t, link)
			r := j.Run(t, "run", "--rootfs", root, "--", "/bin/busybox", "sh", "-c",
				"echo x > /tmp/escaped && /bin/busybox ls /tmp/escaped")
			if tc.wantSetupErr != "" {
				assert.Equal(t, 125, r.ExitCode, "%s", r)
				assert.Contains(t, r.Stderr, tc.wantSetupErr, "%s", r)
			} else {
				requireOK(t, r)
				assert.Equal(t, "/tmp/escaped\n", r.Stdout)
			}
			ents, err := os.ReadDir(hostSide)
			require.NoError(t, err)
			assert.Empty(t, ents, "PROG's writes reached the host directory")
		})
	}
}

// testUserHome is the home directory of the user jail runs as.
func testUserHome(t *testing.T) string {
	t.Helper()
	if os.Getuid() == 0 {
		u, err := user.Lookup(testutil.TestUser)
		require.NoError(t, err)
		return u.HomeDir
	}
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	return home
}

// TestAdversarialAbstractSocketsPerRun: BLOCKED. Two concurrent runs do
// not share abstract unix sockets or loopback: each has its own network
// namespace.
func TestAdversarialAbstractSocketsPerRun(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	name := "jail-adv-" + marker()
	shared := j.FixtureDir(t, "shared")
	server := fmt.Sprintf(`
import socket, time
u = socket.socket(socket.AF_UNIX); u.bind("\0%s"); u.listen()
i = socket.socket(); i.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); i.bind(("127.0.0.1", 47321)); i.listen()
open("/shared/ready", "w").close()
time.sleep(20)
`, name)
	srv := j.Start(t, testutil.Opts{}, "run", "--wall", "25s", "-v", shared+":/shared:rw", "--", python, "-c", server)
	t.Cleanup(func() {
		if srv.Cmd.ProcessState == nil {
			_ = srv.Cmd.Process.Kill()
			_ = srv.Cmd.Wait()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(shared, "ready")); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the listening run never got ready")
		time.Sleep(10 * time.Millisecond)
	}
	client := fmt.Sprintf(`
import socket
for fam, addr in ((socket.AF_UNIX, "\0%s"), (socket.AF_INET, ("127.0.0.1", 47321))):
    try:
        socket.socket(fam).connect(addr); print("connected")
    except OSError as e:
        print("refused")
`, name)
	r := j.Run(t, "run", "--", python, "-c", client)
	requireOK(t, r)
	assert.Equal(t, "refused\nrefused\n", r.Stdout, "%s", r)
}

// TestAdversarialBadInputs: BLOCKED. Hostile flag values end in exit 125
// with a message naming the flag, never a panic or a run.
func TestAdversarialBadInputs(t *testing.T) {
	j := testutil.New(t)
	for _, tc := range []struct {
		name    string
		flags   []string
		wantErr string
	}{
		{"hostname-newline", []string{"--hostname", "a\nb"}, "--hostname"},
		{"hostname-long", []string{"--hostname", strings.Repeat("a", 300)}, "--hostname"},
		{"env-empty-key", []string{"-e", "=x"}, "-e =x"},
		{"workdir-relative", []string{"-w", "rel"}, "absolute"},
		{"volume-dotdot-into-proc", []string{"-v", "/tmp:/tmp/../proc/sys"}, "built by jail"},
		{"volume-relative", []string{"-v", "/tmp:rel"}, "absolute"},
		{"volume-four-fields", []string{"-v", "/tmp:/a:rw:x"}, "SRC:DST"},
		{"disk-zero", []string{"--disk", "0"}, "--disk"},
		{"disk-huge", []string{"--disk", "9223372036854775807"}, "--disk"},
		{"uid-invalid", []string{"--uid", "4294967295"}, "invalid id"},
		{"nofile-huge", []string{"--nofile", "99999999999"}, "--nofile"},
		{"wall-negative", []string{"--wall", "-1s"}, "--wall"},
		{"wall-overflow", []string{"--wall", "9999999999h"}, "--wall"},
		{"time-overflow", []string{"--time", "1e308s"}, "--time"},
		{"output-zero", []string{"--output", "0"}, "--output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"run"}, tc.flags...), "--", "/bin/true")
			r := j.Run(t, args...)
			assert.Equal(t, 125, r.ExitCode, "%s", r)
			assert.Contains(t, r.Stderr, tc.wantErr, "%s", r)
			assert.NotContains(t, r.Stderr, "goroutine", "%s", r)
			assert.Nil(t, r.Report, "no run may happen: %s", r)
		})
	}
}

// TestAdversarialEnvFileLongLine: an --env-file line over 64 KiB used to
// fail with bufio's internal "bufio.Scanner: token too long". A 100 KiB
// value now works; one past the kernel's 128 KiB limit for a variable is
// refused naming the file and line.
func TestAdversarialEnvFileLongLine(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	ok := j.Fixture(t, "ok.env", "BIG="+strings.Repeat("a", 100<<10)+"\n", 0o644)
	r := j.Run(t, "run", "--env-file", ok, "--", "/bin/sh", "-c", "echo ${#BIG}")
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Equal(t, fmt.Sprintf("%d\n", 100<<10), r.Stdout)

	f := j.Fixture(t, "big.env", "A=1\nBIG="+strings.Repeat("a", 200<<10)+"\n", 0o644)
	r = j.Run(t, "run", "--env-file", f, "--", "/bin/true")
	assert.Contains(t, r.Stderr, "big.env:2:", "%s", r)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "--env-file", "%s", r)
	assert.NotContains(t, r.Stderr, "bufio.Scanner", "an internal error leaks to the user: %s", r)
}

// ownCgroupRunDirs lists the run cgroups named after jail's pid below this
// process's own cgroups, in every hierarchy.
func ownCgroupRunDirs(t *testing.T, jailPid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var bases []string
		if parts[1] == "" {
			bases = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}
		} else {
			for _, c := range strings.Split(parts[1], ",") {
				bases = append(bases, filepath.Join("/sys/fs/cgroup", c))
			}
			bases = append(bases, filepath.Join("/sys/fs/cgroup", parts[1]))
		}
		for _, base := range bases {
			m, _ := filepath.Glob(filepath.Join(base, parts[2], fmt.Sprintf("jail-%d-*", jailPid)))
			for _, d := range m {
				if !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// TestAdversarialCgroupLeftoverAfterKill: a regression test (root, cgroup backend).
// When jail itself is SIGKILLed, the sandbox dies with it (lifeline), but
// the run's cgroups (cpuacct, memory, pids on a v1 host) stay behind in
// /sys/fs/cgroup for good: nothing ever removes them, not even the next
// run. It failed until stale run cgroups of dead jail processes are removed
// (e.g. swept by the next run).
func TestAdversarialCgroupLeftoverAfterKill(t *testing.T) {
	j, o := asRoot(t)
	run := j.Start(t, o, "run", "--mem", "100M", "--", "/bin/sleep", "30")
	pid := run.Cmd.Process.Pid
	t.Cleanup(func() {
		// Remove what the bug left, so the host is not littered.
		for _, d := range ownCgroupRunDirs(t, pid) {
			_ = os.Remove(d)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(ownCgroupRunDirs(t, pid)) == 0 {
		if time.Now().After(deadline) {
			testutil.Skip(t, "jail made no cgroup for --mem here")
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, run.Cmd.Process.Kill())
	_ = run.Cmd.Wait()
	// Another run has every chance to clean up after the dead one.
	r := j.RunWith(t, o, "run", "--mem", "100M", "--", "/bin/true")
	requireOK(t, r)
	assert.Empty(t, ownCgroupRunDirs(t, pid), "cgroups of the killed jail %d are left behind", pid)
}
