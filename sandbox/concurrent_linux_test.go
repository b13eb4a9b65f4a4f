package sandbox

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/limits"
	"jail/verdict"
)

// TestConcurrentRuns runs sandboxes side by side in one process, as a
// service embedding jail would: one init shares the process's memory and
// the others, started while it lives, get copies (native.Init). Each must
// work, and each PROG (its init's host uid, no seccomp policy) tries to
// read its init's /proc/1/environ throughout, which the init's
// capabilities and its being not dumpable both forbid.
func TestConcurrentRuns(t *testing.T) {
	testutil.NeedUserNS(t)
	const runs = 6
	// One Runner, as a service has: its probes are shared by all runs.
	r := NewRunner()
	script := `i=0; while [ $i -lt 50 ]; do cat /proc/1/environ >/dev/null 2>&1 && echo READABLE; i=$((i+1)); done; echo done`
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := os.CreateTemp(t.TempDir(), "out")
			require.NoError(t, err)
			defer out.Close()
			s := &Spec{
				Argv: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
				Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
				Limits: limits.Spec{Wall: time.Minute},
			}
			res, err := r.Run(context.Background(), s, IO{Stdout: out, Stderr: out})
			require.NoError(t, err)
			b, err := os.ReadFile(out.Name())
			require.NoError(t, err)
			assert.Equal(t, verdict.OK, res.Verdict, "run %d: %s %s", i, res.Error, b)
			assert.Equal(t, "done\n", string(b), "run %d: the init was readable", i)
		}()
	}
	wg.Wait()
}

// TestRunnerProbesOnce: a Runner's runs share its probes: one detection
// without the systemd user manager asked and, where that found no backend,
// one with it; one host probe per network kind; however many runs.
func TestRunnerProbesOnce(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	for i := range 4 {
		s := &Spec{
			Argv: []string{"/bin/true"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
			Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
		}
		if i%2 == 1 {
			s.Limits.Wall = time.Minute
			s.Limits.CPUTime = time.Minute
		}
		res, err := r.Run(context.Background(), s, IO{})
		require.NoError(t, err)
		assert.Equal(t, verdict.OK, res.Verdict, res.Error)
	}
	want := 1
	if r.detected[false].Backend == nil {
		want = 2
	}
	assert.Len(t, r.detected, want, "a detection without the systemd user manager asked, and one with it where that found no backend")
	assert.Len(t, r.hosts, 1, "one host probe for --net none")
}
