// Commands run beside PROG (jail exec). The init that watches PROG starts
// them on request, as it started PROG: in every namespace it made, PROG's
// cgroup, PROG's time namespace, with the task's rlimits, seccomp filter
// and Landlock ruleset, through the same jail_spawn. jail compiled the
// task; nothing here decides what the command may do. A command that
// cannot start is reported, and the sandbox goes on.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// init_open_pty opens a terminal in the sandbox's own devpts (the init's root
// is the sandbox's), so that tty and ttyname find it there, and hands its
// master to jail over the unix socket to; *term is the terminal side.
int init_open_pty(int to, unsigned short rows, unsigned short cols, int *term, int *step) {
	*step = 0;
	int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -1;
	int unlock = 0;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	int t = -1;
	*step = 1;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		goto fail;
	*step = 2;
	if ((rows || cols) && ioctl(m, TIOCSWINSZ, &ws) < 0)
		goto fail;
	*step = 3;
	// From the master itself: no path in /dev/pts that could name
	// another terminal.
	if ((t = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		goto fail;
	*step = 4;
	char byte = 0;
	if (init_send_fds(to, &byte, 1, &m, 1) < 0)
		goto fail;
	close(m);
	*term = t;
	return 0;
fail:;
	int e = errno;
	if (t >= 0)
		close(t);
	close(m);
	errno = e;
	return -1;
}

static void failed(struct jail_report *r, int stage, int index, int err) {
	r->kind = JAIL_REPORT_EXEC_FAILED;
	r->stage = stage;
	r->index = index;
	r->err = err;
}

// start runs the command of task t; r is its report, a failure unless
// it started.
static void start(struct init_execs *tab, struct jail_launch *l, int prog, struct jail_task *t, const int *fds, int nfds,
                  struct jail_report *r) {
	struct jail_exec *x = &t->exec;
	int streams = t->pty ? 1 : 3;
	if (x->ncgroup_fds < 0 || nfds != streams + x->ncgroup_fds) {
		failed(r, JAIL_L_EXEC, 0, EBADF);
		return;
	}
	if (tab->n == JAIL_MAX_EXECS) {
		failed(r, JAIL_L_EXEC, 1, EAGAIN);
		return;
	}
	if (prog <= 0) {
		failed(r, JAIL_L_EXEC, 2, ESRCH);
		return;
	}
	for (int i = 0; i < x->ncgroup_fds; i++)
		x->cgroup_fds[i] = fds[streams + i];
	const char *path = init_look_path(t);
	if (!path) {
		failed(r, JAIL_L_LOOKPATH, 0, ENOENT);
		return;
	}
	x->path = path;
	int timens = (int)syscall(SYS_pidfd_open, prog, 0);
	if (timens < 0) {
		failed(r, JAIL_L_EXEC, 3, errno);
		return;
	}
	int step, term = -1;
	x->landlock_fd = -1;
	if (t->landlock_abi > 0 && (x->landlock_fd = init_landlock_ruleset(t, &step)) < 0) {
		failed(r, JAIL_L_LANDLOCK, step, errno);
		goto out;
	}
	if (t->pty) {
		if (init_open_pty(fds[0], t->rows, t->cols, &term, &step) < 0) {
			failed(r, JAIL_L_PTY, step, errno);
			goto out;
		}
		x->stdio[0] = x->stdio[1] = x->stdio[2] = term;
	} else {
		for (int i = 0; i < 3; i++)
			x->stdio[i] = fds[i];
	}
	x->tty = t->pty;
	x->own_files = 1;
	x->timens_fd = timens;
	x->notify = 0;
	x->result = l->task.exec.result;
	int pid = jail_spawn(x, 1);
	const struct jail_spawn_result *res = x->result;
	if (res->failed_stage != JAIL_STAGE_NONE) {
		if (pid > 0)
			syscall(SYS_wait4, pid, NULL, __WALL, NULL);
		failed(r, res->failed_stage, res->failed_index, res->failed_errno);
		goto out;
	}
	tab->e[tab->n].pid = pid;
	tab->e[tab->n].id = t->id;
	tab->n++;
	r->kind = JAIL_REPORT_EXEC_STARTED;
	r->pid = pid;
out:
	if (term >= 0)
		close(term);
	if (x->landlock_fd >= 0)
		close(x->landlock_fd);
	close(timens);
}

// init_exec starts the command of the task in buf (n bytes, pointers as
// offsets), which came with fds, and reports how that went. The
// descriptors are closed here, whatever happens: the command holds its
// own copies.
void init_exec(struct init_execs *tab, struct jail_launch *l, int prog, void *buf, ssize_t n, const int *fds, int nfds) {
	struct jail_report r;
	memset(&r, 0, sizeof r);
	if (n < (ssize_t)sizeof(struct jail_task)) {
		failed(&r, JAIL_L_EXEC, 0, EPROTO);
	} else {
		struct jail_task *t = buf;
		jail_task_rebase(t, (long)buf, 1);
		r.exec_id = t->id;
		start(tab, l, prog, t, fds, nfds, &r);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	init_report(&r);
}

// init_exec_reaped reports the end of a command the init started, and
// says whether pid was one.
int init_exec_reaped(struct init_execs *tab, int pid, int status, const struct rusage *ru) {
	for (int i = 0; i < tab->n; i++) {
		if (tab->e[i].pid != pid)
			continue;
		struct jail_report r;
		memset(&r, 0, sizeof r);
		r.kind = JAIL_REPORT_EXEC_EXITED;
		r.exec_id = tab->e[i].id;
		r.pid = pid;
		r.status = (uint32_t)status;
		r.user_usec = (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
		r.sys_usec = (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
		r.maxrss_kib = ru->ru_maxrss;
		init_report(&r);
		tab->e[i] = tab->e[--tab->n];
		return 1;
	}
	return 0;
}
