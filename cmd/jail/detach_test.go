package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/detached"
	"jail/internal/testutil"
)

// detachedEnv runs jail as the test user with a runtime directory of its
// own, where detached sandboxes keep their state.
type detachedEnv struct {
	j       *testutil.Jail
	runtime string
}

func newDetachedEnv(t *testing.T) *detachedEnv {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	rt := j.FixtureDir(t, "runtime")
	require.NoError(t, os.Chmod(rt, 0o700))
	e := &detachedEnv{j: j, runtime: rt}
	t.Cleanup(func() {
		// Nothing may outlive the test: every monitor, and its sandbox.
		r := e.run(t, "ps", "-a", "--format", "{{.ID}}")
		for _, id := range strings.Fields(r.Stdout) {
			e.run(t, "rm", "-f", id)
		}
	})
	return e
}

func (e *detachedEnv) run(t *testing.T, args ...string) testutil.Result {
	t.Helper()
	return e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}}, args...)
}

func (e *detachedEnv) root() string { return filepath.Join(e.runtime, "jail", "sandboxes") }

var fullID = regexp.MustCompile(`^[0-9a-f]{64}\n$`)

// start runs jail run -d and returns the sandbox's id.
func (e *detachedEnv) start(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, append([]string{"run", "-d"}, args...)...)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	require.Regexp(t, fullID, r.Stdout)
	return strings.TrimSpace(r.Stdout)
}

type inspectedState struct {
	Status     string
	Running    bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

func (e *detachedEnv) state(t *testing.T, ref string) inspectedState {
	t.Helper()
	r := e.run(t, "inspect", ref)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	var v []struct {
		ID    string `json:"Id"`
		State inspectedState
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &v), r.Stdout)
	require.Len(t, v, 1)
	return v[0].State
}

// waitStatus waits until the sandbox reads as status.
func (e *detachedEnv) waitStatus(t *testing.T, ref, status string) inspectedState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := e.state(t, ref)
		if st.Status == status {
			return st
		}
		require.True(t, time.Now().Before(deadline), "%s is still %s", ref, st.Status)
		time.Sleep(20 * time.Millisecond)
	}
}

// detachedProg prints to both streams, turns SIGUSR1 into exit 7 and
// sleeps.
const detachedProg = `
import signal, sys, time
signal.signal(signal.SIGUSR1, lambda *_: sys.exit(7))
print("to stdout", flush=True)
print("to stderr", file=sys.stderr, flush=True)
for i in range(3):
    print("line", i, flush=True)
time.sleep(120)
`

// TestDetachedLifecycle walks a detached sandbox as docker's commands
// would: run -d, ps, inspect, logs, kill with a signal, stop, rm; and
// leaves nothing behind.
func TestDetachedLifecycle(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	id := e.start(t, "--name", "web", "--", python, "-c", detachedProg)

	r := e.run(t, "ps")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Regexp(t, `(?m)^`+id[:12]+`\s+web\s+"/usr/bin/python3 -c \\nimport …"\s+.*\s+Up `, r.Stdout)

	st := e.state(t, "web")
	assert.Equal(t, "running", st.Status)
	assert.True(t, st.Running)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.Pid))
	require.NoError(t, err, ".State.Pid is PROG's, as the host sees it")
	assert.Contains(t, string(cmdline), "python3")
	r = e.run(t, "inspect", "--format", "{{.State.Pid}} {{.Name}}", id[:8])
	assert.Equal(t, fmt.Sprintf("%d web\n", st.Pid), r.Stdout, "a unique prefix of the id names it too")

	// The log, by stream, as PROG wrote it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.run(t, "logs", "web").Stdout, "line 2") {
		require.True(t, time.Now().Before(deadline), "the log never got PROG's lines")
		time.Sleep(20 * time.Millisecond)
	}
	r = e.run(t, "logs", "web")
	assert.Equal(t, "to stdout\nline 0\nline 1\nline 2\n", r.Stdout)
	assert.Equal(t, "to stderr\n", r.Stderr)
	// The last entry, of either stream (the two are written apart, so
	// which came last is the kernel's to say), with its time.
	r = e.run(t, "logs", "--tail", "1", "-t", "web")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\S+ (line 2|to stderr)\n$`, r.Stdout+r.Stderr)

	// A running sandbox is not removed without -f.
	r = e.run(t, "rm", "web")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: sandbox web: it is running: stop it first (jail stop), or remove it with jail rm -f")

	// A signal reaches PROG, which exits on its own.
	r = e.run(t, "kill", "-s", "USR1", "web")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	st = e.waitStatus(t, "web", "exited")
	assert.Equal(t, 7, st.ExitCode, "%s", e.run(t, "inspect", "web").Stdout)
	assert.False(t, st.FinishedAt.Before(st.StartedAt))
	_, err = os.Stat(fmt.Sprintf("/proc/%d", st.Pid))
	r = e.run(t, "ps")
	assert.NotContains(t, r.Stdout, "web", "ps shows running sandboxes only")
	r = e.run(t, "ps", "-a")
	assert.Regexp(t, `(?m)^`+id[:12]+`\s+web\s+.*Exited \(7\)`, r.Stdout)

	// The name stays taken until rm.
	r = e.run(t, "run", "-d", "--name", "web", "--", "true")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, `jail: --name "web" is taken by sandbox `+id[:12])

	r = e.run(t, "rm", "web")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Equal(t, "web\n", r.Stdout)
	_, err = os.Stat(filepath.Join(e.root(), id))
	assert.True(t, os.IsNotExist(err), "rm leaves no state: %v", err)
	r = e.run(t, "inspect", "web")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, `jail: no sandbox "web": see jail ps -a`)
}

// TestDetachedStop: stop sends SIGTERM and PROG's handler runs; a PROG
// that ignores it is killed after -t, and the state says so.
func TestDetachedStop(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	e.start(t, "--name", "polite", "--", python, "-c", "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *_: (print('bye', flush=True), sys.exit(0)))\nprint('up', flush=True)\ntime.sleep(120)")
	e.start(t, "--name", "stubborn", "--", python, "-c", "import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(120)")
	for _, name := range []string{"polite", "stubborn"} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(e.run(t, "logs", name).Stdout, "up") {
			require.True(t, time.Now().Before(deadline), "%s never got ready", name)
			time.Sleep(20 * time.Millisecond)
		}
	}
	r := e.run(t, "stop", "polite")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	st := e.state(t, "polite")
	assert.Equal(t, "exited", st.Status)
	assert.Equal(t, 0, st.ExitCode)
	assert.Equal(t, "up\nbye\n", e.run(t, "logs", "polite").Stdout)

	// Two stops at once: both return once it has ended.
	var wg sync.WaitGroup
	results := make([]testutil.Result, 2)
	for i := range results {
		wg.Go(func() { results[i] = e.run(t, "stop", "-t", "1", "stubborn") })
	}
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, 0, r.ExitCode, "%s", r)
	}
	st = e.state(t, "stubborn")
	assert.Equal(t, "exited", st.Status)
	assert.Equal(t, 137, st.ExitCode)
	assert.Contains(t, st.Error, "PROG did not exit within 1s of SIGTERM (jail stop)")
}

// TestDetachedMonitorKilled: the sandbox does not outlive its monitor,
// and ps -a says how it ended.
func TestDetachedMonitorKilled(t *testing.T) {
	e := newDetachedEnv(t)
	id := e.start(t, "--name", "orphan", "--", "sleep", "120")
	st := e.state(t, "orphan")
	b, err := os.ReadFile(filepath.Join(e.root(), id, "state.json"))
	require.NoError(t, err)
	var raw struct {
		MonitorPid int `json:"monitor_pid"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	require.NotZero(t, raw.MonitorPid)
	require.NoError(t, syscall.Kill(raw.MonitorPid, syscall.SIGKILL))
	deadline := time.Now().Add(time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", st.Pid)); os.IsNotExist(err) {
			break
		}
		require.True(t, time.Now().Before(deadline), "PROG outlived its monitor by a second")
		time.Sleep(10 * time.Millisecond)
	}
	st = e.state(t, "orphan")
	assert.Equal(t, "exited", st.Status)
	assert.Contains(t, st.Error, "its monitor died")
	r := e.run(t, "ps", "-a")
	assert.Regexp(t, `(?m)^`+id[:12]+`\s+orphan\s+.*Exited \(137\)`, r.Stdout)
}

// TestDetachedBadInput: each refused with one line naming the input, and
// nothing left half made.
func TestDetachedBadInput(t *testing.T) {
	e := newDetachedEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "x"}, "jail: give the SANDBOX, then -- and the command to run in it"},
		{[]string{"exec", "x", "--", "true"}, `jail: no sandbox "x": see jail ps -a`},
		{[]string{"attach"}, "jail: jail attach: give the SANDBOX to attach to"},
		{[]string{"run", "-d", "--name", "no/slash", "--", "true"}, `jail: --name "no/slash": use letters, digits`},
		{[]string{"run", "--name", "x", "--", "true"}, "jail: --name, --rm, --restart and -p are for a detached sandbox: add -d"},
		{[]string{"run", "-d", "--", "/no/such/prog"}, "not found inside the sandbox"},
		{[]string{"stop", "nosuch"}, `jail: no sandbox "nosuch": see jail ps -a`},
		{[]string{"kill", "-s", "SIGNOPE", "x"}, `jail: --signal: signal "SIGNOPE": give a name such as SIGTERM`},
		{[]string{"logs", "--tail", "many", "x"}, `no sandbox "x"`},
	} {
		r := e.run(t, c.args...)
		assert.NotEqual(t, 0, r.ExitCode, "%v: %s", c.args, r)
		assert.Contains(t, r.Stderr, c.want, "%v", c.args)
		assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), "%v: %s", c.args, r.Stderr)
	}
	// The failed start is kept, as docker keeps a container that did not
	// start, with why.
	r := e.run(t, "ps", "-a", "--format", "{{.Status}} {{.Command}}")
	assert.Contains(t, r.Stdout, "Exited (127)")

	// A corrupt state.json is reported and can be removed by id.
	bad := strings.Repeat("ab", 32)
	require.NoError(t, os.MkdirAll(filepath.Join(e.root(), bad), 0o700))
	e.j.Fixture(t, "runtime/jail/sandboxes/"+bad+"/state.json", "{not json", 0o600)
	r = e.run(t, "ps", "-a")
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: sandbox ababababab")
	r = e.run(t, "rm", "-f", bad[:12])
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	_, err := os.Stat(filepath.Join(e.root(), bad))
	assert.True(t, os.IsNotExist(err))

	// A state from before a restart reads as exited, never running.
	old := strings.Repeat("cd", 32)
	require.NoError(t, os.MkdirAll(filepath.Join(e.root(), old), 0o700))
	e.j.Chown(t, filepath.Join(e.root(), old))
	stale, _ := json.Marshal(map[string]any{"id": old, "name": "stale", "created": time.Now().Add(-time.Hour), "status": "running",
		"pid": 1, "boot_id": "00000000-0000-0000-0000-000000000000"})
	e.j.Fixture(t, "runtime/jail/sandboxes/"+old+"/state.json", string(stale), 0o600)
	st := e.state(t, "stale")
	assert.Equal(t, "exited", st.Status)
	assert.Contains(t, st.Error, "the machine restarted")

	// Another user's state directory is refused.
	other := e.j.FixtureDir(t, "other-runtime")
	require.NoError(t, os.MkdirAll(filepath.Join(other, "jail", "sandboxes"), 0o700))
	require.NoError(t, os.Chmod(other, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(other, "jail"), 0o755))
	r = e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + other}}, "ps")
	if testutil.TestUID(t) != os.Getuid() {
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Contains(t, r.Stderr, "must be a directory of yours with mode 0700")
	}
}

// TestDetachedRm: --rm removes the sandbox once PROG ends; rm -f ends a
// running one first.
func TestDetachedRm(t *testing.T) {
	e := newDetachedEnv(t)
	id := e.start(t, "--rm", "--", "sh", "-c", "sleep 0.2")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(e.root(), id)); os.IsNotExist(err) {
			break
		}
		require.True(t, time.Now().Before(deadline), "--rm left the sandbox")
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing is left to start; a running one is left running, as
	// docker start leaves it.
	r := e.run(t, "start", id)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, fmt.Sprintf("jail: no sandbox %q: see jail ps -a", id))
	id = e.start(t, "--rm", "--name", "gone-later", "--", "sleep", "120")
	r = e.run(t, "start", "gone-later")
	assert.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Equal(t, "running", e.state(t, id).Status)
	id = e.start(t, "--", "sleep", "120")
	pid := e.state(t, id).Pid
	r = e.run(t, "rm", "-f", id)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	assert.True(t, os.IsNotExist(err), "PROG is gone")
	_, err = os.Stat(filepath.Join(e.root(), id))
	assert.True(t, os.IsNotExist(err))
}

// TestDetachedConcurrency: 20 sandboxes started, listed, exec'd into
// and removed at once.
func TestDetachedConcurrency(t *testing.T) {
	e := newDetachedEnv(t)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := e.run(t, "run", "-d", "--name", fmt.Sprintf("c%02d", i), "--", "sleep", "120")
			if assert.Equal(t, 0, r.ExitCode, "%s", r) {
				ids[i] = strings.TrimSpace(r.Stdout)
			}
		})
	}
	wg.Wait()
	r := e.run(t, "ps", "--format", "{{.Name}}")
	assert.Len(t, strings.Fields(r.Stdout), n, "%s", r)
	for i := range 2 * n {
		wg.Go(func() {
			name := fmt.Sprintf("c%02d", i%n)
			r := e.run(t, "exec", name, "--", "sh", "-c", "echo $0; exit 4", name)
			assert.Equal(t, 4, r.ExitCode, "%s", r)
			assert.Equal(t, name+"\n", r.Stdout)
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			r := e.run(t, "rm", "-f", fmt.Sprintf("c%02d", i))
			assert.Equal(t, 0, r.ExitCode, "%s", r)
		})
	}
	wg.Wait()
	r = e.run(t, "ps", "-a", "--format", "{{.Name}}")
	assert.Empty(t, strings.TrimSpace(r.Stdout))
	ents, err := os.ReadDir(e.root())
	require.NoError(t, err)
	for _, d := range ents {
		assert.False(t, d.IsDir(), "left behind: %s", d.Name())
	}
}

// TestDetachedCp copies into and out of a running sandbox whose PROG
// planted links to the host's files and a FIFO: every path resolves
// inside the sandbox, links are copied as links, the FIFO is skipped,
// and nothing of the host is read or written.
func TestDetachedCp(t *testing.T) {
	e := newDetachedEnv(t)
	// A directory of the test user's on the host, with a secret in it,
	// which PROG links to by its host path.
	hostDir := e.j.FixtureDir(t, "host-dir")
	e.j.Fixture(t, "host-dir/secret", "host secret\n", 0o600)
	e.start(t, "--name", "box", "--", "sh", "-c",
		"mkdir -p /tmp/w && ln -s / /tmp/w/rootlink && ln -s /etc/shadow /tmp/w/shadow && ln -s "+hostDir+" /tmp/w/hostdir && "+
			"mkfifo /tmp/w/fifo && echo inside > /tmp/w/file && touch /tmp/w/ready && sleep 120")
	deadline := time.Now().Add(10 * time.Second)
	for e.run(t, "cp", "box:/tmp/w/ready", filepath.Join(e.j.FixtureDir(t, "probe"), "ready")).ExitCode != 0 {
		require.True(t, time.Now().Before(deadline), "PROG never made its files")
		time.Sleep(20 * time.Millisecond)
	}

	src := e.j.FixtureDir(t, "src")
	e.j.Fixture(t, "src/a.txt", "from the host\n", 0o640)
	e.j.Fixture(t, "src/sub/b.txt", "deeper\n", 0o644)
	r := e.run(t, "cp", src, "box:/tmp/w/")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "cp", filepath.Join(src, "a.txt"), "box:/tmp/w/rootlink/etc/planted")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	_, err := os.Stat("/etc/planted")
	assert.True(t, os.IsNotExist(err), "a write through the sandbox's link to / stays in the sandbox")
	// Through a link to the host directory's path: that path is the
	// sandbox's, where it does not exist; the host's is not touched.
	r = e.run(t, "cp", filepath.Join(src, "a.txt"), "box:/tmp/w/hostdir/planted")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	_, err = os.Stat(filepath.Join(hostDir, "planted"))
	assert.True(t, os.IsNotExist(err), "nothing written to the host through PROG's link")
	stolen := e.j.FixtureDir(t, "stolen")
	r = e.run(t, "cp", "box:/tmp/w/hostdir/secret", filepath.Join(stolen, "secret"))
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	_, err = os.Stat(filepath.Join(stolen, "secret"))
	assert.True(t, os.IsNotExist(err), "nothing of the host read through PROG's link")

	out := e.j.FixtureDir(t, "out")
	r = e.run(t, "cp", "box:/tmp/w", out)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: cp: skipped /tmp/w/fifo: not a file, directory or link")
	b, err := os.ReadFile(filepath.Join(out, "w", "file"))
	require.NoError(t, err)
	assert.Equal(t, "inside\n", string(b))
	b, err = os.ReadFile(filepath.Join(out, "w", "src", "sub", "b.txt"))
	require.NoError(t, err)
	assert.Equal(t, "deeper\n", string(b), "the directory copied in came back out")
	fi, err := os.Stat(filepath.Join(out, "w", "src", "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "modes are kept")
	for name, target := range map[string]string{"rootlink": "/", "shadow": "/etc/shadow", "hostdir": hostDir} {
		got, err := os.Readlink(filepath.Join(out, "w", name))
		require.NoError(t, err, "%s is copied as a link", name)
		assert.Equal(t, target, got)
	}

	// Out through the planted link: the sandbox's /etc, not the host's.
	r = e.run(t, "cp", "box:/tmp/w/rootlink/etc/hostname", filepath.Join(out, "hostname"))
	require.Equal(t, 0, r.ExitCode, "%s", r)
	b, err = os.ReadFile(filepath.Join(out, "hostname"))
	require.NoError(t, err)
	assert.Equal(t, "jail\n", string(b), "the sandbox's own /etc/hostname")

	// A link on the host side at the destination is replaced, not
	// written through.
	victim := e.j.Fixture(t, "victim", "untouched\n", 0o644)
	require.NoError(t, os.Symlink(victim, filepath.Join(out, "trap")))
	r = e.run(t, "cp", "box:/tmp/w/file", filepath.Join(out, "trap"))
	require.Equal(t, 0, r.ExitCode, "%s", r)
	b, _ = os.ReadFile(victim)
	assert.Equal(t, "untouched\n", string(b))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "box:/a", "box:/b"}, "one side is SANDBOX:PATH, the other a host path"},
		{[]string{"cp", src, out}, "name the sandbox's side as SANDBOX:PATH"},
		{[]string{"cp", "nosuch:/x", out}, `no sandbox "nosuch"`},
		{[]string{"cp", "box:/no/such", out}, "/no/such: no such file or directory"},
	} {
		r := e.run(t, c.args...)
		assert.Equal(t, 125, r.ExitCode, "%v: %s", c.args, r)
		assert.Contains(t, r.Stderr, c.want, "%v", c.args)
	}
	require.Equal(t, 0, e.run(t, "stop", "-t", "0", "box").ExitCode)
	r = e.run(t, "cp", "box:/tmp/w/file", out)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: sandbox box is not running (exited): jail cp reaches a running one")
}

// TestDetachedCpRace copies in and out through a path whose link PROG
// swaps all the while between a directory of its own and a host
// directory's path: every copy resolves inside the sandbox or fails,
// never reading or writing the host's directory.
func TestDetachedCpRace(t *testing.T) {
	e := newDetachedEnv(t)
	hostDir := e.j.FixtureDir(t, "host-dir")
	e.j.Fixture(t, "host-dir/f", "host secret\n", 0o600)
	e.start(t, "--name", "box", "--", "sh", "-c",
		"mkdir -p /tmp/w/real && echo inside > /tmp/w/real/f && cd /tmp/w && ln -s real d && touch ready && "+
			"while :; do ln -sfn "+hostDir+" d; ln -sfn real d; done")
	out := e.j.FixtureDir(t, "out")
	deadline := time.Now().Add(10 * time.Second)
	for e.run(t, "cp", "box:/tmp/w/ready", filepath.Join(out, "ready")).ExitCode != 0 {
		require.True(t, time.Now().Before(deadline), "PROG never made its files")
		time.Sleep(20 * time.Millisecond)
	}
	in := e.j.Fixture(t, "planted", "from the host\n", 0o644)
	copied := 0
	for i := range 40 {
		dst := filepath.Join(out, fmt.Sprintf("f%d", i))
		if r := e.run(t, "cp", "box:/tmp/w/d/f", dst); r.ExitCode == 0 {
			b, err := os.ReadFile(dst)
			require.NoError(t, err)
			assert.Equal(t, "inside\n", string(b), "a copy out read the host's file")
			copied++
		}
		e.run(t, "cp", in, fmt.Sprintf("box:/tmp/w/d/planted%d", i))
	}
	assert.NotZero(t, copied, "no copy ever found the sandbox's own file")
	ents, err := os.ReadDir(hostDir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "a copy in wrote into the host's directory")
	b, err := os.ReadFile(filepath.Join(hostDir, "f"))
	require.NoError(t, err)
	assert.Equal(t, "host secret\n", string(b))
}

// TestDetachedStartKeepsWrites: a sandbox of an image keeps what PROG
// wrote, and what jail cp put in, across stop and start (and restart),
// as docker start does; rm removes that layer too. One of the host's
// root starts afresh.
func TestDetachedStartKeepsWrites(t *testing.T) {
	e := newDetachedEnv(t)
	img := &imageEnv{j: e.j, store: e.j.FixtureDir(t, "store")}
	img.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, busyboxLayer(t)), "keep:1")
	data := e.j.FixtureDir(t, "data")
	env := []string{"XDG_RUNTIME_DIR=" + e.runtime, "JAIL_STORE=" + img.store, "XDG_DATA_HOME=" + data}
	run := func(args ...string) testutil.Result {
		t.Helper()
		return e.j.RunWith(t, testutil.Opts{Env: env}, args...)
	}
	r := run("run", "-d", "--name", "keep", "--image", "keep:1", "--", "sh", "-c",
		"if test -e /kept; then echo again; else echo first; fi; touch /kept; sleep 120")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	id := strings.TrimSpace(r.Stdout)
	waitLog := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for run("logs", "keep").Stdout != want {
			require.True(t, time.Now().Before(deadline), "the log is %q, not %q", run("logs", "keep").Stdout, want)
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("first\n")
	file := e.j.Fixture(t, "put.txt", "put in by jail cp\n", 0o644)
	require.Equal(t, 0, run("cp", file, "keep:/srv.txt").ExitCode)

	require.Equal(t, 0, run("stop", "-t", "1", "keep").ExitCode)
	assert.Equal(t, "exited", e.state(t, "keep").Status)
	r = run("start", "keep")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Equal(t, "keep\n", r.Stdout)
	waitLog("first\nagain\n")
	out := e.j.FixtureDir(t, "out")
	r = run("cp", "keep:/srv.txt", out)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	b, err := os.ReadFile(filepath.Join(out, "srv.txt"))
	require.NoError(t, err)
	assert.Equal(t, "put in by jail cp\n", string(b), "what cp put in outlived the stop")

	r = run("start", "keep")
	assert.Equal(t, 0, r.ExitCode, "starting a running sandbox leaves it as it is: %s", r)
	r = run("restart", "-t", "1", "keep")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	waitLog("first\nagain\nagain\n")

	r = run("rm", "-f", "keep")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	for _, d := range []string{filepath.Join(e.root(), id), filepath.Join(data, "jail", "sandboxes", id)} {
		_, err := os.Stat(d)
		assert.True(t, os.IsNotExist(err), "rm left %s", d)
	}

	// The host's root has no layer to keep: a start begins afresh.
	r = run("run", "-d", "--name", "fresh", "--", "sh", "-c", "if test -e /tmp/kept; then echo again; else echo first; fi; touch /tmp/kept; sleep 120")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	require.Equal(t, 0, run("restart", "-t", "1", "fresh").ExitCode)
	deadline := time.Now().Add(10 * time.Second)
	for run("logs", "fresh").Stdout != "first\nfirst\n" {
		require.True(t, time.Now().Before(deadline), "log: %q", run("logs", "fresh").Stdout)
		time.Sleep(20 * time.Millisecond)
	}
	r = run("start", "nosuch")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, `no sandbox "nosuch"`)
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDetachedPorts is the walk a playground makes: a web server in a
// detached sandbox, reached from the host through -p, serving a file put
// in with jail cp, its requests in jail logs; the port in use, a
// privileged one, and the port free again after rm.
func TestDetachedPorts(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	port := freePort(t)
	pub := fmt.Sprintf("%d:8000", port)
	e.start(t, "--name", "web", "-p", pub, "--", "sh", "-c",
		"mkdir -p /tmp/site && cd /tmp/site && exec "+python+" -m http.server 8000 --bind 127.0.0.1")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		require.True(t, time.Now().Before(deadline), "the server never answered through -p: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	e.j.Fixture(t, "hello.txt", "served from the sandbox\n", 0o644)
	r := e.run(t, "cp", filepath.Join(e.j.FixtureDir(t, "."), "hello.txt"), "web:/tmp/site/")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	resp, err := client.Get(url + "hello.txt")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "served from the sandbox\n", string(body))
	r = e.run(t, "exec", "web", "--", "ls", "/tmp/site")
	assert.Equal(t, "hello.txt\n", r.Stdout, "%s", r)
	// The server saw a loopback peer.
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(e.run(t, "logs", "web").Stderr, `"GET /hello.txt HTTP/1.1" 200`) {
		require.True(t, time.Now().Before(deadline), "the request is not in the log: %s", e.run(t, "logs", "web").Stderr)
		time.Sleep(50 * time.Millisecond)
	}
	assert.Contains(t, e.run(t, "logs", "web").Stderr, "127.0.0.1 - - [")
	r = e.run(t, "port", "web")
	assert.Equal(t, fmt.Sprintf("8000/tcp -> 127.0.0.1:%d\n", port), r.Stdout)
	r = e.run(t, "inspect", "--format", "{{json .NetworkSettings.Ports}}", "web")
	assert.Equal(t, fmt.Sprintf(`{"8000/tcp":[{"HostIp":"127.0.0.1","HostPort":"%d"}]}`+"\n", port), r.Stdout)

	// The port in use, by the first sandbox.
	r = e.run(t, "run", "-d", "-p", pub, "--", "sleep", "60")
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, fmt.Sprintf("-p %s/tcp: 127.0.0.1:%d/tcp is in use: choose another host port", pub, port))
	if start, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil && strings.TrimSpace(string(start)) != "0" && testutil.TestUID(t) != 0 {
		r = e.run(t, "run", "-d", "-p", "1:8000", "--", "sleep", "60")
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Contains(t, r.Stderr, "an ordinary user may not listen below port")
	}
	for _, bad := range []string{"8000", "a:b", "1:2/sctp", "nohost:1:2", "0:80"} {
		r = e.run(t, "run", "-d", "-p", bad, "--", "true")
		assert.Equal(t, 125, r.ExitCode, "-p %s: %s", bad, r)
		assert.Contains(t, r.Stderr, fmt.Sprintf("-p %q: ", bad))
	}
	r = e.run(t, "run", "-p", pub, "--", "true")
	assert.Contains(t, r.Stderr, "are for a detached sandbox: add -d")

	require.Equal(t, 0, e.run(t, "rm", "-f", "web").ExitCode)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "rm left the port's listener")
	l.Close()
}

// udpEcho answers each datagram with what it said and who sent it.
const udpEcho = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9999))
print("up", flush=True)
while True:
    b, a = s.recvfrom(65535)
    s.sendto(b"echo " + b + b" from " + a[0].encode(), a)
`

// TestDetachedUDPPort: -p HOST:PORT/udp relays datagrams both ways,
// each client getting its own answers; the server inside sees a
// loopback peer; rm frees the host port.
func TestDetachedUDPPort(t *testing.T) {
	needPython(t)
	e := newDetachedEnv(t)
	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := free.LocalAddr().(*net.UDPAddr).Port
	free.Close()
	e.start(t, "--name", "dns", "-p", fmt.Sprintf("%d:9999/udp", port), "--", python, "-c", udpEcho)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.run(t, "logs", "dns").Stdout, "up") {
		require.True(t, time.Now().Before(deadline), "the server never came up")
		time.Sleep(20 * time.Millisecond)
	}
	ask := func(c net.Conn, what string) string {
		buf := make([]byte, 512)
		// A datagram may be lost; ask again, as a resolver would.
		for range 20 {
			_, err := c.Write([]byte(what))
			require.NoError(t, err)
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				return string(buf[:n])
			}
		}
		return ""
	}
	var clients []net.Conn
	for range 2 {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err)
		defer c.Close()
		clients = append(clients, c)
	}
	assert.Equal(t, "echo one from 127.0.0.1", ask(clients[0], "one"))
	assert.Equal(t, "echo two from 127.0.0.1", ask(clients[1], "two"))
	assert.Equal(t, "echo three from 127.0.0.1", ask(clients[0], "three"))
	r := e.run(t, "port", "dns")
	assert.Equal(t, fmt.Sprintf("9999/udp -> 127.0.0.1:%d\n", port), r.Stdout)

	require.Equal(t, 0, e.run(t, "rm", "-f", "dns").ExitCode)
	l, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "rm left the port's socket")
	l.Close()
}

// TestDetachedRestartPolicy: on-failure:N runs a failing PROG again N
// times, with backoff, and stops; always runs one that exits 0 again
// until jail stop, which no restart follows.
func TestDetachedRestartPolicy(t *testing.T) {
	e := newDetachedEnv(t)
	e.start(t, "--name", "flaky", "--restart", "on-failure:2", "--", "sh", "-c", "echo run; exit 3")
	st := e.waitStatus(t, "flaky", "exited")
	assert.Equal(t, 3, st.ExitCode)
	r := e.run(t, "logs", "flaky")
	assert.Equal(t, "run\nrun\nrun\n", r.Stdout, "the first run and two restarts")
	r = e.run(t, "inspect", "--format", "{{.RestartCount}}", "flaky")
	assert.Equal(t, "2\n", r.Stdout)

	e.start(t, "--name", "loop", "--restart", "always", "--", "sh", "-c", "echo tick; sleep 0.1")
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(e.run(t, "logs", "loop").Stdout, "tick") < 3 {
		require.True(t, time.Now().Before(deadline), "always did not run it again: %s", e.run(t, "logs", "loop").Stdout)
		time.Sleep(50 * time.Millisecond)
	}
	r = e.run(t, "stop", "-t", "1", "loop")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	n := strings.Count(e.run(t, "logs", "loop").Stdout, "tick")
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, n, strings.Count(e.run(t, "logs", "loop").Stdout, "tick"), "nothing ran after jail stop")
	assert.Equal(t, "exited", e.state(t, "loop").Status)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-d", "--restart", "sometimes", "--", "true"}, `--restart "sometimes": choose no, on-failure[:N] or always`},
		{[]string{"run", "-d", "--restart", "always:3", "--", "true"}, "only on-failure takes a count"},
		{[]string{"run", "-d", "--rm", "--restart", "always", "--", "true"}, "--rm and --restart disagree"},
	} {
		r := e.run(t, c.args...)
		assert.Equal(t, 125, r.ExitCode, "%v: %s", c.args, r)
		assert.Contains(t, r.Stderr, c.want)
	}
}

// TestDetachedKeepsRunFlags: the monitor builds the sandbox from the same
// jail run flags, so limits, variables and binds hold in a detached one
// too.
func TestDetachedKeepsRunFlags(t *testing.T) {
	e := newDetachedEnv(t)
	w := e.j.FixtureDir(t, "bound")
	e.start(t, "--name", "limited", "--wall", "1s", "-e", "GREETING=held", "-v", w+":/w:rw", "--",
		"sh", "-c", "echo $GREETING; echo bound > /w/out; sleep 100")
	st := e.waitStatus(t, "limited", "exited")
	assert.Equal(t, 137, st.ExitCode, "--wall ended it")
	assert.Equal(t, "held\n", e.run(t, "logs", "limited").Stdout)
	b, err := os.ReadFile(filepath.Join(w, "out"))
	require.NoError(t, err)
	assert.Equal(t, "bound\n", string(b))
	r := e.run(t, "inspect", "--format", "{{json .Result}}", "limited")
	var res struct {
		Verdict  string `json:"verdict"`
		LimitHit string `json:"limit_hit"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	assert.Equal(t, "TLE", res.Verdict)
	assert.Equal(t, "wall", res.LimitHit)
}

// TestDetachedControlSocketIsTheUsers: the monitor answers only its own
// user, even one who can reach its socket (root here).
func TestDetachedControlSocketIsTheUsers(t *testing.T) {
	e := newDetachedEnv(t)
	if testutil.TestUID(t) == os.Getuid() {
		testutil.Skip(t, "needs the tests to run as root, with jail as the test user")
	}
	id := e.start(t, "--name", "guarded", "--", "sleep", "120")
	err := detached.Send(filepath.Join(e.root(), id), detached.Request{Op: "kill", Signal: "SIGKILL"})
	require.Error(t, err, "another user's request is not answered")
	assert.Equal(t, "running", e.state(t, "guarded").Status, "nor carried out")
}
