package main_test

import (
	"fmt"
	"os"
	"path/filepath"
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

// TestServeMadeAhead: a warm sandbox's PROG runs in a process its init
// made ahead of the task, the filter loaded (set up as the pool's profile
// says for the first task, as the last task was for a reused sandbox's
// next); nothing of that shows to PROG. It starts as a spawned PROG does (only
// its streams open, no signal ignored or blocked, no capability,
// no_new_privs, the task's working directory), with the task's own
// rlimits and not the last task's, its clocks starting with the task and
// not when its process was made (which would tell a task when the last
// one ended), and under its policy: a call the policy kills ends the run
// as SV, naming the call. An exec that fails there is reported as a
// spawned PROG's is, and the sandbox is not used again.
func TestServeMadeAhead(t *testing.T) {
	if !aheadKernel(t) {
		testutil.Skip(t, "a PROG is made ahead only where exec enters the time namespace its process unshared (Linux 6.5)")
	}
	s := serve(t, "unix", "--parallel", "1", "--pool", "default=1:reuse")
	s.pooled = true
	task := func(limits m, argv ...string) *serveRun {
		t.Helper()
		s.awaitReady(t)
		v := s.judgeTask(t, stepsTask(limits, argv...))
		require.NotNil(t, v.Result.Run, "%+v", v.Result)
		return v.Result.Run
	}
	sh := func(limits m, script string) *serveRun { return task(limits, "/bin/sh", "-c", script) }

	r := sh(nil, "ulimit -f")
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.True(t, r.MadeAhead, "the first task's PROG was not made ahead")
	fsizeDefault := r.Output.Text

	r = sh(m{"fsize": "1M"}, `ls /proc/self/fd | tr '\n' ' '; echo; grep -E '^(SigIgn|SigBlk|CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\t' ' '; pwd; ulimit -f`)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	require.True(t, r.MadeAhead, "the second task's PROG was not made ahead")
	// 3 is ls's own listing of the directory.
	assert.Equal(t, "0 1 2 3 \nSigBlk: 0000000000000000\nSigIgn: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nNoNewPrivs: 1\n/box\n2048\n", r.Output.Text)

	// Its process was made as the last task ended.
	gap := 1500 * time.Millisecond
	time.Sleep(gap)
	r = sh(nil, `cut -d' ' -f1 /proc/uptime; ulimit -f`)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	require.True(t, r.MadeAhead)
	up, fsize, _ := strings.Cut(r.Output.Text, "\n")
	uptime, err := strconv.ParseFloat(up, 64)
	require.NoError(t, err, r.Output.Text)
	assert.Less(t, uptime, gap.Seconds(), "PROG's clocks started when its process was made, not with its task")
	assert.Equal(t, fsizeDefault, fsize, "the last task's rlimit stayed")

	// One argument longer than the kernel takes (MAX_ARG_STRLEN): the
	// failure ends the sandbox, and the pool makes another.
	long := strings.Repeat("x", 128<<10+1)
	made := s.metric(t, `jail_pool_made_total{pool="default"}`)
	ahead := task(nil, "/bin/echo", long)
	assert.Equal(t, "XX", ahead.Verdict, "%+v", ahead)
	// A server without pools spawns every PROG.
	spawned := serve(t, "unix").judgeTask(t, stepsTask(nil, "/bin/echo", long)).Result.Run
	require.NotNil(t, spawned)
	assert.False(t, spawned.MadeAhead)
	assert.Contains(t, ahead.Error, "argument list too long", "%+v", ahead)
	assert.Equal(t, spawned.Error, ahead.Error)
	assert.Equal(t, spawned.Verdict, ahead.Verdict)
	r = sh(nil, "true")
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.Equal(t, made+1, s.metric(t, `jail_pool_made_total{pool="default"}`), "the sandbox whose PROG failed served again")

	require.True(t, sh(nil, "true").MadeAhead)
	r = task(nil, "unshare", "-U", "true")
	assert.True(t, r.MadeAhead)
	assert.Equal(t, "SV", r.Verdict, "%+v", r)
	assert.Contains(t, r.Reason, "unshare(CLONE_NEWUSER)")
}

// TestRootServeMadeAheadInItsCgroup: where runs have cgroups (root's,
// here on cgroup v1), a reused sandbox's next task's cgroup is made ahead
// of it, and the PROG made ahead joins it before anything else; the
// task's limits are written to it when the task comes. So a made-ahead
// PROG is held by its own task's limits (the memory limit kills a hog, the
// pids limit stops a fork loop, each set by one task and not the next),
// is counted from nothing (a task after the hog has a small peak), and is
// in a cgroup of its own run, with its task's limits, as the host sees
// it; once the server has stopped, none of its cgroups is left.
func TestRootServeMadeAheadInItsCgroup(t *testing.T) {
	if !aheadKernel(t) {
		testutil.Skip(t, "a PROG is made ahead only where exec enters the time namespace its process unshared (Linux 6.5)")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		testutil.Skip(t, "the test reads the host's cgroup v1 hierarchies, which this host does not have (limits/vmtest's cgroup2 guest has PROGs made ahead in their cgroups on cgroup v2)")
	}
	s, srv := serveAsRoot(t, "--parallel", "1", "--pool", "default=1:reuse")
	task := func(limits m, argv ...string) *serveRun {
		t.Helper()
		s.awaitReady(t)
		v := s.judgeTask(t, stepsTask(limits, argv...))
		require.NotNil(t, v.Result.Run, "%+v", v.Result)
		assert.True(t, v.Result.Run.MadeAhead, "%v: PROG was not made ahead", argv)
		assert.Equal(t, "cgroup1-root", v.Result.Run.LimitBackend, "%v", argv)
		return v.Result.Run
	}

	r := task(m{"mem": "64M"}, "python3", "-c", "b = [bytearray(1 << 20) for i in range(200)]")
	assert.Equal(t, "MLE", r.Verdict, "%+v", r)
	forks := `import os
n = 0
for i in range(20):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os._exit(0)
    n += 1
print(n)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break`
	r = task(m{"pids": 8, "mem": "64M"}, "python3", "-c", forks)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.Equal(t, "7\n", r.Output.Text, "forks under --pids 8 beside python itself")
	r = task(nil, "python3", "-c", forks)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.Equal(t, "20\n", r.Output.Text, "the last task's pids limit stayed")
	r = task(m{"mem": "64M"}, "/bin/true")
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.Less(t, r.PeakMemory, int64(16<<20), "the peak of a cgroup an earlier task used")

	// The host's view of a sleeping PROG's cgroups.
	s.awaitReady(t)
	id := s.submit(t, stepsTask(m{"mem": "48M", "pids": 12}, "/bin/sleep", "3"))
	sleep, _ := sleepingProg(t, srv.Cmd.Process.Pid)
	run := fmt.Sprintf("jail-%d-", srv.Cmd.Process.Pid)
	in := cgroupsOf(t, sleep)
	for _, h := range []string{"memory", "pids"} {
		require.Contains(t, in, h, "%v", in)
		assert.True(t, strings.HasPrefix(filepath.Base(in[h]), run), "PROG's %s cgroup %s is not a run's", h, in[h])
	}
	limit := func(hierarchy, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", hierarchy, in[hierarchy], file))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	assert.Equal(t, strconv.Itoa(48<<20), limit("memory", "memory.limit_in_bytes"))
	assert.Equal(t, "12", limit("pids", "pids.max"))
	v := s.awaitState(t, id, "done")
	assert.Equal(t, "OK", v.Result.Verdict, "%+v", v.Result)
	assert.True(t, v.Result.Run.MadeAhead)

	require.NoError(t, srv.Cmd.Process.Signal(syscall.SIGTERM))
	_, _ = srv.WaitErr()
	own := cgroupsOf(t, os.Getpid())
	for h, dir := range own {
		left, err := filepath.Glob(filepath.Join("/sys/fs/cgroup", h, dir, run+"*"))
		require.NoError(t, err)
		assert.Empty(t, left, "the stopped server's cgroups in %s", h)
	}
}

// cgroupsOf maps each v1 hierarchy's directory under /sys/fs/cgroup
// ("memory", "cpu,cpuacct") to process pid's cgroup in it.
func cgroupsOf(t *testing.T, pid int) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", parts[1])); err == nil {
			out[parts[1]] = parts[2]
		}
	}
	return out
}

// aheadKernel says this kernel's exec enters the time namespace a process
// unshared (Linux 6.5), which a PROG made ahead of its task needs.
func aheadKernel(t *testing.T) bool { return kernelAtLeast(t, 6, 5) }

// kernelAtLeast says the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var u unix.Utsname
	require.NoError(t, unix.Uname(&u))
	var ma, mi int
	_, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	require.NoError(t, err)
	return ma > major || ma == major && mi >= minor
}
