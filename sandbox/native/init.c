// The sandbox's init, from clone to the supervision of PROG.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/netlink.h>
#include <linux/securebits.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "text.h"

void init_report(const struct jail_report *r) {
	ssize_t n;
	do
		n = write(JAIL_FD_REPORT, r, sizeof *r);
	while (n < 0 && errno == EINTR);
}

void init_die(int stage, int index, int sub, int err) {
	struct jail_report r;
	memset(&r, 0, sizeof r);
	r.kind = JAIL_REPORT_ERROR;
	r.stage = stage;
	r.index = index;
	r.sub = sub;
	r.err = err;
	init_report(&r);
	// Whatever was started (a failed PROG is reaped by jail_spawn) goes
	// with the namespace when its init exits.
	syscall(SYS_exit_group, 1);
	__builtin_unreachable();
}

// remap_fds gives the child exactly the descriptors the plan names, at
// fixed numbers, and closes everything else the Go process had open (the
// write end of our own lifeline among them).
static int remap_fds(const struct jail_launch *l) {
	int to[JAIL_MAX_FDS];
	if (l->nfds > JAIL_MAX_FDS) {
		errno = EMFILE;
		return -1;
	}
	for (int i = 0; i < l->nfds; i++)
		to[i] = i;
	if (init_place_fds(l->fds, to, l->nfds, 0) < 0)
		return -1;
	return (int)syscall(SYS_close_range, l->nfds, ~0U, 0);
}

// init_place_fds puts from[i] at to[i]. It first makes copies above every
// source and target, so that no dup3 overwrites a descriptor still to be
// moved; with close_from it then closes the sources, which are not
// targets of their own, before it places the copies, and closes the
// copies last.
int init_place_fds(const int *from, const int *to, int n, int close_from) {
	int top = 0, tmp[JAIL_MAX_FDS];
	if (n > JAIL_MAX_FDS) {
		errno = EMFILE;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (from[i] >= top)
			top = from[i] + 1;
		if (to[i] >= top)
			top = to[i] + 1;
	}
	for (int i = 0; i < n; i++) {
		if ((tmp[i] = fcntl(from[i], F_DUPFD_CLOEXEC, top)) < 0)
			return -1;
	}
	for (int i = 0; close_from && i < n; i++)
		close(from[i]);
	for (int i = 0; i < n; i++) {
		if (dup3(tmp[i], to[i], 0) < 0)
			return -1;
		close(tmp[i]);
	}
	return 0;
}

// init_send_fds sends n bytes of buf with nfds descriptors (none when 0,
// at most JAIL_TASK_FDS) on the unix socket sock.
int init_send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds) {
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(JAIL_TASK_FDS * sizeof(int))];
	} c;
	if (nfds < 0 || nfds > JAIL_TASK_FDS) {
		errno = EINVAL;
		return -1;
	}
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&c, 0, sizeof c);
		m.msg_control = c.buf;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	}
	ssize_t r;
	do
		r = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r >= 0 && r != (ssize_t)n)
		errno = EMSGSIZE;
	return r == (ssize_t)n ? 0 : -1;
}

// init_recv_fds receives one message of at most len bytes into buf on the
// unix socket sock, and the descriptors that came with it into fds (at
// most maxfds, no more than JAIL_TASK_FDS; more, or a message cut short,
// is an error). It returns the bytes received, 0 at the peer's end, or -1.
ssize_t init_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int flags) {
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(JAIL_TASK_FDS * sizeof(int))];
	} c;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = c.buf;
	m.msg_controllen = CMSG_SPACE((size_t)(maxfds < JAIL_TASK_FDS ? maxfds : JAIL_TASK_FDS) * sizeof(int));
	ssize_t n;
	do
		n = recvmsg(sock, &m, flags);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n > 0 && (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		errno = EMSGSIZE;
		return -1;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); n > 0 && h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && *nfds < maxfds; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
	}
	return n;
}

// init_own_fd moves fd, one of the init's own that outlives a task, to
// JAIL_FD_INIT_OWN or above, where no task's descriptor is placed: a
// reused sandbox's task brings its cgroup.procs files to fixed numbers
// from JAIL_FD_FIRST_CGROUP, and a descriptor of the init's there would
// be replaced by one. It returns the new number, or -1.
int init_own_fd(int fd) {
	if (fd < 0 || fd >= JAIL_FD_INIT_OWN)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, JAIL_FD_INIT_OWN);
	int e = errno;
	close(fd);
	errno = e;
	return high;
}

// The init must outlive signals from the terminal and from the caller's
// other processes (PROG cannot name it); the parent ends it with SIGKILL
// only as a backstop. pid 1 inherits these and takes SIGUSR1
// synchronously (pid1_main); PROG gets default dispositions back in
// spawn.c.
const int init_ignored_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1,
                                    SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};
const int init_nignored_signals = sizeof init_ignored_signals / sizeof init_ignored_signals[0];

static void set_handlers(void) {
	struct ksigaction sa;
	memset(&sa, 0, sizeof sa);
	// Go's handlers are code of a runtime that does not exist here, and
	// a signal jail inherited ignored stays ignored across exec.
	sa.handler = SIG_DFL;
	for (int sig = 1; sig < 65; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &sa, NULL, 8);
	}
	sa.handler = SIG_IGN;
	for (int i = 0; i < init_nignored_signals; i++)
		syscall(SYS_rt_sigaction, init_ignored_signals[i], &sa, NULL, 8);
}

// landlock_ruleset builds PROG's Landlock ruleset on the root the init just
// pivoted into: everything the ruleset handles is granted beneath "/" and
// nothing elsewhere (see sandbox/landlock_linux.go). PROG's process
// enforces it once no_new_privs is set.
int init_landlock_ruleset(const struct jail_task *t, int *step) {
	// struct landlock_ruleset_attr as of ABI 6; the kernel takes a larger
	// struct from an older ABI's view as long as the rest is zero.
	struct {
		uint64_t handled_access_fs, handled_access_net, scoped;
	} attr = {t->landlock_fs, 0, t->landlock_scoped};
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
	struct landlock_path_beneath_attr beneath = {.allowed_access = t->landlock_fs, .parent_fd = root};
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
const char *init_look_path(const struct jail_task *t) {
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

static void stamp(struct init *s, int point) { s->started.at_usec[point] = now_usec(); }

static void arrange_fds(struct init *s) {
	const struct jail_launch *l = s->l;
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
}

// Nothing before the id maps. The parent writes them (when jail runs as
// root) and then the go-ahead, or zero bytes if jail died.
static void await_id_maps(struct init *s) {
	if (s->l->self_maps) {
		int which = write_self_maps(s->l);
		if (which >= 0)
			init_die(JAIL_L_IDMAPS, which, 0, errno);
	} else {
		char c;
		ssize_t n;
		do
			n = read(JAIL_FD_CTL, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			syscall(SYS_exit_group, 1);
	}
}

static void start_net(struct init *s) {
	if (s->l->net_helper && (s->net_pid = init_start_net_helper(s->shared)) < 0)
		init_die(JAIL_L_NETNS, 4, 0, errno);
}

static void detach_session_and_undumpable(void) {
	// A new session detaches the init from the caller's terminal.
	setsid();
	// Not dumpable: this memory is also the sandbox's pid 1's, and PROG,
	// with the same uid, must not open /proc/1/ or ptrace it.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		init_die(JAIL_L_DUMPABLE, 0, 0, errno);
	prctl(PR_SET_NAME, "jail-init", 0, 0, 0);
}

// Nothing we mount may propagate back to the host.
static void make_mounts_private(void) {
	if (sys_mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		init_die(JAIL_L_PRIVATE, 0, 0, errno);
}

static void open_sources(struct init *s) {
	const struct jail_launch *l = s->l;
	for (int i = 0; i < l->nops; i++)
		l->op_fds[i] = -1;
	for (int i = 0; i < l->nops; i++) {
		if (init_open_source(s, i) < 0)
			init_die(JAIL_L_SOURCE, i, s->sub, errno);
	}
}

// become_user gives the init PROG's ids once the caller's paths are open.
// For an ordinary caller with one id it already has them; when jail runs
// as root, the init held root's host id until now to open what root can
// open. With subordinate ids the caller is the namespace's root, and
// leaving uid 0 would clear every capability the init still needs in its
// namespace; the securebit keeps them (PROG drops them all before exec).
static void become_user(struct init *s) {
	const struct jail_launch *l = s->l;
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		init_die(JAIL_L_USER, 1, 0, errno);
	if ((l->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0) ||
	    syscall(SYS_setresgid, l->gid, l->gid, l->gid) < 0 ||
	    syscall(SYS_setresuid, l->uid, l->uid, l->uid) < 0)
		init_die(JAIL_L_USER, 0, 0, errno);
}

static void start_pid1(struct init *s) {
	int step = 0;
	s->pid1_pid = init_start_pid1(s, &step);
	if (s->pid1_pid < 0)
		init_die(JAIL_L_PIDNS, step, 0, errno);
}

static void apply_mounts(struct init *s) {
	const struct jail_launch *l = s->l;
	for (int i = 0; i < l->nops; i++) {
		// sysfs shows the devices of the mounter's network namespace,
		// and only a process that owns it may mount it.
		const struct jail_op *op = &l->ops[i];
		if (s->net_pid >= 0 && op->kind == JAIL_OP_MOUNT && strcmp(op->fstype, "sysfs") == 0) {
			init_join_net_helper(s->shared, s->net_pid);
			s->net_pid = -1;
		}
		if (init_apply(s, i) < 0)
			init_die(JAIL_L_MOUNT, i, s->sub, errno);
	}
	for (int i = 0; i < l->nops; i++) {
		if (l->op_fds[i] >= 0)
			close(l->op_fds[i]);
	}
}

// A plan without /proc still waits for pid 1 to be ready.
static void await_pid1(struct init *s) {
	if (s->pid1.ready_r >= 0)
		close(init_take_proc(s));
}

static void pivot(struct init *s) {
	if (init_pivot(s) < 0)
		init_die(JAIL_L_PIVOT, 0, 0, errno);
}

static void set_hostname(struct init *s) {
	if (sethostname(s->l->hostname, (size_t)s->l->hostname_len) < 0)
		init_die(JAIL_L_HOSTNAME, 0, 0, errno);
}

// Without sysfs in the plan the helper is still out; it brought lo up
// itself.
static void join_net(struct init *s) {
	if (s->net_pid >= 0) {
		init_join_net_helper(s->shared, s->net_pid);
	} else if (!s->l->net_helper && s->l->loopback) {
		int r = init_loopback_up();
		if (r < 0)
			init_die(JAIL_L_LOOPBACK, 0, 0, -r);
	}
}

// Every signal stays blocked in the init (the parent blocked them before
// clone); SIGCHLD arrives through the signalfd.
static void open_signalfd(struct init *s) {
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	s->sfd = init_own_fd(signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
	if (s->sfd < 0)
		init_die(JAIL_L_SIGNALFD, 0, 0, errno);
}

// make_ahead_in starts a warm sandbox's next task's PROG ahead of it, set
// up as the description's task (before the first) or the task just run (a
// reused sandbox's next), in the cgroup given (none: ncgroup 0); a set-up
// that cannot be taken ahead makes none, and the next task's PROG is
// spawned as usual.
static void make_ahead_in(struct init *s, const int *cgroup_fds, int ncgroup, int view) {
	const struct jail_launch *l = s->l;
	if (s->proc_list < 0 || !l->task.exec.dir)
		return;
	if (!s->ahead) {
		void *m = mmap(NULL, sizeof *s->ahead, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return;
		s->ahead = m;
	}
	int landlock_fd = -1, step;
	if (l->task.landlock_abi > 0 && (landlock_fd = init_landlock_ruleset(&l->task, &step)) < 0)
		return;
	jail_ahead_make(s->ahead, &l->task, landlock_fd, cgroup_fds, ncgroup, view);
	if (landlock_fd >= 0)
		close(landlock_fd);
}

// make_ahead makes the next task's PROG ahead of it; where runs have
// cgroups, in the one jail made for that task and sends now (none, and no
// process, when it could make none). The process has its own copies of
// the cgroup's files; the init's go before the task brings its own.
static void make_ahead(struct init *s) {
	const struct jail_launch *l = s->l;
	if (!l->ahead)
		return;
	if (!l->ahead_cgroup) {
		make_ahead_in(s, NULL, 0, 0);
		return;
	}
	int fds[JAIL_AHEAD_CGROUP_FDS], n, view;
	init_await_ahead_cgroup(fds, &n, &view);
	if (n > 0)
		make_ahead_in(s, fds, n, view);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

// note_cgroup_dir notes what /sys/fs/cgroup is in a warm sandbox as made.
static void note_cgroup_dir(struct init *s) {
	struct stat st;
	if (s->l->warm && stat(JAIL_CGROUP_DIR, &st) == 0) {
		s->cgroup_dir_dev = st.st_dev;
		s->cgroup_dir_ino = st.st_ino;
	}
}

// drop_cgroup_views unmounts the cgroup views that tasks' processes
// mounted at /sys/fs/cgroup (a spawner's, a process made ahead's), down to
// what the sandbox was made with there: the next task's process shows its
// own.
static int drop_cgroup_views(const struct init *s) {
	struct stat st;
	while (stat(JAIL_CGROUP_DIR, &st) == 0 && (st.st_dev != s->cgroup_dir_dev || st.st_ino != s->cgroup_dir_ino)) {
		if (syscall(SYS_umount2, JAIL_CGROUP_DIR, MNT_DETACH) < 0)
			return -1;
	}
	return 0;
}

// A cold init has its task; a warm one says it is ready, everything but
// PROG done, and waits for it.
static void await_task(struct init *s) {
	if (s->l->warm) {
		s->started.kind = JAIL_REPORT_READY;
		stamp(s, JAIL_AT_TASK);
		init_report(&s->started);
		s->started.kind = JAIL_REPORT_STARTED;
		make_ahead(s);
		init_await_task(s->shared);
	}
	stamp(s, JAIL_AT_TASK);
}

// open_terminal gives PROG a terminal of the sandbox's own devpts as its
// streams: the task's stream descriptor is the socket its master goes
// back over.
static void open_terminal(struct init *s) {
	const struct jail_task *t = &s->l->task;
	int term, step;
	if (!t->pty)
		return;
	if (init_open_pty(0, t->rows, t->cols, &term, &step) < 0)
		init_die(JAIL_L_PTY, step, 0, errno);
	for (int fd = 0; fd < 3; fd++) {
		if (dup3(term, fd, 0) < 0)
			init_die(JAIL_L_PTY, 4, 0, errno);
	}
	close(term);
}

static void find_prog(struct init *s) {
	const char *path = init_look_path(&s->l->task);
	if (!path)
		init_die(JAIL_L_LOOKPATH, 0, 0, ENOENT);
	s->shared->task.exec.path = path;
}

static void make_landlock(struct init *s) {
	struct jail_exec *x = &s->shared->task.exec;
	x->landlock_fd = -1;
	if (s->l->task.landlock_abi > 0) {
		int step;
		if ((x->landlock_fd = init_landlock_ruleset(&s->l->task, &step)) < 0)
			init_die(JAIL_L_LANDLOCK, step, 0, errno);
	}
}

// spawn_prog starts PROG: in the process made ahead for it when it fits
// the task, else in a spawner of its own.
static void spawn_prog(struct init *s) {
	struct jail_exec *x = &s->shared->task.exec;
	x->own_files = 0;
	x->timens_fd = -1;
	x->landlock_fd = -1;
	s->prog_pid = 0;
	if (s->ahead && s->ahead->pid > 0) {
		if (jail_ahead_fits(s->ahead, &s->l->task)) {
			s->prog_pid = jail_ahead_start(s->ahead, x, s->proc_list);
		} else {
			jail_ahead_discard(s->ahead);
			// Its view is not this task's.
			if (s->ahead->cgroup_view && drop_cgroup_views(s) < 0)
				init_die(JAIL_L_RENEW, 4, JAIL_SUB_MOUNT, errno);
		}
		s->started.made_ahead = s->prog_pid != 0;
	}
	if (s->prog_pid == 0) {
		make_landlock(s);
		s->prog_pid = jail_spawn(x, !s->l->task.spawn_shares_memory);
	}
	const struct jail_spawn_result *res = x->result;
	if (res->failed_stage != JAIL_STAGE_NONE) {
		if (s->prog_pid > 0)
			syscall(SYS_wait4, s->prog_pid, NULL, 0, NULL);
		init_die(res->failed_stage, res->failed_index, 0, res->failed_errno);
	}
	for (int i = 0; i < x->ncgroup_fds; i++)
		close(x->cgroup_fds[i]);
	if (x->landlock_fd >= 0)
		close(x->landlock_fd);
}

// no_unix_sockets says the sandbox's network namespace, the init's own,
// holds no unix socket, abstract or bound to a path: a sock_diag dump of
// them, asked on a netlink socket of that namespace, returns none. (Not
// /proc/1/net/unix: the sandbox's pid 1 was cloned before the init joined
// the network namespace, and the init itself is not in the sandbox's
// /proc.)
static int no_unix_sockets(void) {
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return 0;
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = ~0U;
	int found = -1;
	if (send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req) {
		char buf[8192] __attribute__((aligned(8)));
		found = 0;
		for (int done = 0; !done;) {
			ssize_t n = recv(fd, buf, sizeof buf, 0);
			if (n <= 0) {
				found = -1;
				break;
			}
			for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
				if (h->nlmsg_type == NLMSG_DONE) {
					done = 1;
					break;
				}
				if (h->nlmsg_type == NLMSG_ERROR) {
					found = -1;
					done = 1;
					break;
				}
				found++;
			}
		}
	}
	close(fd);
	return found == 0;
}

// pid1_as_made says PROG left the sandbox's pid 1 as it was made: the
// rlimits, the nice value and the scheduling policy it inherited from the
// init. PROG, with pid 1's uid, may lower its limits or its priority, and
// a later task would then run with a pid 1 that a limit can kill.
static int pid1_as_made(int pid1) {
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		struct rlimit mine, its;
		if (syscall(SYS_prlimit64, 0, res, NULL, &mine) < 0 || syscall(SYS_prlimit64, pid1, res, NULL, &its) < 0)
			return 0;
		if (mine.rlim_cur != its.rlim_cur || mine.rlim_max != its.rlim_max)
			return 0;
	}
	errno = 0;
	int nice_mine = getpriority(PRIO_PROCESS, 0), nice_its = getpriority(PRIO_PROCESS, (id_t)pid1);
	if (errno != 0 || nice_mine != nice_its)
		return 0;
	int pol_mine = sched_getscheduler(0), pol_its = sched_getscheduler(pid1);
	return pol_mine >= 0 && pol_mine == pol_its;
}

// renew readies a sandbox that serves again for its next task. The task
// left no process (supervise saw pid 1 alone), and its IPC objects went
// with its own IPC namespace; the root and /dev are read-only. What is
// left: no unix socket may remain, pid 1 must be as it was made, the
// writable places (/tmp, /dev/shm) are mounted afresh, the hostname is
// set again, and the task's cgroup view goes. Anything it cannot
// do or see ends the init, and the sandbox is not used again.
static void renew(struct init *s) {
	if (!no_unix_sockets())
		init_die(JAIL_L_RENEW, 0, 0, EBUSY);
	if (!pid1_as_made(s->pid1_pid))
		init_die(JAIL_L_RENEW, 3, 0, EPERM);
	const struct jail_launch *l = s->l;
	// By path: the init is not in the sandbox's /proc, so the executor's
	// /proc/self/fd paths do not resolve here; and every component of
	// these paths is on the sealed root or /dev, which no task changed.
	for (int i = 0; i < l->nops; i++) {
		const struct jail_op *op = &l->ops[i];
		if (!op->renew)
			continue;
		if (syscall(SYS_umount2, op->target, MNT_DETACH) < 0 ||
		    sys_mount(op->fstype, op->target, op->fstype, op->flags, op->data) < 0)
			init_die(JAIL_L_RENEW, 1, JAIL_SUB_MOUNT, errno);
	}
	if (sethostname(l->hostname, (size_t)l->hostname_len) < 0)
		init_die(JAIL_L_RENEW, 2, 0, errno);
	// The task's own cgroup, which its process showed; the next task's
	// shows the next.
	if (drop_cgroup_views(s) < 0)
		init_die(JAIL_L_RENEW, 4, JAIL_SUB_MOUNT, errno);
	memset(&s->started, 0, sizeof s->started);
	s->started.kind = JAIL_REPORT_STARTED;
}

static void report_started(struct init *s) {
	s->started.at_usec[JAIL_AT_FILTER] = s->l->task.exec.result->at_filter_usec;
	s->started.pid = s->prog_pid;
	init_report(&s->started);
}

// narrow_bounding_set drops, once, every capability no PROG of a warm
// init may keep from the bounding set its spawners inherit; a cold init
// spawns once, and its spawner drops them as cheaply. The init's own
// capabilities stay: the bounding set limits only what an exec gains.
static void narrow_bounding_set(struct init *s) {
	if (!s->l->warm)
		return;
	for (int cap = 0; cap < 64; cap++) {
		if (s->l->bounding_keep >> cap & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) // past the kernel's last capability
				break;
			init_die(JAIL_L_BOUNDING, cap, 0, errno);
		}
	}
}

int init_main(void *arg) {
	struct init s = {.l = arg, .shared = arg, .root_fd = -1, .pid1 = {.ready_r = -1}, .net_pid = -1, .proc_list = -1,
	                 .started = {.kind = JAIL_REPORT_STARTED}};
	// Taken here, not where clone returns in jail: this process may run
	// on another CPU, and have written its id maps, before jail's thread
	// runs again.
	stamp(&s, JAIL_AT_ENTERED);
	set_handlers();
	arrange_fds(&s);
	await_id_maps(&s);
	stamp(&s, JAIL_AT_GO_AHEAD);
	start_net(&s);
	detach_session_and_undumpable();
	make_mounts_private();
	open_sources(&s);
	become_user(&s);
	start_pid1(&s);
	apply_mounts(&s);
	await_pid1(&s);
	stamp(&s, JAIL_AT_MOUNTED);
	pivot(&s);
	stamp(&s, JAIL_AT_PIVOTED);
	set_hostname(&s);
	join_net(&s);
	open_signalfd(&s);
	narrow_bounding_set(&s);
	note_cgroup_dir(&s);
	for (;;) {
		await_task(&s);
		open_terminal(&s);
		find_prog(&s);
		stamp(&s, JAIL_AT_SPAWN);
		spawn_prog(&s);
		stamp(&s, JAIL_AT_EXECED);
		report_started(&s);
		if (!init_supervise(&s))
			break;
		renew(&s);
	}
	syscall(SYS_exit_group, 0);
	return 0;
}
