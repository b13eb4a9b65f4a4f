package main_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"jail/internal/testutil"
)

// needLandlock skips where the kernel lacks the Landlock ABI a test needs.
func needLandlock(t *testing.T, abi int) {
	t.Helper()
	got, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || int(got) < abi {
		testutil.Skip(t, "Landlock ABI %d is needed (this kernel: %d, %v)", abi, got, errno)
	}
}

// TestLandlockHostDirectoryAsStdin: a descriptor is the one way a host
// path reaches PROG past its mounts, and jail hands PROG its stdin as it
// is. With a host directory as stdin, PROG could open any file below it
// through /proc/self/fd/0 (it read them before Landlock); now nothing
// outside the sandbox's root opens, reads or is created.
func TestLandlockHostDirectoryAsStdin(t *testing.T) {
	testutil.NeedUserNS(t)
	needLandlock(t, 1)
	j := testutil.New(t)
	dir := j.FixtureDir(t, "hostdir")
	j.Fixture(t, "hostdir/secret", "host secret\n", 0o644)
	f, err := os.Open(dir)
	require.NoError(t, err)
	defer f.Close()
	r := j.RunWith(t, testutil.Opts{Stdin: f}, "run", "--", "/bin/sh", "-c",
		`ls /proc/self/fd/0/ >/dev/null 2>&1 && echo LISTED
cat /proc/self/fd/0/secret 2>/dev/null && echo READ
(cd /proc/self/fd/0 && cat secret 2>/dev/null) && echo READ-RELATIVE
echo x 2>/dev/null > /proc/self/fd/0/new && echo CREATED
echo done`)
	requireOK(t, r)
	assert.Equal(t, "done\n", r.Stdout)
	_, err = os.Stat(filepath.Join(dir, "new"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, r.Report.Isolation.Landlock, "beneath the sandbox's root", "%s", r)
}

// TestLandlockAbstractSocketScoped: with --net host, PROG shares the host's
// abstract unix socket namespace, which no mount hides. A host process
// listening there must be unreachable from PROG.
func TestLandlockAbstractSocketScoped(t *testing.T) {
	testutil.NeedUserNS(t)
	needLandlock(t, 6)
	name := "jail-test-" + marker()
	l, err := net.Listen("unix", "@"+name)
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	j := testutil.New(t)
	r := j.Run(t, "run", "--net", "host", "--", python, "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0`+name+`")
    print("connected")
except OSError as e:
    print(e.errno)
`)
	requireOK(t, r)
	assert.Equal(t, "1\n", r.Stdout, "connect from PROG: want EPERM")
	assert.Empty(t, accepted, "the host's listener accepted PROG")
	assert.Contains(t, r.Report.Isolation.Landlock, "abstract unix sockets scoped", "%s", r)

	// The control: the same connect from outside the sandbox works, so
	// the refusal above is the sandbox's.
	c, err := net.Dial("unix", "@"+name)
	require.NoError(t, err)
	c.Close()
}

// TestLandlockInResult: the result names the ruleset, and doctor the ABI.
func TestLandlockInResult(t *testing.T) {
	testutil.NeedUserNS(t)
	needLandlock(t, 1)
	j := testutil.New(t)
	r := j.Run(t, "run", "--", "/bin/true")
	requireOK(t, r)
	assert.True(t, strings.HasPrefix(r.Report.Isolation.Landlock, "ABI "), "%s", r)
}
