// The sandbox's pid 1.
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
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "raw.h"

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

// init_start_pid1 gives PROG its pid namespace and clones its first
// process, and returns its pid.
int init_start_pid1(struct init *s, int *step) {
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

// init_take_proc waits for pid 1's /proc mount and returns it. pid 1
// cannot be signalled yet (PROG does not exist), so a wait without an
// answer is jail's bug, bounded rather than a hang.
int init_take_proc(struct init *s) {
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
			init_die(JAIL_L_PIDNS, 2, 0, n == 0 ? ETIMEDOUT : errno);
	}
	if (l->proc_fd < 0)
		init_die(JAIL_L_PIDNS, 3 + l->proc_step, 0, l->proc_err ? l->proc_err : EIO);
	return l->proc_fd;
}
