package main_test

// Each class the default seccomp policy denies, attacked for real from
// inside the sandbox: the call must kill the run with verdict SV naming
// it, or fail with the documented errno while the program lives on. The
// BPF of every rule is tested in seccomp/; this proves the kernel applies
// it to PROG.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/seccomp"
)

// syscallProbe makes one raw system call with ctypes and prints the
// result and errno if it survives.
func syscallProbe(nr int, args ...uint64) string {
	as := make([]string, len(args))
	for i, a := range args {
		as[i] = fmt.Sprintf("ctypes.c_ulong(%d)", a)
	}
	return fmt.Sprintf(`import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(%d%s)
print("ALIVE", r, ctypes.get_errno(), flush=True)`, nr, strings.Join(append([]string{""}, as...), ", "))
}

// x86_64 system call numbers; the probes are amd64-only.
const (
	sysIoctl          = 16
	sysSocket         = 41
	sysClone          = 56
	sysPtrace         = 101
	sysAdjtimex       = 159
	sysPersonality    = 135
	sysPivotRoot      = 155
	sysChroot         = 161
	sysAcct           = 163
	sysSettimeofday   = 164
	sysMount          = 165
	sysSwapon         = 167
	sysReboot         = 169
	sysInitModule     = 175
	sysKexecLoad      = 246
	sysAddKey         = 248
	sysKeyctl         = 250
	sysUnshare        = 272
	sysPerfEventOpen  = 298
	sysOpenByHandleAt = 304
	sysSetns          = 308
	sysBpf            = 321
	sysUserfaultfd    = 323
	sysIoUringSetup   = 425
)

func TestSeccompDefaultPolicyDeniesEachClass(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "the probes use x86_64 system call numbers")
	}
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	const cloneNewUser, sigchld = 0x10000000, 17
	kills := []struct {
		class, syscall string
		probe          string
	}{
		{"new user namespace via unshare", "unshare", syscallProbe(sysUnshare, cloneNewUser)},
		{"new namespace via clone flags", "clone", syscallProbe(sysClone, cloneNewUser|sigchld, 0, 0, 0, 0)},
		{"joining a namespace", "setns", syscallProbe(sysSetns, 0, 0)},
		{"mount", "mount", syscallProbe(sysMount, 0, 0, 0, 0, 0)},
		{"pivot_root", "pivot_root", syscallProbe(sysPivotRoot, 0, 0)},
		{"chroot", "chroot", syscallProbe(sysChroot, 0)},
		{"keyrings", "keyctl", syscallProbe(sysKeyctl, 0, 0)},
		{"add_key", "add_key", syscallProbe(sysAddKey, 0, 0, 0, 0, 0)},
		{"bpf", "bpf", syscallProbe(sysBpf, 0, 0, 0)},
		{"perf_event_open", "perf_event_open", syscallProbe(sysPerfEventOpen, 0, 0, 0, 0, 0)},
		{"userfaultfd", "userfaultfd", syscallProbe(sysUserfaultfd, 0)},
		{"ptrace", "ptrace", syscallProbe(sysPtrace, 0, 0, 0, 0)},
		{"kexec", "kexec_load", syscallProbe(sysKexecLoad, 0, 0, 0, 0)},
		{"kernel modules", "init_module", syscallProbe(sysInitModule, 0, 0, 0)},
		{"open_by_handle_at", "open_by_handle_at", syscallProbe(sysOpenByHandleAt, 0, 0, 0)},
		{"reboot", "reboot", syscallProbe(sysReboot, 0, 0, 0, 0)},
		{"swapon", "swapon", syscallProbe(sysSwapon, 0, 0)},
		{"acct", "acct", syscallProbe(sysAcct, 0)},
		{"setting the clock", "settimeofday", syscallProbe(sysSettimeofday, 0, 0)},
		{"TIOCSTI", "ioctl", syscallProbe(sysIoctl, 0, 0x5412, 0)},
		{"TIOCLINUX", "ioctl", syscallProbe(sysIoctl, 0, 0x541C, 0)},
		{"x32 ABI", "", syscallProbe(0x40000000 | 39)},
	}
	for _, k := range kills {
		t.Run("kill/"+k.class, func(t *testing.T) {
			r := j.Run(t, "run", "--", python, "-c", k.probe)
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "SV", r.Report.Verdict, r.String())
			assert.NotContains(t, r.Stdout, "ALIVE", "the call returned to the program")
			assert.Equal(t, 159, r.ExitCode)
			if k.syscall != "" {
				assert.Equal(t, k.syscall, r.Report.Syscall, r.String())
				assert.Equal(t, "x86_64", r.Report.SyscallArch)
			}
		})
	}

	const (
		afInet, afPacket, afVsock = 2, 17, 40
		sockStream, sockRaw       = 1, 3
		addrNoRandomize           = 0x0040000
	)
	errnos := []struct {
		class string
		probe string
		errno int
	}{
		{"io_uring", syscallProbe(sysIoUringSetup, 1, 0), 38},                // ENOSYS
		{"raw sockets", syscallProbe(sysSocket, afInet, sockRaw, 1), 1},      // EPERM
		{"packet sockets", syscallProbe(sysSocket, afPacket, sockRaw, 0), 1}, // EPERM
		{"vsock", syscallProbe(sysSocket, afVsock, sockStream, 0), 97},       // EAFNOSUPPORT
		{"ASLR off", syscallProbe(sysPersonality, addrNoRandomize), 1},       // EPERM
		{"adjtimex", syscallProbe(sysAdjtimex, 0), 1},                        // EPERM
	}
	for _, e := range errnos {
		t.Run("errno/"+e.class, func(t *testing.T) {
			r := j.Run(t, "run", "--", python, "-c", e.probe)
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "OK", r.Report.Verdict, r.String())
			assert.Contains(t, r.Stdout, fmt.Sprintf("ALIVE -1 %d\n", e.errno), r.String())
		})
	}

	// The control: without the policy the same kind of probe returns to
	// the program, so the kills above come from the filter.
	r := j.Run(t, "run", "--seccomp", "none", "--", python, "-c", syscallProbe(sysKeyctl, 0, 0))
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "OK", r.Report.Verdict, r.String())
	assert.Contains(t, r.Stdout, "ALIVE")
}

// TestSeccompUnknownSyscallsENOSYS calls numbers libseccomp 2.5.4 has no
// name for, as a newer libc probing a newer kernel's calls does: just past
// futex_requeue, in x86_64's gap between rseq and pidfd_send_signal, and far
// above, just under the x32 bit. Each fails with ENOSYS and the program
// goes on, under both built-ins; the same number through the x32 ABI is
// still killed.
func TestSeccompUnknownSyscallsENOSYS(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "the probes use x86_64 system call numbers")
	}
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	for _, policy := range []string{"default", "strict"} {
		for _, n := range []int{457, 1000, 400, 0x3fffffff} {
			t.Run(fmt.Sprintf("%s/%#x", policy, n), func(t *testing.T) {
				r := j.Run(t, "run", "--seccomp", policy, "--", python, "-c", syscallProbe(n))
				require.NotNil(t, r.Report, r.String())
				assert.Equal(t, "OK", r.Report.Verdict, r.String())
				assert.Contains(t, r.Stdout, "ALIVE -1 38\n", r.String()) // ENOSYS
			})
		}
		t.Run(policy+"/x32", func(t *testing.T) {
			r := j.Run(t, "run", "--seccomp", policy, "--", python, "-c", syscallProbe(0x40000000|1000))
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "SV", r.Report.Verdict, r.String())
			assert.NotContains(t, r.Stdout, "ALIVE")
		})
	}
}

// TestSeccompI386ABIKilled makes an i386 system call (int $0x80) from a
// 64-bit process, the classic way around an amd64-only filter: the kernel
// itself kills it with SIGSYS, as the filter's bad-arch action says.
func TestSeccompI386ABIKilled(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "int $0x80 is an x86 instruction")
	}
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	// mov eax, 20 (getpid); int 0x80; ret — run from executable memory.
	probe := `import ctypes, mmap
code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
print("ALIVE", ctypes.CFUNCTYPE(ctypes.c_int)(addr)(), flush=True)`
	r := j.Run(t, "run", "--", python, "-c", probe)
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "SV", r.Report.Verdict, r.String())
	assert.Equal(t, "SIGSYS", r.Report.Signal)
	assert.NotContains(t, r.Stdout, "ALIVE")

	ok := j.Run(t, "run", "--seccomp", "none", "--", python, "-c", probe)
	require.NotNil(t, ok.Report, ok.String())
	assert.Contains(t, ok.Stdout, "ALIVE", "without the filter the i386 call returns: %s", ok)
}

// dockerProfileOf writes a policy in Docker's seccomp profile format, the
// way moby's default.json is laid out: a default errno action, an arch map,
// and one entry per rule with its argument conditions. The test generates
// its realistic profile this way, from jail's own allowlist of several
// hundred calls. The arch map lists no 32-bit sub-architectures: on i386,
// socket() is multiplexed through socketcall(2) and libseccomp 2.5 cannot
// express the allowlist's socket argument rules there.
func dockerProfileOf(t *testing.T, p *seccomp.Policy) []byte {
	t.Helper()
	type arg struct {
		Index    uint   `json:"index"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
		Op       string `json:"op"`
	}
	type entry struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet *uint16  `json:"errnoRet,omitempty"`
		Args     []arg    `json:"args"`
	}
	ops := map[string]string{"eq": "SCMP_CMP_EQ", "ne": "SCMP_CMP_NE", "lt": "SCMP_CMP_LT", "le": "SCMP_CMP_LE",
		"gt": "SCMP_CMP_GT", "ge": "SCMP_CMP_GE", "masked_eq": "SCMP_CMP_MASKED_EQ"}
	var entries []entry
	for _, r := range p.Rules {
		e := entry{Names: r.Names, Args: []arg{}}
		switch r.Action.Kind {
		case seccomp.Allow:
			e.Action = "SCMP_ACT_ALLOW"
		case seccomp.Errno:
			e.Action, e.ErrnoRet = "SCMP_ACT_ERRNO", &r.Action.Errno
		default:
			e.Action = "SCMP_ACT_KILL_PROCESS"
		}
		for _, c := range r.Args {
			e.Args = append(e.Args, arg{Index: c.Index, Value: c.Value, ValueTwo: c.Mask, Op: ops[c.Op.String()]})
		}
		entries = append(entries, e)
	}
	b, err := json.MarshalIndent(map[string]any{
		"defaultAction":   "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": []map[string]any{
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []string{}},
		},
		"syscalls": entries,
	}, "", "\t")
	require.NoError(t, err)
	return b
}

// TestSeccompDockerProfile imports a realistic Docker profile and runs
// real programs under it: they work, and a call the profile denies fails
// with the profile's errno instead of killing (Docker's semantics).
func TestSeccompDockerProfile(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "the profile's arch map is amd64's")
	}
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	profile := j.Fixture(t, "docker.json", string(dockerProfileOf(t, seccomp.Default())), 0o644)

	r := j.Run(t, "run", "--seccomp", profile, "--", python, "-c", "import os, json; print(json.dumps({'pid': os.getpid()}))")
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "OK", r.Report.Verdict, r.String())
	assert.Contains(t, r.Stdout, `{"pid":`)

	// keyctl is killed by jail's policy; under the generated profile it is
	// a rule of its own, imported as a kill too.
	r = j.Run(t, "run", "--seccomp", profile, "--", python, "-c", syscallProbe(sysKeyctl, 0, 0))
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "SV", r.Report.Verdict, r.String())
	assert.Equal(t, "keyctl", r.Report.Syscall)

	// A call on no list gets the profile's default: errno 1 (EPERM).
	r = j.Run(t, "run", "--seccomp", profile, "--", python, "-c", syscallProbe(1000))
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "OK", r.Report.Verdict, r.String())
	assert.Contains(t, r.Stdout, "ALIVE -1 1\n")
}
