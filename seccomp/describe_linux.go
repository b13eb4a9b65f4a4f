package seccomp

import (
	"fmt"
	"math/bits"
	"strings"

	"golang.org/x/sys/unix"
)

// Describe names a denied call by what decided it, for the message of an
// SV verdict: "socket(AF_ALG, …)", "ioctl(TIOCSTI)", "clone(CLONE_NEWUSER)",
// "personality(ADDR_NO_RANDOMIZE)", "unshare(CLONE_NEWNS|CLONE_NEWUSER)",
// or the bare name ("ptrace", "syscall_460") where no argument decides.
// arch is the AUDIT_ARCH_* value and nr and args the syscall as a seccomp
// notification or SIGSYS siginfo carry them. Arguments are read as the
// kernel reads them (an int on its low 32 bits), except that high bits
// the kernel ignores are shown when the policy compares them. A call from
// a non-native ABI is named with the ABI, "getpid (x32)", and its
// arguments are not decoded: the ABI alone decided, and their layout is
// that ABI's (i386 passes socket's through socketcall).
func Describe(arch uint32, nr int32, args [6]uint64) string {
	name := SyscallName(nr, arch)
	if !nativeABI(arch, nr) {
		return name + " (" + ABIName(nr, arch) + ")"
	}
	switch name {
	case "clone":
		// The policy keys on the namespace bits alone: the rest of
		// the word is thread flags and the exit signal.
		if f := args[cloneFlagsArg()] & cloneNewFlags; f != 0 {
			return "clone(" + flagNames(f, cloneFlagNames) + ")"
		}
	case "unshare":
		return "unshare(" + flagNames(args[0]&low32, cloneFlagNames) + ")"
	case "setns":
		if t := args[1] & low32; t != 0 {
			return "setns(" + flagNames(t, cloneFlagNames) + ")"
		}
	case "ioctl":
		cmd := uint32(args[1])
		if n, ok := ioctlNames[cmd]; ok {
			return "ioctl(" + n + ")"
		}
		return fmt.Sprintf("ioctl(%#x)", cmd)
	case "personality":
		return "personality(" + personalityName(args[0]) + ")"
	case "socket", "socketpair":
		return name + "(" + socketArgs(args) + ")"
	}
	return name
}

// nativeABI reports whether arch and nr are a call of jail's own ABI.
func nativeABI(arch uint32, nr int32) bool {
	a, ok := archByAudit[arch]
	if !ok {
		return false
	}
	native, err := nativeArch()
	if err != nil || a.scmp != native {
		return false
	}
	return arch != unix.AUDIT_ARCH_X86_64 || nr&x32SyscallBit == 0
}

// flagNames spells v as names joined by |, lowest bit first; bits
// without a name come last, in hex.
func flagNames(v uint64, names map[uint64]string) string {
	if v == 0 {
		return "0"
	}
	var out []string
	var unknown uint64
	for f := v; f != 0; f &= f - 1 {
		bit := uint64(1) << bits.TrailingZeros64(f)
		if n, ok := names[bit]; ok {
			out = append(out, n)
		} else {
			unknown |= bit
		}
	}
	if unknown != 0 {
		out = append(out, fmt.Sprintf("%#x", unknown))
	}
	return strings.Join(out, "|")
}

var cloneFlagNames = map[uint64]string{
	unix.CLONE_NEWTIME: "CLONE_NEWTIME", unix.CLONE_VM: "CLONE_VM", unix.CLONE_FS: "CLONE_FS",
	unix.CLONE_FILES: "CLONE_FILES", unix.CLONE_SIGHAND: "CLONE_SIGHAND", unix.CLONE_PIDFD: "CLONE_PIDFD",
	unix.CLONE_PTRACE: "CLONE_PTRACE", unix.CLONE_VFORK: "CLONE_VFORK", unix.CLONE_PARENT: "CLONE_PARENT",
	unix.CLONE_THREAD: "CLONE_THREAD", unix.CLONE_NEWNS: "CLONE_NEWNS", unix.CLONE_SYSVSEM: "CLONE_SYSVSEM",
	unix.CLONE_SETTLS: "CLONE_SETTLS", unix.CLONE_PARENT_SETTID: "CLONE_PARENT_SETTID",
	unix.CLONE_CHILD_CLEARTID: "CLONE_CHILD_CLEARTID", unix.CLONE_UNTRACED: "CLONE_UNTRACED",
	unix.CLONE_CHILD_SETTID: "CLONE_CHILD_SETTID", unix.CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
	unix.CLONE_NEWUTS: "CLONE_NEWUTS", unix.CLONE_NEWIPC: "CLONE_NEWIPC", unix.CLONE_NEWUSER: "CLONE_NEWUSER",
	unix.CLONE_NEWPID: "CLONE_NEWPID", unix.CLONE_NEWNET: "CLONE_NEWNET", unix.CLONE_IO: "CLONE_IO",
}

var ioctlNames = map[uint32]string{
	unix.TIOCSTI: "TIOCSTI", unix.TIOCLINUX: "TIOCLINUX", unix.TIOCSCTTY: "TIOCSCTTY",
	unix.TIOCCONS: "TIOCCONS", unix.TIOCSETD: "TIOCSETD", unix.TCGETS: "TCGETS", unix.TCSETS: "TCSETS",
	unix.TIOCGWINSZ: "TIOCGWINSZ", unix.TIOCSWINSZ: "TIOCSWINSZ",
}

// Personality flags (linux/personality.h); the low byte is the persona.
var personalityFlagNames = map[uint64]string{
	perUname26: "UNAME26", addrNoRandomize: "ADDR_NO_RANDOMIZE", 0x0080000: "FDPIC_FUNCPTRS",
	0x0100000: "MMAP_PAGE_ZERO", 0x0200000: "ADDR_COMPAT_LAYOUT", 0x0400000: "READ_IMPLIES_EXEC",
	0x0800000: "ADDR_LIMIT_32BIT", 0x1000000: "SHORT_INODE", 0x2000000: "WHOLE_SECONDS",
	0x4000000: "STICKY_TIMEOUTS", 0x8000000: "ADDR_LIMIT_3GB",
}

func personalityName(v uint64) string {
	// The policy compares all 64 bits, so a value whose high half is
	// set was refused for that alone: show it whole.
	if v>>32 != 0 || v == perQuery {
		return fmt.Sprintf("%#x", v)
	}
	var parts []string
	switch persona := v & 0xff; persona {
	case perLinux:
		if v == perLinux {
			parts = append(parts, "PER_LINUX")
		}
	case perLinux32:
		parts = append(parts, "PER_LINUX32")
	default:
		parts = append(parts, fmt.Sprintf("%#x", persona))
	}
	if f := v &^ 0xff; f != 0 {
		parts = append(parts, flagNames(f, personalityFlagNames))
	}
	return strings.Join(parts, "|")
}

var familyNames = map[uint64]string{
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_AX25: "AF_AX25",
	unix.AF_IPX: "AF_IPX", unix.AF_APPLETALK: "AF_APPLETALK", unix.AF_NETROM: "AF_NETROM",
	unix.AF_BRIDGE: "AF_BRIDGE", unix.AF_ATMPVC: "AF_ATMPVC", unix.AF_X25: "AF_X25", unix.AF_INET6: "AF_INET6",
	unix.AF_ROSE: "AF_ROSE", unix.AF_DECnet: "AF_DECnet", unix.AF_NETBEUI: "AF_NETBEUI",
	unix.AF_SECURITY: "AF_SECURITY", unix.AF_KEY: "AF_KEY", unix.AF_NETLINK: "AF_NETLINK",
	unix.AF_PACKET: "AF_PACKET", unix.AF_ASH: "AF_ASH", unix.AF_ECONET: "AF_ECONET", unix.AF_ATMSVC: "AF_ATMSVC",
	unix.AF_RDS: "AF_RDS", unix.AF_SNA: "AF_SNA", unix.AF_IRDA: "AF_IRDA", unix.AF_PPPOX: "AF_PPPOX",
	unix.AF_WANPIPE: "AF_WANPIPE", unix.AF_LLC: "AF_LLC", unix.AF_IB: "AF_IB", unix.AF_MPLS: "AF_MPLS",
	unix.AF_CAN: "AF_CAN", unix.AF_TIPC: "AF_TIPC", unix.AF_BLUETOOTH: "AF_BLUETOOTH", unix.AF_IUCV: "AF_IUCV",
	unix.AF_RXRPC: "AF_RXRPC", unix.AF_ISDN: "AF_ISDN", unix.AF_PHONET: "AF_PHONET",
	unix.AF_IEEE802154: "AF_IEEE802154", unix.AF_CAIF: "AF_CAIF", unix.AF_ALG: "AF_ALG", unix.AF_NFC: "AF_NFC",
	unix.AF_VSOCK: "AF_VSOCK", unix.AF_KCM: "AF_KCM", unix.AF_QIPCRTR: "AF_QIPCRTR", unix.AF_SMC: "AF_SMC",
	unix.AF_XDP: "AF_XDP", unix.AF_MCTP: "AF_MCTP",
}

var sockTypeNames = map[uint64]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_RDM: "SOCK_RDM", unix.SOCK_SEQPACKET: "SOCK_SEQPACKET", unix.SOCK_DCCP: "SOCK_DCCP",
	unix.SOCK_PACKET: "SOCK_PACKET",
}

var netlinkNames = map[uint64]string{
	unix.NETLINK_ROUTE: "NETLINK_ROUTE", unix.NETLINK_USERSOCK: "NETLINK_USERSOCK",
	unix.NETLINK_FIREWALL: "NETLINK_FIREWALL", unix.NETLINK_SOCK_DIAG: "NETLINK_SOCK_DIAG",
	unix.NETLINK_NFLOG: "NETLINK_NFLOG", unix.NETLINK_XFRM: "NETLINK_XFRM", unix.NETLINK_SELINUX: "NETLINK_SELINUX",
	unix.NETLINK_ISCSI: "NETLINK_ISCSI", unix.NETLINK_AUDIT: "NETLINK_AUDIT",
	unix.NETLINK_FIB_LOOKUP: "NETLINK_FIB_LOOKUP", unix.NETLINK_CONNECTOR: "NETLINK_CONNECTOR",
	unix.NETLINK_NETFILTER: "NETLINK_NETFILTER", unix.NETLINK_IP6_FW: "NETLINK_IP6_FW",
	unix.NETLINK_DNRTMSG: "NETLINK_DNRTMSG", unix.NETLINK_KOBJECT_UEVENT: "NETLINK_KOBJECT_UEVENT",
	unix.NETLINK_GENERIC: "NETLINK_GENERIC", unix.NETLINK_SCSITRANSPORT: "NETLINK_SCSITRANSPORT",
	unix.NETLINK_ECRYPTFS: "NETLINK_ECRYPTFS", unix.NETLINK_RDMA: "NETLINK_RDMA", unix.NETLINK_CRYPTO: "NETLINK_CRYPTO",
	unix.NETLINK_SMC: "NETLINK_SMC",
}

func nameOr(names map[uint64]string, v uint64) string {
	if n, ok := names[v]; ok {
		return n
	}
	return fmt.Sprintf("%#x", v)
}

// socketArgs spells socket's arguments as far as they decide: the family
// always, the type where the policy tells types apart, netlink's protocol
// where it tells those apart; "…" stands for the rest.
func socketArgs(args [6]uint64) string {
	domain, typ := args[0]&low32, args[1]&sockTypeMask
	parts := []string{nameOr(familyNames, domain)}
	switch domain {
	case unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK:
		parts = append(parts, nameOr(sockTypeNames, typ))
		if domain == unix.AF_NETLINK && (typ == unix.SOCK_RAW || typ == unix.SOCK_DGRAM) {
			// The policy compares the protocol on all 64 bits.
			return strings.Join(append(parts, nameOr(netlinkNames, args[2])), ", ")
		}
	}
	return strings.Join(append(parts, "…"), ", ")
}
