// The last step before PROG: a vfork-style child that runs only this C code
// (Go cannot run code between fork and exec) and only system calls on data
// the Go side prepared, then execs PROG.
#ifndef JAIL_SPAWN_H
#define JAIL_SPAWN_H

#include <linux/filter.h>

enum jail_stage {
	JAIL_STAGE_NONE = 0,
	JAIL_STAGE_CGROUP,
	JAIL_STAGE_SESSION,
	JAIL_STAGE_CTTY,
	JAIL_STAGE_CLOSE_FDS,
	JAIL_STAGE_CHDIR,
	JAIL_STAGE_RLIMIT,
	JAIL_STAGE_CAPS,
	JAIL_STAGE_NO_NEW_PRIVS,
	JAIL_STAGE_SECCOMP,
	JAIL_STAGE_EXEC,
	JAIL_STAGE_CLONE,
	JAIL_STAGE_TIMENS, // index: 0 dumpable, 1 unshare, 2 timens_offsets, 3 setns
	JAIL_STAGE_LANDLOCK,
	JAIL_STAGE_IPCNS,
	JAIL_STAGE_CGROUP_VIEW, // index: 0 fsopen, 1 fsconfig, 2 fsmount, 3 move_mount
	JAIL_STAGE_AHEAD,       // PROG made ahead taking its task (index: 0 receive, 1 streams)
};

struct jail_rlimit {
	int resource;
	unsigned long long cur, max;
};

struct jail_exec {
	const char *path;
	char **argv;
	char **envp;
	const char *dir;
	int tty;
	int ncgroup_fds;
	int *cgroup_fds;
	// cgroup_into: the last of cgroup_fds is the run's cgroup v2
	// directory, which PROG is cloned into (CLONE_INTO_CGROUP); the
	// others (its cgroup.procs) are written to only if the kernel refuses
	// that clone. A write migrates PROG, which waits for an RCU grace
	// period unless another migration happened moments before (10-20 ms);
	// a clone into the cgroup does not.
	int cgroup_into;
	// Set by jail_spawn: PROG was cloned into its cgroup.
	int cloned_into;
	int nrlimits;
	struct jail_rlimit *rlimits;
	// A compiled seccomp filter (struct sock_filter[filter_len]), or none.
	// With notify, its kill actions are user notifications, and the
	// listener descriptor is left in listener_fd for the init.
	unsigned short filter_len;
	void *filter;
	int notify;
	int log;
	// A Landlock ruleset to enforce, or -1; the init builds it.
	int landlock_fd;
	// new_ipc gives PROG an IPC namespace of its own, so that its SysV
	// objects and message queues go with it (a reused sandbox's tasks).
	int new_ipc;
	// root_caps are the capabilities, a bit per number, that PROG keeps
	// in its user namespace if it executes as uid 0 there (as a
	// Dockerfile's RUN does); 0 leaves it none, whatever its uid.
	unsigned long long root_caps;
	// cgroup_view mounts the cgroup v2 hierarchy of PROG's new cgroup
	// namespace, whose root is the run's cgroup, read-only at
	// /sys/fs/cgroup.
	int cgroup_view;
	// Set by jail_spawn: the spawner has memory of its own and joins
	// PROG's time namespace itself.
	int join_timens;
	// Set by the init for a command run beside PROG: the spawner gets a
	// descriptor table of its own (own_files), where stdio become 0, 1
	// and 2, and joins the time and cgroup namespaces of timens_fd (a
	// pidfd of PROG) rather than making them. PROG itself has -1.
	int own_files;
	int stdio[3];
	int timens_fd;
	// Where the child reports back: memory it shares with its parent,
	// MAP_SHARED when the child is a copy (see jail_spawn).
	struct jail_spawn_result *result;
};

// The child writes these; the parent reads them once the child has exec'd
// or exited, which CLONE_VFORK guarantees.
struct jail_spawn_result {
	// With jail_exec.notify, the seccomp listener, in the parent's
	// descriptor table too (CLONE_FILES); else -1.
	int listener_fd;
	// Set when a stage fails.
	int failed_stage;
	int failed_index;
	int failed_errno;
	// CLOCK_MONOTONIC µs just before the filter is loaded (or exec, with
	// none): the stage breakdown's end of the spawner's own set-up.
	long long at_filter_usec;
};

// jail_spawn starts PROG and returns its pid once it has exec'd, or -1
// with x->result->failed_* set once the child has failed and exited. The
// child shares the caller's memory unless copy_mm is set; a caller whose
// memory is a large process's (the native init shares jail's) copies it,
// because exec folds the old memory's peak resident size into PROG's
// ru_maxrss.
int jail_spawn(struct jail_exec *x, int copy_mm);

// The most cgroup.procs files a process made ahead joins: one per v1
// hierarchy.
#define JAIL_AHEAD_CGROUP_FDS 8

// PROG made ahead: a reused sandbox's init starts the process of its next
// task's PROG between tasks, and that process takes every step jail_spawn's
// child takes that does not depend on the task, the seccomp filter's load
// last (most of a warm task's spawn), then waits for PROG's argv, streams
// and rlimits. It is made from the task just run, the next task's likeliest
// twin, and serves only a task that would have been set up the same way
// (jail_ahead_fits); any other is spawned as usual, and the process made
// ahead is killed. Where runs have cgroups, jail makes the next task's
// cgroup ahead as well, and the process joins it first.
//
// After the filter it makes only the calls the filter allows as they are
// (jail_ahead_make checks each with the filter's own program), so that no
// step of jail's is denied, killed or reported as PROG's.
//
// Its clocks: it unshares a time namespace but does not enter it; the init
// writes the namespace's offsets when the task arrives, and exec enters it,
// so PROG's monotonic and boot-time clocks start with the task, not when
// the process was made (which would tell a task when the last one ended).
struct jail_ahead {
	int pid;    // 0 when there is none
	int ns_pid; // its pid in the sandbox's pid namespace, for its /proc
	int sock;   // the init's end of the socket they talk over
	// What the process reads as it starts: its end of the socket, its
	// Landlock ruleset (or -1), the spawn result page it reports a
	// failure in, and its stack, kept for the next.
	int child_sock, child_landlock_fd;
	struct jail_spawn_result *result;
	void *stack;
	// What it was set up for, kept here: the next task is received where
	// the last one was.
	int notify, log, new_ipc, landlock_abi;
	unsigned long long root_caps, landlock_fs, landlock_scoped;
	// Its cgroup, where runs have cgroups: the next task's, which jail
	// made ahead (in_cgroup), shown at /sys/fs/cgroup with cgroup_view.
	// It joins it first, writing to the cgroup.procs files cgroup_fds
	// name in its copy of the init's descriptor table.
	int in_cgroup, cgroup_view, ncgroup_fds;
	int cgroup_fds[JAIL_AHEAD_CGROUP_FDS];
	unsigned short filter_len;
	char dir[4096];
	struct sock_filter filter[BPF_MAXINSNS];
};

struct jail_task;

// jail_ahead_make starts a process for the next task, set up as t's PROG
// was, with landlock_fd its ruleset (or -1), in the cgroup whose ncgroup
// cgroup.procs files are cgroup_fds (none: in no cgroup of its own),
// shown with view; 0 when it started, -1 when nothing was made (t's
// set-up cannot be taken ahead, or a system call failed).
int jail_ahead_make(struct jail_ahead *a, const struct jail_task *t, int landlock_fd, const int *cgroup_fds, int ncgroup,
                    int view);
// jail_ahead_fits says the process made ahead is set up as t's PROG would
// be.
int jail_ahead_fits(const struct jail_ahead *a, const struct jail_task *t);
// jail_ahead_start gives the process made ahead x's PROG, with the
// caller's descriptors 0, 1 and 2 as its streams; proc is the sandbox's
// /proc. It returns PROG's pid once it has exec'd; -1 with
// x->result->failed_* set when it failed after it took the task (it has
// been reaped); 0 when it could not take the task (it is gone, and the
// caller spawns PROG as usual).
int jail_ahead_start(struct jail_ahead *a, struct jail_exec *x, int proc);
// jail_ahead_discard kills and reaps the process made ahead, if any.
void jail_ahead_discard(struct jail_ahead *a);

#endif
