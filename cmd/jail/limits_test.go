package main_test

// These tests check that every limit holds for real on this host, by
// running programs that try to exceed it: as root (cgroup backends) and as
// an ordinary user (whatever the host delegates; on a cgroup v1 host that
// is no cgroup at all, and the limits that need one must be reported as
// not enforced). The VM lane (limits/vmtest) runs the same programs on
// cgroup v2 hosts.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// asRoot runs jail as the test process itself, which must be root, so the
// root cgroup backends are exercised.
func asRoot(t *testing.T) (*testutil.Jail, testutil.Opts) {
	t.Helper()
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "exercising the root cgroup backends")
	return testutil.New(t), testutil.Opts{AsCaller: true}
}

func py(script string) []string { return []string{"--", python, "-c", script} }

func runArgs(flags []string, prog []string) []string {
	return append(append([]string{"run"}, flags...), prog...)
}

func TestRootMemoryLimit(t *testing.T) {
	j, o := asRoot(t)
	// Touch 200M in 1M steps, so the kill comes at the limit, not at one
	// huge allocation.
	r := j.RunWith(t, o, runArgs([]string{"--mem", "64M"},
		py("b=[]\nfor i in range(200): b.append(bytearray(1<<20))\nprint('survived')"))...)
	require.NotNil(t, r.Report, r.String())
	assert.NotEqual(t, "none", r.Report.LimitBackend, r.String())
	assert.Equal(t, "MLE", r.Report.Verdict, r.String())
	assert.Equal(t, "memory", r.Report.LimitHit, r.String())
	assert.NotContains(t, r.Stdout, "survived")
	assert.Positive(t, r.Report.OOMKills)
	// The peak is the cgroup's, near the limit: not the 200M asked for.
	assert.InDelta(t, 64<<20, r.Report.PeakMemory, 8<<20, r.String())

	ok := j.RunWith(t, o, runArgs([]string{"--mem", "64M"}, py("b=bytearray(16<<20); print('fits')"))...)
	require.NotNil(t, ok.Report, ok.String())
	assert.Equal(t, "OK", ok.Report.Verdict, ok.String())
	assert.Contains(t, ok.Stdout, "fits")
}

func TestRootForkBombContained(t *testing.T) {
	j, o := asRoot(t)
	// Each process tries to start 50 more; without pids.max this would
	// take the host down, and --wall ends the survivors.
	bomb := `import os
n = 0
for i in range(50):
    try:
        if os.fork() == 0:
            continue
        n += 1
    except OSError:
        break
print("forks", n, flush=True)
`
	r := j.RunWith(t, o, runArgs([]string{"--pids", "32", "--wall", "5s"}, py(bomb))...)
	require.NotNil(t, r.Report, r.String())
	assert.NotEqual(t, "none", r.Report.LimitBackend)
	assert.LessOrEqual(t, r.Report.PeakPids, int64(32), r.String())
	assert.Positive(t, r.Report.PeakPids, "pids.peak must be reported")
	// The host is still usable: another sandbox starts right away.
	requireOK(t, j.RunWith(t, o, "run", "--", "/bin/true"))
}

func TestRootCPUShare(t *testing.T) {
	j, o := asRoot(t)
	r := j.RunWith(t, o, runArgs([]string{"--cpu", "10%", "--wall", "2s"}, py("while True: pass"))...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "TLE", r.Report.Verdict)
	assert.Equal(t, "wall", r.Report.LimitHit)
	cpu := r.Report.CPUUser + r.Report.CPUSys
	// 10% of one CPU for 2s is 0.2s; the bounds are loose because the
	// quota is granted per 100ms period and the machine is shared.
	assert.Greater(t, cpu, 0.1, r.String())
	assert.Less(t, cpu, 0.4, r.String())
}

func TestRootCPUTimeLimit(t *testing.T) {
	j, o := asRoot(t)
	r := j.RunWith(t, o, runArgs([]string{"--time", "1s"}, py("while True: pass"))...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "TLE", r.Report.Verdict, r.String())
	assert.Equal(t, "time", r.Report.LimitHit)
	cpu := r.Report.CPUUser + r.Report.CPUSys
	assert.GreaterOrEqual(t, cpu, 1.0, r.String())
	assert.Less(t, cpu, 1.25, r.String())
}

func TestRootExtraTimeStillTLE(t *testing.T) {
	j, o := asRoot(t)
	// Uses about 0.6s of CPU, more than --time but inside the grace:
	// it finishes, and the verdict is still TLE (isolate's semantics).
	r := j.RunWith(t, o, runArgs([]string{"--time", "300ms", "--extra-time", "2s"},
		py("import time\nt=time.process_time()\nwhile time.process_time()-t < 0.6: pass\nprint('done')"))...)
	require.NotNil(t, r.Report, r.String())
	assert.Contains(t, r.Stdout, "done")
	assert.Equal(t, "TLE", r.Report.Verdict, r.String())
}

func TestOutputLimit(t *testing.T) {
	j := testutil.New(t)
	testutil.NeedUserNS(t)
	r := j.Run(t, "run", "--output", "10K", "--", "/usr/bin/yes")
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "OLE", r.Report.Verdict, r.String())
	assert.Equal(t, "output", r.Report.LimitHit)
	assert.Len(t, r.Stdout, 10<<10, "exactly the allowed bytes reach stdout")
}

// TestRelayedStreamsBlock: PROG's stdout and stderr, relayed to count
// them against --output, are blocking pipes, as a program expects: on a
// non-blocking one a write to a full pipe fails with EAGAIN, and a
// program that writes faster than the relay reads loses output. Ten MiB
// arrive whole.
func TestRelayedStreamsBlock(t *testing.T) {
	j := testutil.New(t)
	testutil.NeedUserNS(t)
	r := j.Run(t, runArgs([]string{"--output", "20M"}, py("import fcntl, os, sys\n"+
		"flags = [fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK for fd in (1, 2)]\n"+
		"sys.stderr.write('nonblocking %d %d\\n' % tuple(flags))\n"+
		"sys.stdout.write('x' * (10 << 20))"))...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "OK", r.Report.Verdict, r.String())
	assert.Contains(t, r.Stderr, "nonblocking 0 0")
	assert.Equal(t, 10<<20, len(r.Stdout), "the whole output, none lost to EAGAIN")
}

func TestUnprivilegedTimeAndWallWithoutCgroup(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, runArgs([]string{"--time", "1s"}, py("while True: pass"))...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "TLE", r.Report.Verdict, r.String())
	cpu := r.Report.CPUUser + r.Report.CPUSys
	assert.GreaterOrEqual(t, cpu, 1.0, r.String())
	assert.Less(t, cpu, 1.3, r.String())
}

// TestUnenforceableLimitsAreNamed checks the promise that a requested
// limit is never silently ignored: whatever the host delegates to an
// ordinary user, each cgroup limit is either enforced by a backend that
// has its controller, or named in a warning; --strict refuses instead.
func TestUnenforceableLimitsAreNamed(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--mem", "100M", "--pids", "64", "--", "/bin/true")
	require.NotNil(t, r.Report, r.String())
	values := map[string]string{"--mem": "100M", "--pids": "64"}
	for flag, ctl := range map[string]string{"--mem": "memory", "--pids": "pids"} {
		enforced := r.Report.LimitBackend != "none" && slices.Contains(r.Report.Controllers, ctl)
		warned := strings.Contains(r.Stderr, "warning: "+flag+" is NOT enforced")
		assert.True(t, enforced != warned, "%s must be enforced or warned about, not both or neither:\n%s", flag, r)
		if warned {
			strict := j.Run(t, "run", "--strict", flag, values[flag], "--", "/bin/true")
			assert.Equal(t, 125, strict.ExitCode, strict.String())
			assert.Contains(t, strict.Stderr, flag+" is NOT enforced")
		}
	}
}

// TestNoLeaksAfterManyRuns runs many limited sandboxes in a row and checks
// that no cgroup, process, mount or descriptor of theirs is left behind.
func TestNoLeaksAfterManyRuns(t *testing.T) {
	j, o := asRoot(t)
	mountsBefore := countLines(t, "/proc/self/mountinfo")
	fdsBefore := countFDs(t)
	procsBefore := nobodyProcs(t)
	runs := 1000
	if testing.Short() {
		runs = 30
	}
	for i := 0; i < runs; i++ {
		r := j.RunWith(t, o, "run", "--mem", "32M", "--pids", "16", "--time", "1s", "--", "/bin/true")
		require.NotNil(t, r.Report, r.String())
		require.Equal(t, "OK", r.Report.Verdict, "run %d: %s", i, r)
	}
	leftovers, _ := filepath.Glob("/sys/fs/cgroup/*/jail-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/*/*/jail-*")
	jailDirs, _ := filepath.Glob("/sys/fs/cgroup/jail/jail-*")
	leftovers = append(append(leftovers, more...), jailDirs...)
	assert.Empty(t, leftovers, "cgroups left behind")
	assert.Equal(t, mountsBefore, countLines(t, "/proc/self/mountinfo"), "host mounts changed")
	assert.Equal(t, fdsBefore, countFDs(t), "descriptors of the caller changed")
	// PROG runs as host uid 65534 when jail runs as root. A process the
	// kernel is still tearing down may show for a moment; one that stays
	// survived its run.
	var survivors []string
	for i := 0; i < 30; i++ {
		survivors = newProcs(procsBefore, nobodyProcs(t))
		if len(survivors) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Empty(t, survivors, "processes of the sandboxes survived")
	out, _ := os.ReadFile("/proc/loadavg")
	t.Logf("after %d runs: loadavg %s", runs, strings.TrimSpace(string(out)))
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

func newProcs(before, after []string) []string {
	var out []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// nobodyProcs lists the pids of processes running as uid 65534.
func nobodyProcs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == "65534" {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// TestRootMemoryLimitCountsShmAndTmpfs attacks --mem through memory the
// program does not map as its own heap: a SysV shared memory segment (the
// nsjail shm escape: segments outlive their creator) and files on the
// sandbox's tmpfs. Both are charged to the run's memory cgroup, so both
// end in MLE instead of growing past the limit.
func TestRootMemoryLimitCountsShmAndTmpfs(t *testing.T) {
	j, o := asRoot(t)
	shm := `import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 200 << 20
seg = libc.shmget(0, ctypes.c_size_t(size), 0o1600)
assert seg >= 0, ctypes.get_errno()
addr = libc.shmat(seg, None, 0)
ctypes.memset(addr, 1, size)
print("survived", flush=True)`
	r := j.RunWith(t, o, runArgs([]string{"--mem", "64M"}, py(shm))...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "MLE", r.Report.Verdict, r.String())
	assert.NotContains(t, r.Stdout, "survived")

	r = j.RunWith(t, o, runArgs([]string{"--mem", "64M", "--disk", "1G"},
		[]string{"--", "/bin/sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>/dev/null && echo survived"})...)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "MLE", r.Report.Verdict, r.String())
	assert.NotContains(t, r.Stdout, "survived")
}
