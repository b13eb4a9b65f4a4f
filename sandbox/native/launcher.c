// The native launcher's child. It is a process of its own that shares the
// memory of a multi-threaded Go process (CLONE_VM; see Init in
// launcher_linux.go) and the thread-local storage of the thread that
// cloned it. Locks in that memory (malloc's, stdio's, glibc's thread list)
// belong to the Go process's threads. The rules that follow:
//   - no malloc, no stdio, no printf family, no writes to anything but its
//     own stack and the launch description: strings are built by hand into
//     stack buffers;
//   - no glibc id-changing wrappers (setresuid & co. signal every thread
//     glibc believes exists): raw syscalls only;
//   - never return into Go: the init ends with exit_group.
// It keeps every capability in its new user namespace because it never
// execs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "launcher.h"
#include "text.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef MS_REC
#define MS_RDONLY 1
#define MS_NOSUID 2
#define MS_NODEV 4
#define MS_NOEXEC 8
#define MS_BIND 4096
#define MS_REC 16384
#define MS_PRIVATE (1 << 18)
#endif
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif

// The kernel's struct sigaction, as in spawn.c: glibc's wrapper refuses
// the signals it reserves.
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

#define PATHBUF 4096

// What the init and the sandbox's pid 1 share while pid 1 starts: the
// ready pipe pid 1 writes once its /proc is mounted (ready_r is -1 once
// the init has taken it), and a pidfd of the init.
struct pid1 {
	struct jail_launch *l;
	int ready_r, ready_w;
	int init_fd;
};

struct init {
	const struct jail_launch *l;
	int root_fd;
	int scratch;
	int sub;        // which syscall failed, enum jail_sub
	struct pid1 pid1;
};

static int take_proc(struct init *s);

// fd_path names an open descriptor as a path the mount(2) family follows.
static const char *fd_path(char *buf, size_t len, int fd) {
	char *p = put(buf, buf + len, "/proc/self/fd/");
	put_uint(p, buf + len, (unsigned long)fd);
	return buf;
}

static long sys_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data) {
	return syscall(SYS_mount, src, target, fstype, flags, data);
}

// ---- reporting ----

void jail_report(const struct jail_report *r) {
	ssize_t n;
	do
		n = write(JAIL_FD_REPORT, r, sizeof *r);
	while (n < 0 && errno == EINTR);
}

void jail_die(int stage, int index, int sub, int err) {
	struct jail_report r;
	memset(&r, 0, sizeof r);
	r.kind = JAIL_REPORT_ERROR;
	r.stage = stage;
	r.index = index;
	r.sub = sub;
	r.err = err;
	jail_report(&r);
	// Whatever was started (a failed PROG is reaped by jail_spawn) goes
	// with the namespace when its init exits.
	syscall(SYS_exit_group, 1);
	__builtin_unreachable();
}

// ---- mount executor: mounts_linux.go in C ----

// open_in_root resolves an existing path inside the new root; a symlink in
// a user-supplied rootfs can never send a mount outside it.
static int open_in_root(struct init *s, const char *p) {
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	s->sub = JAIL_SUB_OPEN;
	return (int)syscall(SYS_openat2, s->root_fd, p, &how, sizeof how);
}

// resolve opens p inside the new root, creating missing parents as
// directories and a missing last component as a directory or, for binds
// of files, as an empty file.
static int resolve(struct init *s, const char *p, int dir) {
	int fd = open_in_root(s, p);
	if (fd >= 0 || errno != ENOENT || strcmp(p, "/") == 0)
		return fd;
	char buf[PATHBUF];
	size_t n = strlen(p);
	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, p, n + 1);
	char *slash = strrchr(buf, '/');
	if (!slash) {
		errno = EINVAL;
		return -1;
	}
	const char *base = slash + 1;
	char parent_buf[PATHBUF];
	if (slash == buf) {
		parent_buf[0] = '/';
		parent_buf[1] = 0;
	} else {
		memcpy(parent_buf, buf, (size_t)(slash - buf));
		parent_buf[slash - buf] = 0;
	}
	int parent = resolve(s, parent_buf, 1);
	if (parent < 0)
		return -1;
	int r;
	if (dir) {
		s->sub = JAIL_SUB_MKDIR;
		r = mkdirat(parent, base, 0755);
	} else {
		s->sub = JAIL_SUB_CREATE;
		r = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (r >= 0)
			close(r);
	}
	int e = errno;
	close(parent);
	if (r < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return open_in_root(s, p);
}

// clone_tree makes a detached copy of the mount tree at (dirfd, p), with
// attrs set on every mount of it before it becomes visible anywhere. Flags
// the kernel locked on the host's mounts stay set: attributes are only
// added.
static int clone_tree(struct init *s, int dirfd, const char *p, unsigned long long attrs) {
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
	if (p[0] == 0)
		flags |= AT_EMPTY_PATH;
	s->sub = JAIL_SUB_OPEN_TREE;
	int tree = (int)syscall(SYS_open_tree, dirfd, p, flags);
	if (tree < 0)
		return -1;
	struct mount_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = attrs;
	s->sub = JAIL_SUB_MOUNT_SETATTR;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
		int e = errno;
		close(tree);
		errno = e;
		return -1;
	}
	return tree;
}

static int move_tree(struct init *s, int tree, int target) {
	s->sub = JAIL_SUB_MOVE_MOUNT;
	return (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int attach_clone(struct init *s, int dirfd, const char *p, int target, unsigned long long attrs) {
	int tree = clone_tree(s, dirfd, p, attrs);
	if (tree < 0)
		return -1;
	int r = move_tree(s, tree, target);
	int e = errno;
	close(tree);
	errno = e;
	return r;
}

// open_source opens op i's host path while the host's tree is still this
// namespace's tree: a mount can only be cloned from the namespace it is in.
static int open_source(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	int fd = -1;
	switch (op->kind) {
	case JAIL_OP_ROOT:
		if (!op->source || !op->source[0])
			return 0;
		s->sub = JAIL_SUB_OPEN;
		fd = open(op->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
		break;
	case JAIL_OP_BIND:
		fd = clone_tree(s, AT_FDCWD, op->source, op->attrs);
		break;
	default:
		return 0;
	}
	if (fd < 0)
		return -1;
	s->l->op_fds[i] = fd;
	return 0;
}

#define EMPTY_DIR "empty"

static char *staging_path(struct init *s, const char *name, char *buf) {
	char *p = put(buf, buf + PATHBUF, s->l->staging);
	p = put(p, buf + PATHBUF, "/");
	put(p, buf + PATHBUF, name);
	return buf;
}

static int mkdir_staging(struct init *s, const char *name, char *buf, mode_t mode) {
	s->sub = JAIL_SUB_MKDIR;
	return mkdir(staging_path(s, name, buf), mode);
}

// apply_root mounts the tmpfs that backs every writable place, and the
// root on it: an overlay whose read-only lower layer is the user's rootfs,
// or a plain directory of the tmpfs for the host-/usr default.
static int apply_root(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	const char *st = s->l->staging;
	char buf[PATHBUF], root[PATHBUF];
	s->sub = JAIL_SUB_MOUNT;
	if (sys_mount("tmpfs", st, "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0)
		return -1;
	static const char *const dirs[] = {"root", "scratch", "upper", "work"};
	for (unsigned k = 0; k < 4; k++) {
		if (mkdir_staging(s, dirs[k], buf, 0755) < 0)
			return -1;
	}
	// What every masked directory shows, bound read-only (mounts_linux.go).
	if (mkdir_staging(s, EMPTY_DIR, buf, 0555) < 0)
		return -1;
	char *p = put(root, root + PATHBUF, st);
	put(p, root + PATHBUF, "/root");
	if (op->source && op->source[0]) {
		char fdp[64];
		p = put(buf, buf + PATHBUF, "lowerdir=");
		p = put(p, buf + PATHBUF, fd_path(fdp, sizeof fdp, s->l->op_fds[i]));
		p = put(p, buf + PATHBUF, ",upperdir=");
		p = put(p, buf + PATHBUF, st);
		p = put(p, buf + PATHBUF, "/upper,workdir=");
		p = put(p, buf + PATHBUF, st);
		p = put(p, buf + PATHBUF, "/work");
		if (op->overlay_opts && op->overlay_opts[0]) {
			p = put(p, buf + PATHBUF, ",");
			put(p, buf + PATHBUF, op->overlay_opts);
		}
		s->sub = JAIL_SUB_MOUNT;
		if (sys_mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, buf) < 0)
			return -1;
	} else {
		// pivot_root needs the new root to be a mount point.
		s->sub = JAIL_SUB_MOUNT;
		if (sys_mount(root, root, NULL, MS_BIND, NULL) < 0)
			return -1;
	}
	s->sub = JAIL_SUB_OPEN;
	s->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return s->root_fd < 0 ? -1 : 0;
}

static int apply_scratch(struct init *s, const struct jail_op *op) {
	char dir[PATHBUF];
	s->scratch++;
	char *p = put(dir, dir + PATHBUF, s->l->staging);
	p = put(p, dir + PATHBUF, "/scratch/");
	put_uint(p, dir + PATHBUF, (unsigned long)s->scratch);
	s->sub = JAIL_SUB_MKDIR;
	if (mkdir(dir, 0700) < 0)
		return -1;
	// mkdir honours the umask; the mode must be exact (1777 for /tmp).
	s->sub = JAIL_SUB_CHMOD;
	if (chmod(dir, op->mode) < 0)
		return -1;
	int target = resolve(s, op->target, 1);
	if (target < 0)
		return -1;
	int r = attach_clone(s, AT_FDCWD, dir, target, op->attrs);
	int e = errno;
	close(target);
	errno = e;
	return r;
}

static int write_file(struct init *s, const struct jail_op *op) {
	int parent = resolve(s, op->parent, 1);
	if (parent < 0)
		return -1;
	s->sub = JAIL_SUB_CREATE;
	int fd = openat(parent, op->base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, op->mode);
	int e = errno;
	close(parent);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	const char *d = op->data;
	unsigned long left = op->data_len;
	s->sub = JAIL_SUB_WRITE;
	while (left > 0) {
		ssize_t n = write(fd, d, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		d += n;
		left -= (unsigned long)n;
	}
	s->sub = JAIL_SUB_CHMOD;
	int r = fchmod(fd, op->mode);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

static int apply(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	if (op->kind == JAIL_OP_ROOT)
		return apply_root(s, i);
	if (s->root_fd < 0) {
		s->sub = JAIL_SUB_ORDER;
		errno = EINVAL;
		return -1;
	}
	char fdp[64];
	int fd, r, e;
	switch (op->kind) {
	case JAIL_OP_BIND: {
		struct stat st;
		s->sub = JAIL_SUB_STAT;
		if (fstat(s->l->op_fds[i], &st) < 0)
			return -1;
		fd = resolve(s, op->target, S_ISDIR(st.st_mode));
	}
		if (fd < 0)
			return -1;
		r = move_tree(s, s->l->op_fds[i], fd);
		break;
	case JAIL_OP_SCRATCH:
		return apply_scratch(s, op);
	case JAIL_OP_MOUNT:
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		s->sub = JAIL_SUB_MOUNT;
		r = (int)sys_mount(op->fstype, fd_path(fdp, sizeof fdp, fd), op->fstype, op->flags, op->data);
		break;
	case JAIL_OP_PROC: {
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		struct jail_launch *l = (struct jail_launch *)s->l;
		int proc = take_proc(s);
		r = move_tree(s, proc, fd);
		e = errno;
		close(proc);
		l->proc_fd = -1;
		errno = e;
		break;
	}
	case JAIL_OP_MKDIR:
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		r = 0;
		break;
	case JAIL_OP_SYMLINK:
		fd = resolve(s, op->parent, 1);
		if (fd < 0)
			return -1;
		s->sub = JAIL_SUB_SYMLINK;
		r = symlinkat(op->data, fd, op->base);
		break;
	case JAIL_OP_FILE:
		return write_file(s, op);
	case JAIL_OP_MASK_FILE:
	case JAIL_OP_MASK_DIR:
	case JAIL_OP_READ_ONLY:
		// Absent paths need no hiding.
		fd = open_in_root(s, op->target);
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		if (op->kind == JAIL_OP_MASK_FILE) {
			r = attach_clone(s, AT_FDCWD, "/dev/null", fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
		} else if (op->kind == JAIL_OP_MASK_DIR) {
			char empty[PATHBUF];
			r = attach_clone(s, AT_FDCWD, staging_path(s, EMPTY_DIR, empty), fd,
			                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		} else {
			r = attach_clone(s, fd, "", fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		}
		break;
	default:
		s->sub = JAIL_SUB_ORDER;
		errno = EINVAL;
		return -1;
	}
	e = errno;
	close(fd);
	errno = e;
	return r;
}

// pivot makes the new root the process's root and detaches the host's:
// pivot_root(".", ".") stacks the old root on the new one, and the lazy
// unmount drops it, with no directory for the old root needed.
static int pivot(struct init *s) {
	if (fchdir(s->root_fd) < 0)
		return -1;
	close(s->root_fd);
	s->root_fd = -1;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -1;
	if (syscall(SYS_umount2, ".", MNT_DETACH) < 0)
		return -1;
	return chdir("/");
}

// ---- the rest of the init ----

// remap_fds gives the child exactly the descriptors the plan names, at
// fixed numbers, and closes everything else the Go process had open (the
// write end of our own lifeline among them).
static int remap_fds(const struct jail_launch *l) {
	int top = l->nfds;
	for (int i = 0; i < l->nfds; i++) {
		if (l->fds[i] >= top)
			top = l->fds[i] + 1;
	}
	// First copies above every source and target, so no dup3 below
	// overwrites a source still to be moved.
	int tmp[64];
	if (l->nfds > 64) {
		errno = EMFILE;
		return -1;
	}
	for (int i = 0; i < l->nfds; i++) {
		tmp[i] = fcntl(l->fds[i], F_DUPFD_CLOEXEC, top);
		if (tmp[i] < 0)
			return -1;
	}
	for (int i = 0; i < l->nfds; i++) {
		if (dup3(tmp[i], i, 0) < 0)
			return -1;
	}
	return (int)syscall(SYS_close_range, l->nfds, ~0U, 0);
}

static void set_handlers(void) {
	struct ksigaction sa;
	memset(&sa, 0, sizeof sa);
	// Go's handlers are code of a runtime that does not exist here.
	sa.handler = SIG_DFL;
	for (int sig = 1; sig < 65; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &sa, NULL, 8);
	}
	// The init must outlive signals from the terminal and from the
	// caller's other processes (PROG cannot name it); the parent ends it
	// with SIGKILL only as a backstop. pid 1 inherits these and takes
	// SIGUSR1 synchronously (pid1_main); PROG gets default dispositions
	// back in spawn.c.
	static const int ign[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2,
	                          SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};
	sa.handler = SIG_IGN;
	for (unsigned i = 0; i < sizeof ign / sizeof ign[0]; i++)
		syscall(SYS_rt_sigaction, ign[i], &sa, NULL, 8);
}

// become_user gives the init PROG's ids once the caller's paths are open.
// For an ordinary caller it already has them; when jail runs as root, the
// init held root's host id until now to open what root can open.
static int become_user(const struct jail_launch *l) {
	if (l->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0)
		return -1;
	if (syscall(SYS_setresgid, l->gid, l->gid, l->gid) < 0)
		return -1;
	return (int)syscall(SYS_setresuid, l->uid, l->uid, l->uid);
}

// ---- raw system calls ----
//
// The network namespace helper and the sandbox's pid 1 share the init's
// memory and so its thread-local errno, which the init reads meanwhile:
// they make raw system calls that return -errno and touch nothing but
// their stacks and the launch description.
#if defined(__x86_64__)
static long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
}
#else
#error "the sandbox's init makes raw system calls; add this architecture's calling convention"
#endif

static long raw_syscall(long n, long a, long b, long c) { return raw_syscall6(n, a, b, c, 0, 0, 0); }

// ---- the network namespace helper ----
//
// Creating a network namespace (the loopback device, its sysctls, IPv6
// address configuration) is the costliest namespace, about 0.6 ms here; a
// helper does it on another CPU while the init builds the mounts.
static int net_helper_main(void *arg) {
	struct jail_launch *l = arg;
	long r = raw_syscall(SYS_unshare, CLONE_NEWNET, 0, 0);
	if (r < 0) {
		l->net_sub = 0;
		goto fail;
	}
	if (l->loopback) {
		long fd = raw_syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = fd;
			l->net_sub = 1;
			goto fail;
		}
		struct ifreq ifr;
		memset(&ifr, 0, sizeof ifr);
		memcpy(ifr.ifr_name, "lo", 3);
		ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
		r = raw_syscall(SYS_ioctl, fd, SIOCSIFFLAGS, (long)&ifr);
		raw_syscall(SYS_close, fd, 0, 0);
		if (r < 0) {
			l->net_sub = 1;
			goto fail;
		}
	}
	r = raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (r < 0) {
		l->net_sub = 2;
		goto fail;
	}
	l->net_fd = (int)r;
	raw_syscall(SYS_exit, 0, 0, 0);
	return 0;
fail:
	l->net_err = (int)-r;
	raw_syscall(SYS_exit, 1, 0, 0);
	return 1;
}

#define NET_STACK (64 * 1024)

// start_net_helper clones the helper; it shares the init's memory and
// descriptors (net_fd lands in the init's table) and exits without a
// signal, so only join_net_helper's __WCLONE wait sees it.
static int start_net_helper(struct jail_launch *l) {
	l->net_fd = -1;
	return clone(net_helper_main, (char *)l->net_stack + NET_STACK, CLONE_VM | CLONE_FILES, l);
}

// join_net_helper waits for the helper and moves the init into the
// network namespace it made, which PROG then inherits.
static void join_net_helper(struct jail_launch *l, int pid) {
	int st;
	while (waitpid(pid, &st, __WCLONE) < 0) {
		if (errno != EINTR)
			jail_die(JAIL_L_NETNS, 4, 0, errno);
	}
	if (l->net_fd < 0)
		jail_die(JAIL_L_NETNS, l->net_sub, 0, l->net_err ? l->net_err : EIO);
	if (setns(l->net_fd, CLONE_NEWNET) < 0)
		jail_die(JAIL_L_NETNS, 3, 0, errno);
	close(l->net_fd);
}

static int loopback_up(void) {
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	int r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

// ---- the sandbox's pid 1 ----
//
// The init stays outside PROG's pid namespace, so PROG cannot name it: no
// prlimit, setpriority, sched_setaffinity, ioprio_set, kill or ptrace of
// PROG's reaches the process that waits for PROG, counts its resources
// and reports the result (they all resolve pids in the caller's pid
// namespace, and PRIO_USER, IOPRIO_WHO_USER and kill(-1) skip processes
// it cannot see). The init unshares the pid namespace, so its next child
// is the namespace's pid 1 and PROG, cloned later, is pid 2 and still the
// init's own child: the init, not pid 1, gets PROG's wait status.
//
// pid 1 holds nothing worth attacking. It mounts the namespace's /proc
// (procfs shows the pid namespace of its mounter), drops every
// descriptor, and then only reaps the orphans the kernel gives it, which
// folds their CPU time and peak memory into its own children's account,
// which the init collects when it reaps pid 1. When the init asks (SIGUSR1
// from outside the namespace, which PROG cannot forge), it kills every
// other process of the namespace and reaps them, so their use is counted
// too, and exits. If the init dies, PR_SET_PDEATHSIG kills it, and the
// namespace with it.
//
// What PROG can still do to pid 1, with its uid, is lower its rlimits or
// its priority. Neither touches the result: pid 1 uses no descriptors
// and almost no CPU, and if PROG made it spend a whole second of CPU time
// reaping under a lowered RLIMIT_CPU, the namespace would die with it and
// the init would report that (pid1_died).


#define PID1_STACK (16 * 1024)

static int pid1_main(void *arg) {
	struct pid1 *p = arg;
	struct jail_launch *l = p->l;
	// An init that died before this line would leave pid 1 behind: its
	// pidfd says so. (getppid is 0 either way: the parent is outside the
	// namespace.)
	raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
	struct pollfd alive = {.fd = p->init_fd, .events = POLLIN};
	if (raw_syscall(SYS_poll, (long)&alive, 1, 0) != 0)
		raw_syscall(SYS_exit, 1, 0, 0);
	long r = raw_syscall(SYS_fsopen, (long)"proc", FSOPEN_CLOEXEC, 0);
	l->proc_step = 0;
	if (r >= 0) {
		long fsfd = r;
		l->proc_step = 1;
		r = raw_syscall6(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, 0, 0, 0, 0);
		if (r >= 0) {
			l->proc_step = 2;
			r = raw_syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC,
			                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		}
		raw_syscall(SYS_close, fsfd, 0, 0);
	}
	if (r >= 0)
		l->proc_fd = (int)r;
	else
		l->proc_err = (int)-r;
	char c = 0;
	raw_syscall(SYS_write, p->ready_w, (long)&c, 1);
	// The descriptor table was the init's until here (CLONE_FILES, so
	// the mount landed in it); pid 1 keeps none of it.
	raw_syscall(SYS_unshare, CLONE_FILES, 0, 0);
	raw_syscall(SYS_close_range, 0, ~0U, 0);
	// Every signal is blocked (the init's mask); these two are taken
	// synchronously, so pid 1 needs no handler.
	unsigned long waitset = (1UL << (SIGCHLD - 1)) | (1UL << (SIGUSR1 - 1));
	for (;;) {
		while (raw_syscall6(SYS_wait4, -1, 0, __WALL | WNOHANG, 0, 0, 0) > 0) {
		}
		siginfo_t si;
		r = raw_syscall6(SYS_rt_sigtimedwait, (long)&waitset, (long)&si, 0, 8, 0, 0);
		// si_pid is 0 only for a sender outside the namespace; PROG
		// cannot queue SI_USER to another process.
		if (r == SIGUSR1 && si.si_code == SI_USER && si.si_pid == 0)
			break;
	}
	raw_syscall(SYS_kill, -1, SIGKILL, 0);
	do
		r = raw_syscall6(SYS_wait4, -1, 0, __WALL, 0, 0, 0);
	while (r > 0 || r == -EINTR);
	raw_syscall(SYS_exit, 0, 0, 0);
	return 0;
}

// start_pid1 gives PROG its pid namespace and clones its first process,
// and returns its pid.
static int start_pid1(struct init *s, int *step) {
	struct jail_launch *l = (struct jail_launch *)s->l;
	struct pid1 *p = &s->pid1;
	*step = 0;
	if (unshare(CLONE_NEWPID) < 0)
		return -1;
	int fds[2];
	*step = 1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	p->l = l;
	p->ready_w = fds[1];
	p->init_fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (p->init_fd < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	l->proc_fd = -1;
	int pid = clone(pid1_main, (char *)l->pid1_stack + PID1_STACK, CLONE_VM | CLONE_FILES | SIGCHLD, p);
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		close(p->init_fd);
		errno = e;
		return -1;
	}
	// The write end and the pidfd stay open until pid 1 is ready: the
	// descriptor table is shared, so closing them here would close them
	// for pid 1.
	p->ready_r = fds[0];
	return pid;
}

// take_proc waits for pid 1's /proc mount and returns it. pid 1 cannot be
// signalled yet (PROG does not exist), so a wait without an answer is
// jail's bug, bounded rather than a hang.
static int take_proc(struct init *s) {
	struct jail_launch *l = (struct jail_launch *)s->l;
	struct pid1 *p1 = &s->pid1;
	if (p1->ready_r >= 0) {
		struct pollfd p = {.fd = p1->ready_r, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, 5000);
		while (n < 0 && errno == EINTR);
		char c;
		if (n == 1 && read(p1->ready_r, &c, 1) != 1)
			n = 0;
		close(p1->ready_r);
		close(p1->ready_w);
		close(p1->init_fd);
		p1->ready_r = -1;
		if (n != 1)
			jail_die(JAIL_L_PIDNS, 2, 0, n == 0 ? ETIMEDOUT : errno);
	}
	if (l->proc_fd < 0)
		jail_die(JAIL_L_PIDNS, 3 + l->proc_step, 0, l->proc_err ? l->proc_err : EIO);
	return l->proc_fd;
}

// make_landlock builds PROG's Landlock ruleset on the root the init just
// pivoted into: everything the ruleset handles is granted beneath "/" and
// nothing elsewhere (see sandbox/landlock_linux.go). PROG's process
// enforces it once no_new_privs is set.
static int make_landlock(const struct jail_launch *l, int *step) {
	// struct landlock_ruleset_attr as of ABI 6; the kernel takes a larger
	// struct from an older ABI's view as long as the rest is zero.
	struct {
		uint64_t handled_access_fs, handled_access_net, scoped;
	} attr = {l->task.landlock_fs, 0, l->task.landlock_scoped};
	*step = 0;
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0)
		return -1;
	*step = 1;
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		int e = errno;
		close(rs);
		errno = e;
		return -1;
	}
	struct landlock_path_beneath_attr beneath = {.allowed_access = l->task.landlock_fs, .parent_fd = root};
	*step = 2;
	long r = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
	int e = errno;
	close(root);
	if (r < 0) {
		close(rs);
		errno = e;
		return -1;
	}
	return rs;
}

// look_path finds PROG the way execvp does, among the candidates the
// parent built from the sandbox's PATH, never the host's.
static const char *look_path(const struct jail_task *t) {
	if (!t->check_candidates)
		return t->ncandidates > 0 ? t->candidates[0] : NULL;
	for (int i = 0; i < t->ncandidates; i++) {
		struct stat st;
		if (stat(t->candidates[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    syscall(SYS_faccessat, AT_FDCWD, t->candidates[i], X_OK) == 0)
			return t->candidates[i];
	}
	return NULL;
}

static int64_t now_usec(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_alarm(int sig) { (void)sig; }

// catch_alarm gives SIGALRM a handler, for recv_notif; the signal stays
// blocked, as every signal in the init, except around RECV. glibc's
// sigaction supplies the rt_sigreturn trampoline a handler needs; it is a
// plain system call wrapper.
static void catch_alarm(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

// recv_notif receives the pending notification. RECV blocks when there is
// none, which happens when the caller died between poll and RECV (another
// thread of it exited); a short timer interrupts it then, since the init
// must keep reaping. It runs for every denial the policy answers with an
// errno, so it makes only the calls the timer needs; a timer that fired
// just after RECV returned stays pending and at most interrupts the next
// RECV, whose notification poll then reports again.
static int recv_notif(int listener, struct seccomp_notif *n) {
	struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, &old);
	int r = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	errno = e;
	return r;
}

// How long pid 1 may take to kill and reap the rest of the namespace
// before the init kills it, which the kernel then finishes without
// counting what the rest used.
#define TEARDOWN_GRACE_MS 500

struct watch {
	int prog, pid1;
	int prog_done, pid1_done;
	int64_t teardown_at; // when end_sandbox ran, 0 before
	int pid1_killed;     // SIGKILL sent to pid 1 after the grace
	// The policy's program with its errno returns, which PROG's filter
	// turned into notifications (seccomp.Recording).
	const struct sock_filter *decide;
	int decide_len;
	int answered; // errno denials answered so far
};

// record_denied counts one call the policy denied with an errno.
static void record_denied(struct jail_report *r, const struct seccomp_data *d) {
	for (int i = 0; i < r->ndenied; i++) {
		if (r->denied[i].nr == d->nr && r->denied[i].arch == d->arch) {
			r->denied[i].count++;
			return;
		}
	}
	if (r->ndenied < JAIL_DENIED_MAX) {
		r->denied[r->ndenied].nr = d->nr;
		r->denied[r->ndenied].arch = d->arch;
		r->denied[r->ndenied].count = 1;
		r->ndenied++;
		return;
	}
	r->denied_more++;
}

// answer_notification answers one notification of PROG's filter: a call
// the policy denies with an errno fails with exactly that errno, and is
// counted; any other (a kill of the policy) ends the run. It returns 1
// when the run must end.
static int answer_notification(struct watch *w, struct jail_report *r, int listener, struct seccomp_notif *n) {
	uint32_t act = jail_filter_run(w->decide, w->decide_len, &n->data);
	if ((act & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO && w->answered < JAIL_DENIED_BUDGET) {
		w->answered++;
		struct seccomp_notif_resp resp;
		memset(&resp, 0, sizeof resp);
		resp.id = n->id;
		resp.error = -(int32_t)(act & SECCOMP_RET_DATA);
		// ENOENT: the caller died meanwhile, and wants no answer.
		ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		record_denied(r, &n->data);
		return 0;
	}
	// The caller is blocked in the call, which never runs. Record the
	// first and end the run as SECCOMP_RET_KILL_PROCESS would.
	if (!r->violation) {
		r->violation = (act & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO ? 2 : 1;
		r->viol_nr = n->data.nr;
		r->viol_arch = n->data.arch;
		for (int k = 0; k < 6; k++)
			r->viol_args[k] = n->data.args[k];
	}
	return 1;
}

// end_sandbox ends every process of the sandbox: PROG at once, the rest
// through pid 1, which reaps them so their resources are counted.
static void end_sandbox(struct watch *w) {
	if (w->teardown_at)
		return;
	w->teardown_at = now_usec();
	if (!w->prog_done)
		kill(w->prog, SIGKILL);
	if (!w->pid1_done)
		kill(w->pid1, SIGUSR1);
}

static void add_rusage(struct jail_report *r, const struct rusage *ru) {
	r->user_usec += (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
	r->sys_usec += (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
	if (ru->ru_maxrss > r->maxrss_kib)
		r->maxrss_kib = ru->ru_maxrss;
}

// fail_watch ends the sandbox when the init can no longer watch it, and
// reports why (index: 0 poll, 1 wait4).
static void fail_watch(struct watch *w, int index, int err) {
	end_sandbox(w);
	if (!w->pid1_done)
		kill(w->pid1, SIGKILL);
	while (syscall(SYS_wait4, -1, NULL, __WALL, NULL) > 0 || errno == EINTR) {
	}
	jail_die(JAIL_L_SUPERVISE, index, 0, err);
}

// supervise waits for PROG with poll over the seccomp listener, SIGCHLD
// and the parent's lifeline, then ends the sandbox and reaps PROG and pid
// 1, so the whole tree is counted and nothing outlives the run. Any byte
// or EOF on the lifeline ends the run: EOF when jail died, a byte when
// jail stops it at a limit. It reports what happened, or, if it could not
// watch, an error: never a status it did not see.
static void supervise(struct watch *w, int listener, int sfd) {
	struct jail_report r;
	memset(&r, 0, sizeof r);
	r.kind = JAIL_REPORT_EXITED;
	int64_t start = now_usec();
	int lifeline = JAIL_FD_CTL;
	if (listener >= 0)
		catch_alarm();
	while (!(w->prog_done && w->pid1_done)) {
		struct pollfd p[3] = {
		    {.fd = sfd, .events = POLLIN},
		    {.fd = lifeline, .events = POLLIN},
		    {.fd = listener, .events = POLLIN},
		};
		int timeout = -1;
		if (w->teardown_at && !w->pid1_done && !w->pid1_killed) {
			int64_t left = w->teardown_at + TEARDOWN_GRACE_MS * 1000 - now_usec();
			timeout = left > 0 ? (int)(left / 1000) + 1 : 0;
		}
		int n = poll(p, 3, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			// Nothing PROG does reaches this process, so this is
			// jail's own failure: say so rather than guess a status.
			fail_watch(w, 0, errno);
		}
		if (n == 0 && w->teardown_at && !w->pid1_done && !w->pid1_killed) {
			// Once: then SIGCHLD tells when it is reaped, with no
			// timeout spinning meanwhile.
			kill(w->pid1, SIGKILL);
			w->pid1_killed = 1;
		}
		if (lifeline >= 0 && p[1].revents) {
			unsigned char c = 0;
			ssize_t got = read(lifeline, &c, 1);
			if (got == 1 && c > JAIL_CTL_SIGNAL && c < JAIL_CTL_SIGNAL + 64) {
				// Only PROG itself: what it started is its own to
				// tell, as a terminal's ^C reaches the foreground.
				if (!w->prog_done)
					kill(w->prog, c - JAIL_CTL_SIGNAL);
			} else if (!(got < 0 && errno == EINTR)) {
				// EOF (jail died: PR_SET_PDEATHSIG would not do,
				// the kernel clears it when the init changes ids),
				// JAIL_CTL_END, or anything else ends the run.
				lifeline = -1;
				end_sandbox(w);
			}
		}
		if (listener >= 0 && p[2].revents) {
			if (p[2].revents & POLLIN) {
				struct seccomp_notif notif;
				memset(&notif, 0, sizeof notif);
				if (recv_notif(listener, &notif) == 0 && answer_notification(w, &r, listener, &notif)) {
					end_sandbox(w);
					// The first kill is all we report, and
					// dying callers must not leave us in
					// RECV: stop listening.
					close(listener);
					listener = -1;
				}
			} else {
				// POLLHUP: no process uses the filter any more.
				close(listener);
				listener = -1;
			}
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {
			}
			for (;;) {
				int ws;
				struct rusage ru;
				pid_t pid = (pid_t)syscall(SYS_wait4, -1, &ws, WNOHANG | __WALL, &ru);
				if (pid < 0 && errno == EINTR)
					continue;
				if (pid < 0 && errno == ECHILD && !(w->prog_done && w->pid1_done))
					fail_watch(w, 1, ECHILD);
				if (pid <= 0)
					break;
				add_rusage(&r, &ru);
				if (pid == w->prog) {
					r.at_usec[JAIL_AT_REAPED] = now_usec();
					r.status = (uint32_t)ws;
					w->prog_done = 1;
					end_sandbox(w);
					// A notification still pending belongs to
					// a process now dying; RECV could wait
					// for it forever.
					if (listener >= 0) {
						close(listener);
						listener = -1;
					}
				} else if (pid == w->pid1) {
					w->pid1_done = 1;
					// pid 1 ends only when asked; before
					// that it died of a limit PROG set on it,
					// and the kernel killed the namespace.
					if (!w->teardown_at) {
						r.pid1_died = 1;
						r.pid1_status = (uint32_t)ws;
					}
				}
			}
		}
	}
	r.wall_usec = r.at_usec[JAIL_AT_REAPED] - start;
	// Every process that held PROG's streams is gone; the init's copies
	// go now, so a reader of PROG's output sees its end with the report,
	// not after the namespaces are torn down.
	close(0);
	close(1);
	close(2);
	jail_report(&r);
	syscall(SYS_exit_group, 0);
}

// When this process's C start-up ran, before the Go runtime's.
static int64_t process_start_usec;

int64_t jail_process_start_usec(void) { return process_start_usec; }

__attribute__((constructor)) static void at_process_start(void) { process_start_usec = now_usec(); }


static void put_map(char *buf, size_t len, unsigned int inner, unsigned int outer) {
	char *end = buf + len;
	char *p = put_uint(buf, end, inner);
	p = put(p, end, " ");
	p = put_uint(p, end, outer);
	put(p, end, " 1\n");
}

// write_self_maps writes the init's id maps; it returns -1 on success, or
// which write failed (errno set). /proc/self/ is ours to write only while
// we are dumpable, and our memory may be shared with an earlier init that
// made it not dumpable: the one init that shares jail's memory at a time
// (Init in launcher_linux.go) can set it back, before any PROG exists.
static int write_self_maps(const struct jail_launch *l) {
	char map[64];
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write_proc_self("setgroups", "deny") < 0)
		return 0;
	put_map(map, sizeof map, l->inner_uid, l->outer_uid);
	if (write_proc_self("uid_map", map) < 0)
		return 1;
	put_map(map, sizeof map, l->inner_gid, l->outer_gid);
	if (write_proc_self("gid_map", map) < 0)
		return 2;
	return -1;
}

int jail_init_main(void *arg) {
	const struct jail_launch *l = arg;
	// The network namespace helper reports into the description.
	struct jail_launch *shared = arg;
	struct init s = {.l = l, .root_fd = -1, .pid1 = {.ready_r = -1}};
	// Taken here, not where clone returns in jail: this process may run
	// on another CPU, and have written its id maps, before jail's thread
	// runs again.
	int64_t entered = now_usec();

	set_handlers();
	if (remap_fds(l) < 0) {
		// The report pipe may not be at its number yet.
		struct jail_report r;
		memset(&r, 0, sizeof r);
		r.kind = JAIL_REPORT_ERROR;
		r.stage = JAIL_L_FDS;
		r.err = errno;
		if (write(l->fds[JAIL_FD_REPORT], &r, sizeof r) < 0) {
		}
		syscall(SYS_exit_group, 1);
	}
	// Nothing before the id maps. The parent writes them (when jail runs
	// as root) and then the go-ahead, or zero bytes if jail died.
	if (l->self_maps) {
		int which = write_self_maps(l);
		if (which >= 0)
			jail_die(JAIL_L_IDMAPS, which, 0, errno);
	} else {
		char c;
		ssize_t n;
		do
			n = read(JAIL_FD_CTL, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			syscall(SYS_exit_group, 1);
	}
	struct jail_report started;
	memset(&started, 0, sizeof started);
	started.kind = JAIL_REPORT_STARTED;
	started.at_usec[JAIL_AT_ENTERED] = entered;
	started.at_usec[JAIL_AT_GO_AHEAD] = now_usec();
	int net_helper = -1;
	if (l->net_helper && (net_helper = start_net_helper(shared)) < 0)
		jail_die(JAIL_L_NETNS, 4, 0, errno);

	// A new session detaches the init from the caller's terminal.
	setsid();
	// Not dumpable: this memory is also the sandbox's pid 1's, and PROG,
	// with the same uid, must not open /proc/1/ or ptrace it.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		jail_die(JAIL_L_DUMPABLE, 0, 0, errno);
	prctl(PR_SET_NAME, "jail-init", 0, 0, 0);

	// Nothing we mount may propagate back to the host.
	if (sys_mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		jail_die(JAIL_L_PRIVATE, 0, 0, errno);
	for (int i = 0; i < l->nops; i++)
		l->op_fds[i] = -1;
	for (int i = 0; i < l->nops; i++) {
		if (open_source(&s, i) < 0)
			jail_die(JAIL_L_SOURCE, i, s.sub, errno);
	}
	if (become_user(l) < 0)
		jail_die(JAIL_L_USER, 0, 0, errno);
	int step = 0;
	int pid1 = start_pid1(&s, &step);
	if (pid1 < 0)
		jail_die(JAIL_L_PIDNS, step, 0, errno);
	for (int i = 0; i < l->nops; i++) {
		// sysfs shows the devices of the mounter's network namespace,
		// and only a process that owns it may mount it.
		const struct jail_op *op = &l->ops[i];
		if (net_helper >= 0 && op->kind == JAIL_OP_MOUNT && strcmp(op->fstype, "sysfs") == 0) {
			join_net_helper(shared, net_helper);
			net_helper = -1;
		}
		if (apply(&s, i) < 0)
			jail_die(JAIL_L_MOUNT, i, s.sub, errno);
	}
	for (int i = 0; i < l->nops; i++) {
		if (l->op_fds[i] >= 0)
			close(l->op_fds[i]);
	}
	// A plan without /proc still waits for pid 1 to be ready.
	if (s.pid1.ready_r >= 0)
		close(take_proc(&s));
	started.at_usec[JAIL_AT_MOUNTED] = now_usec();
	if (pivot(&s) < 0)
		jail_die(JAIL_L_PIVOT, 0, 0, errno);
	started.at_usec[JAIL_AT_PIVOTED] = now_usec();
	if (sethostname(l->hostname, (size_t)l->hostname_len) < 0)
		jail_die(JAIL_L_HOSTNAME, 0, 0, errno);
	// Without sysfs in the plan the helper is still out; it brought lo
	// up itself.
	if (net_helper >= 0)
		join_net_helper(shared, net_helper);
	else if (!l->net_helper && l->loopback && loopback_up() < 0)
		jail_die(JAIL_L_LOOPBACK, 0, 0, errno);

	// Every signal stays blocked in the init (the parent blocked them
	// before clone); SIGCHLD arrives through the signalfd.
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		jail_die(JAIL_L_SIGNALFD, 0, 0, errno);

	started.at_usec[JAIL_AT_TASK] = now_usec();
	if (l->warm) {
		started.kind = JAIL_REPORT_READY;
		jail_report(&started);
		started.kind = JAIL_REPORT_STARTED;
		jail_await_task(shared);
		started.at_usec[JAIL_AT_TASK] = now_usec();
	}
	const char *path = look_path(&l->task);
	if (!path)
		jail_die(JAIL_L_LOOKPATH, 0, 0, ENOENT);
	struct jail_exec *x = &shared->task.exec;
	x->path = path;
	x->landlock_fd = -1;
	if (l->task.landlock_abi > 0) {
		int step;
		if ((x->landlock_fd = make_landlock(l, &step)) < 0)
			jail_die(JAIL_L_LANDLOCK, step, 0, errno);
	}
	started.at_usec[JAIL_AT_SPAWN] = now_usec();
	int pid = jail_spawn(x, !l->task.spawn_shares_memory);
	const struct jail_spawn_result *res = x->result;
	if (res->failed_stage != JAIL_STAGE_NONE) {
		if (pid > 0)
			syscall(SYS_wait4, pid, NULL, 0, NULL);
		jail_die(res->failed_stage, res->failed_index, 0, res->failed_errno);
	}
	for (int i = 0; i < x->ncgroup_fds; i++)
		close(x->cgroup_fds[i]);
	if (x->landlock_fd >= 0)
		close(x->landlock_fd);

	started.at_usec[JAIL_AT_EXECED] = now_usec();
	started.at_usec[JAIL_AT_FILTER] = res->at_filter_usec;
	started.pid = pid;
	jail_report(&started);
	struct watch w = {.prog = pid, .pid1 = pid1, .decide = l->task.decide, .decide_len = l->task.decide_len};
	supervise(&w, res->listener_fd, sfd);
	return 0;
}

#define INIT_STACK (1024 * 1024)

// jail_launch_alloc maps what the init needs besides its own stack: the
// spawner's result page and the stacks of pid 1 and the network
// namespace helper. It returns the namespaces the init itself is made
// with: the init makes the pid namespace itself (start_pid1), so that it
// stays out of PROG's reach, and the helper the network namespace.
int jail_launch_alloc(struct jail_launch *l, unsigned long *flags) {
	// The spawner reports into this; it is a copy of the init, not a
	// sharer of its memory (jail_spawn), so the page must be MAP_SHARED.
	struct jail_spawn_result *result = mmap(NULL, sizeof *result, PROT_READ | PROT_WRITE,
	                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (result == MAP_FAILED)
		return -errno;
	l->task.exec.result = result;
	// pid 1's stack, in the memory it shares with the init.
	l->pid1_stack = mmap(NULL, PID1_STACK, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (l->pid1_stack == MAP_FAILED) {
		int e = errno;
		l->pid1_stack = NULL;
		jail_launch_release(l);
		return -e;
	}
	*flags = l->clone_flags & ~(unsigned long)CLONE_NEWPID;
	if (*flags & CLONE_NEWNET) {
		l->net_stack = mmap(NULL, NET_STACK, PROT_READ | PROT_WRITE,
		                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (l->net_stack != MAP_FAILED) {
			*flags &= ~(unsigned long)CLONE_NEWNET;
			l->net_helper = 1;
		} else {
			l->net_stack = NULL;
		}
	}
	return 0;
}

int jail_launch_start(struct jail_launch *l) {
	unsigned long ns;
	int r = jail_launch_alloc(l, &ns);
	if (r < 0)
		return r;
	// The init's stack; it lives until jail_launch_release, after the
	// init is reaped.
	void *stack = mmap(NULL, INIT_STACK, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED) {
		int e = errno;
		jail_launch_release(l);
		return -e;
	}
	// Go's signal handlers must never run in the child; it resets them
	// all before it unblocks anything.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	// CLONE_VM when asked: see Init in launcher_linux.go. Never
	// CLONE_FILES, CLONE_FS or CLONE_SIGHAND: the init's descriptors, root
	// and handlers are its own.
	int flags = (int)ns | SIGCHLD;
	if (l->share_vm)
		flags |= CLONE_VM;
	int pid = clone(jail_init_main, (char *)stack + INIT_STACK, flags, l);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(stack, INIT_STACK);
		jail_launch_release(l);
		return -e;
	}
	l->stack = stack;
	return pid;
}

void jail_launch_release(struct jail_launch *l) {
	if (l->stack)
		munmap(l->stack, INIT_STACK);
	if (l->task.exec.result)
		munmap(l->task.exec.result, sizeof *l->task.exec.result);
	if (l->net_stack)
		munmap(l->net_stack, NET_STACK);
	if (l->pid1_stack)
		munmap(l->pid1_stack, PID1_STACK);
	l->net_stack = NULL;
	l->pid1_stack = NULL;
	l->stack = NULL;
	l->task.exec.result = NULL;
}
