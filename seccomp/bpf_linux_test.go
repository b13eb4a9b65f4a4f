package seccomp

import (
	"encoding/binary"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A userspace run of a compiled filter over synthetic seccomp_data, as
// gVisor's pkg/seccomp tests and runc's patchbpf tests do.

const nativeAudit = unix.AUDIT_ARCH_X86_64

// filterVM compiles p and loads it into a BPF interpreter.
func filterVM(t *testing.T, p *Policy, opts CompileOptions) *bpf.VM {
	t.Helper()
	prog, err := p.Compile(opts)
	require.NoError(t, err)
	raw := make([]bpf.RawInstruction, len(prog.Instructions))
	for i, in := range prog.Instructions {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	insts, ok := bpf.Disassemble(raw)
	require.True(t, ok, "libseccomp emitted an instruction x/net/bpf cannot decode")
	vm, err := bpf.NewVM(insts)
	require.NoError(t, err)
	return vm
}

// seccompData builds struct seccomp_data {int nr; u32 arch; u64 ip;
// u64 args[6]} as the kernel lays it out on a little-endian machine. The
// kernel's BPF loads 32-bit words in host order but x/net/bpf reads them
// big-endian, so every word is stored big-endian at its little-endian
// offset: the low half of a 64-bit argument first.
func seccompData(nr int32, arch uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	return b
}

func runVM(t *testing.T, vm *bpf.VM, nr int32, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	ret, err := vm.Run(seccompData(nr, arch, args))
	require.NoError(t, err)
	return uint32(ret)
}

// nr resolves a syscall name on the native ABI.
func nr(t *testing.T, name string) int32 {
	t.Helper()
	n, err := libseccomp.GetSyscallFromName(name)
	require.NoError(t, err, name)
	require.GreaterOrEqual(t, int32(n), int32(0), "%s is not a native syscall", name)
	return int32(n)
}

// ret is the filter return value that action should produce.
func ret(a Action) uint32 {
	switch a.Kind {
	case Allow:
		return unix.SECCOMP_RET_ALLOW
	case Errno:
		return unix.SECCOMP_RET_ERRNO | uint32(a.Errno)
	case Log:
		return unix.SECCOMP_RET_LOG
	case Notify:
		return unix.SECCOMP_RET_USER_NOTIF
	}
	return unix.SECCOMP_RET_KILL_PROCESS
}

var (
	retAllow = ret(ActAllow)
	retKill  = ret(ActKill)
)

func retErrno(e unix.Errno) uint32 { return ret(ActErrno(e)) }
