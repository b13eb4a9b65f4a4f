package seccomp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestDescribe(t *testing.T) {
	needAMD64(t)
	tests := []struct {
		want string
		nr   int32
		arch uint32
		args [6]uint64
	}{
		{"socket(AF_ALG, …)", 41, nativeAudit, [6]uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}},
		{"socket(AF_UNSPEC, …)", 41, nativeAudit, [6]uint64{unix.AF_UNSPEC, unix.SOCK_STREAM}},
		{"socket(AF_ALG, …)", 41, nativeAudit, [6]uint64{1<<32 | unix.AF_ALG}},
		{"socket(0x3e8, …)", 41, nativeAudit, [6]uint64{1000}},
		{"socket(AF_INET, SOCK_SEQPACKET, …)", 41, nativeAudit, [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET | unix.SOCK_CLOEXEC}},
		{"socket(AF_INET6, SOCK_RAW, …)", 41, nativeAudit, [6]uint64{unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6}},
		{"socket(AF_INET, 0xb, …)", 41, nativeAudit, [6]uint64{unix.AF_INET, 11}},
		{"socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)", 41, nativeAudit, [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}},
		{"socket(AF_NETLINK, SOCK_DGRAM, 0x100000000)", 41, nativeAudit, [6]uint64{unix.AF_NETLINK, unix.SOCK_DGRAM, 1 << 32}},
		{"socket(AF_NETLINK, SOCK_STREAM, …)", 41, nativeAudit, [6]uint64{unix.AF_NETLINK, unix.SOCK_STREAM}},
		{"socket(AF_PACKET, …)", 41, nativeAudit, [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}},
		{"socketpair(AF_UNIX, …)", 53, nativeAudit, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}},
		{"ioctl(TIOCSTI)", 16, nativeAudit, [6]uint64{0, unix.TIOCSTI}},
		{"ioctl(TIOCSTI)", 16, nativeAudit, [6]uint64{0, 1<<32 | unix.TIOCSTI}},
		{"ioctl(TIOCLINUX)", 16, nativeAudit, [6]uint64{0, unix.TIOCLINUX}},
		{"ioctl(0xdead)", 16, nativeAudit, [6]uint64{0, 0xdead}},
		{"clone(CLONE_NEWUSER)", 56, nativeAudit, [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_VM | uint64(unix.SIGCHLD)}},
		{"clone(CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWNET)", 56, nativeAudit, [6]uint64{unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWNS}},
		{"clone", 56, nativeAudit, [6]uint64{uint64(unix.SIGCHLD)}},
		{"unshare(CLONE_NEWNS|CLONE_NEWUSER)", 272, nativeAudit, [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}},
		{"unshare(CLONE_FILES)", 272, nativeAudit, [6]uint64{unix.CLONE_FILES}},
		{"unshare(CLONE_NEWUSER|0x1)", 272, nativeAudit, [6]uint64{unix.CLONE_NEWUSER | 1}},
		{"unshare(0)", 272, nativeAudit, [6]uint64{}},
		{"unshare(CLONE_NEWTIME)", 272, nativeAudit, [6]uint64{unix.CLONE_NEWTIME}},
		{"clone", 56, nativeAudit, [6]uint64{unix.CLONE_NEWTIME}}, // clone reads that bit as part of the exit signal
		{"setns(CLONE_NEWNET)", 308, nativeAudit, [6]uint64{3, unix.CLONE_NEWNET}},
		{"setns", 308, nativeAudit, [6]uint64{3, 0}},
		{"personality(ADDR_NO_RANDOMIZE)", 135, nativeAudit, [6]uint64{0x0040000}},
		{"personality(READ_IMPLIES_EXEC)", 135, nativeAudit, [6]uint64{0x0400000}},
		{"personality(PER_LINUX32|ADDR_NO_RANDOMIZE)", 135, nativeAudit, [6]uint64{0x0040008}},
		{"personality(UNAME26|ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC)", 135, nativeAudit, [6]uint64{0x0460000}},
		{"personality(PER_LINUX)", 135, nativeAudit, [6]uint64{0}},
		{"personality(0x5)", 135, nativeAudit, [6]uint64{5}},
		{"personality(0x100000000)", 135, nativeAudit, [6]uint64{1 << 32}},
		{"ptrace", 101, nativeAudit, [6]uint64{unix.PTRACE_ATTACH, 1}},
		{"mount", 165, nativeAudit, [6]uint64{}},
		{"keyctl", 250, nativeAudit, [6]uint64{}},
		{"syscall_460", 460, nativeAudit, [6]uint64{}},
		{"getpid (x32)", x32SyscallBit | 39, nativeAudit, [6]uint64{}},
		{"socket (x32)", x32SyscallBit | 41, nativeAudit, [6]uint64{unix.AF_ALG}},
		{"getpid (x86)", 20, unix.AUDIT_ARCH_I386, [6]uint64{}},
		{"read (aarch64)", 63, unix.AUDIT_ARCH_AARCH64, [6]uint64{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Describe(tt.arch, tt.nr, tt.args), "nr %d arch %#x args %x", tt.nr, tt.arch, tt.args)
	}
}
