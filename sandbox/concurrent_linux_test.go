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
			res, err := Run(context.Background(), s, IO{Stdout: out, Stderr: out})
			require.NoError(t, err)
			b, err := os.ReadFile(out.Name())
			require.NoError(t, err)
			assert.Equal(t, OK, res.Verdict, "run %d: %s %s", i, res.Error, b)
			assert.Equal(t, "done\n", string(b), "run %d: the init was readable", i)
		}()
	}
	wg.Wait()
}
