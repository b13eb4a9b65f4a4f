package seccomp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Numbers libseccomp 2.5.4 cannot name on x86_64: the first after
// futex_requeue (456), the gap x86_64 leaves between rseq (334) and
// pidfd_send_signal (424), and far above, just under the x32 bit.
var unnamedX8664 = []int32{457, 460, 1000, 335, 400, 423, 0x3fffff00, 0x3fffffff}

// killPolicy is a small kill-default policy with an explicit kill, so
// the stub can be seen not to touch either.
func killPolicy(compat ...string) *Policy {
	return &Policy{Name: "k", DefaultAction: ActKill, NativeOnly: len(compat) == 0, Arches: compat, Rules: []Rule{
		{Names: []string{"read", "write", "futex_requeue", "pidfd_send_signal"}, Action: ActAllow},
		{Names: []string{"ptrace"}, Action: ActKill},
		{Names: []string{"rseq"}, Action: ActErrno(unix.EPERM)},
	}}
}

func TestUnknownSyscallsENOSYS(t *testing.T) {
	needAMD64(t)
	enosys := retErrno(unix.ENOSYS)
	for _, opts := range BuiltinOptions {
		kill := retKill
		if opts.KillAs == "notify" {
			kill = unix.SECCOMP_RET_USER_NOTIF
		}
		for _, p := range []*Policy{killPolicy(), Strict()} {
			vm := filterVM(t, p, opts)
			for _, n := range unnamedX8664 {
				assert.Equal(t, enosys, runVM(t, vm, n, nativeAudit, [6]uint64{}), "%s (%s) x86_64 %#x", p.Name, opts.KillAs, n)
			}
			// The numbers around the gap and the last known one are
			// the policy's, not the stub's.
			assert.Equal(t, retAllow, runVM(t, vm, nr(t, "futex_requeue"), nativeAudit, [6]uint64{}), p.Name)
			assert.Equal(t, retAllow, runVM(t, vm, nr(t, "pidfd_send_signal"), nativeAudit, [6]uint64{}), p.Name)
			assert.Equal(t, kill, runVM(t, vm, nr(t, "ptrace"), nativeAudit, [6]uint64{}), "%s: an explicit kill stays a kill", p.Name)
			assert.Equal(t, kill, runVM(t, vm, nr(t, "syslog"), nativeAudit, [6]uint64{}), "%s: a named call on no list gets the default", p.Name)
			// Negative numbers (-1 skips a call under a tracer) and
			// foreign ABIs go to libseccomp's program unchanged.
			assert.Equal(t, kill, runVM(t, vm, -1, nativeAudit, [6]uint64{}), "%s -1", p.Name)
			assert.Equal(t, retKill, runVM(t, vm, -2, nativeAudit, [6]uint64{}), "%s -2", p.Name)
			for _, n := range []int32{39, 457, 1000} {
				assert.Equal(t, retKill, runVM(t, vm, x32SyscallBit|n, nativeAudit, [6]uint64{}), "%s x32 %d", p.Name, n)
				assert.Equal(t, retKill, runVM(t, vm, n, unix.AUDIT_ARCH_I386, [6]uint64{}), "%s i386 %d", p.Name, n)
			}
		}
	}
	vm := filterVM(t, killPolicy(), CompileOptions{})
	assert.Equal(t, retErrno(unix.EPERM), runVM(t, vm, nr(t, "rseq"), nativeAudit, [6]uint64{}), "an errno rule next to the gap")

	// Default answers unknown numbers with ENOSYS by its own default
	// action; its kills stay kills.
	vm = filterVM(t, Default(), CompileOptions{})
	for _, n := range unnamedX8664 {
		assert.Equal(t, enosys, runVM(t, vm, n, nativeAudit, [6]uint64{}), "default x86_64 %#x", n)
	}
	assert.Equal(t, retKill, runVM(t, vm, nr(t, "ptrace"), nativeAudit, [6]uint64{}), "default ptrace")
	assert.Equal(t, retKill, runVM(t, vm, x32SyscallBit|1000, nativeAudit, [6]uint64{}), "default x32 1000")
}

// TestUnknownSyscallsENOSYSPerABI admits i386 and x32 and checks each
// ABI's own range: x32 numbers carry the x32 bit, i386 has its own table.
func TestUnknownSyscallsENOSYSPerABI(t *testing.T) {
	needAMD64(t)
	enosys := retErrno(unix.ENOSYS)
	vm := filterVM(t, killPolicy("x86", "x32"), CompileOptions{})
	const (
		i386Read, i386Ptrace, i386Syslog = 3, 26, 103
		i386Last                         = 456 // futex_requeue
		x32Read, x32Ptrace, x32Last      = x32SyscallBit | 0, x32SyscallBit | 521, x32SyscallBit | 547
	)
	for _, tt := range []struct {
		name string
		nr   int32
		arch uint32
		want uint32
	}{
		{"x86_64 above the table", 457, nativeAudit, enosys},
		{"x86_64 far above", 0x3fffffff, nativeAudit, enosys},
		{"x86_64 gap", 400, nativeAudit, enosys},
		{"x86_64 read", 0, nativeAudit, retAllow},
		{"i386 read", i386Read, unix.AUDIT_ARCH_I386, retAllow},
		{"i386 ptrace", i386Ptrace, unix.AUDIT_ARCH_I386, retKill},
		{"i386 syslog", i386Syslog, unix.AUDIT_ARCH_I386, retKill},
		{"i386 futex_requeue", i386Last, unix.AUDIT_ARCH_I386, retAllow},
		{"i386 above the table", i386Last + 1, unix.AUDIT_ARCH_I386, enosys},
		{"i386 far above", 0x3fffffff, unix.AUDIT_ARCH_I386, enosys},
		{"x32 read", x32Read, nativeAudit, retAllow},
		{"x32 ptrace", x32Ptrace, nativeAudit, retKill},
		// x86_64's ptrace number is a 64-bit-only entry, which the
		// kernel's x32 table leaves out.
		{"x32 at x86_64's ptrace", x32SyscallBit | 101, nativeAudit, enosys},
		{"x32 last", x32Last, nativeAudit, retKill},
		{"x32 above the table", x32Last + 1, nativeAudit, enosys},
		{"x32 far above", x32SyscallBit | 0x3fffffff, nativeAudit, enosys},
		{"x32 gap", x32SyscallBit | 400, nativeAudit, enosys},
		{"aarch64 is not admitted", 1000, unix.AUDIT_ARCH_AARCH64, retKill},
	} {
		assert.Equal(t, tt.want, runVM(t, vm, tt.nr, tt.arch, [6]uint64{}), tt.name)
	}
}

// TestUnknownSyscallsOtherDefaults: a policy whose default is not a kill
// keeps it for unknown numbers too (a Docker profile's EPERM, say).
func TestUnknownSyscallsOtherDefaults(t *testing.T) {
	needAMD64(t)
	for _, def := range []Action{ActErrno(unix.EPERM), ActAllow, ActLog} {
		p := &Policy{DefaultAction: def, NativeOnly: true, Rules: []Rule{{Names: []string{"ptrace"}, Action: ActKill}}}
		vm := filterVM(t, p, CompileOptions{})
		for _, n := range unnamedX8664 {
			assert.Equal(t, ret(def), runVM(t, vm, n, nativeAudit, [6]uint64{}), "%s default, nr %d", def, n)
		}
	}
}

func TestENOSYSStubShape(t *testing.T) {
	// An architecture jail has no numbering for gets no stub at all,
	// rather than one that answers every call with ENOSYS.
	none, err := assembleStub(nil)
	require.NoError(t, err)
	assert.Empty(t, none)

	needAMD64(t)
	abis, err := stubABIs(killPolicy("x86", "x32"))
	require.NoError(t, err)
	require.Len(t, abis, 3)
	assert.Equal(t, uint32(456), abis[0].max, "x86_64: futex_requeue is the last call libseccomp 2.5.4 names")
	assert.Equal(t, [][2]uint32{{335, 423}}, abis[0].holes)
	assert.Equal(t, uint32(unix.AUDIT_ARCH_I386), abis[1].audit)
	assert.Equal(t, uint32(x32SyscallBit), abis[2].base)
}
