package pool

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/rootfs"
	"jail/sandbox"
	"jail/verdict"
)

func testConfig(t *testing.T, size int) Config {
	return Config{Name: "t", Size: size,
		NewSlot: func() (string, error) { return os.MkdirTemp("", "slot-") },
		Spec: func(slot string) (*sandbox.Spec, error) {
			return &sandbox.Spec{Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/", Hostname: "jail", Net: sandbox.NetNone,
				UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Disk: sandbox.DefaultDisk}, nil
		}}
}

func waitWarm(t *testing.T, p *Pools) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !p.Warm() {
		require.True(t, time.Now().Before(deadline), "the pool never filled: %+v", p.Stats())
		time.Sleep(5 * time.Millisecond)
	}
}

// initsOf are this process's children that are sandbox inits.
func initsOf(t *testing.T) []int {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ok := testutil.ProcStat(pid)
		if ok && ppid == os.Getpid() && comm == "jail-init" {
			out = append(out, pid)
		}
	}
	return out
}

// TestPoolTakeRefillClose: a pool fills to its size; each Take empties a
// place that the refillers fill again, and a Take from an empty pool is a
// miss; Close destroys what waits and leaves no init and no slot behind.
func TestPoolTakeRefillClose(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	p, err := New(sandbox.NewRunner(), slog.New(slog.DiscardHandler), []Config{testConfig(t, 2)})
	require.NoError(t, err)
	waitWarm(t, p)
	assert.Len(t, initsOf(t), 2, "two warm inits wait")

	a, b := p.Take("t"), p.Take("t")
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.Nil(t, p.Take("t"), "the third finds the pool empty, until it refills")
	assert.Nil(t, p.Take("other"), "no such pool")
	spec := func() *sandbox.Spec {
		s, _ := testConfig(t, 1).Spec("")
		s.Argv = []string{"/bin/sh", "-c", "exit 3"}
		return s
	}
	res, err := a.Run(context.Background(), spec(), sandbox.IO{})
	require.NoError(t, err)
	assert.Equal(t, verdict.RE, res.Verdict)
	assert.Equal(t, 3, res.ExitCode)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close(), "an unused sandbox is destroyed")
	waitWarm(t, p)
	st := p.Stats()
	require.Len(t, st, 1)
	assert.Equal(t, uint64(2), st[0].Hits)
	assert.Equal(t, uint64(1), st[0].Misses)
	assert.GreaterOrEqual(t, st[0].Made, uint64(4))
	assert.Zero(t, st[0].Failures, st[0].LastError)

	p.Close()
	assert.Empty(t, initsOf(t), "Close leaves no init")
	entries, err := os.ReadDir(os.Getenv("TMPDIR"))
	require.NoError(t, err)
	assert.Empty(t, entries, "Close leaves no slot")
}

// TestPoolShortSaysWhy: a pool whose sandboxes cannot be made is not
// warm, and says which pool and the last making's error, so /readyz can
// tell the operator more than "warming"; a making that works again
// clears it.
func TestPoolShortSaysWhy(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	missing := filepath.Join(t.TempDir(), "missing")
	cfg := testConfig(t, 1)
	spec := cfg.Spec
	cfg.Spec = func(slot string) (*sandbox.Spec, error) {
		s, err := spec(slot)
		if _, statErr := os.Stat(missing); statErr != nil {
			s.Binds = []rootfs.UserBind{{Source: missing, Target: "/data"}}
		}
		return s, err
	}
	p, err := New(sandbox.NewRunner(), slog.New(slog.DiscardHandler), []Config{cfg})
	require.NoError(t, err)
	defer p.Close()
	var short string
	require.Eventually(t, func() bool {
		short = p.Short()
		return strings.Contains(short, "the last making failed")
	}, 20*time.Second, 5*time.Millisecond)
	assert.False(t, p.Warm())
	assert.Contains(t, short, "pool t: 0 of 1 sandboxes ready")
	assert.Contains(t, short, missing)

	require.NoError(t, os.Mkdir(missing, 0o755))
	waitWarm(t, p)
	assert.Empty(t, p.Short())
}

// TestPoolConfigErrors: a pool needs a size and a name of its own.
func TestPoolConfigErrors(t *testing.T) {
	_, err := New(sandbox.NewRunner(), slog.New(slog.DiscardHandler), []Config{testConfig(t, 0)})
	assert.ErrorContains(t, err, "size 0")
	_, err = New(sandbox.NewRunner(), slog.New(slog.DiscardHandler), []Config{testConfig(t, 1), testConfig(t, 1)})
	assert.ErrorContains(t, err, "given twice")
}

// TestPoolReuse: a reuse pool's sandbox comes back after its task and
// serves the next, so the pool makes no new one; one whose task left a
// process behind is destroyed, and the pool makes another.
func TestPoolReuse(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	cfg := testConfig(t, 1)
	cfg.Reuse = true
	p, err := New(sandbox.NewRunner(), slog.New(slog.DiscardHandler), []Config{cfg})
	require.NoError(t, err)
	defer p.Close()
	run := func(script string) {
		t.Helper()
		waitWarm(t, p)
		sb := p.Take("t")
		require.NotNil(t, sb)
		s, _ := cfg.Spec(sb.Slot)
		s.Argv = []string{"/bin/sh", "-c", script}
		res, err := sb.Run(context.Background(), s, sandbox.IO{})
		require.NoError(t, err)
		require.Equal(t, verdict.OK, res.Verdict, res.Error)
		require.NoError(t, sb.Close())
	}
	waitWarm(t, p)
	first := initsOf(t)
	require.Len(t, first, 1)
	for range 3 {
		run("true")
	}
	waitWarm(t, p)
	assert.Equal(t, first, initsOf(t), "the same init served every task")
	st := p.Stats()[0]
	assert.Equal(t, uint64(1), st.Made)
	assert.Equal(t, uint64(3), st.Reused)

	run("setsid sleep 30 </dev/null >/dev/null 2>&1 &")
	waitWarm(t, p)
	assert.NotEqual(t, first, initsOf(t), "a sandbox with a process left served again")
	assert.Equal(t, uint64(2), p.Stats()[0].Made)
}
