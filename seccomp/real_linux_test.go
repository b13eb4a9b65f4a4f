package seccomp

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// victimEnv makes the test binary a victim: it loads the filter in the
// named file and calls getppid.
const victimEnv = "JAIL_SECCOMP_TEST_VICTIM"

// victimExit is the status a victim exits with when the filter let it
// live, so the parent can tell "survived" from "crashed for other reasons".
const victimExit = 42

func TestMain(m *testing.M) {
	if path := os.Getenv(victimEnv); path != "" {
		os.Exit(victim(path))
	}
	if path := os.Getenv(loaderEnv); path != "" {
		os.Exit(loader(path))
	}
	os.Exit(m.Run())
}

func victim(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		os.Stderr.WriteString("victim: " + err.Error() + "\n")
		return 2
	}
	prog, err := ParseProgram(raw)
	if err != nil {
		os.Stderr.WriteString("victim: " + err.Error() + "\n")
		return 2
	}
	// No core file from the SIGSYS.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		os.Stderr.WriteString("victim: prctl(PR_SET_NO_NEW_PRIVS): " + err.Error() + "\n")
		return 2
	}
	// TSYNC puts every thread of the Go runtime under the filter, not
	// only this one.
	fprog := prog.Fprog()
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(fprog))); e != 0 {
		os.Stderr.WriteString("victim: seccomp(SET_MODE_FILTER): " + e.Error() + "\n")
		return 2
	}
	runtime.KeepAlive(prog)
	if nr := os.Getenv(victimNREnv); nr != "" {
		n, err := strconv.Atoi(nr)
		if err != nil {
			return 2
		}
		// The errno is the exit status, for the parent to read.
		_, _, e := unix.RawSyscall(uintptr(n), 0, 0, 0)
		return int(e)
	}
	unix.Getppid()
	return victimExit
}

// victimNREnv makes the victim call this syscall number instead of
// getppid and exit with the errno it got.
const victimNREnv = "JAIL_SECCOMP_TEST_NR"

// TestRealUnknownSyscallsENOSYS loads strict for real and calls numbers
// libseccomp cannot name: the kernel runs the ENOSYS stub, the process
// lives and sees ENOSYS; a named call strict does not allow still kills.
func TestRealUnknownSyscallsENOSYS(t *testing.T) {
	needAMD64(t)
	prog, err := Strict().Compile(CompileOptions{})
	require.NoError(t, err)
	path := t.TempDir() + "/filter.bpf"
	require.NoError(t, os.WriteFile(path, prog.Raw, 0o600))
	run := func(nr int) (*exec.ExitError, []byte) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), victimEnv+"="+path, victimNREnv+"="+strconv.Itoa(nr))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "victim: err=%v output=%s", err, out)
		return ee, out
	}
	for _, nr := range []int{457, 1000, 400, 0x3fffffff} {
		ee, out := run(nr)
		assert.Equal(t, int(unix.ENOSYS), ee.ExitCode(), "syscall %#x: %s", nr, out)
	}
	ee, out := run(103) // syslog: named, not allowed
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled() && ws.Signal() == unix.SIGSYS, "syslog under strict: %v %s", ws, out)
}

// TestRealDeal installs a compiled filter in a real process: getppid
// must kill it with SIGSYS while getpid and write go through.
func TestRealDeal(t *testing.T) {
	p := &Policy{Name: "real", DefaultAction: ActAllow, NativeOnly: true,
		Rules: []Rule{{Names: []string{"getppid"}, Action: ActKill}}}
	prog, err := p.Compile(CompileOptions{})
	require.NoError(t, err)
	path := t.TempDir() + "/filter.bpf"
	require.NoError(t, os.WriteFile(path, prog.Raw, 0o600))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), victimEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "victim survived: err=%v output=%s", err, out)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "victim exited with %d instead of dying: %s", ws.ExitStatus(), out)
	assert.Equal(t, unix.SIGSYS, ws.Signal(), "output: %s", out)

	// The same victim under an allow-all filter lives: the kill above
	// came from the rule, not from loading a filter at all.
	allow, err := (&Policy{DefaultAction: ActAllow, NativeOnly: true,
		Rules: []Rule{{Names: []string{"getppid"}, Action: ActLog}}}).Compile(CompileOptions{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, allow.Raw, 0o600))
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), victimEnv+"="+path)
	out, err = cmd.CombinedOutput()
	require.True(t, errors.As(err, &ee), "victim: err=%v output=%s", err, out)
	assert.Equal(t, victimExit, ee.ExitCode(), "output: %s", out)
}
