package judge

import (
	"context"
	"os"
	"path/filepath"
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

// Collect copies out what PROG wrote in the work directory, and never
// what a link PROG planted points at: the host's files stay the host's.
func TestJudgeCollectDoesNotFollowLinks(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("host secret"), 0o644))
	script := `echo -n result > out.txt; mkdir d; echo -n deep > d/f; ln -s ` + secret + ` abs; ln -s out.txt rel;` +
		` ln -s / root; mkfifo fifo; head -c 3000000 /dev/zero > big`
	task := Task{
		Program: Program{Steps: []Step{{Argv: []string{"/bin/sh", "-c", script}}}},
		Collect: []string{"out.txt", "d/f", "abs", "rel", "root/etc/passwd", "fifo", "big", "missing", "d"},
	}
	res, err := Judge(context.Background(), sandbox.NewRunner(), task)
	require.NoError(t, err)
	require.Equal(t, verdict.OK, res.Verdict, "%s %v", res.Run.Error, res.Run.Stderr)
	got := map[string]Collected{}
	for _, c := range res.Run.Collected {
		got[c.Name] = c
	}
	assert.Equal(t, "result", got["out.txt"].Text)
	assert.Equal(t, "deep", got["d/f"].Text)
	for _, name := range []string{"abs", "rel", "root/etc/passwd"} {
		assert.Contains(t, got[name].Error, "symbolic link", name)
		assert.Empty(t, got[name].Text, name)
	}
	assert.Equal(t, "not a regular file", got["fifo"].Error, "a FIFO is not opened for reading, which would block")
	assert.Equal(t, "not a regular file", got["d"].Error)
	assert.Contains(t, got["missing"].Error, "not found")
	assert.Equal(t, int64(3000000), got["big"].Bytes)
	assert.True(t, got["big"].Truncated)
	assert.Len(t, got["big"].Text, CollectMax)
	for _, c := range res.Run.Collected {
		assert.NotContains(t, c.Text, "host secret")
	}
}

func TestCheckCollectName(t *testing.T) {
	for _, ok := range []string{"out.txt", "d/f", "a..b"} {
		assert.NoError(t, CheckCollectName(ok), ok)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "..", ".", "a/../b", "a//b", "./a", "a\x00"} {
		assert.Error(t, CheckCollectName(bad), bad)
	}
}

// A task with a terminal runs PROG on a pseudo-terminal of the sandbox's
// own devpts: it is a tty, named in the sandbox's /dev, of the size asked for, reads what Stdin carries, and sees its end as ^D.
func TestJudgeTerminal(t *testing.T) {
	testutil.NeedUserNS(t)
	t.Setenv("TMPDIR", t.TempDir())
	in, stdin, err := os.Pipe()
	require.NoError(t, err)
	defer in.Close()
	resize := make(chan Winsize, 1)
	resize <- Winsize{Rows: 30, Cols: 100}
	var mu sync.Mutex
	var streamed strings.Builder
	task := Task{
		Program: Program{Steps: []Step{{Argv: []string{"/bin/sh", "-c",
			`test -t 0 && test -t 1 && echo "a terminal"; [ -e "$(tty)" ] && echo "named in its /dev"; read line; echo "got $line"; stty size; cat; echo "cat saw the end"`}}}},
		Stdin: in, TTY: true, Resize: resize,
		Output: func(stream string, b []byte) {
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, "stdout", stream, "a terminal is one stream")
			streamed.Write(b)
		},
	}
	go func() {
		_, _ = stdin.Write([]byte("hello\n"))
		stdin.Close()
	}()
	res, err := Judge(context.Background(), sandbox.NewRunner(), task)
	require.NoError(t, err)
	require.Equal(t, verdict.OK, res.Verdict, "%s %+v", res.Run.Error, res.Run.Output)
	out := res.Run.Output.Text
	for _, want := range []string{"a terminal", "named in its /dev", "got hello", "30 100", "cat saw the end"} {
		assert.Contains(t, out, want)
	}
	mu.Lock()
	assert.Equal(t, out, streamed.String(), "what was streamed is what the result keeps")
	mu.Unlock()
}
