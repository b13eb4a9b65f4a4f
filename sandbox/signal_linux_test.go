package sandbox

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/limits"
	"jail/verdict"
)

// A signal the caller sends reaches PROG while it runs, and one sent before
// PROG starts waits for it; SIGKILL is not turned into a limit's verdict.
func TestSignalsReachPROG(t *testing.T) {
	testutil.NeedUserNS(t)
	r := NewRunner()
	spec := func(script string) *Spec {
		return &Spec{Argv: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/",
			Hostname: "jail", Net: NetNone, UID: DefaultUID, GID: DefaultGID, Disk: DefaultDisk,
			Limits: limits.Spec{Wall: 20 * time.Second}}
	}
	// The shell says it is ready, then waits; its trap answers SIGINT.
	script := `trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.05; done`

	t.Run("while running", func(t *testing.T) {
		out, err := os.CreateTemp(t.TempDir(), "out")
		require.NoError(t, err)
		defer out.Close()
		sigs := make(chan syscall.Signal, 1)
		go func() {
			for {
				b, _ := os.ReadFile(out.Name())
				if strings.Contains(string(b), "ready") {
					sigs <- syscall.SIGINT
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		res, err := r.Run(context.Background(), spec(script), IO{Stdout: out, Stderr: out, Signals: sigs})
		require.NoError(t, err)
		b, _ := os.ReadFile(out.Name())
		assert.Equal(t, "ready\ngot INT\n", string(b))
		assert.Equal(t, verdict.RE, res.Verdict, res.Error)
		assert.Equal(t, 3, res.ExitCode)
	})

	t.Run("before PROG starts", func(t *testing.T) {
		out, err := os.CreateTemp(t.TempDir(), "out")
		require.NoError(t, err)
		defer out.Close()
		sigs := make(chan syscall.Signal, 1)
		sigs <- syscall.SIGTERM
		res, err := r.Run(context.Background(), spec(`sleep 10`), IO{Stdout: out, Stderr: out, Signals: sigs})
		require.NoError(t, err)
		assert.Equal(t, verdict.SIG, res.Verdict, res.Error)
		assert.Equal(t, "SIGTERM", res.Signal, "the signal, not the wall limit, ended the sleep")
	})
}
