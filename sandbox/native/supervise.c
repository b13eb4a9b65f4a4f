#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filter.h"
#include "init.h"

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
	// The sandbox's /proc, open for reading, or -1 without one.
	int proc_list;
	int reported; // the EXITED report is sent
	// reuse: a run that leaves nothing behind keeps pid 1 (keep), and the
	// sandbox serves the next task.
	int reuse, keep;
	// The launch, whose ctl_buf receives the lifeline's messages, and the
	// commands run beside PROG.
	struct jail_launch *l;
	struct init_execs execs;
};

// alone says pid 1 is the only process left in PROG's pid namespace: its
// /proc lists pid 1 and no other. Nothing can appear meanwhile, since a
// process that could fork would be listed; processes of nested pid
// namespaces are listed too. It is 0 when it cannot tell.
static int alone(int proc_list) {
	if (proc_list < 0 || lseek(proc_list, 0, SEEK_SET) < 0)
		return 0;
	char buf[4096];
	int pid1 = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, proc_list, buf, sizeof buf);
		if (n < 0)
			return 0;
		if (n == 0)
			return pid1;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			const char *c = d->d_name;
			if (*c < '0' || *c > '9')
				continue;
			if (strcmp(c, "1") != 0)
				return 0;
			pid1 = 1;
		}
	}
}

// report_exited ends the init's account of the run: the init's copies of
// PROG's streams go first, since every process that held them is gone, so
// a reader of PROG's output sees its end with the report, not after the
// namespaces are torn down.
static void report_exited(struct watch *w, struct jail_report *r, int64_t start) {
	r->wall_usec = r->at_usec[JAIL_AT_REAPED] - start;
	close(0);
	close(1);
	close(2);
	init_report(r);
	w->reported = 1;
}

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
	init_die(JAIL_L_SUPERVISE, index, 0, err);
}

// supervise waits for PROG with poll over the seccomp listener, SIGCHLD
// and the parent's lifeline, then ends the sandbox and reaps PROG and pid
// 1, so the whole tree is counted and nothing outlives the run. Any byte
// or EOF on the lifeline ends the run: EOF when jail died, a byte when
// jail stops it at a limit. It reports what happened, or, if it could not
// watch, an error: never a status it did not see.
static int supervise(struct watch *w, int listener, int sfd) {
	struct jail_report r;
	memset(&r, 0, sizeof r);
	r.kind = JAIL_REPORT_EXITED;
	int64_t start = now_usec();
	int lifeline = JAIL_FD_CTL;
	if (listener >= 0)
		catch_alarm();
	while (!(w->prog_done && (w->pid1_done || w->keep))) {
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
			int fds[JAIL_TASK_FDS], nfds;
			ssize_t got = init_recv_msg(w->l->ctl_buf, fds, &nfds);
			unsigned char c = got > 0 ? *(unsigned char *)w->l->ctl_buf : 0;
			if (got > 1) {
				// A command to run beside PROG: a task.
				init_exec(&w->execs, w->l, w->prog_done || w->teardown_at ? 0 : w->prog, w->l->ctl_buf, got, fds, nfds);
			} else if (got == 1 && c > JAIL_CTL_SIGNAL && c < JAIL_CTL_SIGNAL + 64) {
				// Only PROG itself: what it started is its own to
				// tell, as a terminal's ^C reaches the foreground.
				if (!w->prog_done)
					kill(w->prog, c - JAIL_CTL_SIGNAL);
			} else {
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
					if (!w->teardown_at && !w->pid1_done && alone(w->proc_list)) {
						// Nothing is left for pid 1 to kill and
						// count: the account is complete now, and
						// pid 1 needs no asking, only SIGKILL, or,
						// in a sandbox that serves again, nothing.
						report_exited(w, &r, start);
						w->teardown_at = now_usec();
						if (w->reuse) {
							w->keep = 1;
						} else {
							kill(w->pid1, SIGKILL);
							w->pid1_killed = 1;
						}
					}
					end_sandbox(w);
					// A notification still pending belongs to
					// a process now dying; RECV could wait
					// for it forever.
					if (listener >= 0) {
						close(listener);
						listener = -1;
					}
				} else if (init_exec_reaped(&w->execs, pid, ws, &ru)) {
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
	if (w->keep) {
		if (listener >= 0)
			close(listener);
		return 1;
	}
	if (!w->reported)
		report_exited(w, &r, start);
	syscall(SYS_exit_group, 0);
	return 0;
}

int init_supervise(const struct init *s) {
	const struct jail_launch *l = s->l;
	struct watch w = {.prog = s->prog_pid, .pid1 = s->pid1_pid, .decide = l->task.decide, .decide_len = l->task.decide_len,
	                  .proc_list = s->proc_list, .reuse = l->reuse, .l = s->shared};
	return supervise(&w, l->task.exec.result->listener_fd, s->sfd);
}
