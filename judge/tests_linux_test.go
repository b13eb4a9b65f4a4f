package judge

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

func TestNaturalCompare(t *testing.T) {
	names := []string{"10", "a10", "b", "2", "a2", "1", "01", "a", "1a", "1b", "100", "a2b10", "a2b9", "9"}
	slices.SortFunc(names, naturalCompare)
	assert.Equal(t, []string{"01", "1", "1a", "1b", "2", "9", "10", "100", "a", "a2", "a2b9", "a2b10", "a10", "b"}, names)
	assert.Zero(t, naturalCompare("x1", "x1"))
}

// mkTests writes files (name → content) into a new directory.
func mkTests(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

func TestLoadTests(t *testing.T) {
	dir := mkTests(t, map[string]string{
		"10.in": "ten", "10.ans": "TEN",
		"2.in": "two", "2.out": "TWO",
		"1.in": "one", "1.out": "ONE",
		"checker.cpp": "", "README": "", ".3.in.swp": "",
	})
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	tests, err := LoadTests(dir)
	require.NoError(t, err)
	var names []string
	for _, tc := range tests {
		names = append(names, tc.Name)
	}
	require.Equal(t, []string{"1", "2", "10"}, names)
	assert.Equal(t, filepath.Join(dir, "10.in"), tests[2].Input)
	assert.Equal(t, filepath.Join(dir, "10.ans"), tests[2].Answer)
	assert.Equal(t, filepath.Join(dir, "2.out"), tests[1].Answer)

	in, err := tests[2].OpenInput()
	require.NoError(t, err)
	defer in.Close()
	ans, err := tests[2].OpenAnswer()
	require.NoError(t, err)
	defer ans.Close()
	b, err := io.ReadAll(io.MultiReader(in, ans))
	require.NoError(t, err)
	assert.Equal(t, "tenTEN", string(b))
}

func TestLoadTestsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		setup   func(t *testing.T, dir string)
		wantErr string // a prefix of the error, DIR standing for the directory
	}{
		{"no answer", map[string]string{"1.in": "", "1.out": "", "2.in": ""}, nil,
			"DIR/2.in: no answer: add DIR/2.out or DIR/2.ans"},
		{"answer without input", map[string]string{"1.in": "", "1.out": "", "3.ans": ""}, nil,
			"DIR/3.ans: answer without an input: add DIR/3.in or remove it"},
		{"two answers", map[string]string{"1.in": "", "1.out": "", "1.ans": ""}, nil,
			"DIR/1.out and DIR/1.ans: two answers for one test: keep one"},
		{"first error in test order", map[string]string{"10.in": "", "9.in": ""}, nil,
			"DIR/9.in: no answer"},
		{"no tests", map[string]string{"README": ""}, nil,
			"DIR: no tests: add NAME.in files, each with NAME.out or NAME.ans"},
		{"input is a directory", map[string]string{"1.out": ""}, func(t *testing.T, dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "1.in"), 0o755))
		}, "DIR/1.in: not a regular file"},
		{"input is a FIFO", map[string]string{"1.out": ""}, func(t *testing.T, dir string) {
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "1.in"), 0o644))
		}, "DIR/1.in: not a regular file"},
		{"dangling symlink", map[string]string{"1.in": ""}, func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("nowhere", filepath.Join(dir, "1.out")))
		}, "open DIR/1.out: no such file or directory"},
		{"symlink loop", map[string]string{"1.out": ""}, func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("1.in", filepath.Join(dir, "1.in")))
		}, "open DIR/1.in: too many levels of symbolic links"},
		{"symlink out by ..", map[string]string{"1.in": ""}, func(t *testing.T, dir string) {
			outside := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".secret")
			require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o644))
			t.Cleanup(func() { os.Remove(outside) })
			require.NoError(t, os.Symlink("../"+filepath.Base(outside), filepath.Join(dir, "1.out")))
		}, "DIR/1.out: resolves outside the tests directory"},
		{"absolute symlink", map[string]string{"1.out": ""}, func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "1.in")))
		}, "DIR/1.in: resolves outside the tests directory"},
		{"absolute symlink back inside", map[string]string{"1.out": "", "real": ""}, func(t *testing.T, dir string) {
			// RESOLVE_BENEATH refuses every absolute target, even one that
			// lands inside: the check is on the path, not on where it ends.
			require.NoError(t, os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "1.in")))
		}, "DIR/1.in: resolves outside the tests directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mkTests(t, tc.files)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			_, err := LoadTests(dir)
			require.Error(t, err)
			want := strings.ReplaceAll(tc.wantErr, "DIR", dir)
			assert.True(t, strings.HasPrefix(err.Error(), want), "error %q does not start with %q", err, want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestLoadTestsMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := LoadTests(dir)
	assert.EqualError(t, err, "reading tests directory: open "+dir+": no such file or directory")
}

// A symlink that stays inside is how test sets share an answer.
func TestLoadTestsSymlinkInside(t *testing.T) {
	dir := mkTests(t, map[string]string{"1.in": "a", "1.out": "A", "2.in": "a"})
	require.NoError(t, os.Symlink("1.out", filepath.Join(dir, "2.out")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "shared"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shared", "x"), []byte("X"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "3.in"), nil, 0o644))
	require.NoError(t, os.Symlink("shared/../shared/x", filepath.Join(dir, "3.ans")))
	tests, err := LoadTests(dir)
	require.NoError(t, err)
	require.Len(t, tests, 3)
	f, err := tests[1].OpenAnswer()
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "A", string(b))
}

// The directory may change between LoadTests and the run; opening again
// resolves again, so a file swapped for an escaping symlink is refused.
func TestOpenAfterSwap(t *testing.T) {
	dir := mkTests(t, map[string]string{"1.in": "", "1.out": ""})
	tests, err := LoadTests(dir)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, "1.out")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "1.out")))
	_, err = tests[0].OpenAnswer()
	assert.ErrorContains(t, err, "1.out: resolves outside the tests directory")
}

// TestLoadTestsUnreadable: a test file that cannot be opened is a one-line
// error naming it. A unix socket is such a file for every user, root
// included, which a mode of 0 is not.
func TestLoadTestsUnreadable(t *testing.T) {
	dir := mkTests(t, map[string]string{"1.out": ""})
	l, err := net.Listen("unix", filepath.Join(dir, "1.in"))
	require.NoError(t, err)
	defer l.Close()
	_, err = LoadTests(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "1.in"))
	assert.NotContains(t, err.Error(), "\n")
}

// When jail runs as root a checker runs as the overflow id, which may not
// read a private tests directory; it gets copies it may read.
func TestHelperViewAsRoot(t *testing.T) {
	testutil.NeedRoot(t, "the copies are made only when jail runs as root")
	dir := filepath.Join(t.TempDir(), "tests")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1.in"), []byte("in"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1.ans"), []byte("ans"), 0o600))
	tests, err := LoadTests(dir)
	require.NoError(t, err)
	work := t.TempDir()
	view, err := helperView(tests[0], work)
	require.NoError(t, err)
	assert.NotEqual(t, dir, view)
	for name, want := range map[string]string{"1.in": "in", "1.ans": "ans"} {
		st, err := os.Stat(filepath.Join(view, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), name)
		b, err := os.ReadFile(filepath.Join(view, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(b))
	}
	st, err := os.Stat(view)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
}
