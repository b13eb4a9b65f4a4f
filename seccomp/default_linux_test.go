package seccomp

import (
	"runtime"
	"slices"
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
	assert.Equal(t, ActErrno(unix.ENOSYS), p.DefaultAction, "a call outside the allowlist fails as on a kernel without it")
	// Default hands out copies: changing one must not change the next.
	p.Rules[0].Names[0] = "ptrace"
	assert.NotEqual(t, "ptrace", Default().Rules[0].Names[0])

	s := Strict()
	require.NoError(t, s.Validate())
	assert.True(t, s.NativeOnly)
	assert.Equal(t, ActKill, s.DefaultAction, "a judge kills what it does not allow")
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

// TestDefaultEveryRule runs every name of every rule of the built-in
// policies through the filter, with arguments that satisfy the rule.
func TestDefaultEveryRule(t *testing.T) {
	needAMD64(t)
	for _, p := range Builtins() {
		vm := filterVM(t, p, CompileOptions{})
		n := 0
		for i, r := range p.Rules {
			args := satisfy(t, r)
			for _, name := range r.Names {
				got := runVM(t, vm, nr(t, name), nativeAudit, args)
				assert.Equal(t, ret(r.Action), got, "%s rule %d (%s) %s args %x: want %s", p.Name, i+1, r.Comment, name, args, r.Action)
				n++
			}
		}
		t.Logf("%s: %d rule/syscall pairs checked", p.Name, n)
	}
}

// TestBuiltinCases checks every line of default.go's class table for both
// built-ins: the errno default gives (what a plain unprivileged process
// would see) and what strict gives (a kill for a judge, or the same errno
// where every runtime probes the call).
func TestBuiltinCases(t *testing.T) {
	needAMD64(t)
	def := filterVM(t, Default(), CompileOptions{})
	strict := filterVM(t, Strict(), CompileOptions{})
	const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	var (
		enosys          = retErrno(unix.ENOSYS)
		eperm           = retErrno(unix.EPERM)
		eacces          = retErrno(unix.EACCES)
		eafnosupport    = retErrno(unix.EAFNOSUPPORT)
		esocktnosupport = retErrno(unix.ESOCKTNOSUPPORT)
		eprotonosupport = retErrno(unix.EPROTONOSUPPORT)
		einval          = retErrno(unix.EINVAL)
	)
	tests := []struct {
		name        string
		syscall     string
		args        [6]uint64
		def, strict uint32
	}{
		{"read", "read", [6]uint64{0, 0, 10}, retAllow, retAllow},
		{"write", "write", [6]uint64{1}, retAllow, retAllow},
		{"openat", "openat", [6]uint64{atFDCWD}, retAllow, retAllow},
		{"mmap", "mmap", [6]uint64{}, retAllow, retAllow},
		{"futex", "futex", [6]uint64{}, retAllow, retAllow},
		{"execve", "execve", [6]uint64{}, retAllow, retAllow},
		{"execveat", "execveat", [6]uint64{}, retAllow, retAllow},
		{"wait4", "wait4", [6]uint64{}, retAllow, retAllow},
		{"rseq", "rseq", [6]uint64{}, retAllow, retAllow},

		// new namespaces
		{"clone without flags", "clone", [6]uint64{sigchld}, retAllow, retAllow},
		{"clone thread", "clone", [6]uint64{threadFlags}, retAllow, retAllow},
		{"clone vfork with pidfd", "clone", [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | sigchld}, retAllow, retAllow},
		{"clone newuser", "clone", [6]uint64{unix.CLONE_NEWUSER | sigchld}, retKill, retKill},
		{"clone newuser newns", "clone", [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, retKill, retKill},
		{"clone newns", "clone", [6]uint64{unix.CLONE_NEWNS}, retKill, retKill},
		{"clone newpid", "clone", [6]uint64{unix.CLONE_NEWPID}, retKill, retKill},
		{"clone newnet", "clone", [6]uint64{unix.CLONE_NEWNET}, retKill, retKill},
		{"clone newcgroup", "clone", [6]uint64{unix.CLONE_NEWCGROUP}, retKill, retKill},
		{"clone newipc", "clone", [6]uint64{unix.CLONE_NEWIPC}, retKill, retKill},
		{"clone newuts", "clone", [6]uint64{unix.CLONE_NEWUTS}, retKill, retKill},
		{"unshare", "unshare", [6]uint64{unix.CLONE_NEWUSER}, retKill, retKill},
		{"unshare files", "unshare", [6]uint64{unix.CLONE_FILES}, retKill, retKill},
		{"setns", "setns", [6]uint64{}, retKill, retKill},
		// clone3
		{"clone3", "clone3", [6]uint64{}, enosys, enosys},
		// kernel keyring, bpf, perf, userfaultfd
		{"keyctl", "keyctl", [6]uint64{}, retKill, retKill},
		{"add_key", "add_key", [6]uint64{}, retKill, retKill},
		{"request_key", "request_key", [6]uint64{}, retKill, retKill},
		{"bpf", "bpf", [6]uint64{}, retKill, retKill},
		{"perf_event_open", "perf_event_open", [6]uint64{}, retKill, retKill},
		{"userfaultfd", "userfaultfd", [6]uint64{}, retKill, retKill},
		// ptrace family
		{"ptrace", "ptrace", [6]uint64{unix.PTRACE_TRACEME}, retKill, retKill},
		{"process_vm_readv", "process_vm_readv", [6]uint64{}, retKill, retKill},
		{"process_vm_writev", "process_vm_writev", [6]uint64{}, retKill, retKill},
		{"kcmp", "kcmp", [6]uint64{}, retKill, retKill},
		{"pidfd_getfd", "pidfd_getfd", [6]uint64{}, retKill, retKill},
		{"process_madvise", "process_madvise", [6]uint64{}, retKill, retKill},
		// terminal injection
		{"ioctl TCGETS", "ioctl", [6]uint64{0, unix.TCGETS}, retAllow, retAllow},
		{"ioctl TIOCGWINSZ", "ioctl", [6]uint64{1, unix.TIOCGWINSZ}, retAllow, retAllow},
		{"ioctl FIONREAD", "ioctl", [6]uint64{3, 0x541B}, retAllow, retAllow},
		{"ioctl FIOCLEX", "ioctl", [6]uint64{3, 0x5451}, retAllow, retAllow},
		{"ioctl TIOCSPGRP", "ioctl", [6]uint64{0, unix.TIOCSPGRP}, retAllow, retAllow},
		{"ioctl with bit 31", "ioctl", [6]uint64{0, 0x80085401}, retAllow, retAllow},
		{"ioctl neighbour of TIOCSTI", "ioctl", [6]uint64{0, unix.TIOCSTI + 1}, retAllow, retAllow},
		{"ioctl TIOCSTI", "ioctl", [6]uint64{0, unix.TIOCSTI}, retKill, retKill},
		{"ioctl TIOCLINUX", "ioctl", [6]uint64{0, unix.TIOCLINUX}, retKill, retKill},
		{"ioctl TIOCSTI with high bits", "ioctl", [6]uint64{0, 1<<32 | unix.TIOCSTI}, retKill, retKill},
		{"ioctl TIOCLINUX with high bits", "ioctl", [6]uint64{0, 0xdead_0000_0000_0000 | unix.TIOCLINUX}, retKill, retKill},
		{"ioctl TCGETS with high bits", "ioctl", [6]uint64{0, 1<<40 | unix.TCGETS}, retAllow, retAllow},
		// mounts
		{"mount", "mount", [6]uint64{}, eperm, retKill},
		{"umount2", "umount2", [6]uint64{}, eperm, retKill},
		{"pivot_root", "pivot_root", [6]uint64{}, eperm, retKill},
		{"chroot", "chroot", [6]uint64{}, eperm, retKill},
		{"move_mount", "move_mount", [6]uint64{}, eperm, retKill},
		{"open_tree", "open_tree", [6]uint64{}, eperm, retKill},
		{"fsopen", "fsopen", [6]uint64{}, eperm, retKill},
		{"fsconfig", "fsconfig", [6]uint64{}, eperm, retKill},
		{"fsmount", "fsmount", [6]uint64{}, eperm, retKill},
		{"fspick", "fspick", [6]uint64{}, eperm, retKill},
		{"mount_setattr", "mount_setattr", [6]uint64{}, eperm, retKill},
		// kexec / modules
		{"kexec_load", "kexec_load", [6]uint64{}, eperm, retKill},
		{"kexec_file_load", "kexec_file_load", [6]uint64{}, eperm, retKill},
		{"init_module", "init_module", [6]uint64{}, eperm, retKill},
		{"finit_module", "finit_module", [6]uint64{}, eperm, retKill},
		{"delete_module", "delete_module", [6]uint64{}, eperm, retKill},
		// file handles
		{"open_by_handle_at", "open_by_handle_at", [6]uint64{}, eperm, retKill},
		{"name_to_handle_at", "name_to_handle_at", [6]uint64{}, retErrno(unix.EOPNOTSUPP), retErrno(unix.EOPNOTSUPP)},
		// host administration
		{"reboot", "reboot", [6]uint64{}, eperm, retKill},
		{"swapon", "swapon", [6]uint64{}, eperm, retKill},
		{"swapoff", "swapoff", [6]uint64{}, eperm, retKill},
		{"acct", "acct", [6]uint64{}, eperm, retKill},
		{"syslog", "syslog", [6]uint64{}, eperm, retKill},
		{"vhangup", "vhangup", [6]uint64{}, eperm, retKill},
		{"sethostname", "sethostname", [6]uint64{}, eperm, retKill},
		{"setdomainname", "setdomainname", [6]uint64{}, eperm, retKill},
		{"iopl", "iopl", [6]uint64{}, eperm, retKill},
		{"ioperm", "ioperm", [6]uint64{}, eperm, retKill},
		{"quotactl", "quotactl", [6]uint64{}, eperm, retKill},
		{"quotactl_fd", "quotactl_fd", [6]uint64{}, eperm, retKill},
		{"fanotify_init", "fanotify_init", [6]uint64{}, eperm, retKill},
		// clock setting and tuning
		{"settimeofday", "settimeofday", [6]uint64{}, eperm, retKill},
		{"clock_settime", "clock_settime", [6]uint64{}, eperm, retKill},
		{"adjtimex", "adjtimex", [6]uint64{}, eperm, eperm},
		{"clock_adjtime", "clock_adjtime", [6]uint64{}, eperm, eperm},
		// personality
		{"personality linux", "personality", [6]uint64{0}, retAllow, retAllow},
		{"personality query", "personality", [6]uint64{0xffffffff}, retAllow, retAllow},
		{"personality linux32", "personality", [6]uint64{8}, retAllow, retAllow},
		{"personality uname26", "personality", [6]uint64{0x20000}, retAllow, retAllow},
		{"personality uname26 linux32", "personality", [6]uint64{0x20008}, retAllow, retAllow},
		{"personality addr_no_randomize", "personality", [6]uint64{0x0040000}, eperm, eperm},
		{"personality read_implies_exec", "personality", [6]uint64{0x0400000}, eperm, retKill},
		{"personality addr_no_randomize linux32", "personality", [6]uint64{0x0040008}, eperm, retKill},
		{"personality 1", "personality", [6]uint64{1}, eperm, retKill},
		{"personality 0xfffffffe", "personality", [6]uint64{0xfffffffe}, eperm, retKill},
		{"personality linux with high bits", "personality", [6]uint64{1 << 32}, eperm, retKill},
		{"personality top", "personality", [6]uint64{^uint64(0)}, eperm, retKill},
		// io_uring
		{"io_uring_setup", "io_uring_setup", [6]uint64{}, enosys, enosys},
		{"io_uring_enter", "io_uring_enter", [6]uint64{}, enosys, enosys},
		{"io_uring_register", "io_uring_register", [6]uint64{}, enosys, enosys},
		// sockets: strict has none
		{"socket unix stream", "socket", [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, retAllow, eacces},
		{"socket unix seqpacket", "socket", [6]uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET}, retAllow, eacces},
		{"socketpair unix", "socketpair", [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}, retAllow, eacces},
		{"socket inet stream", "socket", [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, retAllow, eacces},
		{"socket inet dgram nonblock", "socket", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_NONBLOCK, unix.IPPROTO_UDP}, retAllow, eacces},
		{"socket inet icmp dgram", "socket", [6]uint64{unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, retAllow, eacces},
		{"socket inet6 stream", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, retAllow, eacces},
		{"socket inet6 dgram", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM}, retAllow, eacces},
		{"socket inet stream with high bits", "socket", [6]uint64{1<<32 | unix.AF_INET, unix.SOCK_STREAM}, retAllow, eacces},
		{"socket inet raw", "socket", [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, eperm, eacces},
		{"socket inet6 raw cloexec", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_RAW | unix.SOCK_CLOEXEC}, eperm, eacces},
		{"socket inet sock_packet", "socket", [6]uint64{unix.AF_INET, unix.SOCK_PACKET}, eperm, eacces},
		{"socket packet", "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}, eperm, eacces},
		{"socket packet dgram", "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_DGRAM}, eperm, eacces},
		{"socket inet seqpacket", "socket", [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET}, esocktnosupport, eacces},
		{"socket inet seqpacket sctp", "socket", [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP}, esocktnosupport, eacces},
		{"socket inet6 seqpacket nonblock", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_SEQPACKET | unix.SOCK_NONBLOCK}, esocktnosupport, eacces},
		{"socket inet rdm", "socket", [6]uint64{unix.AF_INET, unix.SOCK_RDM}, esocktnosupport, eacces},
		{"socket inet dccp", "socket", [6]uint64{unix.AF_INET, unix.SOCK_DCCP}, esocktnosupport, eacces},
		{"socket inet type 0", "socket", [6]uint64{unix.AF_INET, 0}, esocktnosupport, eacces},
		{"socket inet6 sock_packet", "socket", [6]uint64{unix.AF_INET6, unix.SOCK_PACKET}, esocktnosupport, eacces},
		{"socket inet type 11", "socket", [6]uint64{unix.AF_INET, 11}, einval, eacces},
		{"socket inet6 type 15", "socket", [6]uint64{unix.AF_INET6, 15}, einval, eacces},
		{"socket netlink route", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}, retAllow, eacces},
		{"socket netlink route dgram", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_ROUTE}, retAllow, eacces},
		{"socket netlink audit", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, eprotonosupport, eacces},
		{"socket netlink route with high bits", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, 1<<32 | unix.NETLINK_ROUTE}, eprotonosupport, eacces},
		{"socket netlink stream", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_STREAM, 0}, esocktnosupport, eacces},
		{"socket netlink seqpacket", "socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_SEQPACKET, unix.NETLINK_ROUTE}, esocktnosupport, eacces},
		{"socket vsock", "socket", [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, eafnosupport, eacces},
		{"socket vsock with high bits", "socket", [6]uint64{1<<33 | unix.AF_VSOCK, unix.SOCK_STREAM}, eafnosupport, eacces},
		{"socket unspec", "socket", [6]uint64{unix.AF_UNSPEC, unix.SOCK_STREAM}, eafnosupport, eacces},
		{"socket alg", "socket", [6]uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}, eafnosupport, eacces},
		{"socket bluetooth", "socket", [6]uint64{unix.AF_BLUETOOTH, unix.SOCK_RAW}, eafnosupport, eacces},
		{"socket key", "socket", [6]uint64{unix.AF_KEY, unix.SOCK_RAW}, eafnosupport, eacces},
		{"socket tipc", "socket", [6]uint64{unix.AF_TIPC, unix.SOCK_RDM}, eafnosupport, eacces},
		{"socket past AF_MAX", "socket", [6]uint64{1000, unix.SOCK_STREAM}, eafnosupport, eacces},
		{"socket top domain", "socket", [6]uint64{0xffffffff, unix.SOCK_STREAM}, eafnosupport, eacces},
		// everything else
		{"modify_ldt", "modify_ldt", [6]uint64{}, enosys, retKill},
		{"uselib", "uselib", [6]uint64{}, enosys, retKill},
		{"_sysctl", "_sysctl", [6]uint64{}, enosys, retKill},
		{"nfsservctl", "nfsservctl", [6]uint64{}, enosys, retKill},
		{"lookup_dcookie", "lookup_dcookie", [6]uint64{}, enosys, retKill},
		{"move_pages", "move_pages", [6]uint64{}, enosys, retKill},
		{"tuxcall", "tuxcall", [6]uint64{}, enosys, retKill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := nr(t, tt.syscall)
			assert.Equal(t, tt.def, runVM(t, def, n, nativeAudit, tt.args), "default")
			assert.Equal(t, tt.strict, runVM(t, strict, n, nativeAudit, tt.args), "strict")
		})
	}
}

// TestDefaultNonNativeABIs checks that i386 and x32 calls die whatever
// the syscall, even those the native ABI allows, under both built-ins.
func TestDefaultNonNativeABIs(t *testing.T) {
	needAMD64(t)
	for _, p := range Builtins() {
		vm := filterVM(t, p, CompileOptions{})
		for _, name := range []string{"read", "write", "getpid", "exit_group"} {
			n := nr(t, name)
			assert.Equal(t, retAllow, runVM(t, vm, n, nativeAudit, [6]uint64{}), "%s: native %s", p.Name, name)
			assert.Equal(t, retKill, runVM(t, vm, n|x32SyscallBit, nativeAudit, [6]uint64{}), "%s: x32 %s", p.Name, name)
		}
		// i386 numbers: read 3, write 4, getpid 20, exit_group 252.
		for _, n := range []int32{3, 4, 20, 252} {
			assert.Equal(t, retKill, runVM(t, vm, n, unix.AUDIT_ARCH_I386, [6]uint64{}), "%s: i386 syscall %d", p.Name, n)
		}
		assert.Equal(t, retKill, runVM(t, vm, 63, unix.AUDIT_ARCH_AARCH64, [6]uint64{}), "%s: aarch64 read", p.Name)
	}
}

// TestDefaultNotify checks KillAs notify: every kill becomes a user
// notification, but errno rules and bad ABIs are unchanged.
func TestDefaultNotify(t *testing.T) {
	needAMD64(t)
	notify := uint32(unix.SECCOMP_RET_USER_NOTIF)
	for _, p := range Builtins() {
		prog, err := p.Compile(CompileOptions{KillAs: "notify"})
		require.NoError(t, err)
		assert.True(t, prog.Notify, p.Name)
		vm := filterVM(t, p, CompileOptions{KillAs: "notify"})
		assert.Equal(t, notify, runVM(t, vm, nr(t, "ptrace"), nativeAudit, [6]uint64{}), p.Name)
		assert.Equal(t, notify, runVM(t, vm, nr(t, "clone"), nativeAudit, [6]uint64{unix.CLONE_NEWUSER}), p.Name)
		assert.Equal(t, notify, runVM(t, vm, nr(t, "ioctl"), nativeAudit, [6]uint64{0, unix.TIOCSTI}), p.Name)
		assert.Equal(t, retAllow, runVM(t, vm, nr(t, "read"), nativeAudit, [6]uint64{}), p.Name)
		assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, vm, nr(t, "clone3"), nativeAudit, [6]uint64{}), p.Name)
		assert.Equal(t, retKill, runVM(t, vm, 20, unix.AUDIT_ARCH_I386, [6]uint64{}), "%s: bad arch stays kill", p.Name)

		plain, err := p.Compile(CompileOptions{})
		require.NoError(t, err)
		assert.False(t, plain.Notify, p.Name)
	}
	vm := filterVM(t, Default(), CompileOptions{KillAs: "notify"})
	assert.Equal(t, retErrno(unix.EPERM), runVM(t, vm, nr(t, "syslog"), nativeAudit, [6]uint64{}), "default: errno")
	assert.Equal(t, retErrno(unix.ENOSYS), runVM(t, vm, nr(t, "modify_ldt"), nativeAudit, [6]uint64{}), "default: default action")
	vm = filterVM(t, Strict(), CompileOptions{KillAs: "notify"})
	assert.Equal(t, notify, runVM(t, vm, nr(t, "syslog"), nativeAudit, [6]uint64{}), "strict: default action")
	assert.Equal(t, notify, runVM(t, vm, nr(t, "mount"), nativeAudit, [6]uint64{}), "strict: mount")
}

func TestStrictDeniesEverySocket(t *testing.T) {
	vm := filterVM(t, Strict(), CompileOptions{})
	eacces := ret(ActErrno(unix.EACCES))
	for _, af := range []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6} {
		got := runVM(t, vm, nr(t, "socket"), unix.AUDIT_ARCH_X86_64, [6]uint64{af, unix.SOCK_STREAM})
		assert.Equal(t, eacces, got, "socket(%d)", af)
	}
	assert.Equal(t, eacces, runVM(t, vm, nr(t, "socketpair"), unix.AUDIT_ARCH_X86_64, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}))
	// Everything else is the judge's allowlist.
	assert.Equal(t, ret(ActKill), runVM(t, vm, nr(t, "ptrace"), unix.AUDIT_ARCH_X86_64, [6]uint64{}))
	assert.Equal(t, ret(ActAllow), runVM(t, vm, nr(t, "read"), unix.AUDIT_ARCH_X86_64, [6]uint64{}))
	assert.Equal(t, "strict", Strict().Name)
	var socketRules []Rule
	for _, r := range Strict().Rules {
		if slices.Contains(r.Names, "socket") {
			socketRules = append(socketRules, r)
		}
	}
	require.Len(t, socketRules, 1, "strict replaces default's socket rules with its own")
	assert.Equal(t, ActErrno(unix.EACCES), socketRules[0].Action)
}

// TestStrictIsDefaultKilling: strict differs from default only in
// denials: what one allows the other allows, and where default fails a
// call with an errno, strict fails it with the same errno or kills.
func TestStrictIsDefaultKilling(t *testing.T) {
	needAMD64(t)
	def, strict := Default(), Strict()
	dvm, svm := filterVM(t, def, CompileOptions{}), filterVM(t, strict, CompileOptions{})
	for _, r := range def.Rules {
		args := satisfy(t, r)
		for _, name := range r.Names {
			if name == "socket" || name == "socketpair" {
				continue
			}
			d, s := runVM(t, dvm, nr(t, name), nativeAudit, args), runVM(t, svm, nr(t, name), nativeAudit, args)
			if d == retAllow || d == retKill {
				assert.Equal(t, d, s, "%s args %x", name, args)
			} else {
				assert.Contains(t, []uint32{d, retKill}, s, "%s args %x: default %#x", name, args, d)
			}
		}
	}
}

// TestDefaultSocketTable runs socket(2) over every family up to 64 and a
// few past, every type and the netlink protocols that matter, with and
// without flag and high bits, against the table written out again here.
func TestDefaultSocketTable(t *testing.T) {
	needAMD64(t)
	vm := filterVM(t, Default(), CompileOptions{})
	want := func(domain, typ, proto uint64) uint32 {
		t := typ & 0xf
		switch domain & 0xffffffff {
		case unix.AF_UNIX:
			return retAllow
		case unix.AF_INET, unix.AF_INET6:
			switch {
			case t == unix.SOCK_STREAM || t == unix.SOCK_DGRAM:
				return retAllow
			case t == unix.SOCK_RAW || t == unix.SOCK_PACKET && domain&0xffffffff == unix.AF_INET:
				return retErrno(unix.EPERM)
			case t > unix.SOCK_PACKET:
				return retErrno(unix.EINVAL)
			}
			return retErrno(unix.ESOCKTNOSUPPORT)
		case unix.AF_NETLINK:
			switch {
			case (t == unix.SOCK_RAW || t == unix.SOCK_DGRAM) && proto == unix.NETLINK_ROUTE:
				return retAllow
			case t == unix.SOCK_RAW || t == unix.SOCK_DGRAM:
				return retErrno(unix.EPROTONOSUPPORT)
			case t > unix.SOCK_PACKET:
				return retErrno(unix.EINVAL)
			}
			return retErrno(unix.ESOCKTNOSUPPORT)
		case unix.AF_PACKET:
			return retErrno(unix.EPERM)
		}
		return retErrno(unix.EAFNOSUPPORT)
	}
	socket := nr(t, "socket")
	var domains []uint64
	for d := uint64(0); d < 64; d++ {
		domains = append(domains, d, d|1<<32)
	}
	domains = append(domains, 1000, 1<<16|unix.AF_INET, 0x7fffffff, 0xffffffff)
	n := 0
	for _, d := range domains {
		for typ := uint64(0); typ < 16; typ++ {
			for _, flags := range []uint64{0, unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK} {
				for _, proto := range []uint64{0, unix.NETLINK_AUDIT, unix.IPPROTO_ICMP, 1 << 32} {
					args := [6]uint64{d, typ | flags, proto}
					require.Equal(t, want(d, typ, proto), runVM(t, vm, socket, nativeAudit, args), "socket(%#x, %#x, %#x)", d, typ|flags, proto)
					n++
				}
			}
		}
	}
	t.Logf("%d socket calls checked", n)
}
