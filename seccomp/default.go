package seccomp

import (
	"fmt"
	"math/bits"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// The default policy is an allowlist for running general untrusted code:
// Docker's default profile (moby profiles/seccomp/default.json, the
// unconditional group plus what it grants without capabilities) is the
// reference, tightened where running untrusted code needs it.
//
// Kill or errno? A denied call fails with the errno a plain unprivileged
// process on an ordinary host would get, so that code written for such a
// host (libc probes, runtimes' feature tests, tools that try a privileged
// call and carry on) behaves as it would there, and a run ends in verdict
// OK or RE as the program decides. Where the host would have let the call
// through, the errno is the one a kernel without the feature gives
// (ENOSYS, EAFNOSUPPORT, EPROTONOSUPPORT), which such code already
// handles. A call is killed (verdict SV, the call named) only where the
// kill is the point: the call has no business in untrusted code, nothing
// probes it, and a sandbox that answered it would hide an attack.
//
// Strict (the judge policy) keeps the same allowlist but kills every
// denial marked "kill" in its column, as a judge wants to know; its
// errno lines are those that every runtime probes, which a judge must
// not count as violations.
//
//	class               syscalls                                 default          strict   why
//	------------------  ---------------------------------------  ---------------  -------  ------------------------------------------------
//	new namespaces      unshare, setns, clone with CLONE_NEW*    kill             kill     userns is the door to most kernel LPEs of the
//	                    (arg0 on x86_64)                                                   last decade (CVE-2022-0185, CVE-2023-32233...)
//	clone3              clone3                                   ENOSYS           ENOSYS   flags sit in memory BPF cannot read; glibc >= 2.34
//	                                                                                       and Go fall back to clone on ENOSYS
//	kernel keyring      keyctl add_key request_key               kill             kill     not namespaced; CVE-2016-0728
//	bpf                 bpf                                      kill             kill     verifier bugs are a steady LPE source
//	perf                perf_event_open                          kill             kill     side channels and a long CVE list
//	userfaultfd         userfaultfd                              kill             kill     turns kernel races into reliable exploits
//	ptrace family       ptrace process_vm_readv/writev kcmp      kill             kill     reaching into another process; debuggers only,
//	                    pidfd_getfd process_madvise                                        and a profile may allow ptrace
//	terminal injection  ioctl TIOCSTI, TIOCLINUX (low 32 bits    kill             kill     typing into the caller's terminal (CVE-2017-5226;
//	                    of arg1, as the kernel reads it)                                   TIOCLINUX pastes the same way); high bits cannot
//	                                                                                       smuggle it (CVE-2019-10063)
//	non-native ABIs     any syscall from i386 or x32 on amd64    kill             kill     compat entry points have their own bug history,
//	                                                                                       and no program of this machine's ABI makes them
//	mounts              mount umount2 pivot_root chroot          EPERM            kill     needs CAP_SYS_ADMIN (chroot: CAP_SYS_CHROOT),
//	                    move_mount open_tree fsopen fsconfig                               which PROG lacks: EPERM is what it gets outside;
//	                    fsmount fspick mount_setattr                                       libmount and chroot(1) report it and go on
//	kexec / modules     kexec_load kexec_file_load               EPERM            kill     CAP_SYS_BOOT / CAP_SYS_MODULE
//	                    init_module finit_module delete_module
//	file handles        open_by_handle_at                        EPERM            kill     CAP_DAC_READ_SEARCH; the filter, not the kernel's
//	                                                                                       check, is what stops "shocker" here
//	                    name_to_handle_at                        EOPNOTSUPP       same     libmount and systemd probe it and handle "not
//	                                                                                       supported by this filesystem"
//	host administration reboot swapon swapoff acct syslog        EPERM            kill     CAP_SYS_BOOT, CAP_SYS_ADMIN, CAP_SYS_PACCT,
//	                    vhangup sethostname setdomainname iopl                             CAP_SYSLOG, CAP_SYS_TTY_CONFIG, CAP_SYS_RAWIO...:
//	                    ioperm quotactl quotactl_fd                                        EPERM outside; dmesg, hostname and quota tools
//	                    fanotify_init                                                      say so and exit
//	clock setting       settimeofday clock_settime stime         EPERM            kill     CAP_SYS_TIME: date -s fails with EPERM outside
//	clock tuning        adjtimex clock_adjtime                   EPERM            EPERM    glibc's ntp_gettime/adjtimex(modes=0) are queries
//	                                                                                       that callers expect to fail without CAP_SYS_TIME
//	personality         other than 0, PER_LINUX32, UNAME26,      EPERM            kill     weakening ASLR (READ_IMPLIES_EXEC...) helps
//	                    both, or the 0xffffffff query                                      exploits; a host would accept it, so there is no
//	                                                                                       errno to copy: EPERM, as for ADDR_NO_RANDOMIZE
//	                    personality(ADDR_NO_RANDOMIZE)           EPERM            EPERM    gdb and setarch -R try exactly this and go on
//	io_uring            io_uring_setup/enter/register            ENOSYS           ENOSYS   bypasses seccomp for the ops it runs, many CVEs;
//	                                                                                       libuv and liburing users fall back on ENOSYS
//	raw sockets         socket(AF_INET/AF_INET6, SOCK_RAW),      EPERM            EACCES   what a process without CAP_NET_RAW gets; ping
//	                    socket(AF_INET, SOCK_PACKET)                                       falls back to ICMP datagram sockets
//	packet sockets      socket(AF_PACKET, *)                     EPERM            EACCES   CAP_NET_RAW, checked before the type
//	other inet types    socket(AF_INET/AF_INET6, SOCK_SEQPACKET  ESOCKTNOSUPPORT  EACCES   as a kernel without SCTP; SOCK_DCCP and the rest
//	                    and every type but stream/dgram/raw)                               likewise; types past SOCK_PACKET are EINVAL
//	netlink             socket(AF_NETLINK, not raw or dgram)     ESOCKTNOSUPPORT  EACCES   the kernel's own answer for those types
//	                    socket(AF_NETLINK, *, proto != ROUTE)    EPROTONOSUPPORT  EACCES   as a kernel without that family; libaudit reads
//	                                                                                       it as "no audit support" and goes on
//	vsock               socket(AF_VSOCK, *)                      EAFNOSUPPORT     EACCES   host-VM channel; VM detection code probes it
//	other families      socket(AF_UNSPEC, AF_ALG, AF_BLUETOOTH,  EAFNOSUPPORT     EACCES   big attack surface (AF_ALG, AF_TIPC, AF_RDS
//	                    AF_KEY, ...), any domain but AF_UNIX,                              CVEs), refused as a kernel without them;
//	                    AF_INET, AF_INET6, AF_NETLINK                                      AF_UNSPEC is EAFNOSUPPORT everywhere
//	                                                                                       (strict: every socket is EACCES)
//	unknown numbers     above the ABI's table, or a hole in it   ENOSYS           ENOSYS   what an older kernel says; libc falls back
//	everything else     not in the allowlist: modify_ldt,        ENOSYS           kill     obsolete or optional calls, which a kernel built
//	                    uselib, _sysctl, nfsservctl, sysfs,                                without them (or a newer one) answers ENOSYS
//	                    ustat, lookup_dcookie, migrate_pages,
//	                    move_pages, the never-implemented ones
//
// The tests in default_linux_test.go check every line of this table in a
// BPF interpreter, and cmd/jail/seccomp_test.go attacks each class from
// inside a sandbox.

// Errno values the default policy returns.
const (
	errNoSys          = unix.ENOSYS
	errPerm           = unix.EPERM
	errNotSupp        = unix.EOPNOTSUPP
	errAFNoSupport    = unix.EAFNOSUPPORT
	errSockNoSupport  = unix.ESOCKTNOSUPPORT
	errProtoNoSupport = unix.EPROTONOSUPPORT
	errInval          = unix.EINVAL
)

// allowed is the unconditional allowlist. Names unknown on the native ABI
// (x86-only names on arm64, say) are dropped when the policy is built.
var allowed = []string{
	// files and descriptors
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"open", "openat", "openat2", "creat", "close", "close_range", "lseek", "dup", "dup2", "dup3",
	"pipe", "pipe2", "fcntl", "flock", "fsync", "fdatasync", "syncfs", "sync", "sync_file_range",
	"ftruncate", "truncate", "fallocate", "fadvise64", "readahead",
	"stat", "lstat", "fstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
	"getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "mknod", "mknodat",
	"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask",
	"utime", "utimes", "futimesat", "utimensat",
	"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
	"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
	"sendfile", "copy_file_range", "splice", "tee", "vmsplice",
	"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
	"memfd_create", "memfd_secret", "cachestat",
	// polling and events
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	// memory
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "remap_file_pages",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack",
	"get_mempolicy", "set_mempolicy", "mbind",
	// processes and threads (clone is conditional, below)
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
	"kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "process_mrelease",
	"getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setsid", "setpgid",
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
	"capget", "capset", "prctl", "arch_prctl", "set_tid_address", "set_robust_list", "get_robust_list",
	"rseq", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
	"get_thread_area", "set_thread_area", "seccomp",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"getrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority", "setpriority",
	"ioprio_get", "ioprio_set", "sched_yield", "sched_getaffinity", "sched_setaffinity",
	"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_getattr", "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
	"sched_rr_get_interval", "getcpu",
	// signals
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause", "alarm",
	"restart_syscall",
	// time (reading only)
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getitimer", "setitimer", "times", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete",
	// system information
	"uname", "sysinfo", "getrandom",
	// sockets (socket itself is conditional, below)
	"socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown",
	"getsockname", "getpeername", "getsockopt", "setsockopt",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	// System V and POSIX IPC, private to the sandbox's IPC namespace
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
}

// cloneNewFlags are the namespace flags clone(2) accepts. CLONE_NEWTIME
// is missing on purpose: clone(2) reads that bit as part of the exit
// signal, only clone3 and unshare take it.
const cloneNewFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// ADDR_NO_RANDOMIZE and the personality values Docker allows.
const (
	perLinux        = 0x0
	perLinux32      = 0x8
	perUname26      = 0x20000
	perQuery        = 0xffffffff
	addrNoRandomize = 0x0040000
)

const (
	low32 = 0xffffffff
	// sockTypeMask strips SOCK_NONBLOCK and SOCK_CLOEXEC from socket's
	// type argument.
	sockTypeMask = 0xf
)

// Default returns the built-in policy for untrusted code (see the table
// above). Each call returns a fresh copy the caller may change.
func Default() *Policy { return allowlist("default", false) }

// allowlist builds the table above; judge picks the strict column, where
// every denial not marked otherwise kills.
func allowlist(name string, judge bool) *Policy {
	p := &Policy{
		Name:          name,
		DefaultAction: ActErrno(errNoSys),
		NativeOnly:    true,
	}
	// deny is a denial that fails with e in default and kills in strict.
	deny := func(e unix.Errno) Action {
		if judge {
			return ActKill
		}
		return ActErrno(e)
	}
	if judge {
		p.DefaultAction = ActKill
	}
	add := func(r Rule) {
		r.Names = nativeNames(r.Names)
		if len(r.Names) > 0 {
			p.Rules = append(p.Rules, r)
		}
	}
	add(Rule{Names: allowed, Action: ActAllow, Comment: "Docker's unconditional allowlist, tightened"})

	flagsArg := cloneFlagsArg()
	add(Rule{Names: []string{"clone"}, Action: ActAllow,
		Args:    []ArgCond{{Index: flagsArg, Op: OpMaskedEQ, Mask: cloneNewFlags, Value: 0}},
		Comment: "threads and processes, without new namespaces"})
	for f := uint64(cloneNewFlags); f != 0; f &= f - 1 {
		bit := f & -f
		add(Rule{Names: []string{"clone"}, Action: ActKill,
			Args:    []ArgCond{{Index: flagsArg, Op: OpMaskedEQ, Mask: bit, Value: bit}},
			Comment: fmt.Sprintf("new namespace (clone flag %#x): the door to most kernel LPEs", bit)})
	}
	add(Rule{Names: []string{"clone3"}, Action: ActErrno(errNoSys),
		Comment: "flags are in memory seccomp cannot read; glibc and Go fall back to clone"})
	add(Rule{Names: []string{"unshare", "setns"}, Action: ActKill, Comment: "new namespaces: the door to most kernel LPEs"})
	add(Rule{Names: []string{"keyctl", "add_key", "request_key"}, Action: ActKill, Comment: "kernel keyring, not namespaced"})
	add(Rule{Names: []string{"bpf"}, Action: ActKill, Comment: "eBPF verifier attack surface"})
	add(Rule{Names: []string{"perf_event_open"}, Action: ActKill, Comment: "perf side channels and CVEs"})
	add(Rule{Names: []string{"userfaultfd"}, Action: ActKill, Comment: "makes kernel races reliable"})
	add(Rule{Names: []string{"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"},
		Action: ActKill, Comment: "reaching into other processes; a profile may allow ptrace"})

	add(Rule{Names: []string{"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
		"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"}, Action: deny(errPerm),
		Comment: "mounts: need CAP_SYS_ADMIN (chroot CAP_SYS_CHROOT), EPERM outside"})
	add(Rule{Names: []string{"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"},
		Action: deny(errPerm), Comment: "kernel replacement and modules: CAP_SYS_BOOT, CAP_SYS_MODULE"})
	add(Rule{Names: []string{"open_by_handle_at"}, Action: deny(errPerm), Comment: "shocker escape; CAP_DAC_READ_SEARCH outside"})
	add(Rule{Names: []string{"name_to_handle_at"}, Action: ActErrno(errNotSupp), Comment: "probed by libmount; handles unsupported"})
	add(Rule{Names: []string{"reboot", "swapon", "swapoff", "acct", "syslog", "vhangup", "sethostname", "setdomainname",
		"iopl", "ioperm", "quotactl", "quotactl_fd", "fanotify_init"}, Action: deny(errPerm),
		Comment: "host administration: capabilities PROG lacks, EPERM outside"})
	add(Rule{Names: []string{"settimeofday", "clock_settime", "stime"}, Action: deny(errPerm),
		Comment: "setting the host clock: CAP_SYS_TIME, EPERM outside"})
	add(Rule{Names: []string{"adjtimex", "clock_adjtime"}, Action: ActErrno(errPerm), Comment: "clock tuning; libc queries expect EPERM"})
	add(Rule{Names: []string{"io_uring_setup", "io_uring_enter", "io_uring_register"}, Action: ActErrno(errNoSys),
		Comment: "io_uring bypasses seccomp; libuv and liburing fall back on ENOSYS"})

	keep := []uint64{perLinux, perLinux32, perUname26, perUname26 | perLinux32, perQuery}
	for _, v := range keep {
		add(Rule{Names: []string{"personality"}, Action: ActAllow,
			Args:    []ArgCond{{Index: 0, Op: OpEQ, Value: v}},
			Comment: "personalities that keep ASLR"})
	}
	add(Rule{Names: []string{"personality"}, Action: ActErrno(errPerm),
		Args:    []ArgCond{{Index: 0, Op: OpEQ, Value: addrNoRandomize}},
		Comment: "disabling ASLR; gdb and setarch -R go on without it"})
	if !judge {
		for _, c := range otherPersonalities() {
			add(Rule{Names: []string{"personality"}, Action: ActErrno(errPerm), Args: []ArgCond{c},
				Comment: "other personalities weaken ASLR: refused as ADDR_NO_RANDOMIZE is"})
		}
	}

	for _, r := range allowExcept("ioctl", 1, unix.TIOCSTI, unix.TIOCLINUX) {
		add(r)
	}
	for _, cmd := range []uint64{unix.TIOCSTI, unix.TIOCLINUX} {
		add(Rule{Names: []string{"ioctl"}, Action: ActKill,
			Args:    []ArgCond{{Index: 1, Op: OpMaskedEQ, Mask: low32, Value: cmd}},
			Comment: "terminal injection"})
	}

	// Strict replaces socket and socketpair whole.
	if !judge {
		for _, r := range socketRules() {
			add(r)
		}
	}
	return p
}

// socketRules give socket(2) the answers of a host without
// CAP_NET_RAW and without the families and types the sandbox refuses.
// Each rule's conditions are disjoint from every other's: libseccomp's
// choice between overlapping rules with different actions is not
// documented. Domain and type are ints, compared on their low 32 bits (the
// type on its low 4, under SOCK_NONBLOCK and SOCK_CLOEXEC; other flag bits
// pass and the kernel answers EINVAL).
func socketRules() []Rule {
	domain := func(af uint64) ArgCond { return ArgCond{Index: 0, Op: OpMaskedEQ, Mask: low32, Value: af} }
	typ := func(t uint64) ArgCond { return ArgCond{Index: 1, Op: OpMaskedEQ, Mask: sockTypeMask, Value: t} }
	sock := func(a Action, comment string, args ...ArgCond) Rule {
		return Rule{Names: []string{"socket"}, Action: a, Args: args, Comment: comment}
	}
	// types gives every type of a family one of the actions in by, the
	// rest noSupport; types past SOCK_PACKET are EINVAL in every family.
	// types gives every type of a family one of the actions in by, the
	// rest ESOCKTNOSUPPORT, except types past SOCK_PACKET, which are
	// EINVAL in every family, and those left to other rules (by says
	// nil).
	types := func(af uint64, by map[uint64]*Action, comment string) []Rule {
		action := func(t uint64) *Action {
			if a, ok := by[t]; ok {
				return a
			}
			if t > unix.SOCK_PACKET {
				return &Action{Kind: Errno, Errno: uint16(errInval)}
			}
			return &Action{Kind: Errno, Errno: uint16(errSockNoSupport)}
		}
		same := func(a, b *Action) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
		// Each run of types with one action becomes as few rules as
		// its aligned blocks.
		var rs []Rule
		for lo := uint64(0); lo <= sockTypeMask; {
			hi := lo
			for hi < sockTypeMask && same(action(hi+1), action(lo)) {
				hi++
			}
			if a := action(lo); a != nil {
				for _, c := range blocks(1, lo, hi, sockTypeMask) {
					rs = append(rs, sock(*a, comment, domain(af), c))
				}
			}
			lo = hi + 1
		}
		return rs
	}
	allow, eperm := ActAllow, ActErrno(errPerm)
	rs := []Rule{sock(allow, "unix sockets", domain(unix.AF_UNIX))}
	// (AF_INET, SOCK_PACKET) is the obsolete spelling of a packet socket.
	rs = append(rs, types(unix.AF_INET, map[uint64]*Action{unix.SOCK_STREAM: &allow, unix.SOCK_DGRAM: &allow,
		unix.SOCK_RAW: &eperm, unix.SOCK_PACKET: &eperm}, "TCP, UDP and ICMP datagram sockets; raw ones as without CAP_NET_RAW")...)
	rs = append(rs, types(unix.AF_INET6, map[uint64]*Action{unix.SOCK_STREAM: &allow, unix.SOCK_DGRAM: &allow,
		unix.SOCK_RAW: &eperm}, "TCP, UDP and ICMP datagram sockets; raw ones as without CAP_NET_RAW")...)
	// glibc's getaddrinfo and Go's net.Interfaces read addresses over
	// NETLINK_ROUTE; the full 64-bit eq and ne keep the two protocol
	// rules disjoint whatever the high bits say.
	for _, t := range []uint64{unix.SOCK_RAW, unix.SOCK_DGRAM} {
		rs = append(rs,
			sock(allow, "NETLINK_ROUTE for getaddrinfo and interface lists",
				domain(unix.AF_NETLINK), typ(t), ArgCond{Index: 2, Op: OpEQ, Value: unix.NETLINK_ROUTE}),
			sock(ActErrno(errProtoNoSupport), "other netlink families, as a kernel without them (libaudit goes on)",
				domain(unix.AF_NETLINK), typ(t), ArgCond{Index: 2, Op: OpNE, Value: unix.NETLINK_ROUTE}))
	}
	rs = append(rs, types(unix.AF_NETLINK, map[uint64]*Action{unix.SOCK_RAW: nil, unix.SOCK_DGRAM: nil},
		"netlink takes raw and dgram sockets only")...)
	rs = append(rs,
		sock(eperm, "packet sockets, as without CAP_NET_RAW", domain(unix.AF_PACKET)),
		sock(ActErrno(errAFNoSupport), "vsock, as on a kernel without it", domain(unix.AF_VSOCK)))
	for _, c := range complement32(0, []uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET, unix.AF_VSOCK}) {
		rs = append(rs, sock(ActErrno(errAFNoSupport), "other families (AF_ALG, AF_UNSPEC...), as a kernel without them", c))
	}
	return rs
}

// otherPersonalities covers every personality value the allow rules
// above do not take, with rules that may overlap one another (they share
// one action) but none of those values: libseccomp has no "not in", and
// an exact complement costs a hundred rules and 6 ms of every live
// compile.
//
// Any 32-bit value but 0 and 0xffffffff has, going round its bits, a set
// bit followed by a clear one, so "bit i set, bit i+1 clear" for i = 0..31
// covers them all. For i = 3 and 17 that would take PER_LINUX32 (bit 3)
// and UNAME26 (bit 17) too; a value only those two match is one run of set
// bits ending at bit 3 or 17, or one of each, so requiring the bit below
// (2 or 16) set as well still covers it, and misses those bits alone and
// together. The allow rules compare all 64 bits, so anything above 32 bits
// is refused by one ge rule.
func otherPersonalities() []ArgCond {
	var conds []ArgCond
	for i := range 32 {
		bit, next := uint64(1)<<i, uint64(1)<<((i+1)%32)
		mask, value := bit|next, bit
		if bit == perLinux32 || bit == perUname26 {
			mask, value = mask|bit>>1, value|bit>>1
		}
		conds = append(conds, ArgCond{Index: 0, Op: OpMaskedEQ, Mask: mask, Value: value})
	}
	return append(conds, ArgCond{Index: 0, Op: OpGE, Value: 1 << 32})
}

// complement32 covers the low 32 bits of argument index outside the given
// values with masked_eq conditions, one per aligned block, as an address
// range is split into network prefixes: libseccomp has no "not in" and
// takes one comparison per argument in a rule, so the complement of a set
// is a union of rules, disjoint here so that the values' own rules may
// have other actions.
func complement32(index uint, values []uint32) []ArgCond {
	values = slices.Clone(values)
	slices.Sort(values)
	values = slices.Compact(values)
	var conds []ArgCond
	next := uint64(0)
	for _, v := range values {
		if uint64(v) > next {
			conds = append(conds, blocks(index, next, uint64(v)-1, low32)...)
		}
		next = uint64(v) + 1
	}
	if next <= low32 {
		conds = append(conds, blocks(index, next, low32, low32)...)
	}
	return conds
}

// blocks splits [lo, hi] into aligned power-of-two blocks of the bits in
// width, one masked_eq condition each.
func blocks(index uint, lo, hi, width uint64) []ArgCond {
	var conds []ArgCond
	for {
		size := uint64(1)
		for double := size << 1; lo&(double-1) == 0 && double-1 <= hi-lo; double = size << 1 {
			size = double
		}
		conds = append(conds, ArgCond{Index: index, Op: OpMaskedEQ, Mask: width &^ (size - 1), Value: lo})
		if hi-lo == size-1 {
			return conds
		}
		lo += size
	}
}

// allowExcept allows syscall name unless the low 32 bits of argument
// index equal one of the excluded values (at most two), which fall through
// to the default action.
//
// libseccomp has no "not equal on the low 32 bits" and keeps only the
// unconditional rule when one is present, so the complement is spelled as
// a union of masked_eq rules: x differs from both values if it differs
// from them on a bit where they agree (one rule per such bit), or agrees
// there and takes one of the other patterns on the bits where they differ.
func allowExcept(name string, index uint, excluded ...uint32) []Rule {
	if len(excluded) == 0 || len(excluded) > 2 {
		panic("allowExcept takes one or two values")
	}
	a, b := excluded[0], excluded[len(excluded)-1]
	differ := a ^ b
	if bits.OnesCount32(differ) > 4 {
		panic("allowExcept: values too far apart")
	}
	rule := func(mask, value uint32) Rule {
		return Rule{Names: []string{name}, Action: ActAllow,
			Args:    []ArgCond{{Index: index, Op: OpMaskedEQ, Mask: uint64(mask), Value: uint64(value)}},
			Comment: fmt.Sprintf("%s except arg%d in %#x", name, index, excluded)}
	}
	var rs []Rule
	for agree := ^differ; agree != 0; agree &= agree - 1 {
		bit := agree & -agree
		rs = append(rs, rule(bit, ^a&bit))
	}
	// Enumerate the subsets of the differing bits.
	for sub := uint32(0); ; sub = (sub - differ) & differ {
		if v := a&^differ | sub; v != a && v != b {
			rs = append(rs, rule(low32, v))
		}
		if sub == differ {
			break
		}
	}
	return rs
}

// cloneFlagsArg is clone's flags argument: s390 swaps the first two.
func cloneFlagsArg() uint {
	if runtime.GOARCH == "s390x" {
		return 1
	}
	return 0
}

func nativeNames(names []string) []string {
	var out []string
	for _, n := range names {
		if NativeSyscall(n) {
			out = append(out, n)
		}
	}
	return out
}

// Strict returns the policy for judging: the allowlist of Default, but
// the denials of the table's strict column marked "kill" end the run
// (verdict SV, the call named), as a judge wants to know, and no network at
// all. A judged program reads stdin and writes stdout; a
// socket of any family (AF_UNIX included, the way to reach services a bind
// might expose) fails with EACCES, so runtimes that probe for one go on
// without it.
func Strict() *Policy {
	p := allowlist("strict", true).With(Rule{
		Names:   nativeNames([]string{"socket", "socketpair"}),
		Action:  ActErrno(unix.EACCES),
		Comment: "no sockets in judged programs",
	})
	return p
}
