package main_test

import (
	"fmt"
	"strconv"
	"strings"
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
	if r.LimitBackend != "none" {
		testutil.Skip(t, "the test user's runs have cgroups here (%s), and no PROG is made ahead of a task with one", r.LimitBackend)
	}
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

// aheadKernel says this kernel's exec enters the time namespace a process
// unshared (Linux 6.5), which a PROG made ahead of its task needs; so does
// a task without a cgroup of its own (a run's LimitBackend "none").
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
