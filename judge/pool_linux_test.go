package judge

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/pool"
	"jail/profiles"
	"jail/sandbox"
	"jail/verdict"
)

func startPools(t *testing.T, r *sandbox.Runner, size int) *pool.Pools {
	t.Helper()
	none := sandbox.NetNone
	p, err := pool.New(r, slog.New(slog.DiscardHandler), []pool.Config{{Name: profiles.Default().Name, Size: size, NewSlot: NewSlot,
		Spec: func(slot string) (*sandbox.Spec, error) {
			return WarmSpec(nil, profiles.Overrides{Net: &none}, slot)
		}}})
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for !p.Warm() {
		require.True(t, time.Now().Before(deadline), "the pool never filled: %+v", p.Stats())
		time.Sleep(5 * time.Millisecond)
	}
	return p
}

// TestJudgePooled: the tests of a task run in warm sandboxes, each with
// what the compile step left in the work directory (linked into the
// sandbox's own), and each sees nothing of the test before it: not its
// /tmp, not its work directory's writes (it has none: read-only), not
// its processes.
func TestJudgePooled(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	r := sandbox.NewRunner()
	pools := startPools(t, r, 2)
	none := sandbox.NetNone
	build := `mkdir -p lib && printf 'one\n' > lib/data && printf 'read x; echo $((x+1))\n' > add.sh && chmod 0750 lib`
	run := `sh add.sh; cat lib/data; ls -A /tmp /dev/shm | tr -d '\n'; echo; ls /proc > /tmp/procs; grep -c '^[0-9]' /tmp/procs; rm /tmp/procs;` +
		` touch /tmp/left /dev/shm/left; (sleep 30 &) ; echo x > lib/data 2>/dev/null || echo read-only`
	dir := t.TempDir()
	for _, in := range []string{"1", "2", "3", "4"} {
		want := string(rune(in[0]+1)) + "\none\n/dev/shm:/tmp:\n3\nread-only\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, in+".in"), []byte(in+"\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, in+".out"), []byte(want), 0o644))
	}
	tests, err := LoadTests(dir)
	require.NoError(t, err)
	exact, err := ParseCheck("exact")
	require.NoError(t, err)
	task := Task{
		Program: Program{Steps: []Step{{Argv: []string{"/bin/sh", "-c", build}}, {Argv: []string{"/bin/sh", "-c", run}}},
			Settings: profiles.Overrides{Net: &none}},
		Tests: tests, Check: exact, Pools: pools,
	}
	res, err := Judge(context.Background(), r, task)
	require.NoError(t, err)
	for _, tr := range res.Tests {
		assert.Equal(t, verdict.OK, tr.Verdict, "test %s: %s %s %s", tr.Name, tr.Message, tr.Output.Text, tr.Error)
		if assert.NotNil(t, tr.PoolHit, tr.Name) {
			assert.True(t, *tr.PoolHit, "test %s ran cold", tr.Name)
		}
	}
	assert.Equal(t, verdict.OK, res.Verdict)

	// Another network is another sandbox: the task runs cold, and says so.
	host := sandbox.NetHost
	task.Program.Settings.Net = &host
	task.Tests = tests[:1]
	res, err = Judge(context.Background(), r, task)
	require.NoError(t, err)
	require.Len(t, res.Tests, 1)
	if assert.NotNil(t, res.Tests[0].PoolHit) {
		assert.False(t, *res.Tests[0].PoolHit)
	}

	pools.Close()
	entries, err := os.ReadDir(os.Getenv("TMPDIR"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is left behind")
}

// TestJudgePooledFiles: a task's one run in a warm sandbox gets its files
// written into the sandbox's slot and makes no work directory of its own:
// with TMPDIR gone once the pool is warm, it still runs. A task the pool
// does not fit runs cold, its files in a work directory.
func TestJudgePooledFiles(t *testing.T) {
	testutil.NeedUserNS(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	r := sandbox.NewRunner()
	pools := startPools(t, r, 1)
	defer pools.Close()
	none := sandbox.NetNone
	task := Task{
		Program: Program{Steps: []Step{{Argv: []string{"/bin/sh", "-c", "cat main.txt; ls"}}},
			Files: []File{{Name: "main.txt", Data: []byte("given\n")}}, Settings: profiles.Overrides{Net: &none}},
		Pools: pools,
	}
	t.Setenv("TMPDIR", filepath.Join(tmp, "gone"))
	res, err := Judge(context.Background(), r, task)
	require.NoError(t, err)
	require.NotNil(t, res.Run)
	assert.Equal(t, verdict.OK, res.Verdict, "%s %s", res.Run.Reason, res.Run.Stderr.Text)
	assert.Equal(t, "given\nmain.txt\n", res.Run.Output.Text)
	if assert.NotNil(t, res.Run.PoolHit) {
		assert.True(t, *res.Run.PoolHit)
	}

	t.Setenv("TMPDIR", tmp)
	host := sandbox.NetHost
	task.Program.Settings.Net = &host
	res, err = Judge(context.Background(), r, task)
	require.NoError(t, err)
	assert.Equal(t, "given\nmain.txt\n", res.Run.Output.Text)
	if assert.NotNil(t, res.Run.PoolHit) {
		assert.False(t, *res.Run.PoolHit)
	}
}
