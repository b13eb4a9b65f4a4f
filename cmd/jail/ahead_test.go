package main_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeMadeAhead: from its second task on, a reused sandbox's PROG
// runs in a process its init made ahead of the task, the filter loaded;
// nothing of that shows to PROG. It starts as a spawned PROG does (only
// its streams open, no signal ignored or blocked, no capability,
// no_new_privs, the task's working directory), with the task's own
// rlimits and not the last task's, its clocks starting with the task and
// not when its process was made (which would tell a task when the last
// one ended), and under its policy: a call the policy kills ends the run
// as SV, naming the call. An exec that fails there is reported as a
// spawned PROG's is, and the sandbox is not used again.
func TestServeMadeAhead(t *testing.T) {
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
	assert.False(t, r.Stages.MadeAhead, "the first task's PROG was made ahead: there was no task to make it like")
	fsizeDefault := r.Output.Text

	r = sh(m{"fsize": "1M"}, `ls /proc/self/fd | tr '\n' ' '; echo; grep -E '^(SigIgn|SigBlk|CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\t' ' '; pwd; ulimit -f`)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	require.True(t, r.Stages.MadeAhead, "the second task's PROG was not made ahead")
	// 3 is ls's own listing of the directory.
	assert.Equal(t, "0 1 2 3 \nSigBlk: 0000000000000000\nSigIgn: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\nNoNewPrivs: 1\n/box\n2048\n", r.Output.Text)

	// Its process was made as the last task ended.
	gap := 1500 * time.Millisecond
	time.Sleep(gap)
	r = sh(nil, `cut -d' ' -f1 /proc/uptime; ulimit -f`)
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	require.True(t, r.Stages.MadeAhead)
	up, fsize, _ := strings.Cut(r.Output.Text, "\n")
	uptime, err := strconv.ParseFloat(up, 64)
	require.NoError(t, err, r.Output.Text)
	assert.Less(t, uptime, gap.Seconds(), "PROG's clocks started when its process was made, not with its task")
	assert.Equal(t, fsizeDefault, fsize, "the last task's rlimit stayed")

	// One argument longer than the kernel takes (MAX_ARG_STRLEN); the
	// failure ends the sandbox, and the next task's is a new one.
	long := strings.Repeat("x", 128<<10+1)
	ahead := task(nil, "/bin/echo", long)
	spawned := task(nil, "/bin/echo", long)
	assert.Contains(t, ahead.Error, "argument list too long", "%+v", ahead)
	assert.Equal(t, spawned.Error, ahead.Error)
	assert.Equal(t, spawned.Verdict, ahead.Verdict)
	r = sh(nil, "true")
	require.Equal(t, "OK", r.Verdict, "%+v", r)
	assert.False(t, r.Stages.MadeAhead, "the sandbox whose PROG failed served again")

	require.True(t, sh(nil, "true").Stages.MadeAhead)
	r = task(nil, "unshare", "-U", "true")
	assert.True(t, r.Stages.MadeAhead)
	assert.Equal(t, "SV", r.Verdict, "%+v", r)
	assert.Contains(t, r.Reason, "unshare(CLONE_NEWUSER)")
}
