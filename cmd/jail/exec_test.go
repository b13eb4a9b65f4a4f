package main_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/sandbox"
)

// TestExec runs commands beside a detached sandbox's PROG: in the same
// namespaces, with PROG's limits and policy, its status its own.
func TestExec(t *testing.T) {
	e := newDetachedEnv(t)
	e.start(t, "--name", "box", "--", "sleep", "120")

	// Every namespace PROG has, as the host sees PROG's; PROG is pid 2,
	// under the sandbox's own pid 1. PROG's user and rlimits.
	namespaces := []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"}
	r := e.run(t, "exec", "box", "--", "sh", "-c", `for ns in `+strings.Join(namespaces, " ")+`; do readlink /proc/self/ns/$ns; done
ps -o pid=,args= -p 2; id -u; ulimit -n; ulimit -c`)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	pid := e.state(t, "box").Pid
	var want strings.Builder
	for _, ns := range namespaces {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		require.NoError(t, err)
		want.WriteString(link + "\n")
	}
	prog := e.j.Run(t, "run", "--", "sh", "-c", "id -u; ulimit -n; ulimit -c")
	require.Equal(t, 0, prog.ExitCode, "%s", prog)
	assert.Regexp(t, `^`+regexp.QuoteMeta(want.String())+`\s*2 sleep 120\n`+regexp.QuoteMeta(prog.Stdout)+`$`, r.Stdout,
		"the command runs in PROG's namespaces, as PROG's user, with PROG's rlimits")

	// Its own status, environment and directory; /dev/null for stdin
	// unless -i.
	r = e.run(t, "exec", "box", "--", "sh", "-c", "exit 3")
	assert.Equal(t, 3, r.ExitCode, "%s", r)
	r = e.run(t, "exec", "-e", "GREETING=hi", "-w", "/tmp", "box", "--", "sh", "-c", `echo "$GREETING $(pwd)"; cat`)
	assert.Equal(t, "hi /tmp\n", r.Stdout, "%s", r)
	r = e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: strings.NewReader("typed\n")},
		"exec", "-i", "box", "--", "cat")
	assert.Equal(t, "typed\n", r.Stdout, "%s", r)

	// A call the policy kills kills the command, not the sandbox.
	r = e.run(t, "exec", "box", "--", "unshare", "-U", "true")
	assert.Equal(t, 128+31, r.ExitCode, "SIGSYS: %s", r)
	assert.Equal(t, "running", e.state(t, "box").Status)

	// What cannot start says so, with the shell's statuses.
	r = e.run(t, "exec", "box", "--", "no-such-command")
	assert.Equal(t, 127, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "jail: no-such-command: not found in the sandbox")
	r = e.run(t, "exec", "box", "--", "/etc/passwd")
	assert.Equal(t, 126, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "/etc/passwd")
	r = e.run(t, "exec", "-w", "/no/such/dir", "box", "--", "true")
	assert.Equal(t, 126, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "/no/such/dir")

	// Not into what does not run.
	r = e.run(t, "exec", "nobox", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, `jail: no sandbox "nobox"`)
	require.Equal(t, 0, e.run(t, "stop", "-t", "0", "box").ExitCode)
	r = e.run(t, "exec", "box", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, "jail: sandbox box is not running (exited): start it first (jail start box)")
}

// TestExecTerminal: exec -t gives the command a terminal of the
// sandbox's own devpts, sized as the caller's.
func TestExecTerminal(t *testing.T) {
	e := newDetachedEnv(t)
	e.start(t, "--name", "box", "--", "sleep", "120")
	master, slave := openPTY(t)
	require.NoError(t, sandbox.Resize(master, 31, 97))
	if e.j.Cred != nil {
		require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
	}
	// The caller's terminal is stdin; what the command writes comes
	// through the relay to jail's stdout.
	r := e.j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + e.runtime}, Stdin: slave},
		"exec", "-t", "box", "--", "sh", "-c", `tty; stty size; readlink /proc/self/fd/0; [ -e "$(tty)" ] && echo FOUND; exit 2`)
	assert.Equal(t, 2, r.ExitCode, "%s", r)
	got := r.Stdout
	assert.Regexp(t, `^/dev/pts/\d+\r\n31 97\r\n/dev/pts/\d+\r\nFOUND\r\n$`, got)
}

// TestRunTerminal: run -t gives PROG a terminal of the sandbox's own
// devpts, so tty names it and ttyname finds it; sized as the caller's.
func TestRunTerminal(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	master, slave := openPTY(t)
	require.NoError(t, sandbox.Resize(master, 27, 88))
	if j.Cred != nil {
		require.NoError(t, slave.Chown(int(j.Cred.Uid), int(j.Cred.Gid)))
	}
	r := j.RunWith(t, testutil.Opts{Stdin: slave}, "run", "-t", "--", "sh", "-c", `tty; stty size; [ -e "$(tty)" ] && echo FOUND; exit 4`)
	assert.Equal(t, 4, r.ExitCode, "%s", r)
	assert.Regexp(t, `^/dev/pts/\d+\r\n27 88\r\nFOUND\r\n$`, r.Stdout)
}
