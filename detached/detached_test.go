package detached

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newStore(t *testing.T) *Store {
	s, err := OpenAt(filepath.Join(t.TempDir(), "sandboxes"))
	require.NoError(t, err)
	return s
}

func TestCreateFindAndNames(t *testing.T) {
	s := newStore(t)
	a := &State{Name: "web"}
	require.NoError(t, s.Create(a))
	b := &State{}
	require.NoError(t, s.Create(b))
	assert.Equal(t, "jail-"+b.ID[:12], b.Name, "a name made from the id")
	assert.Len(t, a.ID, 64)

	err := s.Create(&State{Name: "web"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--name "web" is taken by sandbox `+a.ID[:12])
	assert.Error(t, s.Create(&State{Name: "../x"}))

	for _, ref := range []string{"web", a.ID, a.ID[:5]} {
		if ref == a.ID[:5] && strings.HasPrefix(b.ID, ref) {
			continue // the two ids share it
		}
		e, err := s.Find(ref)
		require.NoError(t, err, ref)
		assert.Equal(t, a.ID, e.State.ID, ref)
	}
	_, err = s.Find("nosuch")
	assert.EqualError(t, err, `no sandbox "nosuch": see jail ps -a`)
	// The one prefix both ids have: the empty one is not a name.
	_, err = s.Find("")
	assert.Error(t, err)

	list, bad := s.List()
	assert.Empty(t, bad)
	assert.Len(t, list, 2)
	// A created sandbox without a monitor reads as ended: its monitor is
	// gone.
	assert.Equal(t, Exited, list[0].State.Status)
	assert.Contains(t, list[0].State.Error, "its monitor died")
}

func TestOpenRefusesOthersDirectories(t *testing.T) {
	root := filepath.Join(t.TempDir(), "open")
	require.NoError(t, os.Mkdir(root, 0o755))
	_, err := OpenAt(root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must be a directory of yours with mode 0700")
}

func TestLogRotatesAndShowsTail(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir)
	require.NoError(t, err)
	line := strings.Repeat("x", 1000) + "\n"
	n := 2*LogMax/1100 + 10
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "%d %s", i, line)
	}
	l.Copy("stdout", strings.NewReader(in.String()))
	l.Copy("stderr", strings.NewReader("no newline at the end"))
	require.NoError(t, l.Close())
	for _, f := range []string{"log", "log.1"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.LessOrEqual(t, fi.Size(), int64(LogMax), f)
	}
	var got []Line
	require.NoError(t, Show(dir, time.Time{}, 3, false, func(l Line) { got = append(got, l) }, nil))
	require.Len(t, got, 3)
	assert.True(t, strings.HasPrefix(got[0].Text, fmt.Sprintf("%d ", n-2)), got[0].Text[:10])
	assert.Equal(t, "stderr", got[2].Stream)
	assert.Equal(t, "no newline at the end", got[2].Text)

	// A line longer than an entry takes is split, as docker splits it.
	dir2 := t.TempDir()
	l, err = OpenLog(dir2)
	require.NoError(t, err)
	l.Copy("stdout", strings.NewReader(strings.Repeat("y", maxLine+10)+"\n"))
	l.Close()
	got = nil
	require.NoError(t, Show(dir2, time.Time{}, -1, false, func(l Line) { got = append(got, l) }, nil))
	require.Len(t, got, 2)
	assert.Len(t, got[0].Text, maxLine)
}

func TestLingerWarning(t *testing.T) {
	dir := t.TempDir()
	oldRun, oldLinger := SystemdRunDir, LingerDir
	t.Cleanup(func() { SystemdRunDir, LingerDir = oldRun, oldLinger })
	SystemdRunDir, LingerDir = filepath.Join(dir, "run-systemd"), filepath.Join(dir, "linger")
	assert.Empty(t, LingerWarning("alice"), "no systemd, no warning")
	require.NoError(t, os.Mkdir(SystemdRunDir, 0o755))
	assert.Contains(t, LingerWarning("alice"), "loginctl enable-linger alice")
	require.NoError(t, os.MkdirAll(filepath.Join(LingerDir, "alice"), 0o755))
	assert.Empty(t, LingerWarning("alice"), "lingering")
}

// TestPortHelperSocketsAreChecked: a socket that is not TCP, or is of
// the monitor's own network namespace (a helper that failed to enter the
// sandbox's, dialling the host's port), is refused.
func TestPortHelperSocketsAreChecked(t *testing.T) {
	own, err := ownNetnsCookie()
	require.NoError(t, err)
	h := &portHelper{own: own}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	require.NoError(t, err)
	defer f.Close()
	err = h.check(int(f.Fd()), "tcp")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "of the host's network namespace")

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	assert.ErrorContains(t, h.check(pair[0], "tcp"), "other than a TCP socket")
	// A TCP socket where UDP was asked for.
	assert.ErrorContains(t, h.check(int(f.Fd()), "udp"), "other than a UDP socket")

	// One of another namespace passes: the cookie differs.
	h.own = own + 1
	assert.NoError(t, h.check(int(f.Fd()), "tcp"))
}

// TestValidName: the rule is docker's, written out as this regexp.
func TestValidName(t *testing.T) {
	rule := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)
	names := []string{"", "a", "web", "Web-1.x_y", "_x", ".x", "-x", "9", "a/b", "a b", "é", "a\x00", "x-",
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129), "a" + strings.Repeat("-", 127)}
	for _, n := range names {
		assert.Equal(t, rule.MatchString(n), validName(n), "%q", n)
	}
}
