package sandbox

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/limits"
	"jail/verdict"
)

// TestCPUWatch runs --time in process, where the race detector sees the
// CPU watch's goroutine: it samples the run's CPU time while the run is
// torn down, so it must be gone before the enforcer releases the cgroup.
// A busy loop past the budget must be ended by the watch (TLE, "time"); one
// well inside it must not.
func TestCPUWatch(t *testing.T) {
	testutil.NeedUserNS(t)
	for _, tc := range []struct {
		name, script string
		budget       time.Duration
		verdict      verdict.Verdict
		limitHit     string
	}{
		// Long enough for the watch to look several times.
		{"inside", `i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done`, 30 * time.Second, verdict.OK, ""},
		{"past", `while :; do :; done`, 200 * time.Millisecond, verdict.TLE, "time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := os.CreateTemp(t.TempDir(), "out")
			require.NoError(t, err)
			defer out.Close()
			s := &Spec{
				Argv: []string{"/bin/sh", "-c", tc.script}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
				Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
				Limits: limits.Spec{CPUTime: tc.budget, Wall: time.Minute},
			}
			res, err := Run(context.Background(), s, IO{Stdout: out, Stderr: out})
			require.NoError(t, err)
			b, _ := os.ReadFile(out.Name())
			assert.Equal(t, tc.verdict, res.Verdict, "%s %s", res.Error, b)
			assert.Equal(t, tc.limitHit, res.LimitHit)
			assert.Positive(t, float64(res.CPUUser+res.CPUSys), "the run's CPU time")
		})
	}
}
