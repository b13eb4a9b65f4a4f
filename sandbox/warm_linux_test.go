package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/limits"
	"jail/sandbox/native"
	"jail/verdict"
)

func warmSpec(argv ...string) *Spec {
	return &Spec{
		Argv: argv, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
		Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
		Limits: limits.Spec{Wall: time.Minute},
	}
}

// TestWarmRun: a task in a warm sandbox runs as it would cold, with the
// same isolation, and says it took a warm one.
func TestWarmRun(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	w, err := r.Warm(context.Background(), warmSpec(), false)
	require.NoError(t, err)
	out, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer out.Close()
	script := `echo "$(id -u) $(hostname) $$"`
	res, err := w.Run(context.Background(), warmSpec("/bin/sh", "-c", script), IO{Stdout: out, Stderr: out})
	require.NoError(t, err)
	b, _ := os.ReadFile(out.Name())
	require.Equal(t, verdict.OK, res.Verdict, "%s %s", res.Error, b)
	assert.Equal(t, "1000 jail 2\n", string(b), "PROG's uid, hostname and pid")
	require.NotNil(t, res.Stages)
	assert.Zero(t, res.Stages.Mounts)
	_, err = w.Run(context.Background(), warmSpec("/bin/true"), IO{})
	assert.Error(t, err, "a warm sandbox runs once")
}

// TestWarmInitsFromTheZygote: warm inits are forked by one zygote, are
// children of jail's own (it waits for them as for ones it exec'd), serve
// as exec'd ones do, and EndZygote leaves no process of the zygote's.
func TestWarmInitsFromTheZygote(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	forks := native.ZygoteForks()
	var warms []*Warm
	for range 2 {
		w, err := r.Warm(context.Background(), warmSpec(), false)
		require.NoError(t, err)
		warms = append(warms, w)
		assert.Equal(t, os.Getpid(), parentOf(t, w.init.Pid), "the init's parent")
	}
	assert.Equal(t, forks+2, native.ZygoteForks(), "inits forked by the zygote")
	require.Len(t, zygotes(t), 1)
	for _, w := range warms {
		res, err := w.Run(context.Background(), warmSpec("/bin/true"), IO{})
		require.NoError(t, err)
		assert.Equal(t, verdict.OK, res.Verdict, "%s", res.Error)
		require.NoError(t, w.Close())
	}
	EndZygote()
	require.Eventually(t, func() bool { return len(zygotes(t)) == 0 }, 5*time.Second, 10*time.Millisecond,
		"a zygote outlived EndZygote")
}

// parentOf is pid's parent, from /proc/PID/stat.
func parentOf(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	require.NoError(t, err)
	return ppid
}

// zygotes are this process's children named jail-zygote, zombies too.
func zygotes(t *testing.T) []int {
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "jail-zygote" {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil &&
			strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}
