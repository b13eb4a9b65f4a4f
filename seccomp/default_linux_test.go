package seccomp

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"jail/internal/testutil"
)

const sigchld = uint64(unix.SIGCHLD)

var atFDCWD = func() uint64 { v := int64(unix.AT_FDCWD); return uint64(v) }()

func needAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "x86_64 syscall numbers and ABIs; this is %s", runtime.GOARCH)
	}
}

func TestDefaultValidates(t *testing.T) {
	p := Default()
	require.NoError(t, p.Validate())
	assert.True(t, p.NativeOnly)
	assert.Equal(t, ActKill, p.DefaultAction)
	// Default hands out copies: changing one must not change the next.
	p.Rules[0].Names[0] = "ptrace"
	assert.NotEqual(t, "ptrace", Default().Rules[0].Names[0])
}

// satisfy returns arguments for which every condition of r holds.
func satisfy(t *testing.T, r Rule) [6]uint64 {
	t.Helper()
	var args [6]uint64
	for _, c := range r.Args {
		switch c.Op {
		case OpEQ, OpGE, OpLE, OpMaskedEQ:
			args[c.Index] = c.Value
		case OpNE, OpGT:
			args[c.Index] = c.Value + 1
		case OpLT:
			require.NotZero(t, c.Value)
			args[c.Index] = c.Value - 1
		}
	}
	return args
}

// TestDefaultEveryRule runs every name of every rule of the default
// policy through the filter, with arguments that satisfy the rule.
func TestDefaultEveryRule(t *testing.T) {
	needAMD64(t)
	p := Default()
	vm := filterVM(t, p, CompileOptions{})
	n := 0
	for i, r := range p.Rules {
		args := satisfy(t, r)
		for _, name := range r.Names {
			got := runVM(t, vm, nr(t, name), nativeAudit, args)
			assert.Equal(t, ret(r.Action), got, "rule %d (%s) %s args %x: want %s", i+1, r.Comment, name, args, r.Action)
			n++
		}
	}
	t.Logf("%d rule/syscall pairs checked", n)
}

func TestDefaultCases(t *testing.T) {
	needAMD64(t)
	vm := filterVM(t, Default(), CompileOptions{})
	const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	tests := []struct {
		name    string
		syscall string
		args    [6]uint64
		want    uint32
	}{
		{"read", "read", [6]uint64{0, 0, 10}, retAllow},
		{"write", "write", [6]uint64{1}, retAllow},
		{"openat", "openat", [6]uint64{atFDCWD}, retAllow},
		{"mmap", "mmap", [6]uint64{}, retAllow},
		{"futex", "futex", [6]uint64{}, retAllow},
		{"execve", "execve", [6]uint64{}, retAllow},
		{"execveat", "execveat", [6]uint64{}, retAllow},
		{"wait4", "wait4", [6]uint64{}, retAllow},
		{"rseq", "rseq", [6]uint64{}, retAllow},

		{"clone without flags", "clone", [6]uint64{sigchld}, retAllow},
		{"clone thread", "clone", [6]uint64{threadFlags}, retAllow},
		{"clone vfork with pidfd", "clone", [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | sigchld}, retAllow},
		{"clone newuser", "clone", [6]uint64{unix.CLONE_NEWUSER | sigchld}, retKill},
		{"clone newuser newns", "clone", [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, retKill},
		{"clone newpid", "clone", [6]uint64{unix.CLONE_NEWPID}, retKill},
		{"clone newnet", "clone", [6]uint64{unix.CLONE_NEWNET}, retKill},
		{"clone newcgroup", "clone", [6]uint64{unix.CLONE_NEWCGROUP}, retKill},
		{"clone newipc", "clone", [6]uint64{unix.CLONE_NEWIPC}, retKill},
		{"clone newuts", "clone", [6]uint64{unix.CLONE_NEWUTS}, retKill},
		{"clone3", "clone3", [6]uint64{}, retErrno(unix.ENOSYS)},
		{"unshare", "unshare", [6]uint64{unix.CLONE_NEWUSER}, retKill},
		{"setns", "setns", [6]uint64{}, retKill},

		{"mount", "mount", [6]uint64{}, retKill},
		{"umount2", "umount2", [6]uint64{}, retKill},
		{"pivot_root", "pivot_root", [6]uint64{}, retKill},
		{"chroot", "chroot", [6]uint64{}, retKill},
		{"move_mount", "move_mount", [6]uint64{}, retKill},
		{"open_tree", "open_tree", [6]uint64{}, retKill},
		{"fsopen", "fsopen", [6]uint64{}, retKill},
		{"fsconfig", "fsconfig", [6]uint64{}, retKill},
		{"fsmount", "fsmount", [6]uint64{}, retKill},
		{"fspick", "fspick", [6]uint64{}, retKill},
		{"mount_setattr", "mount_setattr", [6]uint64{}, retKill},
		{"keyctl", "keyctl", [6]uint64{}, retKill},
		{"add_key", "add_key", [6]uint64{}, retKill},
		{"request_key", "request_key", [6]uint64{}, retKill},
		{"bpf", "bpf", [6]uint64{}, retKill},
		{"perf_event_open", "perf_event_open", [6]uint64{}, retKill},
		{"userfaultfd", "userfaultfd", [6]uint64{}, retKill},
		{"io_uring_setup", "io_uring_setup", [6]uint64{}, retErrno(unix.ENOSYS)},
		{"io_uring_enter", "io_uring_enter", [6]uint64{}, retErrno(unix.ENOSYS)},
		{"io_uring_register", "io_uring_register", [6]uint64{}, retErrno(unix.ENOSYS)},
		{"ptrace", "ptrace", [6]uint64{unix.PTRACE_TRACEME}, retKill},
		{"process_vm_readv", "process_vm_readv", [6]uint64{}, retKill},
		{"kexec_load", "kexec_load", [6]uint64{}, retKill},
		{"kexec_file_load", "kexec_file_load", [6]uint64{}, retKill},
		{"init_module", "init_module", [6]uint64{}, retKill},
		{"finit_module", "finit_module", [6]uint64{}, retKill},
		{"delete_module", "delete_module", [6]uint64{}, retKill},
		{"open_by_handle_at", "open_by_handle_at", [6]uint64{}, retKill},
		{"name_to_handle_at", "name_to_handle_at", [6]uint64{}, retErrno(unix.EOPNOTSUPP)},
		{"reboot", "reboot", [6]uint64{}, retKill},
		{"swapon", "swapon", [6]uint64{}, retKill},
		{"swapoff", "swapoff", [6]uint64{}, retKill},
		{"acct", "acct", [6]uint64{}, retKill},
		{"settimeofday", "settimeofday", [6]uint64{}, retKill},
		{"clock_settime", "clock_settime", [6]uint64{}, retKill},
		{"adjtimex", "adjtimex", [6]uint64{}, retErrno(unix.EPERM)},
		{"clock_adjtime", "clock_adjtime", [6]uint64{}, retErrno(unix.EPERM)},
		{"modify_ldt not allowed", "modify_ldt", [6]uint64{}, retKill},
		{"iopl not allowed", "iopl", [6]uint64{}, retKill},
		{"syslog not allowed", "syslog", [6]uint64{}, retKill},

		{"personality linux", "personality", [6]uint64{0}, retAllow},
		{"personality query", "personality", [6]uint64{0xffffffff}, retAllow},
		{"personality linux32", "personality", [6]uint64{8}, retAllow},
		{"personality uname26", "personality", [6]uint64{0x20000}, retAllow},
		{"personality uname26 linux32", "personality", [6]uint64{0x20008}, retAllow},
		{"personality addr_no_randomize", "personality", [6]uint64{0x0040000}, retErrno(unix.EPERM)},
		{"personality read_implies_exec", "personality", [6]uint64{0x0400000}, retKill},
		{"personality addr_no_randomize linux32", "personality", [6]uint64{0x0040008}, retKill},

		{"ioctl TCGETS", "ioctl", [6]uint64{0, unix.TCGETS}, retAllow},
		{"ioctl TIOCGWINSZ", "ioctl", [6]uint64{1, unix.TIOCGWINSZ}, retAllow},
		{"ioctl FIONREAD", "ioctl", [6]uint64{3, 0x541B}, retAllow},
		{"ioctl FIOCLEX", "ioctl", [6]uint64{3, 0x5451}, retAllow},
		{"ioctl TIOCSPGRP", "ioctl", [6]uint64{0, unix.TIOCSPGRP}, retAllow},
		{"ioctl with bit 31", "ioctl", [6]uint64{0, 0x80085401}, retAllow},
		{"ioctl neighbour of TIOCSTI", "ioctl", [6]uint64{0, unix.TIOCSTI + 1}, retAllow},
		{"ioctl TIOCSTI", "ioctl", [6]uint64{0, unix.TIOCSTI}, retKill},
		{"ioctl TIOCLINUX", "ioctl", [6]uint64{0, unix.TIOCLINUX}, retKill},
		{"ioctl TIOCSTI with high bits", "ioctl", [6]uint64{0, 1<<32 | unix.TIOCSTI}, retKill},
		{"ioctl TIOCLINUX with high bits", "ioctl", [6]uint64{0, 0xdead_0000_0000_0000 | unix.TIOCLINUX}, retKill},
		{"ioctl TCGETS with high bits", "ioctl", [6]uint64{0, 1<<40 | unix.TCGETS}, retAllow},

		{"socket unix stream", "socket", [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, retAllow},
		{"socket unix seqpacket", "socket", [6]uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET}, retAllow},
		{"socket inet stream", "socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, retAllow},
		{"socket inet dgram nonblock", "socket", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_NONBLOCK, unix.IPPROTO_UDP}, retAllow},
		{"socket inet icmp dgram", "socket", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, retAllow},
		{"socket inet6 stream", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, retAllow},
		{"socket inet6 dgram", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM}, retAllow},
		{"socket netlink route", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}, retAllow},
		{"socket netlink audit", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, retErrno(unix.EPERM)},
		{"socket inet raw", "socket", [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, retErrno(unix.EPERM)},
		{"socket inet6 raw cloexec", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_RAW | unix.SOCK_CLOEXEC}, retErrno(unix.EPERM)},
		{"socket packet", "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}, retErrno(unix.EPERM)},
		{"socket packet dgram", "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_DGRAM}, retErrno(unix.EPERM)},
		{"socket vsock", "socket", [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, retErrno(unix.EAFNOSUPPORT)},
		{"socket vsock with high bits", "socket", [6]uint64{1<<33 | unix.AF_VSOCK, unix.SOCK_STREAM}, retErrno(unix.EAFNOSUPPORT)},
		{"socket alg", "socket", [6]uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}, retKill},
		{"socket inet sctp seqpacket", "socket", [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET}, retKill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runVM(t, vm, nr(t, tt.syscall), nativeAudit, tt.args))
		})
	}
}

// TestDefaultNonNativeABIs checks that i386 and x32 calls die whatever
// the syscall, even those the native ABI allows.
func TestDefaultNonNativeABIs(t *testing.T) {
	needAMD64(t)
	vm := filterVM(t, Default(), CompileOptions{})
	for _, name := range []string{"read", "write", "getpid", "exit_group"} {
		n := nr(t, name)
		assert.Equal(t, retAllow, runVM(t, vm, n, nativeAudit, [6]uint64{}), "native %s", name)
		assert.Equal(t, retKill, runVM(t, vm, n|x32SyscallBit, nativeAudit, [6]uint64{}), "x32 %s", name)
	}
	// i386 numbers: read 3, write 4, getpid 20, exit_group 252.
	for _, n := range []int32{3, 4, 20, 252} {
		assert.Equal(t, retKill, runVM(t, vm, n, unix.AUDIT_ARCH_I386, [6]uint64{}), "i386 syscall %d", n)
	}
	assert.Equal(t, retKill, runVM(t, vm, 63, unix.AUDIT_ARCH_AARCH64, [6]uint64{}), "aarch64 read")
}

// TestDefaultNotify checks KillAs notify: every kill becomes a user
// notification, but errno rules and bad ABIs are unchanged.
func TestDefaultNotify(t *testing.T) {
	needAMD64(t)
	p := Default()
	prog, err := p.Compile(CompileOptions{KillAs: "notify"})
	require.NoError(t, err)
	assert.True(t, prog.Notify)
	vm := filterVM(t, p, CompileOptions{KillAs: "notify"})
	notify := uint32(unix.SECCOMP_RET_USER_NOTIF)
	assert.Equal(t, notify, runVM(t, vm, nr(t, "ptrace"), nativeAudit, [6]uint64{}))
	assert.Equal(t, notify, runVM(t, vm, nr(t, "syslog"), nativeAudit, [6]uint64{}), "default action")
	assert.Equal(t, notify, runVM(t, vm, nr(t, "clone"), nativeAudit, [6]uint64{unix.CLONE_NEWUSER}))
	assert.Equal(t, notify, runVM(t, vm, nr(t, "ioctl"), nativeAudit, [6]uint64{0, unix.TIOCSTI}))
	assert.Equal(t, retAllow, runVM(t, vm, nr(t, "read"), nativeAudit, [6]uint64{}))
	assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, vm, nr(t, "clone3"), nativeAudit, [6]uint64{}))
	assert.Equal(t, retKill, runVM(t, vm, 20, unix.AUDIT_ARCH_I386, [6]uint64{}), "bad arch stays kill")

	plain, err := p.Compile(CompileOptions{})
	require.NoError(t, err)
	assert.False(t, plain.Notify)
}

func TestStrictDeniesEverySocket(t *testing.T) {
	vm := filterVM(t, Strict(), CompileOptions{})
	eacces := ret(ActErrno(unix.EACCES))
	for _, af := range []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6} {
		got := runVM(t, vm, nr(t, "socket"), unix.AUDIT_ARCH_X86_64, [6]uint64{af, unix.SOCK_STREAM})
		assert.Equal(t, eacces, got, "socket(%d)", af)
	}
	assert.Equal(t, eacces, runVM(t, vm, nr(t, "socketpair"), unix.AUDIT_ARCH_X86_64, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}))
	// Everything else is Default's.
	assert.Equal(t, ret(ActKill), runVM(t, vm, nr(t, "ptrace"), unix.AUDIT_ARCH_X86_64, [6]uint64{}))
	assert.Equal(t, ret(ActAllow), runVM(t, vm, nr(t, "read"), unix.AUDIT_ARCH_X86_64, [6]uint64{}))
	assert.Equal(t, "strict", Strict().Name)
}
