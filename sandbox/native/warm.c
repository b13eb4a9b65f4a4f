// A warm init: this binary turned into the sandbox's init in a C constructor,
// before the Go runtime starts (a fresh exec, or a fork of the zygote
// below, which is one that stayed there), so its memory is its
// own and small (a clone of jail would copy, and share copy-on-write, the
// memory of a whole service). It receives the same description a cloned
// init reads from jail's memory, as one message on its ctl socket, and
// runs the same init_main; that stops before PROG, says READY and
// waits for its task (init_await_task).
//
// Nothing runs here but this thread, and no Go: the rules of init.h hold
// anyway, since init_main is shared with the cloned init.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static void *moved(const void *p, long delta) { return p ? (char *)p + delta : NULL; }

// rebase_strv moves a NULL-terminated array of strings and its elements;
// on pack the elements are read before the array moves, on unpack after.
static void rebase_strv(char ***v, long delta, int unpack) {
	if (!*v)
		return;
	if (unpack)
		*v = moved(*v, delta);
	for (char **s = *v; *s; s++)
		*s = moved(*s, delta);
	if (!unpack)
		*v = moved(*v, delta);
}

void jail_task_rebase(struct jail_task *t, long delta, int unpack) {
	rebase_strv((char ***)&t->candidates, delta, unpack);
	struct jail_exec *x = &t->exec;
	rebase_strv(&x->argv, delta, unpack);
	rebase_strv(&x->envp, delta, unpack);
	x->dir = moved(x->dir, delta);
	x->cgroup_fds = moved(x->cgroup_fds, delta);
	x->rlimits = moved(x->rlimits, delta);
	x->filter = moved(x->filter, delta);
	t->decide = moved(t->decide, delta);
}

void jail_launch_rebase(struct jail_launch *l, long delta, int unpack) {
	l->fds = moved(l->fds, delta);
	l->op_fds = moved(l->op_fds, delta);
	l->staging = moved(l->staging, delta);
	l->hostname = moved(l->hostname, delta);
	if (unpack)
		l->ops = moved(l->ops, delta);
	struct jail_op *ops = (struct jail_op *)l->ops;
	for (int i = 0; i < l->nops; i++) {
		struct jail_op *op = &ops[i];
		op->target = moved(op->target, delta);
		op->parent = moved(op->parent, delta);
		op->base = moved(op->base, delta);
		op->source = moved(op->source, delta);
		op->fstype = moved(op->fstype, delta);
		op->data = moved(op->data, delta);
		op->overlay_opts = moved(op->overlay_opts, delta);
	}
	if (!unpack)
		l->ops = moved(l->ops, delta);
	jail_task_rebase(&l->task, delta, unpack);
}

// init_recv_msg receives one message of at most JAIL_WIRE_MAX bytes into buf on
// the ctl socket, and the descriptors that came with it into fds (at most
// JAIL_TASK_FDS; more, or a message cut short, is an error).
ssize_t init_recv_msg(void *buf, int *fds, int *nfds) {
	return init_recv_fds(JAIL_FD_CTL, buf, JAIL_WIRE_MAX, fds, JAIL_TASK_FDS, nfds, MSG_CMSG_CLOEXEC);
}

static void *task_buf;

// place_streams puts the descriptors an early init's description came with
// (PROG's streams, then its cgroup.procs files) into the description's
// list, around the ctl socket and report pipe it already holds, so that
// the init arranges them as a cloned init arranges jail's.
static int place_streams(struct jail_launch *l, const int *fds, int nfds) {
	if (nfds < 3 || l->nfds != nfds + 2)
		return -1;
	int *to = (int *)l->fds;
	for (int i = 0; i < l->nfds; i++)
		to[i] = i < 3 ? fds[i] : i == JAIL_FD_CTL || i == JAIL_FD_REPORT ? i : fds[i - 2];
	return 0;
}

// builds_nothing_outside says a description an early init read from a
// file, before jail could compare it with its plan, writes nothing but
// the sandbox's own tmpfs: it binds no host directory or file writable
// (the device nodes of /dev are, and nothing can be made in them), and
// its overlay root keeps its writes on the tmpfs, not in a host directory
// (jail build's, which is never saved). A PROG that could write that file
// (its directory bound writable into an earlier sandbox) must not get the
// next run's init to write through a bind or an upper layer of its
// choosing. Everything else it mounts is private to the namespace.
static int builds_nothing_outside(const struct jail_launch *l) {
	for (int i = 0; i < l->nops; i++) {
		const struct jail_op *op = &l->ops[i];
		struct stat st;
		if (op->kind == JAIL_OP_ROOT && op->source && op->source[0])
			return 0;
		if (op->kind == JAIL_OP_BIND && !(op->attrs & MOUNT_ATTR_RDONLY) &&
		    (stat(op->source, &st) < 0 || !S_ISCHR(st.st_mode)))
			return 0;
	}
	return 1;
}

// become_described becomes the init that buf (n bytes, pointers as
// offsets) describes; made are the namespaces the process made already,
// and fds came with the description. A warm init (made 0) was exec'd with
// nothing: it makes every namespace, says so, and jail writes its id
// maps. An early init made its own first (early.c), and either received
// a cold description with PROG's streams or runs a warm one it read
// itself, which has none. It never returns: the init ends with
// exit_group.
__attribute__((noreturn)) static void become_described(void *buf, ssize_t n, const int *fds, int nfds, unsigned long made) {
	if (n < (ssize_t)sizeof(struct jail_launch))
		init_die(JAIL_L_WARM, 0, 0, EPROTO);
	struct jail_launch *l = buf;
	jail_launch_rebase(l, (long)buf, 1);
	if (made && l->warm && !builds_nothing_outside(l))
		init_die(JAIL_L_WARM, 0, 0, EPERM);
	int streams = made && !l->warm;
	if ((streams != (nfds != 0)) || (streams && place_streams(l, fds, nfds) < 0))
		init_die(JAIL_L_WARM, 4, 0, EBADF);
	unsigned long ns;
	int r = init_launch_alloc(l, &ns);
	if (r < 0)
		init_die(JAIL_L_WARM, 2, 0, -r);
	if (made & ~ns)
		init_die(JAIL_L_WARM, 1, 0, EINVAL);
	if ((ns & ~made) && unshare((int)(ns & ~made)) < 0)
		init_die(JAIL_L_WARM, 1, 0, errno);
	if (!made) {
		struct jail_report u;
		memset(&u, 0, sizeof u);
		u.kind = JAIL_REPORT_UNSHARED;
		init_report(&u);
	}
	init_main(l);
	syscall(SYS_exit_group, 1);
	__builtin_unreachable();
}

// Blocked for the init's whole life, as for a cloned one (its parent
// blocked them before clone): SIGCHLD comes through a signalfd, and pid 1
// takes its two signals synchronously. And the buffer for its tasks.
static void prepare(void) {
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	task_buf = mmap(NULL, JAIL_WIRE_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (task_buf == MAP_FAILED)
		init_die(JAIL_L_WARM, 2, 0, errno);
}

void init_from_wire(unsigned long made) {
	prepare();
	void *buf = mmap(NULL, JAIL_WIRE_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		init_die(JAIL_L_WARM, 2, 0, errno);
	int fds[JAIL_TASK_FDS], nfds;
	ssize_t n = init_recv_msg(buf, fds, &nfds);
	if (n == 0)
		syscall(SYS_exit_group, 0);
	if (n < 0)
		init_die(JAIL_L_WARM, 0, 0, errno);
	become_described(buf, n, fds, nfds, made);
}

void init_from_saved(void *buf, long n, unsigned long made) {
	prepare();
	become_described(buf, n, NULL, 0, made);
}

// init_await_task waits for the init's task on its ctl socket: the task
// itself and, as SCM_RIGHTS, PROG's stdin, stdout and stderr and the
// cgroup.procs files PROG joins. Anything else on the socket, or its
// end, ends the init.
void init_await_task(struct jail_launch *l) {
	int fds[JAIL_TASK_FDS], nfds;
	ssize_t n = init_recv_msg(task_buf, fds, &nfds);
	if (n < 0)
		init_die(JAIL_L_WARM, 3, 0, errno);
	if (n < (ssize_t)sizeof(struct jail_task))
		syscall(SYS_exit_group, 0);
	struct jail_task *t = task_buf;
	jail_task_rebase(t, (long)task_buf, 1);
	if (nfds != 3 + t->exec.ncgroup_fds)
		init_die(JAIL_L_WARM, 4, 0, EBADF);
	// PROG's streams at 0, 1 and 2, the cgroup files where the task
	// says; the received copies go.
	int to[JAIL_TASK_FDS];
	for (int i = 0; i < nfds; i++)
		to[i] = i < 3 ? i : JAIL_FD_FIRST_CGROUP + i - 3;
	if (init_place_fds(fds, to, nfds, 1) < 0)
		init_die(JAIL_L_WARM, 4, 0, errno);
	struct jail_spawn_result *result = l->task.exec.result;
	l->task = *t;
	l->task.exec.result = result;
}

// init_await_ahead_cgroup receives, on the ctl socket, the cgroup jail
// made for the next task (struct jail_ahead_cgroup): its cgroup.procs
// files into fds (*nfds of them, close-on-exec, at the lowest free
// numbers) and whether PROG is shown it. As in init_await_task, anything
// else ends the init, and the socket's end ends it quietly.
void init_await_ahead_cgroup(int *fds, int *nfds, int *view) {
	struct jail_ahead_cgroup c;
	ssize_t n = init_recv_fds(JAIL_FD_CTL, &c, sizeof c, fds, JAIL_AHEAD_CGROUP_FDS, nfds, MSG_CMSG_CLOEXEC);
	if (n == 0)
		syscall(SYS_exit_group, 0);
	if (n < 0)
		init_die(JAIL_L_WARM, 5, 0, errno);
	if (n != (ssize_t)sizeof c || c.nfds != *nfds) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		init_die(JAIL_L_WARM, 5, 0, EPROTO);
	}
	*view = c.view;
}

// zygote_fork makes one warm init for a request on the zygote's socket:
// the init's descriptors 0 to FD_REPORT as SCM_RIGHTS. The init is a
// child of the zygote's parent (CLONE_PARENT), so jail waits for it as
// for one it exec'd, and it starts as an exec'd one does
// (init_from_wire), in a copy of this small process: no exec of the whole
// binary, which was a third of the making of a warm sandbox. The answer
// is the init's pid, or -errno.
static int zygote_fork(void *buf) {
	int fds[JAIL_TASK_FDS], nfds;
	ssize_t n = init_recv_msg(buf, fds, &nfds);
	if (n == 0)
		syscall(SYS_exit_group, 0);
	int answer = -EBADF;
	if (n < 0) {
		answer = -errno;
	} else if (nfds == JAIL_FD_REPORT + 1) {
		long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
		if (pid == 0) {
			static const int to[] = {0, 1, 2, JAIL_FD_CTL, JAIL_FD_REPORT};
			if (init_place_fds(fds, to, JAIL_FD_REPORT + 1, 1) < 0 ||
			    syscall(SYS_close_range, JAIL_FD_REPORT + 1, ~0U, 0) < 0)
				syscall(SYS_exit_group, 1);
			init_from_wire(0);
		}
		answer = pid < 0 ? -errno : (int)pid;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return answer;
}

// zygote_main serves zygote_fork until jail closes its end of the socket.
__attribute__((noreturn)) static void zygote_main(void) {
	prctl(PR_SET_NAME, "jail-zygote", 0, 0, 0);
	// The inits start with every signal blocked, as prepare leaves them.
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	void *buf = mmap(NULL, JAIL_WIRE_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		syscall(SYS_exit_group, 1);
	for (;;) {
		int answer = zygote_fork(buf);
		if (send(JAIL_FD_CTL, &answer, sizeof answer, MSG_NOSIGNAL) != sizeof answer)
			syscall(SYS_exit_group, 0);
	}
}

__attribute__((constructor)) static void warm_entry(void) {
	const char *v = getenv(JAIL_WARM_ENV);
	if (!v)
		return;
	// jail starts a warm init, or the zygote that forks them, with its
	// ctl socket at FD_CTL; anyone else who set the variable gets told,
	// not an init that waits for nothing.
	int type = 0;
	socklen_t len = sizeof type;
	int zygote = strcmp(v, JAIL_ZYGOTE) == 0;
	if ((!zygote && strcmp(v, "1") != 0) || getsockopt(JAIL_FD_CTL, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		static const char msg[] = "jail: " JAIL_WARM_ENV " is set; it is jail's own, for the sandboxes it starts: unset it\n";
		if (write(2, msg, sizeof msg - 1) < 0) {
		}
		_exit(125);
	}
	if (zygote)
		zygote_main();
	init_from_wire(0);
}
