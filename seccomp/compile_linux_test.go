package seccomp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCompileActionsAndOps(t *testing.T) {
	needAMD64(t)
	p := &Policy{
		DefaultAction: ActErrno(unix.ENOSYS),
		NativeOnly:    true,
		Rules: []Rule{
			{Names: []string{"getpid"}, Action: ActAllow},
			{Names: []string{"getppid"}, Action: ActKill},
			{Names: []string{"gettid"}, Action: ActLog},
			{Names: []string{"getuid"}, Action: Action{Kind: Notify}},
			{Names: []string{"getgid"}, Action: ActErrno(unix.ENOSYS)}, // same as default: skipped
			{Names: []string{"read"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpEQ, Value: 3}}},
			{Names: []string{"write"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpNE, Value: 3}}},
			{Names: []string{"close"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpLT, Value: 3}}},
			{Names: []string{"dup"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpLE, Value: 3}}},
			{Names: []string{"dup2"}, Action: ActAllow, Args: []ArgCond{{Index: 1, Op: OpGT, Value: 3}}},
			{Names: []string{"fsync"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpGE, Value: 3}}},
			{Names: []string{"lseek"}, Action: ActAllow, Args: []ArgCond{{Index: 2, Op: OpMaskedEQ, Mask: 0xf, Value: 1}}},
			{Names: []string{"kill"}, Action: ActAllow, Args: []ArgCond{{Index: 0, Op: OpEQ, Value: 1}, {Index: 1, Op: OpEQ, Value: 9}}},
		},
	}
	vm := filterVM(t, p, CompileOptions{})
	enosys := retErrno(unix.ENOSYS)
	tests := []struct {
		name    string
		syscall string
		args    [6]uint64
		want    uint32
	}{
		{"allow", "getpid", [6]uint64{}, retAllow},
		{"kill", "getppid", [6]uint64{}, retKill},
		{"log", "gettid", [6]uint64{}, unix.SECCOMP_RET_LOG},
		{"notify", "getuid", [6]uint64{}, unix.SECCOMP_RET_USER_NOTIF},
		{"rule equal to default", "getgid", [6]uint64{}, enosys},
		{"default", "getegid", [6]uint64{}, enosys},
		{"eq hit", "read", [6]uint64{3}, retAllow},
		{"eq miss", "read", [6]uint64{4}, enosys},
		{"eq high bits", "read", [6]uint64{1<<32 | 3}, enosys},
		{"ne hit", "write", [6]uint64{4}, retAllow},
		{"ne miss", "write", [6]uint64{3}, enosys},
		{"lt hit", "close", [6]uint64{2}, retAllow},
		{"lt miss", "close", [6]uint64{3}, enosys},
		{"le hit", "dup", [6]uint64{3}, retAllow},
		{"le miss", "dup", [6]uint64{4}, enosys},
		{"gt hit", "dup2", [6]uint64{0, 4}, retAllow},
		{"gt miss", "dup2", [6]uint64{0, 3}, enosys},
		{"gt 64-bit", "dup2", [6]uint64{0, 1 << 40}, retAllow},
		{"ge hit", "fsync", [6]uint64{3}, retAllow},
		{"ge miss", "fsync", [6]uint64{2}, enosys},
		{"masked_eq hit", "lseek", [6]uint64{0, 0, 0xf1}, retAllow},
		{"masked_eq miss", "lseek", [6]uint64{0, 0, 0x2}, enosys},
		{"and both", "kill", [6]uint64{1, 9}, retAllow},
		{"and one", "kill", [6]uint64{1, 15}, enosys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runVM(t, vm, nr(t, tt.syscall), nativeAudit, tt.args))
		})
	}
}

func TestCompileArches(t *testing.T) {
	needAMD64(t)
	rules := []Rule{{Names: []string{"getpid"}, Action: ActAllow}}
	const i386Getpid = 20
	getpid := nr(t, "getpid")
	tests := []struct {
		name              string
		nativeOnly        bool
		arches            []string
		native, i386, x32 uint32
	}{
		{name: "native only", nativeOnly: true, native: retAllow, i386: retKill, x32: retKill},
		{name: "x86 admitted", arches: []string{"x86"}, native: retAllow, i386: retAllow, x32: retKill},
		{name: "x32 admitted", arches: []string{"x32"}, native: retAllow, i386: retKill, x32: retAllow},
		{name: "all compat", native: retAllow, i386: retAllow, x32: retAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := filterVM(t, &Policy{DefaultAction: ActErrno(unix.EPERM), NativeOnly: tt.nativeOnly, Arches: tt.arches, Rules: rules}, CompileOptions{})
			assert.Equal(t, tt.native, runVM(t, vm, getpid, nativeAudit, [6]uint64{}), "x86_64")
			assert.Equal(t, tt.i386, runVM(t, vm, i386Getpid, unix.AUDIT_ARCH_I386, [6]uint64{}), "i386")
			assert.Equal(t, tt.x32, runVM(t, vm, getpid|x32SyscallBit, nativeAudit, [6]uint64{}), "x32")
		})
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := (&Policy{DefaultAction: ActKill}).Compile(CompileOptions{KillAs: "trap"})
	assert.ErrorContains(t, err, `KillAs "trap": want kill or notify`)
	_, err = (&Policy{DefaultAction: ActKill, Rules: []Rule{{Names: []string{"nope"}, Action: ActAllow}}}).Compile(CompileOptions{})
	assert.ErrorContains(t, err, `unknown syscall "nope"`)
}

func TestParseProgram(t *testing.T) {
	_, err := ParseProgram(make([]byte, 12))
	assert.ErrorContains(t, err, "not a whole number")
	_, err = ParseProgram(nil)
	assert.ErrorContains(t, err, "not a whole number")
	p, err := ParseProgram([]byte{0x06, 0x00, 1, 2, 0x00, 0x00, 0xff, 0x7f})
	require.NoError(t, err)
	assert.Equal(t, []unix.SockFilter{{Code: 0x06, Jt: 1, Jf: 2, K: 0x7fff0000}}, p.Instructions)
	assert.Equal(t, uint16(1), p.Fprog().Len)
}

func TestSyscallAndArchNames(t *testing.T) {
	needAMD64(t)
	tests := []struct {
		nr        int32
		arch      uint32
		name, abi string
	}{
		{nr: unix.SYS_PTRACE, arch: unix.AUDIT_ARCH_X86_64, name: "ptrace", abi: "x86_64"},
		{nr: unix.SYS_GETPPID, arch: unix.AUDIT_ARCH_X86_64, name: "getppid", abi: "x86_64"},
		{nr: 26, arch: unix.AUDIT_ARCH_I386, name: "ptrace", abi: "x86"},
		// x32 has its own ptrace entry, 512+9.
		{nr: x32SyscallBit | 521, arch: unix.AUDIT_ARCH_X86_64, name: "ptrace", abi: "x32"},
		{nr: 117, arch: unix.AUDIT_ARCH_AARCH64, name: "ptrace", abi: "aarch64"},
		{nr: 9999, arch: unix.AUDIT_ARCH_X86_64, name: "syscall_9999", abi: "x86_64"},
		{nr: 1, arch: 0x1234, name: "syscall_1", abi: "0x1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.abi, func(t *testing.T) {
			assert.Equal(t, tt.name, SyscallName(tt.nr, tt.arch))
			assert.Equal(t, tt.abi, ABIName(tt.nr, tt.arch))
		})
	}
	assert.Equal(t, "x86_64", ArchName(unix.AUDIT_ARCH_X86_64))
	assert.Equal(t, "x86", ArchName(unix.AUDIT_ARCH_I386))
	assert.Equal(t, "aarch64", ArchName(unix.AUDIT_ARCH_AARCH64))
}

func TestCompileArgRulesOnCompatABIs(t *testing.T) {
	needAMD64(t)
	p := Default()
	p.NativeOnly = false
	_, err := p.Compile(CompileOptions{})
	require.Error(t, err, "socket argument rules cannot all be added behind i386's socketcall")
	assert.Contains(t, err.Error(), "adding socket for amd64/x86/x32")
	assert.Contains(t, err.Error(), "set native_only")
}
