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

// probe evaluates call, a ctypes expression, and prints its result and
// errno if the program survives.
func probe(call string) string {
	return fmt.Sprintf(`import ctypes
libc = ctypes.CDLL(None, use_errno=True)
r = %s
print("ALIVE", r, ctypes.get_errno(), flush=True)`, call)
}

// syscallProbe makes one raw system call with ctypes.
func syscallProbe(nr int, args ...uint64) string {
	as := make([]string, len(args))
	for i, a := range args {
		as[i] = fmt.Sprintf(", ctypes.c_ulong(%d)", a)
	}
	return probe(fmt.Sprintf("libc.syscall(%d%s)", nr, strings.Join(as, "")))
}

// x86_64 system call numbers; the probes are amd64-only.
const (
	sysIoctl          = 16
	sysSocket         = 41
	sysClone          = 56
	sysPtrace         = 101
	sysSyslog         = 103
	sysPersonality    = 135
	sysModifyLDT      = 154
	sysPivotRoot      = 155
	sysAdjtimex       = 159
	sysChroot         = 161
	sysAcct           = 163
	sysSettimeofday   = 164
	sysMount          = 165
	sysSwapon         = 167
	sysReboot         = 169
	sysSethostname    = 170
	sysInitModule     = 175
	sysClockSettime   = 227
	sysKexecLoad      = 246
	sysAddKey         = 248
	sysKeyctl         = 250
	sysUnshare        = 272
	sysPerfEventOpen  = 298
	sysOpenByHandleAt = 304
	sysSetns          = 308
	sysProcessVMReadv = 310
	sysBpf            = 321
	sysUserfaultfd    = 323
	sysIoUringSetup   = 425
)

// Errno values as the probes print them.
const (
	ePerm           = 1
	eAcces          = 13
	eNoSys          = 38
	eProtoNoSupport = 93
	eSocktNoSupport = 94
	eAFNoSupport    = 97
)

// TestSeccompDefaultPolicyDeniesEachClass attacks every class of
// default.go's table under both built-ins: a kill class ends the run with
// SV naming the call under either; an errno class fails the call in
// default with the errno a plain unprivileged process would get, and the
// program goes on to end as it decides, while strict, a judge, kills it.
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
		{"keyrings", "keyctl", syscallProbe(sysKeyctl, 0, 0)},
		{"add_key", "add_key", syscallProbe(sysAddKey, 0, 0, 0, 0, 0)},
		{"bpf", "bpf", syscallProbe(sysBpf, 0, 0, 0)},
		{"perf_event_open", "perf_event_open", syscallProbe(sysPerfEventOpen, 0, 0, 0, 0, 0)},
		{"userfaultfd", "userfaultfd", syscallProbe(sysUserfaultfd, 0)},
		{"ptrace", "ptrace", syscallProbe(sysPtrace, 0, 0, 0, 0)},
		{"process_vm_readv", "process_vm_readv", syscallProbe(sysProcessVMReadv, 1, 0, 0, 0, 0, 0)},
		{"TIOCSTI", "ioctl", syscallProbe(sysIoctl, 0, 0x5412, 0)},
		{"TIOCLINUX", "ioctl", syscallProbe(sysIoctl, 0, 0x541C, 0)},
		{"x32 ABI", "", syscallProbe(0x40000000 | 39)},
	}
	for _, policy := range []string{"default", "strict"} {
		for _, k := range kills {
			t.Run("kill/"+policy+"/"+k.class, func(t *testing.T) {
				r := j.Run(t, "run", "--seccomp", policy, "--", python, "-c", k.probe)
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
	}

	const (
		afUnspec, afInet, afNetlink, afPacket, afAlg, afVsock = 0, 2, 16, 17, 38, 40
		sockStream, sockRaw, sockSeqpacket                    = 1, 3, 5
		netlinkAudit                                          = 9
		addrNoRandomize, readImpliesExec                      = 0x0040000, 0x0400000
	)
	zeroTime := "ctypes.byref((ctypes.c_long * 2)())"
	errnos := []struct {
		class, syscall string
		probe          string
		errno          int
		// strict is the errno strict gives, 0 for a kill.
		strict int
		// host says a process in the sandbox without any filter
		// (--seccomp none) gets the same errno from the kernel itself,
		// whatever the machine's modules and sysctls: the filter's
		// answer is the faithful one.
		host bool
	}{
		{"chroot", "chroot", probe(`libc.syscall(161, ctypes.c_char_p(b"/"))`), ePerm, 0, true},
		{"mount", "mount", syscallProbe(sysMount, 0, 0, 0, 0, 0), ePerm, 0, false},
		{"pivot_root", "pivot_root", syscallProbe(sysPivotRoot, 0, 0), ePerm, 0, false},
		{"kexec", "kexec_load", syscallProbe(sysKexecLoad, 0, 0, 0, 0), ePerm, 0, false},
		{"kernel modules", "init_module", syscallProbe(sysInitModule, 0, 0, 0), ePerm, 0, false},
		{"open_by_handle_at", "open_by_handle_at", syscallProbe(sysOpenByHandleAt, 0, 0, 0), ePerm, 0, false},
		{"reboot", "reboot", syscallProbe(sysReboot, 0, 0, 0, 0), ePerm, 0, false},
		{"swapon", "swapon", syscallProbe(sysSwapon, 0, 0), ePerm, 0, false},
		{"acct", "acct", syscallProbe(sysAcct, 0), ePerm, 0, false},
		{"syslog", "syslog", syscallProbe(sysSyslog, 3, 0, 0), ePerm, 0, false},
		{"sethostname", "sethostname", syscallProbe(sysSethostname, 0, 0), ePerm, 0, false},
		{"settimeofday", "settimeofday", syscallProbe(sysSettimeofday, 0, 0), ePerm, 0, false},
		{"clock_settime", "clock_settime", probe("libc.syscall(227, 0, " + zeroTime + ")"), ePerm, 0, true},
		{"personality READ_IMPLIES_EXEC", "personality", syscallProbe(sysPersonality, readImpliesExec), ePerm, 0, false},
		{"not in the allowlist", "modify_ldt", syscallProbe(sysModifyLDT, 0, 0, 0), eNoSys, 0, false},
		{"socket AF_INET SOCK_SEQPACKET", "socket", syscallProbe(sysSocket, afInet, sockSeqpacket, 0), eSocktNoSupport, eAcces, true},
		{"socket AF_UNSPEC", "socket", syscallProbe(sysSocket, afUnspec, sockStream, 0), eAFNoSupport, eAcces, true},
		{"socket AF_NETLINK SOCK_STREAM", "socket", syscallProbe(sysSocket, afNetlink, sockStream, 0), eSocktNoSupport, eAcces, true},
		{"socket AF_NETLINK NETLINK_AUDIT", "socket", syscallProbe(sysSocket, afNetlink, sockRaw, netlinkAudit), eProtoNoSupport, eAcces, false},
		{"socket AF_ALG", "socket", syscallProbe(sysSocket, afAlg, sockSeqpacket, 0), eAFNoSupport, eAcces, false},
		{"raw sockets", "socket", syscallProbe(sysSocket, afInet, sockRaw, 1), ePerm, eAcces, false},
		{"packet sockets", "socket", syscallProbe(sysSocket, afPacket, sockRaw, 0), ePerm, eAcces, false},
		{"vsock", "socket", syscallProbe(sysSocket, afVsock, sockStream, 0), eAFNoSupport, eAcces, false},
		{"io_uring", "io_uring_setup", syscallProbe(sysIoUringSetup, 1, 0), eNoSys, eNoSys, false},
		{"ASLR off", "personality", syscallProbe(sysPersonality, addrNoRandomize), ePerm, ePerm, false},
		{"adjtimex", "adjtimex", syscallProbe(sysAdjtimex, 0), ePerm, ePerm, false},
	}
	for _, e := range errnos {
		t.Run("errno/default/"+e.class, func(t *testing.T) {
			r := j.Run(t, "run", "--", python, "-c", e.probe)
			require.NotNil(t, r.Report, r.String())
			assert.Equal(t, "OK", r.Report.Verdict, r.String())
			assert.Contains(t, r.Stdout, fmt.Sprintf("ALIVE -1 %d\n", e.errno), r.String())
			assert.Empty(t, r.Report.Syscall, "no violation to name")
		})
		t.Run("errno/strict/"+e.class, func(t *testing.T) {
			r := j.Run(t, "run", "--seccomp", "strict", "--", python, "-c", e.probe)
			require.NotNil(t, r.Report, r.String())
			if e.strict == 0 {
				assert.Equal(t, "SV", r.Report.Verdict, r.String())
				assert.Equal(t, e.syscall, r.Report.Syscall, r.String())
				assert.NotContains(t, r.Stdout, "ALIVE")
				return
			}
			assert.Equal(t, "OK", r.Report.Verdict, r.String())
			assert.Contains(t, r.Stdout, fmt.Sprintf("ALIVE -1 %d\n", e.strict), r.String())
		})
		if e.host {
			t.Run("errno/host/"+e.class, func(t *testing.T) {
				r := j.Run(t, "run", "--seccomp", "none", "--", python, "-c", e.probe)
				require.NotNil(t, r.Report, r.String())
				assert.Contains(t, r.Stdout, fmt.Sprintf("ALIVE -1 %d\n", e.errno), "the kernel's own answer: %s", r)
			})
		}
	}

	// The program decides the verdict: one that gives up when chroot
	// fails, as chroot(1) does, ends RE with its own status, not SV.
	r := j.Run(t, "run", "--", python, "-c", probe(`libc.syscall(161, ctypes.c_char_p(b"/"))`)+"\nraise SystemExit(3 if r == -1 else 0)")
	require.NotNil(t, r.Report, r.String())
	assert.Equal(t, "RE", r.Report.Verdict, r.String())
	assert.Equal(t, 3, r.ExitCode, r.String())
	assert.Contains(t, r.Stdout, "ALIVE -1 1\n")

	// The control: without the policy the same kind of probe returns to
	// the program, so the kills above come from the filter.
	r = j.Run(t, "run", "--seccomp", "none", "--", python, "-c", syscallProbe(sysKeyctl, 0, 0))
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
			a := arg{Index: c.Index, Value: c.Value, Op: ops[c.Op.String()]}
			if c.Op == seccomp.OpMaskedEQ {
				// Docker's masked_eq, like libseccomp's, takes the
				// mask first: value is the mask, valueTwo the datum.
				a.Value, a.ValueTwo = c.Mask, c.Value
			}
			e.Args = append(e.Args, a)
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
