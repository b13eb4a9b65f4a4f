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
