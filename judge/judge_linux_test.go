package judge

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/sandbox"
	"jail/verdict"
)

// A task's output reaches Output as it comes, stream by stream, and the
// result keeps its excerpts too; a signal sent on Signals reaches PROG.
func TestJudgeLiveOutputAndSignals(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	var mu sync.Mutex
	got := map[string]string{}
	sigs := make(chan syscall.Signal, 1)
	task := Task{
		Program: Program{Steps: []Step{{Argv: []string{"/bin/sh", "-c",
			`trap 'echo bye >&2; exit 4' TERM; echo out; while :; do sleep 0.05; done`}}}},
		Output: func(stream string, b []byte) {
			mu.Lock()
			defer mu.Unlock()
			got[stream] += string(b)
			if stream == "stdout" && strings.Contains(got[stream], "out") && len(sigs) == 0 {
				sigs <- syscall.SIGTERM
			}
		},
		Signals: sigs,
	}
	res, err := Judge(context.Background(), sandbox.NewRunner(), task)
	require.NoError(t, err)
	require.NotNil(t, res.Run)
	assert.Equal(t, verdict.RE, res.Verdict, res.Run.Error)
	assert.Equal(t, 4, res.Run.ExitCode)
	mu.Lock()
	assert.Equal(t, map[string]string{"stdout": "out\n", "stderr": "bye\n"}, got)
	mu.Unlock()
	assert.Equal(t, "out\n", res.Run.Output.Text)
	assert.Equal(t, "bye\n", res.Run.Stderr.Text)
	entries, err := os.ReadDir(os.Getenv("TMPDIR"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is left behind")
}
