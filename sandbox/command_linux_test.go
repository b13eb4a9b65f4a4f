package sandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/limits"
)

// A command beside PROG runs in PROG's sandbox: one sent before PROG
// starts waits for it; one that cannot start says why and leaves PROG
// running; PROG's end ends what is left of them.
func TestCommandsBesidePROG(t *testing.T) {
	testutil.NeedUserNS(t)
	dir := t.TempDir()
	outPath := dir + "/command-out"
	spec := &Spec{Argv: []string{"/bin/sh", "-c", "while [ ! -e /tmp/ran ]; do sleep 0.02; done; echo PROG saw it"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID,
		Disk: DefaultDisk, Limits: limits.Spec{Wall: 20 * time.Second}}
	out, err := os.CreateTemp(dir, "out")
	require.NoError(t, err)
	defer out.Close()
	cmdOut, err := os.Create(outPath)
	require.NoError(t, err)
	defer cmdOut.Close()
	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()

	commands := make(chan *CommandRequest, 2)
	missingStarted, touchStarted := make(chan CommandStart, 1), make(chan CommandStart, 1)
	touchExited := make(chan CommandExit, 1)
	missing := &CommandRequest{Command: Command{Argv: []string{"no-such-command"}, Stdio: [3]*os.File{null, cmdOut, cmdOut}},
		Started: missingStarted, Exited: make(chan CommandExit, 1)}
	touch := &CommandRequest{Command: Command{Argv: []string{"/bin/sh", "-c", "echo $GREETING from $(pwd); touch /tmp/ran; exit 4"},
		Env: []string{"GREETING=hello"}, Dir: "/tmp", Stdio: [3]*os.File{null, cmdOut, cmdOut}},
		Started: touchStarted, Exited: touchExited}
	// Both are sent before PROG starts: they wait for it.
	commands <- missing
	commands <- touch
	res, err := NewRunner().Run(context.Background(), spec, IO{Stdout: out, Stderr: out, Commands: commands})
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode, "%s", res.Error)

	st := <-missingStarted
	var ce *ChildError
	require.ErrorAs(t, st.Err, &ce)
	assert.Equal(t, StageExec, ce.Stage)
	st = <-touchStarted
	require.NoError(t, st.Err)
	assert.Positive(t, st.Pid)
	ex := <-touchExited
	assert.Equal(t, 4, ex.ExitCode)
	b, _ := os.ReadFile(outPath)
	assert.Equal(t, "hello from /tmp\n", string(b), "the command's environment and directory")
	b, _ = os.ReadFile(out.Name())
	assert.True(t, strings.HasSuffix(string(b), "PROG saw it\n"), "the command's file is PROG's: %q", b)
}
