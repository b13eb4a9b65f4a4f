package main_test

// The result cannot be forged by attacking the process that reports it.
// Each test runs the same workload (allocate, burn some CPU, exit 3) once
// quietly and once after one class of attack on every process PROG can
// name but its own, and requires the same verdict, exit status and signal,
// and a CPU time and peak memory that are really measured.

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// attackPrelude defines others(): every pid PROG can see that is not its
// own (the sandbox's pid 1 at least), and raw(), a raw system call.
const attackPrelude = `
import ctypes, os, resource, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def raw(nr, *args):
    return libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
def others():
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
assert 1 in others(), others()
`

// workload is what every run does after its attack: memory and CPU that
// the result must count, and a failure the result must report.
const workload = `
block = bytearray(40 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
n = 0
for i in range(3 * 10**6):
    n += i
sys.exit(3)
`

// attacks are one program each, by class, as the issue lists them. Each
// tries everything of its class on every other pid and ignores the
// errors: what matters is whether the result changes.
var attacks = map[string]string{
	"prlimit": `
for pid in others():
    for res in range(16):
        try: resource.prlimit(pid, res, (0, 0))
        except OSError: pass
`,
	"setpriority": `
for pid in others():
    try: os.setpriority(os.PRIO_PROCESS, pid, 19)
    except OSError: pass
for which in (os.PRIO_PGRP, os.PRIO_USER):
    try: os.setpriority(which, 0, 19)
    except OSError: pass
`,
	"affinity-and-scheduler": `
class attr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("policy", ctypes.c_uint32), ("flags", ctypes.c_uint64),
                ("nice", ctypes.c_int32), ("prio", ctypes.c_uint32), ("rt", ctypes.c_uint64 * 3)]
for pid in others():
    try: os.sched_setaffinity(pid, {0})
    except OSError: pass
    try: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except OSError: pass
    a = attr(size=ctypes.sizeof(attr), policy=5, nice=19)  # SCHED_IDLE
    raw(314, pid, ctypes.addressof(a), 0)  # sched_setattr
`,
	"ioprio": `
IOPRIO_CLASS_IDLE = 3
for pid in others():
    raw(251, 1, pid, IOPRIO_CLASS_IDLE << 13)  # ioprio_set(IOPRIO_WHO_PROCESS)
raw(251, 2, 0, IOPRIO_CLASS_IDLE << 13)  # IOPRIO_WHO_PGRP
raw(251, 3, os.getuid(), IOPRIO_CLASS_IDLE << 13)  # IOPRIO_WHO_USER
`,
	"signals": `
for pid in others():
    fd = raw(434, pid, 0)  # pidfd_open
    for s in range(1, 65):
        try: os.kill(pid, s)
        except OSError: pass
        raw(234, pid, pid, s)  # tgkill
        if fd >= 0: raw(424, fd, s, 0, 0)  # pidfd_send_signal
# kill(-1) reaches every process but the caller.
for s in (signal.SIGSTOP, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGKILL):
    try: os.kill(-1, s)
    except OSError: pass
`,
	"ptrace-and-process-vm": `
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(4096)
local = iovec(ctypes.addressof(buf), 4096)
for pid in others():
    libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
    libc.ptrace(0x4206, pid, 0, 0)  # PTRACE_SEIZE
    for addr in (0x400000, 0x10000, 0x7f0000000000):
        remote = iovec(addr, 4096)
        raw(310, pid, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)  # readv
        raw(311, pid, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)  # writev
`,
	"proc-writes": `
for pid in others():
    for name in ("oom_score_adj", "oom_adj", "comm", "coredump_filter", "timerslack_ns", "sched",
                 "autogroup", "clear_refs", "attr/current", "loginuid", "mem", "setgroups", "uid_map",
                 "timens_offsets", "projid_map"):
        for data in (b"1000", b"-1000", b"x", b"1 2 3"):
            try:
                with open("/proc/%d/%s" % (pid, name), "wb", buffering=0) as f:
                    f.write(data)
            except OSError: pass
`,
}

// baseline is the quiet run every attacked run is compared with.
type baseline struct {
	verdict  string
	exitCode int
	signal   string
}

func truthfulRun(t *testing.T, j *testutil.Jail, o testutil.Opts, flags []string, attack string) testutil.Result {
	t.Helper()
	script := attackPrelude + attack + workload
	args := append(append([]string{"run"}, flags...), "--", python, "-c", script)
	r := j.RunWith(t, o, args...)
	require.NotNil(t, r.Report, "%s", r)
	return r
}

func checkTruthful(t *testing.T, want baseline, r testutil.Result) {
	t.Helper()
	rep := r.Report
	assert.Equal(t, want.verdict, rep.Verdict, "%s", r)
	assert.Equal(t, want.exitCode, rep.ExitCode, "%s", r)
	assert.Equal(t, want.exitCode, r.ExitCode, "jail's own exit status: %s", r)
	assert.Equal(t, want.signal, rep.Signal, "%s", r)
	assert.Empty(t, rep.Error, "%s", r)
	// 3e6 additions take tens of ms of CPU; 40 MiB were touched.
	assert.Greater(t, rep.CPUUser+rep.CPUSys, 0.005, "CPU time: %s", r)
	assert.Greater(t, rep.PeakMemory, int64(40<<20), "peak memory: %s", r)
	assert.Greater(t, rep.WallTime, 0.0, "%s", r)
}

// TestResultUnchangedByAttacksOnTheInit: the classes, each tried on
// every other pid, as an ordinary user (no cgroup on a v1 host) and as root
// (the root cgroup backend), under the default policy and with no seccomp
// filter at all, so the kernel's own checks are what is tested.
func TestResultUnchangedByAttacksOnTheInit(t *testing.T) {
	testutil.NeedUserNS(t)
	type mode struct {
		name  string
		root  bool
		flags []string
	}
	modes := []mode{
		{"user", false, nil},
		{"user-no-seccomp", false, []string{"--seccomp", "none"}},
		{"root-cgroup", true, []string{"--mem", "512M", "--pids", "64"}},
		{"root-cgroup-no-seccomp", true, []string{"--mem", "512M", "--pids", "64", "--seccomp", "none"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var j *testutil.Jail
			var o testutil.Opts
			if m.root {
				j, o = asRoot(t)
			} else {
				j = testutil.New(t)
			}
			quiet := truthfulRun(t, j, o, m.flags, "")
			want := baseline{verdict: "RE", exitCode: 3}
			checkTruthful(t, want, quiet)
			if m.root {
				require.Contains(t, quiet.Report.LimitBackend, "cgroup", "%s", quiet)
			}
			for name, attack := range attacks {
				if name == "ptrace-and-process-vm" && !slices.Contains(m.flags, "none") {
					// The default policy kills the caller (SV), by design.
					continue
				}
				t.Run(name, func(t *testing.T) {
					checkTruthful(t, want, truthfulRun(t, j, o, m.flags, attack))
				})
			}
		})
	}
}

// TestLimitVerdictUnchangedByAttacksOnTheInit: the second report.
// After prlimit(1, RLIMIT_NOFILE, (0, 0)) a 200 MB allocation under
// --mem 64M is MLE with SIGKILL's status, not exit code 0.
func TestLimitVerdictUnchangedByAttacksOnTheInit(t *testing.T) {
	j, o := asRoot(t)
	script := attackPrelude + attacks["prlimit"] + `
block = bytearray(200 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
`
	r := j.RunWith(t, o, "run", "--mem", "64M", "--", python, "-c", script)
	require.NotNil(t, r.Report, "%s", r)
	assert.Equal(t, "MLE", r.Report.Verdict, "%s", r)
	assert.Equal(t, 137, r.Report.ExitCode, "%s", r)
	assert.Equal(t, 137, r.ExitCode, "%s", r)
	assert.Equal(t, "SIGKILL", r.Report.Signal, "%s", r)
}

// TestPidOneIsNotTheInit: PROG's pid namespace has a pid 1 that is not the
// process that reports: PROG is pid 2 and its parent is outside the
// namespace (getppid is 0), so no pid PROG can name is its supervisor.
func TestPidOneIsNotTheInit(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--", python, "-c", `import os; print(os.getpid(), os.getppid())`)
	requireOK(t, r)
	assert.Equal(t, "2 0\n", r.Stdout)
}

// TestTimeNamespace: PROG's monotonic and boot-time clocks start at the
// sandbox's start, so /proc/uptime and CLOCK_BOOTTIME say nothing of the
// host's. Both spawners are covered: an ordinary user's (a copy of the
// init's memory) and root's with a cgroup (which shares it).
func TestTimeNamespace(t *testing.T) {
	testutil.NeedUserNS(t)
	host, err := os.ReadFile("/proc/uptime")
	require.NoError(t, err)
	var hostUptime float64
	_, err = fmt.Sscan(string(host), &hostUptime)
	require.NoError(t, err)
	if hostUptime < 10 {
		testutil.Skip(t, "the host has been up for %.1f s only; the test needs the clocks apart", hostUptime)
	}
	script := `import time; print(open("/proc/uptime").read().split()[0], time.clock_gettime(time.CLOCK_BOOTTIME), time.monotonic())`
	check := func(t *testing.T, r testutil.Result) {
		requireOK(t, r)
		var up, boot, mono float64
		_, err := fmt.Sscan(r.Stdout, &up, &boot, &mono)
		require.NoError(t, err, r.Stdout)
		for name, v := range map[string]float64{"uptime": up, "boottime": boot, "monotonic": mono} {
			assert.Less(t, v, 5.0, "%s inside is the host's (%.1f s up): %s", name, hostUptime, r.Stdout)
			assert.GreaterOrEqual(t, v, 0.0, name)
		}
		assert.Contains(t, r.Report.Stages, "exec", "the stages are on the host's clock: %v", r.Report.Stages)
		for name, v := range r.Report.Stages {
			assert.GreaterOrEqual(t, v, 0.0, "stage %s", name)
			assert.Less(t, v, 5.0, "stage %s", name)
		}
	}
	t.Run("user", func(t *testing.T) {
		j := testutil.New(t)
		check(t, j.Run(t, "run", "--", python, "-c", script))
	})
	t.Run("root-cgroup", func(t *testing.T) {
		j, o := asRoot(t)
		check(t, j.RunWith(t, o, "run", "--mem", "256M", "--", python, "-c", script))
	})
}

// TestViolationNamesItsArgument: an SV reason names the call as the
// policy saw it, with the argument that decided, so a user knows what to
// allow.
func TestViolationNamesItsArgument(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, tc := range []struct{ script, want string }{
		{`import ctypes; ctypes.CDLL(None).unshare(0x10000000)`, "unshare(CLONE_NEWUSER)"},
		{`import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b"x")`, "ioctl(TIOCSTI)"},
	} {
		r := j.Run(t, "run", "--", python, "-c", tc.script)
		require.NotNil(t, r.Report, "%s", r)
		assert.Equal(t, "SV", r.Report.Verdict, "%s", r)
		assert.Contains(t, r.Report.Reason, tc.want, "%s", r)
	}
}

// TestOrphansCountedAtTheEnd: a run ends at once when PROG leaves nothing
// behind (the init sees pid 1 alone in the sandbox's /proc); a process
// PROG left running must instead be killed and counted. PROG starts a
// busy loop, waits until the loop has had 250 ms of CPU (its utime in
// /proc, in ticks of 10 ms: on a loaded machine 300 ms of wall time gave
// it 160 ms), and exits without waiting for it: the result must count the
// loop's CPU time, which rusage gives only once pid 1 has reaped it (an
// ordinary user on this host has no cgroup).
func TestOrphansCountedAtTheEnd(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--wall", "20s", "--", "/bin/sh", "-c",
		`sh -c 'while :; do :; done' & p=$!; until [ "$(cut -d' ' -f14 /proc/$p/stat)" -ge 25 ]; do sleep 0.02; done; exit 0`)
	require.NotNil(t, r.Report, "%s", r)
	assert.Equal(t, "OK", r.Report.Verdict, "%s", r)
	cpu := r.Report.CPUUser + r.Report.CPUSys
	assert.GreaterOrEqual(t, cpu, 0.25, "the orphan's CPU time was not counted: %s", r)
	// Left running, the loop would hold the run to its 20 s wall limit.
	assert.Less(t, r.Report.WallTime, 15.0, "the orphan kept the run going: %s", r)
}
