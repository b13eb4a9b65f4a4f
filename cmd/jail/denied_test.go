package main_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// TestSeccompDeniedRecorded: calls the default policy denies fail with the
// errno a plain unprivileged process gets, the run goes on, and the result
// names each with its count, in the order they first came.
func TestSeccompDeniedRecorded(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--", python, "-c", `
import ctypes, os, socket, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.chroot(b"/"); print(ctypes.get_errno())
for i in range(3):
    try: socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET)
    except OSError as e: print(e.errno)
print(libc.syscall(1000), ctypes.get_errno())
ts = [threading.Thread(target=lambda: None) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
print("done")
`)
	requireOK(t, r)
	assert.Equal(t, "1\n97\n97\n97\n-1 38\ndone\n", r.Stdout, "EPERM, EAFNOSUPPORT, ENOSYS")
	d := r.Report
	require.Len(t, d.Denied, 3, "%s", r)
	assert.Equal(t, "chroot", d.Denied[0].Syscall)
	assert.Equal(t, 1, d.Denied[0].Count)
	assert.Equal(t, "socket", d.Denied[1].Syscall)
	assert.Equal(t, 3, d.Denied[1].Count)
	assert.Equal(t, "syscall_1000", d.Denied[2].Syscall, "an unknown number is named by it")
	// 20 threads: glibc's clone3 probes are answered in the kernel and
	// are not in the list.
}

// TestSeccompDeniedBudget: a program that keeps calling what it cannot have
// ends as a violation once the init has answered its budget of denials,
// rather than have the init, which no cgroup limits, spend a CPU on it.
func TestSeccompDeniedBudget(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--", python, "-c", `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for i in range(5000): libc.chroot(b"/")
print("not reached")
`)
	require.NotNil(t, r.Report, "%s", r)
	assert.Equal(t, "SV", r.Report.Verdict, "%s", r)
	assert.Empty(t, r.Stdout)
	assert.Contains(t, r.Report.Reason, "more than 4096 system calls", "%s", r)
	d := r.Report
	require.Len(t, d.Denied, 1, "%s", r)
	assert.Equal(t, 4096, d.Denied[0].Count)
}
