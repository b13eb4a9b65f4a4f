// The native launcher: the parent clones a child that runs only this C
// code, on a flat description prepared in C memory before clone, and never
// the Go runtime. The child is the sandbox's init: it builds the root,
// gives PROG a pid namespace of its own whose pid 1 only reaps (the init
// stays outside it, out of PROG's reach), starts PROG with jail_spawn,
// waits for it, and reports fixed-size binary records on a pipe.
#ifndef JAIL_LAUNCHER_H
#define JAIL_LAUNCHER_H

#include <linux/filter.h>
#include <stdint.h>

#include "spawn.h"

// What one mount operation does; the parent resolved rootfs.Op into these,
// with every flag and every mount data string decided.
enum jail_op_kind {
	JAIL_OP_ROOT = 1, // --disk tmpfs at the staging dir, overlay or bind root on it
	JAIL_OP_BIND,     // clone of a host tree with attrs, moved onto target
	JAIL_OP_SCRATCH,  // fresh directory of the --disk tmpfs at target
	JAIL_OP_MOUNT,    // a new fstype mount (tmpfs, proc, sysfs, devpts)
	JAIL_OP_MKDIR,
	JAIL_OP_SYMLINK,   // parent/base -> data
	JAIL_OP_FILE,      // parent/base gets data, mode
	JAIL_OP_MASK_FILE, // /dev/null over target, if it exists
	JAIL_OP_MASK_DIR,  // an empty dir bound read-only over target, if it exists
	JAIL_OP_READ_ONLY, // target rebound read-only, if it exists
	JAIL_OP_PROC,      // the /proc of PROG's pid namespace, mounted by its pid 1
	JAIL_OP_SEAL,      // the file system at target made read-only (its superblock, not the mount)
	JAIL_OP_LAYER,     // a lower layer of the overlay root: source, opened before the root
};

struct jail_op {
	int kind;
	const char *target; // absolute, inside the new root
	const char *parent; // dirname(target), for symlink and file
	const char *base;   // basename(target), for symlink and file
	const char *source; // host path: bind source, overlay lower layer
	const char *fstype; // JAIL_OP_MOUNT
	const char *data;   // mount data, file contents or symlink target
	unsigned long data_len;
	// ROOT over layers: the LAYER ops right before it, the first one
	// the top of the stack; overlay options after the layers, upperdir
	// and workdir, which only the init knows (e.g. "userxattr"); and
	// whether to stack them one fsconfig("lowerdir+") at a time (Linux
	// 6.8), because their paths would not fit in mount(2)'s one page.
	int layers;
	const char *overlay_opts;
	int lowerdir_plus;
	unsigned long flags;      // MS_* of JAIL_OP_MOUNT, ROOT's tmpfs
	unsigned long long attrs; // MOUNT_ATTR_* of BIND and SCRATCH
	unsigned int mode;
	// renew: a reused sandbox mounts this again, fresh, between tasks.
	int renew;
};

// Stages of the init before jail_spawn; they number past spawn.h's.
enum jail_launch_stage {
	JAIL_L_FDS = 100,
	JAIL_L_DUMPABLE,
	JAIL_L_PRIVATE,
	JAIL_L_SOURCE, // opening op index's host path
	JAIL_L_USER,
	JAIL_L_MOUNT, // applying op index
	JAIL_L_PIVOT,
	JAIL_L_HOSTNAME,
	JAIL_L_LOOPBACK,
	JAIL_L_SIGNALFD,
	JAIL_L_LOOKPATH,
	JAIL_L_IDMAPS, // writing its own id maps (index: 0 setgroups, 1 uid_map, 2 gid_map)
	JAIL_L_NETNS,  // the network namespace helper (index: 0 unshare, 1 lo, 2 open, 3 setns, 4 start)
	// PROG's pid namespace and its pid 1 (index: 0 unshare CLONE_NEWPID,
	// 1 pipe or clone, 2 pid 1 never ready, 3-5 pid 1's fsopen, fsconfig,
	// fsmount of proc)
	JAIL_L_PIDNS,
	JAIL_L_SUPERVISE, // watching the run (index: 0 poll, 1 wait4)
	JAIL_L_LANDLOCK,  // PROG's ruleset (index: 0 create, 1 open /, 2 add rule)
	// A warm init's own start (index: 0 receiving its description, 1
	// unshare, 2 memory) and its task (3 receiving it, 4 its descriptors).
	JAIL_L_WARM,
	// A reused sandbox's renewal between tasks (index: 0 a unix socket
	// left, 1 mounting a place afresh, 2 the hostname, 3 pid 1 changed,
	// 4 unmounting the task's cgroup view).
	// A process left is seen before it, by supervise.
	JAIL_L_RENEW,
	// A command run beside PROG (jail exec; index: 0 its message, 1 too
	// many at once, 2 PROG has ended, 3 PROG's time namespace).
	JAIL_L_EXEC,
	// The terminal the init opens in the sandbox's devpts (index: 0
	// opening /dev/pts/ptmx, 1 unlocking it, 2 its size, 3 its terminal
	// side, 4 handing the master over).
	JAIL_L_PTY,
	// A warm init's bounding set, once (index: the capability).
	JAIL_L_BOUNDING,
};

// Which system call of a mount stage failed, for the message.
enum jail_sub {
	JAIL_SUB_NONE = 0,
	JAIL_SUB_OPEN,
	JAIL_SUB_OPEN_TREE,
	JAIL_SUB_MOUNT_SETATTR,
	JAIL_SUB_MOVE_MOUNT,
	JAIL_SUB_MOUNT,
	JAIL_SUB_MKDIR,
	JAIL_SUB_CREATE,
	JAIL_SUB_CHMOD,
	JAIL_SUB_SYMLINK,
	JAIL_SUB_WRITE,
	JAIL_SUB_STAT,
	JAIL_SUB_ORDER, // an op before the root
	JAIL_SUB_FSCONFIG,
	JAIL_SUB_FSMOUNT,
};

enum jail_report_kind {
	JAIL_REPORT_ERROR = 1,
	JAIL_REPORT_STARTED,
	JAIL_REPORT_EXITED,
	// A warm init's: its namespaces exist, so the parent writes its id
	// maps; then, everything but PROG is ready and it waits for a task.
	JAIL_REPORT_UNSHARED,
	JAIL_REPORT_READY,
	// A command run beside PROG, by its exec_id: started (pid), could not
	// start (stage, index, err), or exited (status, its rusage).
	JAIL_REPORT_EXEC_STARTED,
	JAIL_REPORT_EXEC_FAILED,
	JAIL_REPORT_EXEC_EXITED,
};

// The points of a run the init timestamps: STARTED carries all but the
// last, EXITED the last.
enum jail_point {
	JAIL_AT_ENTERED,   // the init's first instruction
	JAIL_AT_GO_AHEAD,  // the id maps are written
	JAIL_AT_MOUNTED,   // the mount plan is applied
	JAIL_AT_PIVOTED,   // the new root is the root
	JAIL_AT_TASK,      // the task is known: at once for a cold run, when it arrives for a warm one
	JAIL_AT_SPAWN,     // about to clone the spawner
	JAIL_AT_FILTER,    // the spawner is about to load the seccomp filter
	JAIL_AT_EXECED,    // PROG has exec'd
	JAIL_AT_REAPED,    // PROG has been reaped
	JAIL_POINTS,
};

// How many errno denials the init answers in one run. Each costs the
// caller a round trip and the init, which no cgroup limits, about 15 µs of
// CPU time: a program that kept calling what it cannot have would have the
// init spend a CPU outside its limits. Probing programs make a few; past
// the budget the next denial ends the run as a violation.
#define JAIL_DENIED_BUDGET 4096

// Distinct calls a report counts by name; more only add to denied_more.
#define JAIL_DENIED_MAX 16

struct jail_denied {
	int32_t nr;
	uint32_t arch;
	uint32_t count;
};

// One record on the report pipe, far below PIPE_BUF, so each write is
// atomic.
struct jail_report {
	int32_t kind;
	int32_t stage;
	int32_t index;
	int32_t sub;
	int32_t err;
	int32_t pid;
	uint32_t status;
	// violation is 1 when the policy's kill ended the run, 2 when the
	// errno denials ran past the init's budget; viol_* name the call.
	int32_t violation;
	int32_t viol_nr;
	uint32_t viol_arch;
	// pid1_died: the namespace's pid 1 died before the init ended the
	// run (of a limit PROG set on it), with pid1_status.
	int32_t pid1_died;
	uint32_t pid1_status;
	uint64_t viol_args[6];
	// Calls the policy denied with an errno, with how often.
	int32_t ndenied;
	uint32_t denied_more;
	struct jail_denied denied[JAIL_DENIED_MAX];
	int64_t user_usec;
	int64_t sys_usec;
	int64_t maxrss_kib;
	int64_t wall_usec;
	// CLOCK_MONOTONIC microseconds at each point of the init's life
	// (enum jail_point), for the stage breakdown; 0 when not reached.
	int64_t at_usec[JAIL_POINTS];
	// The task id of a JAIL_REPORT_EXEC_* record.
	int32_t exec_id;
	// made_ahead: PROG's process was made before its task (jail_ahead_make).
	int32_t made_ahead;
};

// What the parent writes on the lifeline once PROG runs: JAIL_CTL_END
// ends the run; JAIL_CTL_SIGNAL + N delivers signal N (1-63) to PROG.
enum {
	JAIL_CTL_END = 1,
	JAIL_CTL_SIGNAL = 0x40,
};

// The child's descriptors after the init rearranges them.
enum {
	JAIL_FD_CTL = 3,    // go-ahead byte, then the parent's lifeline
	JAIL_FD_REPORT = 4, // struct jail_report records
	JAIL_FD_FIRST_CGROUP = 5,
};

// What changes from one task to the next in the same sandbox: PROG and
// everything that runs it. A warm init receives it on its ctl socket.
struct jail_task {
	// PROG's path candidates, in PATH order; with check_candidates the
	// first regular executable file wins, else the first is used as is.
	int ncandidates;
	const char *const *candidates;
	int check_candidates;
	struct jail_exec exec;
	// spawn_shares_memory: see Config.SpawnSharesMemory.
	int spawn_shares_memory;
	// PROG's Landlock ruleset, decided in the parent (LandlockPlan); no
	// ruleset when landlock_abi is 0.
	int landlock_abi;
	unsigned long long landlock_fs, landlock_scoped;
	// The policy's program as compiled, errno returns and all, which the
	// init runs to answer PROG's filter's notifications (filter.c).
	const struct sock_filter *decide;
	int decide_len;
	// A command run beside PROG while it runs (jail exec) has an id its
	// reports carry. With pty the init opens its terminal in the
	// sandbox's own devpts, rows by cols, and hands the master over the
	// task's one stream descriptor, a unix socket; else its three
	// streams come with the task.
	int id;
	int pty;
	unsigned short rows, cols;
	// cgroup_ahead: the task's cgroup is the one jail sent for its PROG's
	// process made ahead; exec's cgroup files are its files all the same,
	// for a PROG that is spawned after all.
	int cgroup_ahead;
};

// Where PROG is shown its cgroup, as in every container.
#define JAIL_CGROUP_DIR "/sys/fs/cgroup"

// The next task's cgroup, which jail sends a warm init with ahead_cgroup
// after each READY: its cgroup.procs files come with it as SCM_RIGHTS
// (none: jail made none, and no process is made ahead), and view says
// PROG is shown it (jail_exec.cgroup_view).
struct jail_ahead_cgroup {
	int32_t nfds;
	int32_t view;
};

struct jail_launch {
	unsigned long clone_flags;
	// Parent descriptors that become the child's 0, 1, 2, ... in order:
	// stdin, stdout, stderr, ctl, report, then the cgroup.procs files.
	int nfds;
	const int *fds;
	int nops;
	const struct jail_op *ops;
	int *op_fds; // scratch, one per op, for the child's own copy
	const char *staging; // "/tmp"
	const char *hostname;
	int hostname_len;
	int loopback;
	unsigned int uid, gid;
	int drop_groups;
	// bounding_keep holds the capabilities (bit n: capability n) any
	// PROG of a warm init may keep: the init drops every other from its
	// bounding set once, so that a task's spawner drops only these (each
	// drop makes new credentials: 41 took 63 us of every spawn).
	unsigned long long bounding_keep;
	// PROG's, for a cold run; a warm init receives it later.
	struct jail_task task;
	// warm: the init was exec'd ahead of its task (warm.c) and waits for
	// it once everything but PROG is ready. With reuse it serves task
	// after task, renewing what a task may have changed in between.
	int warm, reuse;
	// ahead has a warm init make its next task's PROG ahead of it
	// (jail_ahead_make), set up as the description's task (the first) or
	// the task just run; only where exec enters the time namespace PROG's
	// process unshared (Linux 6.5). With ahead_cgroup, where runs have
	// cgroups, jail sends the next task's cgroup after each READY
	// (struct jail_ahead_cgroup) and the process is made in it.
	int ahead, ahead_cgroup;
	// With self_maps the init writes its own id maps, inner -> outer, the
	// one mapping an unprivileged process may write for itself (as
	// unshare -r does); else the parent writes them, then the go-ahead.
	int self_maps;
	unsigned int inner_uid, inner_gid, outer_uid, outer_gid;
	// share_vm clones the init with CLONE_VM; see Init in launcher_linux.go.
	int share_vm;
	void *stack; // the init's, set by jail_launch_start
	// With net_helper the init is cloned without CLONE_NEWNET: a helper
	// sharing its memory creates the network namespace, brings lo up and
	// leaves a descriptor of it in net_fd (or net_sub and net_err) while
	// the init builds the mounts; the init joins it before PROG.
	int net_helper;
	void *net_stack;
	int net_fd, net_sub, net_err;
	// pid 1 of PROG's pid namespace: its stack, and the /proc it mounted
	// (proc_fd), or at which step it failed (proc_step, proc_err).
	void *pid1_stack;
	int proc_fd, proc_step, proc_err;
	// Where the init receives the messages of its lifeline: one byte, or
	// a command to run beside PROG (a jail_task of JAIL_WIRE_MAX bytes at
	// most).
	void *ctl_buf;
};

// jail_launch_start clones the init and returns its pid, or -errno. The
// init waits for one byte on the ctl pipe (the id maps are written) before
// it does anything.
int jail_launch_start(struct jail_launch *l);
// jail_launch_release frees what jail_launch_start allocated; only once
// the init has been reaped.
void jail_launch_release(struct jail_launch *l);
// CLOCK_MONOTONIC microseconds when this process's C start-up ran.
int64_t jail_process_start_usec(void);
// The early init the C start-up of `jail run` forked (early.c): its pid,
// ctl socket and report pipe, or -1s; the file where jail saves its
// sandbox's description for the next run ("" for none), and the saved
// description the init runs (NULL when it waits for one).
void jail_early(int *pid, int *ctl, int *rep, const char **saved_path, const void **saved, long *saved_len);

// The header of a saved description: what it was saved for (this
// binary, by its file's identity) and a checksum, so that only an
// intact description of this binary's layout is run. The description
// follows, as sent to a warm init.
#define JAIL_SAVED_MAGIC "jail-sd1"
struct jail_saved {
	char magic[8];
	uint64_t exe_dev, exe_ino, exe_size;
	int64_t exe_mtime_sec, exe_mtime_nsec;
	uint64_t len;
	uint64_t fnv1a; // FNV-1a 64 of the description's bytes
};

// What the user reads for a failure (stages.c). jail_stage_name names a
// stage of the init or of jail_spawn, NULL for a number no stage has.
// jail_stage_step names step index of a stage whose index names one, the
// nearest step for an index out of range, NULL for a stage without steps.
// jail_sub_name names a mount stage's failed system call, NULL for none.
const char *jail_stage_name(int stage);
const char *jail_stage_step(int stage, int index);
const char *jail_sub_name(int sub);

// The environment variable that makes this binary a warm init (warm.c)
// before its Go runtime starts.
#define JAIL_WARM_ENV "JAIL_WARM_INIT"
// JAIL_WARM_ENV's value for the zygote that forks warm inits (warm.c).
#define JAIL_ZYGOTE "zygote"
// The largest description or task a warm init receives, in bytes.
#define JAIL_WIRE_MAX (192 * 1024)
// The most descriptors a task hands over: stdin, stdout, stderr and the
// cgroup.procs files.
#define JAIL_TASK_FDS 16
// The init's own descriptors that outlive a task (its signalfd, the
// sandbox's /proc, the socket of PROG's process made ahead) sit from here
// up, above every number a task's descriptors are placed at
// (init_await_task).
#define JAIL_FD_INIT_OWN (JAIL_FD_FIRST_CGROUP + JAIL_TASK_FDS - 3)

// jail_launch_rebase and jail_task_rebase move every pointer of a
// description laid out in one buffer by delta: pack (unpack 0) turns them
// into offsets from the buffer's start before it is sent, unpack adds the
// receiver's address.
void jail_launch_rebase(struct jail_launch *l, long delta, int unpack);
void jail_task_rebase(struct jail_task *t, long delta, int unpack);


#endif
