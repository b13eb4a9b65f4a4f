package main_test

import (
	"context"
	"os"
	"os/exec"
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
	"jail/sandbox/native"
)

// TestEarlyInit: the init of `jail run` is the process its C start-up
// forked before the Go runtime started (sandbox/native/early.c), not a
// clone of jail, which would share jail's memory.
func TestEarlyInit(t *testing.T) {
	testutil.NeedUserNS(t)
	testutil.NeedRoot(t, "comparing the memory of another user's processes (kcmp)")
	j := testutil.New(t)
	stdin, feed, err := os.Pipe()
	require.NoError(t, err)
	defer feed.Close()
	run := j.Start(t, testutil.Opts{Stdin: stdin}, "run", "--", "/bin/cat")
	stdin.Close()
	jail := run.Cmd.Process.Pid
	init := -1
	for deadline := time.Now().Add(10 * time.Second); init < 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ents, err := os.ReadDir("/proc")
		require.NoError(t, err)
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if comm, ppid, ok := testutil.ProcStat(pid); ok && ppid == jail && comm == "jail-init" {
				init = pid
			}
		}
	}
	require.Positive(t, init, "no init of jail %d found", jail)
	// kcmp orders two processes' memory: 0 is the same memory.
	order, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(jail), uintptr(init), 1 /* KCMP_VM */, 0, 0, 0)
	require.Zero(t, errno, "kcmp: %v", errno)
	assert.NotZero(t, order, "the init shares jail's memory: it was cloned, not forked early")
	feed.Close()
	requireOK(t, run.Wait(t))
}

// TestEarlyInitEndsWithJail: a `jail run` that never starts a sandbox
// (help, refused flags) leaves nothing of its early init behind.
func TestEarlyInitEndsWithJail(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	m := marker()
	for _, args := range [][]string{{"run", "--help", m}, {"run", "--mem", "lots", "--", "true", m}} {
		r := j.Run(t, args...)
		assert.NotEqual(t, -1, r.ExitCode)
		assert.Empty(t, hostProcsWith(t, m), "%q left a process behind", args)
	}
}

// savedRuns runs jail with a runtime directory of the test user's own,
// where a run saves its sandbox's description for the next
// (sandbox/native/early.c), and returns the run and the saved file.
func savedRuns(t *testing.T, j *testutil.Jail) (func(args ...string) testutil.Result, string) {
	rt := filepath.Join(j.Dir, "runtime")
	require.NoError(t, os.Mkdir(rt, 0o700))
	j.Chown(t, rt)
	opts := testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + rt}}
	return func(args ...string) testutil.Result {
		t.Helper()
		return j.RunWith(t, opts, args...)
	}, filepath.Join(rt, "jail", "last-sandbox")
}

// builtAhead says the run's sandbox was built from the saved description
// before jail had its plan: its mounts are not the run's.
func builtAhead(r testutil.Result) bool { return r.Report != nil && r.Report.Stages["mounts"] == 0 }

// TestStreamsAreBlocking: PROG's streams are blocking files, as every
// program expects, whichever way they reach the init: with a cold
// description, or with the task of a sandbox built ahead (as a pooled
// one gets its own); jail relays them through pipes Go made, which are
// non-blocking in jail, and yes fails with EAGAIN as soon as the relay
// falls behind if PROG's stdout is too.
func TestStreamsAreBlocking(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	run, _ := savedRuns(t, j)
	for i := range 2 {
		r := run("run", "--output", "1M", "--", "/bin/cat", "/proc/self/fdinfo/0", "/proc/self/fdinfo/1", "/proc/self/fdinfo/2")
		requireOK(t, r)
		if os.Getuid() != 0 || testutil.TestUID(t) != 0 {
			assert.Equal(t, i > 0, builtAhead(r), "run %d: %v", i, r.Report.Stages)
		}
		n := 0
		for line := range strings.Lines(r.Stdout) {
			v, ok := strings.CutPrefix(line, "flags:")
			if !ok {
				continue
			}
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			require.NoError(t, err, line)
			assert.Zero(t, flags&unix.O_NONBLOCK, "run %d: stream %d is non-blocking: %s", i, n, line)
			n++
		}
		assert.Equal(t, 3, n, "%s", r.Stdout)
	}
}

// TestSavedSandbox: a run's sandbox is built ahead from the last run's
// description when the plan is the same, and never when it is not: the
// next run sees nothing of a sandbox it did not ask for, and a saved file
// that is damaged, or not the user's, is not used.
func TestSavedSandbox(t *testing.T) {
	testutil.NeedUserNS(t)
	if os.Getuid() == 0 && testutil.TestUID(t) == 0 {
		testutil.Skip(t, "jail runs as root here, whose init is never built ahead")
	}
	j := testutil.New(t)
	run, saved := savedRuns(t, j)

	for i := range 3 {
		r := run("run", "--hostname", "first", "--", "/bin/hostname")
		requireOK(t, r)
		assert.Equal(t, "first\n", r.Stdout)
		assert.Equal(t, i > 0, builtAhead(r), "run %d: %v", i, r.Report.Stages)
	}
	require.FileExists(t, saved)

	r := run("run", "--hostname", "other", "--", "/bin/hostname")
	requireOK(t, r)
	assert.Equal(t, "other\n", r.Stdout, "the run used the sandbox of the last")
	assert.False(t, builtAhead(r), "%v", r.Report.Stages)

	dir := j.FixtureDir(t, "shared")
	j.Fixture(t, "shared/secret", "s", 0o644)
	for range 2 {
		r = run("run", "-v", dir+":/mnt/shared:ro", "--", "/bin/ls", "/mnt/shared")
		requireOK(t, r)
		assert.Equal(t, "secret\n", r.Stdout)
	}
	assert.True(t, builtAhead(r), "%v", r.Report.Stages)
	r = run("run", "--", "/bin/sh", "-c", "ls /mnt/shared 2>/dev/null; echo end")
	requireOK(t, r)
	assert.Equal(t, "end\n", r.Stdout, "the last run's bind is in this one")

	// The last run saved its own; damage it, then hand it to another
	// user: the runs go on, and build nothing ahead from it.
	good, err := os.ReadFile(saved)
	require.NoError(t, err)
	damaged := append([]byte{}, good...)
	damaged[len(damaged)-1] ^= 0xff
	require.NoError(t, os.WriteFile(saved, damaged, 0o600))
	j.Chown(t, saved)
	r = run("run", "--", "/bin/sh", "-c", "ls /mnt/shared 2>/dev/null; echo end")
	requireOK(t, r)
	assert.Equal(t, "end\n", r.Stdout)
	assert.False(t, builtAhead(r), "a damaged description was used: %v", r.Report.Stages)
	if os.Getuid() == 0 {
		require.NoError(t, os.Remove(saved))
		require.NoError(t, os.WriteFile(saved, good, 0o644))
		r = run("run", "--", "/bin/sh", "-c", "ls /mnt/shared 2>/dev/null; echo end")
		requireOK(t, r)
		assert.False(t, builtAhead(r), "a description the user does not own was used: %v", r.Report.Stages)
	}
}

// TestEarlyInitWithStdinClosed: with jail's stdin closed, the early init's
// socket would take descriptor 0 and become PROG's stdin; there is no
// early init then, and PROG reads end of file as from /dev/null.
func TestEarlyInitWithStdinClosed(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `exec "$0" run -- /bin/cat <&-`, j.Bin)
	cmd.Dir, cmd.WaitDelay = j.Dir, 5*time.Second
	if j.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, string(out))
}

// TestSavedSandboxNotAFile: what sits where the saved description goes,
// if it is not a regular file (a FIFO no one writes, a directory), is
// neither waited on nor used.
func TestSavedSandboxNotAFile(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	run, saved := savedRuns(t, j)
	require.NoError(t, os.MkdirAll(filepath.Dir(saved), 0o700))
	require.NoError(t, unix.Mkfifo(saved, 0o600))
	j.Chown(t, filepath.Dir(saved))
	j.Chown(t, saved)
	r := run("run", "--", "/bin/echo", "ok")
	requireOK(t, r)
	assert.Equal(t, "ok\n", r.Stdout)
	assert.False(t, builtAhead(r), "%v", r.Report.Stages)
}

// TestSavedSandboxWritesNothingOutside: a PROG that can write where the
// saved description lives (here its directory is bound writable) plants
// one that binds a host directory writable and makes a directory in it.
// The next run's early init reads it before jail has compared it with its
// plan: it must refuse to build it, so nothing appears on the host. Runs
// with a writable bind are not saved either.
func TestSavedSandboxWritesNothingOutside(t *testing.T) {
	testutil.NeedUserNS(t)
	if os.Getuid() == 0 && testutil.TestUID(t) == 0 {
		testutil.Skip(t, "jail runs as root here, whose init is never built ahead")
	}
	j := testutil.New(t)
	run, saved := savedRuns(t, j)
	victim := j.FixtureDir(t, "victim")

	// A writable bind: nothing is saved, and nothing is built ahead.
	for range 2 {
		r := run("run", "-v", victim+":/v:rw", "--", "/bin/true")
		requireOK(t, r)
		assert.False(t, builtAhead(r), "%v", r.Report.Stages)
	}
	assert.NoFileExists(t, saved)

	// The planted description, laid out for jail's binary as jail would
	// save it, written by PROG through its writable bind of the directory.
	uid := uint32(testutil.TestUID(t))
	cfg := native.Config{
		CloneFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP,
		Staging:    "/tmp", Hostname: "planted", UID: 1000, GID: 1000,
		Ops: []native.Op{
			{Kind: native.OpRoot, Data: "size=1048576,nr_inodes=1024,mode=0755"},
			{Kind: native.OpBind, Source: victim, Target: "/v", Attrs: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV},
			{Kind: native.OpMkdir, Target: "/v/planted", Mode: 0o755},
		},
		SelfMaps: true, InnerUID: 1000, InnerGID: 1000, OuterUID: uid, OuterGID: uid,
	}
	wire, err := native.WarmWire(&cfg)
	require.NoError(t, err)
	plant := filepath.Join(j.Dir, "plant")
	require.NoError(t, native.SaveFor(plant, wire, j.Bin))
	j.Chown(t, plant)
	rt := filepath.Dir(filepath.Dir(saved))
	r := j.Run(t, "run", "-v", plant+":/plant:ro", "-v", rt+":/rt:rw", "--", "/bin/sh", "-c",
		"mkdir -p /rt/jail && cp /plant /rt/jail/last-sandbox")
	requireOK(t, r)
	require.FileExists(t, saved)

	r = run("run", "--", "/bin/true")
	requireOK(t, r)
	assert.NoDirExists(t, filepath.Join(victim, "planted"), "the early init wrote through a planted writable bind")

	// An overlay root whose upper layer is a host directory (as jail
	// build's RUN has, which is never saved): the planted init would make
	// its directories there.
	lower := j.FixtureDir(t, "lower")
	j.FixtureDir(t, "victim/upper")
	j.FixtureDir(t, "victim/work")
	cfg.Ops = []native.Op{
		{Kind: native.OpLayer, Source: lower},
		{Kind: native.OpRoot, Data: "size=1048576,nr_inodes=1024,mode=0755", Layers: 1, OverlayOpts: "userxattr", Source: victim},
		{Kind: native.OpMkdir, Target: "/planted", Mode: 0o755},
	}
	wire, err = native.WarmWire(&cfg)
	require.NoError(t, err)
	require.NoError(t, native.SaveFor(plant, wire, j.Bin))
	j.Chown(t, plant)
	r = j.Run(t, "run", "-v", plant+":/plant:ro", "-v", rt+":/rt:rw", "--", "/bin/sh", "-c",
		"cp /plant /rt/jail/last-sandbox")
	requireOK(t, r)
	r = run("run", "--", "/bin/true")
	requireOK(t, r)
	assert.NoDirExists(t, filepath.Join(victim, "upper", "planted"), "the early init wrote to a planted upper layer")
	work, err := os.ReadDir(filepath.Join(victim, "work"))
	require.NoError(t, err)
	assert.Empty(t, work, "overlayfs made its work directory in a planted upper layer")
}
