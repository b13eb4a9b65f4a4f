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
//
// These rules hold for every file that includes this header but launch.c,
// which is jail's side of the clone.
#ifndef JAIL_INIT_H
#define JAIL_INIT_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "launcher.h"

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

// The kernel's struct sigaction: glibc's wrapper refuses the signals it
// reserves, and those must be reset too.
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

// The signals an init ignores for itself (set_handlers, init.c); every
// other one it leaves at its default but SIGALRM, which a supervising
// init catches (supervise.c) and which is among these. PROG's spawner
// gives these their defaults back: exec resets a handler to the default,
// never an ignored signal.
extern const int init_ignored_signals[];
extern const int init_nignored_signals;

#define PATHBUF 4096

#define NET_STACK (64 * 1024)
#define PID1_STACK (16 * 1024)

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
	// The same description, which the network namespace helper reports
	// into.
	struct jail_launch *shared;
	int root_fd;
	int scratch;
	int sub;        // which syscall failed, enum jail_sub
	struct pid1 pid1;
	int net_pid;    // the helper, until the init is in its namespace; else -1
	int pid1_pid;
	int sfd;        // SIGCHLD's signalfd
	int prog_pid;
	// The sandbox's /proc, open for reading, or -1 without one.
	int proc_list;
	// The STARTED report, whose points are taken as the init passes them.
	struct jail_report started;
	// PROG's process made ahead of the next task (spawn.h), mapped once a
	// reused init makes its first; else NULL.
	struct jail_ahead *ahead;
	// What /sys/fs/cgroup is in the sandbox as it was made (its device
	// and inode; 0 0 without one): a warm init takes the cgroup views
	// that tasks' processes mount there off again down to it.
	unsigned long long cgroup_dir_dev, cgroup_dir_ino;
};

static inline long sys_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data) {
	return syscall(SYS_mount, src, target, fstype, flags, data);
}

static inline int64_t now_usec(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// The most descriptors the init places at once.
#define JAIL_MAX_FDS 64

// init.c: the init's entry point, its reports, and the placing of
// descriptors at fixed numbers.
int init_place_fds(const int *from, const int *to, int n, int close_from);
int init_own_fd(int fd);
int init_send_fds(int sock, const void *buf, size_t n, const int *fds, int nfds);
ssize_t init_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int flags);
int init_main(void *arg);
void init_report(const struct jail_report *r);
void init_die(int stage, int index, int sub, int err) __attribute__((noreturn));

// launch.c: what the init needs besides its own stack, mapped for it.
int init_launch_alloc(struct jail_launch *l, unsigned long *flags);

// warm.c: an init that receives its description (a warm or an early
// one) or runs one an early init read (init_from_saved), and a warm
// init's wait for its task; made are the namespaces it made already.
void init_from_wire(unsigned long made) __attribute__((noreturn));
void init_from_saved(void *buf, long n, unsigned long made) __attribute__((noreturn));
void init_await_task(struct jail_launch *l);
void init_await_ahead_cgroup(int *fds, int *nfds, int *view);
ssize_t init_recv_msg(void *buf, int *fds, int *nfds);

// init.c: PROG's path among its candidates, and its Landlock ruleset.
const char *init_look_path(const struct jail_task *t);
int init_landlock_ruleset(const struct jail_task *t, int *step);

// exec.c: commands run beside PROG (jail exec), which the init starts
// on request while it watches PROG, and reports on by id.
#define JAIL_MAX_EXECS 64
struct init_execs {
	int n;
	struct {
		int pid;
		int32_t id;
	} e[JAIL_MAX_EXECS];
};
void init_exec(struct init_execs *t, struct jail_launch *l, int prog, void *buf, ssize_t n, const int *fds, int nfds);
int init_exec_reaped(struct init_execs *t, int pid, int status, const struct rusage *ru);
int init_open_pty(int to, unsigned short rows, unsigned short cols, int *term, int *step);

// mounts.c: the mount executor.
int init_open_source(struct init *s, int i);
int init_apply(struct init *s, int i);
int init_pivot(struct init *s);

// netns.c: the network namespace helper.
int init_start_net_helper(struct jail_launch *l);
void init_join_net_helper(struct jail_launch *l, int pid);
int init_loopback_up(void);

// pid1.c: the sandbox's pid 1.
int init_start_pid1(struct init *s, int *step);
int init_take_proc(struct init *s);

// supervise.c: watching PROG until the sandbox ends, or, in a sandbox
// that serves again, until PROG ended leaving nothing behind (then 1).
int init_supervise(const struct init *s);

#endif
