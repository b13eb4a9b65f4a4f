package sandbox

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/verdict"
)

// reused runs one task in w and renews it, returning the task's output
// and whether the sandbox may serve again.
func reused(t *testing.T, w *Warm, env []string, script string) (string, *Result, bool) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer out.Close()
	s := warmSpec("/bin/sh", "-c", script)
	s.Env = append(s.Env, env...)
	res, err := w.Run(context.Background(), s, IO{Stdout: out, Stderr: out})
	require.NoError(t, err)
	b, err := os.ReadFile(out.Name())
	require.NoError(t, err)
	return string(b), res, w.Renew()
}

// TestWarmReuse: a reusable sandbox serves task after task, and each task
// finds nothing of the one before: for every kind of trace a task can
// leave, one task leaves it and the next looks for it. A task that leaves
// a process behind ends the sandbox instead.
func TestWarmReuse(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	w, err := r.Warm(context.Background(), warmSpec(), true)
	require.NoError(t, err)
	defer w.Close()
	py := func(src string) string { return "exec python3 -c '" + src + "'" }
	cases := []struct {
		name, leave, look, want string
		env                     []string
	}{
		{name: "files in /tmp and /dev/shm",
			leave: `echo x > /tmp/left && echo x > /dev/shm/left && mkdir /tmp/d && echo ok`,
			look:  `ls -A /tmp /dev/shm | tr -d '\n'`, want: "/dev/shm:/tmp:"},
		{name: "the root and /dev are read-only",
			leave: `touch /left 2>/dev/null; touch /dev/left 2>/dev/null; mkdir /etc/left 2>/dev/null; echo ok`,
			look:  `ls -d /left /dev/left /etc/left 2>/dev/null | wc -l`, want: "0\n"},
		{name: "SysV shared memory",
			leave: `ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && echo ok`,
			look:  `ipcs -m -q | grep -c '^0x'; true`, want: "0\n"},
		// Creating one may be refused (EACCES on this kernel); either
		// way the next task must not open it.
		{name: "POSIX message queues",
			leave: py(`import ctypes, os; rt = ctypes.CDLL("librt.so.1"); rt.mq_open(b"/left", os.O_CREAT | os.O_RDWR, 0o600, None); print("ok")`),
			look:  py(`import ctypes, os; rt = ctypes.CDLL("librt.so.1"); print(rt.mq_open(b"/left", os.O_RDONLY))`),
			want:  "-1\n"},
		{name: "an abstract unix socket",
			leave: py(`import socket; s = socket.socket(socket.AF_UNIX); s.bind("\0left"); s.listen(); print("ok")`),
			look:  py(`import socket; s = socket.socket(socket.AF_UNIX); s.bind("\0left"); print("free")`), want: "free\n"},
		{name: "a pathname unix socket",
			leave: py(`import socket; s = socket.socket(socket.AF_UNIX); s.bind("/tmp/left.sock"); s.listen(); print("ok")`),
			look:  `ls /tmp/left.sock 2>&1 | grep -c 'No such'`, want: "1\n"},
		{name: "a file lock",
			leave: py(`import fcntl; f = open("/etc/passwd"); fcntl.flock(f, fcntl.LOCK_EX); print("ok")`),
			look:  py(`import fcntl; f = open("/etc/passwd"); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print("free")`), want: "free\n"},
		{name: "the hostname and the environment",
			leave: `hostname left 2>/dev/null; export LEFT=1; echo ok`, env: []string{"LEFT_ENV=1"},
			look: `echo "$(hostname) ${LEFT-unset} ${LEFT_ENV-unset}"`, want: "jail unset unset\n"},
		{name: "its pids",
			leave: `sleep 0.01 & sleep 0.01 & wait; echo ok`,
			look:  `for p in /proc/[0-9]*; do read -r c < $p/comm && printf '%s ' "$c"; done`, want: "jail-init sh "},
	}
	for _, c := range cases {
		out, res, again := reused(t, w, c.env, c.leave)
		require.Equal(t, verdict.OK, res.Verdict, "%s: leaving: %s %s", c.name, res.Error, out)
		require.NotNil(t, res.Stages, "%s: a reused sandbox's run has its stages", c.name)
		require.Zero(t, res.Stages.Mounts, "%s: the run was not in the warm sandbox", c.name)
		require.Equal(t, "ok\n", out, "%s: leaving", c.name)
		require.True(t, again, "%s: the sandbox was not renewed", c.name)
		out, res, again = reused(t, w, nil, c.look)
		require.Equal(t, verdict.OK, res.Verdict, "%s: looking: %s %s", c.name, res.Error, out)
		assert.Equal(t, c.want, out, "%s: the next task found it", c.name)
		require.True(t, again, "%s: the sandbox was not renewed after looking", c.name)
	}

	// A task that leaves a process running ends the sandbox: its
	// process is killed and counted with it, not left for the next.
	out, res, again := reused(t, w, nil, `setsid sleep 30 </dev/null >/dev/null 2>&1 & echo ok`)
	assert.Equal(t, verdict.OK, res.Verdict, res.Error)
	assert.Equal(t, "ok\n", out)
	assert.False(t, again, "a sandbox with a process left was renewed")
	_, err = w.Run(context.Background(), warmSpec("/bin/true"), IO{})
	assert.ErrorContains(t, err, "not waiting for a task")
}

// TestWarmReuseEndsAfterPid1Changed: a task that lowers the sandbox's pid
// 1's limits (it may: they share a uid) ends the sandbox, so no later task
// runs with a pid 1 that a limit could kill. (Its priority the default
// policy keeps PROG from changing.)
func TestWarmReuseEndsAfterPid1Changed(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	for _, change := range []string{"prlimit --pid 1 --nofile=64:64", "prlimit --pid 1 --cpu=1:1"} {
		w, err := r.Warm(context.Background(), warmSpec(), true)
		require.NoError(t, err)
		out, res, again := reused(t, w, nil, change+" && echo ok")
		assert.Equal(t, verdict.OK, res.Verdict, "%s: %s %s", change, res.Error, out)
		assert.Equal(t, "ok\n", out, change)
		assert.False(t, again, "%s: the sandbox served again", change)
		w.Close()
	}
}

// TestWarmReuseCgroupCounters: each task in a reused sandbox has a cgroup
// of its own, so a task's peak memory is its own and not the largest of
// the tasks before it.
func TestWarmReuseCgroupCounters(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	w, err := r.Warm(context.Background(), warmSpec(), true)
	require.NoError(t, err)
	defer w.Close()
	run := func(script string) *Result {
		s := warmSpec("/bin/sh", "-c", script)
		s.Limits.Memory = 512 << 20
		res, err := w.Run(context.Background(), s, IO{})
		require.NoError(t, err)
		require.Equal(t, verdict.OK, res.Verdict, res.Error)
		require.True(t, w.Renew())
		return res
	}
	big := run(`exec python3 -c 'b = bytearray(200 << 20); b[::4096] = b"x" * len(b[::4096])'`)
	small := run(`true`)
	if !strings.HasPrefix(big.PeakMemorySource, "cgroup") {
		testutil.Skip(t, "no cgroup measures peak memory here (%s)", big.PeakMemorySource)
	}
	assert.Greater(t, big.PeakMemory, int64(150<<20))
	assert.Less(t, small.PeakMemory, int64(50<<20), "the second task's peak is the first's")
}

// TestWarmReuseEndsAfterLifelineUse: a run during which jail wrote on the
// init's lifeline (here a signal for PROG) is not followed by another in
// the same sandbox: a byte of it could still be unread when the task
// ends, and would end the next task.
func TestWarmReuseEndsAfterLifelineUse(t *testing.T) {
	testutil.NeedUserNS(t)
	w, err := NewRunner().Warm(context.Background(), warmSpec(), true)
	require.NoError(t, err)
	defer w.Close()
	sigs := make(chan syscall.Signal, 1)
	sigs <- syscall.SIGCONT
	res, err := w.Run(context.Background(), warmSpec("/bin/sh", "-c", "sleep 0.2"), IO{Signals: sigs})
	require.NoError(t, err)
	require.Equal(t, verdict.OK, res.Verdict, res.Error)
	assert.False(t, w.Renew(), "the sandbox served again after its lifeline was written to")
}
