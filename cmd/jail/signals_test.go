package main_test

import (
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// signalProg is a python PROG that marks /w/ready once its handlers are
// in place: SIGTERM saves its work and exits 0 unless told to ignore it
// (and SIGINT), SIGUSR1 exits 3.
const signalProg = `
import signal, sys, time
def save(*_):
    open("/w/saved", "w").write("work")
    print("saved", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[1] == "ignore" else save)
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGUSR1, lambda *_: sys.exit(3))
open("/w/ready", "w").close()
time.sleep(60)
`

// startSignalled starts jail run with signalProg and waits until PROG is
// ready for signals.
func startSignalled(t *testing.T, j *testutil.Jail, mode string, flags ...string) (*testutil.Running, string) {
	needPython(t)
	w := j.FixtureDir(t, "w-"+filepath.Base(t.Name()))
	args := append([]string{"run", "-v", w + ":/w:rw"}, flags...)
	run := j.Start(t, testutil.Opts{}, append(args, "--", python, "-c", signalProg, mode)...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(w, "ready")); err == nil {
			return run, w
		}
		require.True(t, time.Now().Before(deadline), "PROG never got ready")
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignalsReachProg: jail run passes its signals on to PROG, as docker
// run does, so a PROG that cleans up on SIGTERM keeps its work; the
// sandbox is killed only when PROG outlives --stop-timeout, or at a
// second signal, and the result says which.
func TestSignalsReachProg(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)

	t.Run("sigterm-handled", func(t *testing.T) {
		run, w := startSignalled(t, j, "save")
		require.NoError(t, run.Cmd.Process.Signal(syscall.SIGTERM))
		r := run.Wait(t)
		assert.Equal(t, 0, r.ExitCode, "%s", r)
		assert.Equal(t, "saved\n", r.Stdout)
		assert.NotContains(t, r.Stderr, "interrupted")
		b, err := os.ReadFile(filepath.Join(w, "saved"))
		require.NoError(t, err, "PROG's handler ran to the end")
		assert.Equal(t, "work", string(b))
	})
	t.Run("sigusr1", func(t *testing.T) {
		run, _ := startSignalled(t, j, "save")
		require.NoError(t, run.Cmd.Process.Signal(syscall.SIGUSR1))
		r := run.Wait(t)
		assert.Equal(t, 3, r.ExitCode, "%s", r)
	})
	t.Run("stop-timeout", func(t *testing.T) {
		run, _ := startSignalled(t, j, "ignore", "--stop-timeout", "500ms")
		sent := time.Now()
		require.NoError(t, run.Cmd.Process.Signal(syscall.SIGTERM))
		r := run.Wait(t)
		assert.GreaterOrEqual(t, time.Since(sent), 500*time.Millisecond, "killed only after the timeout")
		assert.NotEqual(t, 0, r.ExitCode)
		assert.Contains(t, r.Stderr, "jail: jail was interrupted: PROG did not exit within 500ms of SIGTERM (--stop-timeout); the sandbox was killed")
		require.NotNil(t, r.Report, "%s", r)
		assert.True(t, r.Report.Interrupted)
		assert.Contains(t, r.Report.Reason, "did not exit within 500ms of SIGTERM")
	})
	t.Run("second-signal", func(t *testing.T) {
		run, _ := startSignalled(t, j, "ignore", "--stop-timeout", "60s")
		require.NoError(t, run.Cmd.Process.Signal(syscall.SIGTERM))
		time.Sleep(100 * time.Millisecond)
		require.NoError(t, run.Cmd.Process.Signal(syscall.SIGINT))
		r := run.Wait(t)
		assert.NotEqual(t, 0, r.ExitCode)
		assert.Contains(t, r.Stderr, "jail was interrupted: a second signal, SIGINT, after SIGTERM; the sandbox was killed")
	})
	t.Run("bad-timeout", func(t *testing.T) {
		r := j.Run(t, "run", "--stop-timeout", "soon", "--", "true")
		assert.Equal(t, 125, r.ExitCode)
		assert.Contains(t, r.Stderr, `jail: --stop-timeout: "soon" is not a duration`)
	})
}

// TestProgStartsClean: PROG starts with every signal at its default and
// none blocked, whatever jail inherited and whatever its init ignores for
// itself (a PROG that inherits an ignored SIGHUP or SIGPIPE behaves unlike
// on the host, and an ignored SIGTERM outlives --stop-timeout's first
// step), and with no capability in any set, the bounding set included:
// cold, in a pooled sandbox, and in a reused one's second task (a warm
// init empties its bounding set once; each task's spawner only checks).
// jail itself starts with SIGHUP ignored, as under nohup.
func TestProgStartsClean(t *testing.T) {
	testutil.NeedUserNS(t)
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	keys := []string{"SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
	var want strings.Builder
	for _, k := range keys {
		want.WriteString(k + ":\t0000000000000000\n")
	}
	want.WriteString("NoNewPrivs:\t1\n")
	keys = append(keys, "NoNewPrivs")
	// cat installs no handler of its own (grep catches SIGSEGV).
	prog := []string{"/bin/cat", "/proc/self/status"}
	picked := func(status string) string {
		var out strings.Builder
		for line := range strings.Lines(status) {
			k, _, _ := strings.Cut(line, ":")
			if slices.Contains(keys, k) {
				out.WriteString(line)
			}
		}
		return out.String()
	}

	j := testutil.New(t)
	r := j.Run(t, append([]string{"run", "--"}, prog...)...)
	requireOK(t, r)
	assert.Equal(t, want.String(), picked(r.Stdout), "cold")

	for _, pools := range []string{"default=1", "default=1:reuse"} {
		s := serve(t, "unix", "--parallel", "1", "--pool", pools)
		s.pooled = true
		for i := range 2 {
			s.awaitReady(t)
			v := s.judgeTask(t, stepsTask(nil, prog...))
			require.Equal(t, "OK", v.Result.Verdict, "%+v", v.Result)
			assert.Equal(t, want.String(), picked(v.Result.Run.Output.Text), "--pool %s, task %d", pools, i+1)
			assert.Equal(t, aheadKernel(t), v.Result.Run.MadeAhead, "--pool %s, task %d: made ahead", pools, i+1)
		}
	}
}
