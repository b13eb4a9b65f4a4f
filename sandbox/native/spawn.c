#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "init.h"
#include "spawn.h"
#include "text.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// clone3's arguments (linux/sched.h, whose CLONE_ names would clash with
// sched.h's).
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static int fail_into(struct jail_spawn_result *r, int stage, int index) {
	r->failed_stage = stage;
	r->failed_index = index;
	r->failed_errno = errno;
	syscall(SYS_exit_group, 127);
	return 127;
}

static int fail(const struct jail_exec *x, int stage, int index) { return fail_into(x->result, stage, index); }

// PROG must not inherit the init's ignored signals, which exec keeps;
// every other disposition is already the default (set_handlers, init.c)
// or a handler exec resets. Signals stay blocked from the init's start
// until just before exec, so no handler runs here.
static void reset_signals(void) {
	struct ksigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.handler = SIG_DFL;
	for (int i = 0; i < init_nignored_signals; i++)
		syscall(SYS_rt_sigaction, init_ignored_signals[i], &dfl, NULL, 8);
}

// time_offsets writes into buf the timens_offsets that start a time
// namespace's monotonic and boot-time clocks near zero now, and returns
// the monotonic clock's seconds it takes off.
static long time_offsets(char *buf, size_t len) {
	struct timespec mono, boot;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	char *end = buf + len;
	char *p = put_uint(put(buf, end, "monotonic -"), end, (unsigned long)mono.tv_sec);
	p = put_uint(put(p, end, " 0\nboottime -"), end, (unsigned long)boot.tv_sec);
	put(p, end, " 0\n");
	return (long)mono.tv_sec;
}

// enter_timens gives PROG a time namespace whose monotonic and boot-time
// clocks start near zero, so it sees neither the host's uptime nor when
// the host booted. A spawner with memory of its own joins the namespace
// here, and *offset_usec says by how much its clock moved; one that shares
// the init's memory may not (the kernel refuses a time namespace change to
// a shared mm) and relies on exec to move PROG in, which only newer
// kernels do (sandbox.execEntersTimeNS decides). Writing the offsets needs
// this process's /proc files, which are its own only while its memory is
// dumpable: PROG does not exist yet, and exec gives it new memory.
static int enter_timens(int join, int64_t *offset_usec, int *step) {
	*step = 0;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -1;
	*step = 1;
	if (unshare(CLONE_NEWTIME) < 0)
		return -1;
	char buf[96];
	long mono_sec = time_offsets(buf, sizeof buf);
	*step = 2;
	if (write_proc_self("timens_offsets", buf) < 0)
		return -1;
	if (join) {
		*step = 3;
		int fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		int r = setns(fd, CLONE_NEWTIME);
		int e = errno;
		close(fd);
		if (r < 0) {
			errno = e;
			return -1;
		}
		*offset_usec = (int64_t)mono_sec * 1000000;
	}
	*step = 0;
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// mount_cgroup_view shows PROG its cgroup at /sys/fs/cgroup: a cgroup2
// mount made in the cgroup namespace just unshared, so its root is the
// run's cgroup, as a container runtime mounts it under a cgroup
// namespace; read-only, so PROG can neither raise its limits nor move out.
// It is mounted here, with the task, not by the init with the root: a
// sandbox built before its run's cgroup existed (a warm one, or one `jail
// run` built ahead) shows it as well.
static int mount_cgroup_view(int *step) {
	*step = 0;
	int fs = (int)syscall(SYS_fsopen, "cgroup2", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -1;
	*step = 1;
	long r = syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	int m = -1;
	if (r == 0) {
		*step = 2;
		m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
		                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	}
	int e = errno;
	close(fs);
	if (m < 0) {
		errno = e;
		return -1;
	}
	*step = 3;
	r = syscall(SYS_move_mount, m, "", AT_FDCWD, JAIL_CGROUP_DIR, MOVE_MOUNT_F_EMPTY_PATH);
	e = errno;
	close(m);
	errno = e;
	return (int)r;
}

// drop_privileges leaves PROG with no capability it could ever regain:
// the bounding set is emptied so exec of a file with capabilities or as
// uid 0 grants nothing, the securebits are locked so uid 0 is not special,
// and every set is cleared.
//
// With root_caps, uid 0 stays special, as for a container's root: the
// bounding set keeps those capabilities and so do the permitted and
// effective sets; exec as uid 0 gives the bounding set (no new privileges
// allows that: nothing is gained), exec as any other uid clears them, and
// so does leaving uid 0 (unless PROG asks to keep them, as a container's
// root may). The inheritable set stays empty, so no exec of a file with
// inheritable capabilities gains them (CVE-2022-24769).
static int drop_privileges(unsigned long long keep) {
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -1;
	// A warm init dropped most of them already (narrow_bounding_set);
	// a drop makes new credentials, a read does not.
	for (int cap = 0; cap < 64; cap++) {
		if (keep >> cap & 1)
			continue;
		int held = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (held < 0 && errno == EINVAL) // past the kernel's last capability
			break;
		if (held != 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -1;
	}
	// A root with capabilities gets a container root's securebits: none,
	// so that it may hand them on as setpriv and su do, within the
	// bounding set.
	unsigned long bits = 0;
	if (!keep)
		bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
		       SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return -1;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int i = 0; i < 2; i++) {
		__u32 half = (__u32)(keep >> (32 * i));
		data[i].permitted = data[i].effective = half;
	}
	return syscall(SYS_capset, &hdr, data);
}

// load_filter loads a compiled seccomp filter of len instructions (none
// when len is 0) on this process. With notify its kill actions are user
// notifications, and *listener is the listener, which the kernel returns
// close-on-exec; else -1.
static int load_filter(const struct sock_filter *f, unsigned short len, int notify, int log, int *listener) {
	*listener = -1;
	if (len == 0)
		return 0;
	struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)f};
	unsigned int flags = 0;
	if (notify)
		flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
	if (log)
		flags |= SECCOMP_FILTER_FLAG_LOG;
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		return -1;
	if (notify)
		*listener = (int)fd;
	return 0;
}

// child_main is PROG's process from clone to exec, stage by stage.
static int child_main(void *arg) {
	struct jail_exec *x = arg;

	reset_signals();
	// A command beside PROG: its streams, in a table of its own.
	static const int std_fds[3] = {0, 1, 2};
	if (x->own_files && init_place_fds(x->stdio, std_fds, 3, 0) < 0)
		return fail(x, JAIL_STAGE_CLOSE_FDS, 1);

	// Join the run's cgroup before anything PROG does is counted, and
	// give PROG a cgroup namespace rooted there, so /proc/self/cgroup
	// shows "/" and no host path. The parent opened these files, and the
	// kernel checks the opener's rights, not ours.
	// The init has no cgroup namespace of its own (a clone into a cgroup
	// outside the caller's namespace is refused), so PROG always gets
	// one, rooted where it now is: its run's cgroup, or without one the
	// cgroup jail runs in. A command beside PROG joins PROG's.
	int writes = x->ncgroup_fds - (x->cgroup_into ? 1 : 0);
	for (int i = 0; !x->cloned_into && i < writes; i++) {
		if (write(x->cgroup_fds[i], "0", 1) != 1)
			return fail(x, JAIL_STAGE_CGROUP, i);
	}
	if (x->timens_fd >= 0 ? setns(x->timens_fd, CLONE_NEWCGROUP) < 0 : unshare(CLONE_NEWCGROUP) < 0)
		return fail(x, JAIL_STAGE_CGROUP, x->ncgroup_fds);
	int step;
	if (x->cgroup_view && mount_cgroup_view(&step) < 0)
		return fail(x, JAIL_STAGE_CGROUP_VIEW, step);

	// A new session detaches PROG from the caller's terminal, so it cannot
	// push input into it with TIOCSTI (CVE-2017-5226).
	if (setsid() < 0)
		return fail(x, JAIL_STAGE_SESSION, 0);
	// With -t, fd 0 is the slave of a pty jail allocated for this run.
	if (x->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		return fail(x, JAIL_STAGE_CTTY, 0);
	// Nothing of the sandbox's own may reach PROG (CVE-2024-21626). This
	// process shares the init's descriptor table (so the init receives
	// the seccomp listener), so descriptors are marked close-on-exec
	// rather than closed: execve gives PROG a private copy of the table
	// without them, and the init keeps its own.
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return fail(x, JAIL_STAGE_CLOSE_FDS, 0);
	if (chdir(x->dir) < 0)
		return fail(x, JAIL_STAGE_CHDIR, 0);
	int64_t offset_usec = 0;
	if (x->timens_fd >= 0) {
		// PROG's own clocks, not a namespace of its own.
		if (setns(x->timens_fd, CLONE_NEWTIME) < 0)
			return fail(x, JAIL_STAGE_TIMENS, 4);
	} else if (enter_timens(x->join_timens, &offset_usec, &step) < 0) {
		return fail(x, JAIL_STAGE_TIMENS, step);
	}
	for (int i = 0; i < x->nrlimits; i++) {
		struct rlimit rl = {.rlim_cur = x->rlimits[i].cur, .rlim_max = x->rlimits[i].max};
		if (setrlimit(x->rlimits[i].resource, &rl) < 0)
			return fail(x, JAIL_STAGE_RLIMIT, i);
	}
	if (x->new_ipc && unshare(CLONE_NEWIPC) < 0)
		return fail(x, JAIL_STAGE_IPCNS, 0);
	if (drop_privileges(x->root_caps) < 0)
		return fail(x, JAIL_STAGE_CAPS, 0);
	// After capabilities, before exec: no exec from here on may gain
	// privileges through setuid bits or file capabilities.
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(x, JAIL_STAGE_NO_NEW_PRIVS, 0);
	// Landlock needs no_new_privs (or privileges we just dropped).
	if (x->landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, x->landlock_fd, 0) < 0)
		return fail(x, JAIL_STAGE_LANDLOCK, 0);

	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	// On the host's clock, as every other point of the run.
	x->result->at_filter_usec = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + offset_usec;
	// The filter comes last: from here the only system call is execve,
	// which every policy allows. With NEW_LISTENER the kernel returns the
	// listener close-on-exec, so PROG never holds it.
	if (load_filter(x->filter, x->filter_len, x->notify, x->log, &x->result->listener_fd) < 0)
		return fail(x, JAIL_STAGE_SECCOMP, 0);
	execve(x->path, x->argv, x->envp);
	return fail(x, JAIL_STAGE_EXEC, 0);
}

#define CHILD_STACK (64 * 1024)

int jail_spawn(struct jail_exec *x, int copy_mm) {
	x->result->failed_stage = JAIL_STAGE_NONE;
	x->result->listener_fd = -1;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	// CLONE_VM (unless copy_mm): no copy of the caller's memory.
	// CLONE_VFORK: this thread resumes only once the child has exec'd or
	// exited, so the result is final when we read it. CLONE_FILES: the
	// seccomp listener the child creates lands in the caller's table; a
	// command beside PROG has no listener, and streams of its own.
	int flags = CLONE_VFORK | SIGCHLD;
	if (!x->own_files)
		flags |= CLONE_FILES;
	if (!copy_mm)
		flags |= CLONE_VM;
	int pid = -1, clone_errno = 0;
	x->cloned_into = 0;
	if (x->cgroup_into && x->ncgroup_fds > 0) {
		// A copy of this process, not a sharer of its memory: clone3
		// starts the child on the stack it is called from, and a child
		// sharing memory would need a trampoline to leave it. The copy's
		// result page is MAP_SHARED (init_launch_alloc).
		struct clone3_args a;
		memset(&a, 0, sizeof a);
		a.flags = ((uint64_t)flags & ~(uint64_t)(CLONE_VM | 0xff)) | CLONE_INTO_CGROUP;
		a.exit_signal = SIGCHLD;
		a.cgroup = (uint64_t)x->cgroup_fds[x->ncgroup_fds - 1];
		x->cloned_into = 1;
		x->join_timens = 1;
		pid = (int)syscall(SYS_clone3, &a, sizeof a);
		if (pid == 0) {
			child_main(x);
			syscall(SYS_exit_group, 127);
		}
		// Refused (an older kernel, the cgroup not this user's to
		// write): a clone, and a write as before.
		if (pid < 0)
			x->cloned_into = 0;
	}
	if (pid < 0) {
		void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
		                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stack == MAP_FAILED) {
			clone_errno = errno;
		} else {
			x->join_timens = copy_mm;
			pid = clone(child_main, (char *)stack + CHILD_STACK, flags, x);
			clone_errno = errno;
			munmap(stack, CHILD_STACK);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		x->result->failed_stage = JAIL_STAGE_CLONE;
		x->result->failed_errno = clone_errno;
		return -1;
	}
	return pid;
}

// PROG made ahead (spawn.h). Its descriptor for the socket to the init.
#define AHEAD_FD 3

// The init's go-ahead: PROG's path, argv, envp and rlimits, in the task's
// buffer, which the process made ahead shares with the init as all its
// memory; its streams come as SCM_RIGHTS.
struct ahead_go {
	const char *path;
	char **argv, **envp;
	int nrlimits;
	const struct jail_rlimit *rlimits;
};

// What the process made ahead sends once its filter is loaded: its pid in
// the sandbox's pid namespace, and, with notify, the filter's listener as
// SCM_RIGHTS.
struct ahead_ready {
	int ns_pid;
};

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// allows says x's filter lets the call through as it is (no errno, no
// notification, no kill).
static int allows(const struct jail_exec *x, int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3) {
#ifdef NATIVE_AUDIT_ARCH
	if (x->filter_len == 0)
		return 1;
	struct seccomp_data d;
	memset(&d, 0, sizeof d);
	d.nr = nr;
	d.arch = NATIVE_AUDIT_ARCH;
	d.args[0] = a0;
	d.args[1] = a1;
	d.args[2] = a2;
	d.args[3] = a3;
	return (jail_filter_run(x->filter, x->filter_len, &d) & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW;
#else
	(void)x, (void)nr, (void)a0, (void)a1, (void)a2, (void)a3;
	return 0;
#endif
}

// calls_after_filter_allowed says x's filter allows every call the process
// made ahead makes after loading it, with the arguments it passes; no
// policy decides on a pointer's value, so any stands for one.
static int calls_after_filter_allowed(const struct jail_exec *x) {
	const uint64_t p = 0x10000;
	if (!allows(x, SYS_sendmsg, AHEAD_FD, p, MSG_NOSIGNAL, 0) || !allows(x, SYS_close, 0, 0, 0, 0) ||
	    !allows(x, SYS_recvmsg, AHEAD_FD, p, 0, 0) || !allows(x, SYS_rt_sigprocmask, SIG_SETMASK, p, 0, 8) ||
	    !allows(x, SYS_execve, p, p, p, 0) || !allows(x, SYS_exit_group, 127, 0, 0, 0))
		return 0;
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		if (!allows(x, SYS_prlimit64, 0, (uint64_t)res, p, 0))
			return 0;
	}
	return 1;
}

// ahead_main is the process made ahead, from its clone to PROG's exec: the
// steps of child_main that do not depend on the task, in its order, the
// filter last; then the task's own. It shares the init's memory, as a
// spawner does, but runs beside the init rather than while the init
// waits: it writes nothing but its own stack and the spawn result page
// (and errno, the thread-local one of the init's thread, only on a failure
// it then exits on), and reads what it is set up as from a, which the
// init leaves alone until it has exec'd or died, and its task from the
// task's buffer once the init has received it. A step that fails before the task ends it
// quietly (the init then spawns the task's PROG as usual, which reports
// the failure if it is one); after it took the task, as child_main does.
static int ahead_main(void *arg) {
	const struct jail_ahead *a = arg;
	// Until exec names it after PROG.
	prctl(PR_SET_NAME, "jail-ahead", 0, 0, 0);
	reset_signals();
	// Its cgroup first, as child_main joins PROG's: it is the task's,
	// and counts everything from here on. Off the task's path, the move
	// may wait for an RCU grace period, as a clone into the cgroup would
	// not; cgroup v1 has no such clone.
	for (int i = 0; i < a->ncgroup_fds; i++) {
		if (write(a->cgroup_fds[i], "0", 1) != 1)
			syscall(SYS_exit_group, 1);
	}
	// A descriptor table of its own, of which it keeps only its end of
	// the socket, close-on-exec; the streams arrive at 0, 1 and 2.
	int step;
	if (dup3(a->child_sock, AHEAD_FD, O_CLOEXEC) < 0 || unshare(CLONE_NEWCGROUP) < 0 ||
	    (a->cgroup_view && mount_cgroup_view(&step) < 0) || setsid() < 0 ||
	    chdir(a->dir) < 0 || unshare(CLONE_NEWTIME) < 0 || (a->new_ipc && unshare(CLONE_NEWIPC) < 0) ||
	    drop_privileges(a->root_caps) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    (a->child_landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, a->child_landlock_fd, 0) < 0) ||
	    syscall(SYS_close_range, AHEAD_FD + 1, ~0U, 0) < 0 || syscall(SYS_close_range, 0, AHEAD_FD - 1, 0) < 0)
		syscall(SYS_exit_group, 1);
	struct ahead_ready ready = {.ns_pid = (int)syscall(SYS_getpid)};
	int listener;
	if (load_filter(a->filter, a->filter_len, a->notify, a->log, &listener) < 0)
		syscall(SYS_exit_group, 1);
	// From here on only the calls calls_after_filter_allowed checked.
	if (init_send_fds(AHEAD_FD, &ready, sizeof ready, &listener, listener >= 0) < 0)
		syscall(SYS_exit_group, 1);
	if (listener >= 0)
		close(listener);
	struct ahead_go go;
	int fds[3], nfds;
	ssize_t n = init_recv_fds(AHEAD_FD, &go, sizeof go, fds, 3, &nfds, 0);
	if (n == 0) // the init discarded it, or ended
		syscall(SYS_exit_group, 0);
	if (n != (ssize_t)sizeof go)
		fail_into(a->result, JAIL_STAGE_AHEAD, 0);
	// Received at the lowest free numbers, which are 0, 1 and 2.
	if (nfds != 3 || fds[0] != 0 || fds[1] != 1 || fds[2] != 2)
		fail_into(a->result, JAIL_STAGE_AHEAD, 1);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	a->result->at_filter_usec = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (int i = 0; i < go.nrlimits; i++) {
		struct rlimit rl = {.rlim_cur = go.rlimits[i].cur, .rlim_max = go.rlimits[i].max};
		if (syscall(SYS_prlimit64, 0, go.rlimits[i].resource, &rl, NULL) < 0)
			fail_into(a->result, JAIL_STAGE_RLIMIT, i);
	}
	unsigned long none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
	execve(go.path, go.argv, go.envp);
	return fail_into(a->result, JAIL_STAGE_EXEC, 0);
}

// set_up_by_itself says t's PROG has a step that only its task can take:
// its terminal. No PROG is made ahead like it, or for it.
static int set_up_by_itself(const struct jail_task *t) { return t->pty || t->exec.tty; }

// in_its_cgroup says the process made ahead is in t's cgroup, shown as t
// shows it: the one jail made ahead for t, or none for a task without.
static int in_its_cgroup(const struct jail_ahead *a, const struct jail_task *t) {
	const struct jail_exec *x = &t->exec;
	if (t->cgroup_ahead)
		return a->in_cgroup && a->cgroup_view == x->cgroup_view;
	return !a->in_cgroup && x->ncgroup_fds == 0 && !x->cgroup_view;
}

int jail_ahead_make(struct jail_ahead *a, const struct jail_task *t, int landlock_fd, const int *cgroup_fds, int ncgroup,
                    int view) {
	const struct jail_exec *x = &t->exec;
	a->pid = 0;
	if (set_up_by_itself(t) || x->filter_len > BPF_MAXINSNS || strlen(x->dir) >= sizeof a->dir ||
	    ncgroup > JAIL_AHEAD_CGROUP_FDS || !calls_after_filter_allowed(x))
		return -1;
	a->in_cgroup = ncgroup > 0;
	a->cgroup_view = a->in_cgroup && view;
	a->ncgroup_fds = ncgroup;
	memcpy(a->cgroup_fds, cgroup_fds, (size_t)ncgroup * sizeof *cgroup_fds);
	// Copied: t's filter and directory lie in the task's buffer, which
	// the next task overwrites.
	a->result = x->result;
	a->notify = x->notify;
	a->log = x->log;
	a->new_ipc = x->new_ipc;
	a->root_caps = x->root_caps;
	a->landlock_abi = t->landlock_abi;
	a->landlock_fs = t->landlock_fs;
	a->landlock_scoped = t->landlock_scoped;
	a->filter_len = x->filter_len;
	if (x->filter_len > 0)
		memcpy(a->filter, x->filter, x->filter_len * sizeof *a->filter);
	memcpy(a->dir, x->dir, strlen(x->dir) + 1);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	a->sock = init_own_fd(sv[0]);
	a->child_sock = sv[1];
	a->child_landlock_fd = landlock_fd;
	if (!a->stack)
		a->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	// CLONE_VM: a copy of the init's memory would cost a copy of its page
	// tables now and their teardown at exec, on every task.
	int pid = -1;
	if (a->sock >= 0 && a->stack != MAP_FAILED)
		pid = clone(ahead_main, (char *)a->stack + CHILD_STACK, CLONE_VM | SIGCHLD, a);
	close(sv[1]);
	if (pid < 0) {
		if (a->stack == MAP_FAILED)
			a->stack = NULL;
		close(a->sock);
		return -1;
	}
	a->pid = pid;
	return 0;
}

int jail_ahead_fits(const struct jail_ahead *a, const struct jail_task *t) {
	const struct jail_exec *x = &t->exec;
	return a->pid > 0 && !set_up_by_itself(t) && in_its_cgroup(a, t) && x->notify == a->notify &&
	       x->log == a->log && x->new_ipc == a->new_ipc && x->root_caps == a->root_caps &&
	       t->landlock_abi == a->landlock_abi && t->landlock_fs == a->landlock_fs &&
	       t->landlock_scoped == a->landlock_scoped && x->filter_len == a->filter_len &&
	       (x->filter_len == 0 || memcmp(x->filter, a->filter, x->filter_len * sizeof *a->filter) == 0) &&
	       strcmp(x->dir, a->dir) == 0;
}

void jail_ahead_discard(struct jail_ahead *a) {
	if (a->pid <= 0)
		return;
	kill(a->pid, SIGKILL);
	syscall(SYS_wait4, a->pid, NULL, __WALL, NULL);
	close(a->sock);
	a->pid = 0;
}

// write_offsets starts the clocks of the time namespace the process made
// ahead unshared (its time_for_children, which exec enters) now, through
// the sandbox's /proc. Its /proc files are its owner's only while the
// memory it shares with the init (and pid 1) is dumpable, which it may be
// for a moment: PROG does not exist yet.
static int write_offsets(int proc, int ns_pid) {
	char path[48], *end = path + sizeof path;
	put(put_uint(path, end, (unsigned long)ns_pid), end, "/timens_offsets");
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -1;
	int fd = openat(proc, path, O_WRONLY | O_CLOEXEC);
	int e = errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		init_die(JAIL_L_DUMPABLE, 0, 0, errno);
	errno = e;
	if (fd < 0)
		return -1;
	char buf[96];
	time_offsets(buf, sizeof buf);
	size_t len = strlen(buf);
	ssize_t n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

int jail_ahead_start(struct jail_ahead *a, struct jail_exec *x, int proc) {
	struct ahead_ready ready;
	int listener[3], nl;
	ssize_t n = init_recv_fds(a->sock, &ready, sizeof ready, listener, 3, &nl, MSG_CMSG_CLOEXEC);
	if (n != (ssize_t)sizeof ready || nl != (a->notify ? 1 : 0) || write_offsets(proc, ready.ns_pid) < 0) {
		for (int i = 0; n > 0 && i < nl; i++)
			close(listener[i]);
		jail_ahead_discard(a);
		return 0;
	}
	x->result->failed_stage = JAIL_STAGE_NONE;
	x->result->listener_fd = nl ? listener[0] : -1;
	struct ahead_go go = {.path = x->path, .argv = x->argv, .envp = x->envp, .nrlimits = x->nrlimits, .rlimits = x->rlimits};
	static const int streams[3] = {0, 1, 2};
	if (init_send_fds(a->sock, &go, sizeof go, streams, 3) < 0) {
		if (nl)
			close(listener[0]);
		x->result->listener_fd = -1;
		jail_ahead_discard(a);
		return 0;
	}
	// Its end of the socket closes at exec, or when it exits having
	// failed.
	char c;
	do
		n = recv(a->sock, &c, 1, 0);
	while (n < 0 && errno == EINTR);
	int pid = a->pid;
	if (n != 0) {
		x->result->failed_stage = JAIL_STAGE_AHEAD;
		x->result->failed_index = 0;
		x->result->failed_errno = n < 0 ? errno : EPROTO;
		kill(pid, SIGKILL);
	}
	close(a->sock);
	a->pid = 0;
	if (x->result->failed_stage != JAIL_STAGE_NONE) {
		syscall(SYS_wait4, pid, NULL, __WALL, NULL);
		return -1;
	}
	return pid;
}
