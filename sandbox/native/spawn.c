#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <linux/capability.h>
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static int fail(struct jail_exec *x, int stage, int index) {
	x->result->failed_stage = stage;
	x->result->failed_index = index;
	x->result->failed_errno = errno;
	syscall(SYS_exit_group, 127);
	return 127;
}

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
	struct timespec mono, boot;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	char buf[96], *end = buf + sizeof buf;
	char *p = put_uint(put(buf, end, "monotonic -"), end, (unsigned long)mono.tv_sec);
	p = put_uint(put(p, end, " 0\nboottime -"), end, (unsigned long)boot.tv_sec);
	put(p, end, " 0\n");
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
		*offset_usec = (int64_t)mono.tv_sec * 1000000;
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
	r = syscall(SYS_move_mount, m, "", AT_FDCWD, "/sys/fs/cgroup", MOVE_MOUNT_F_EMPTY_PATH);
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
	if (x->filter_len > 0) {
		struct sock_fprog prog = {.len = x->filter_len, .filter = x->filter};
		unsigned int flags = 0;
		if (x->notify)
			flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
		if (x->log)
			flags |= SECCOMP_FILTER_FLAG_LOG;
		long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
		if (fd < 0)
			return fail(x, JAIL_STAGE_SECCOMP, 0);
		if (x->notify)
			x->result->listener_fd = (int)fd;
	}
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
