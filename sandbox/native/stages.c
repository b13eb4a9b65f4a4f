// The one table of what the user reads for a failure the init or
// jail_spawn reports as numbers: the stage, the step of the stages whose
// index names one, and the system call of a mount stage. The Go side
// reads it when it words the error (sandbox.ChildError).
#include <stddef.h>

#include "launcher.h"

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct stage {
	const char *name;
	const char *const *steps;
	int nsteps;
};

#define STEPS(a) .steps = a, .nsteps = LEN(a)

static const char *const timens_steps[] = {
    "making the spawner dumpable",
    "unshare(CLONE_NEWTIME)",
    "writing /proc/self/timens_offsets",
    "setns(time_for_children)",
    "joining PROG's time namespace",
};

static const char *const cgroup_view_steps[] = {
    "fsopen(cgroup2)",
    "fsconfig(cgroup2)",
    "fsmount(cgroup2)",
    "move_mount to /sys/fs/cgroup",
};

static const char *const ahead_steps[] = {
    "receiving the task",
    "its streams",
};

static const struct stage spawn_stages[] = {
    [JAIL_STAGE_CGROUP] = {.name = "joining the run's cgroup"},
    [JAIL_STAGE_SESSION] = {.name = "new session"},
    [JAIL_STAGE_CTTY] = {.name = "controlling terminal"},
    [JAIL_STAGE_CLOSE_FDS] = {.name = "closing descriptors"},
    [JAIL_STAGE_CHDIR] = {.name = "working directory"},
    [JAIL_STAGE_RLIMIT] = {.name = "rlimits"},
    [JAIL_STAGE_CAPS] = {.name = "dropping capabilities"},
    [JAIL_STAGE_NO_NEW_PRIVS] = {.name = "no_new_privs"},
    [JAIL_STAGE_SECCOMP] = {.name = "loading the seccomp filter"},
    [JAIL_STAGE_EXEC] = {.name = "exec"},
    [JAIL_STAGE_CLONE] = {.name = "clone"},
    [JAIL_STAGE_TIMENS] = {.name = "time namespace", STEPS(timens_steps)},
    [JAIL_STAGE_LANDLOCK] = {.name = "enforcing the Landlock ruleset"},
    [JAIL_STAGE_IPCNS] = {.name = "IPC namespace"},
    [JAIL_STAGE_CGROUP_VIEW] = {.name = "showing the run's cgroup at /sys/fs/cgroup", STEPS(cgroup_view_steps)},
    [JAIL_STAGE_AHEAD] = {.name = "PROG's process made ahead taking its task", STEPS(ahead_steps)},
};

static const char *const idmaps_steps[] = {
    "/proc/self/setgroups",
    "/proc/self/uid_map",
    "/proc/self/gid_map",
};

static const char *const netns_steps[] = {
    "unshare(CLONE_NEWNET)",
    "bringing up lo",
    "opening /proc/thread-self/ns/net",
    "setns",
    "starting the helper",
};

static const char *const pidns_steps[] = {
    "unshare(CLONE_NEWPID)",
    "starting pid 1",
    "pid 1 never became ready",
    "pid 1's fsopen(proc)",
    "pid 1's fsconfig(proc)",
    "pid 1's fsmount(proc)",
};

static const char *const supervise_steps[] = {"poll", "wait4"};

static const char *const landlock_steps[] = {
    "landlock_create_ruleset",
    "opening /",
    "landlock_add_rule",
};

static const char *const warm_steps[] = {
    "receiving its description",
    "unshare",
    "mapping its memory",
    "receiving its task",
    "taking the task's descriptors",
    "receiving the next task's cgroup",
};

static const char *const exec_steps[] = {
    "its message",
    "too many at once",
    "PROG has ended",
    "PROG's time namespace",
};

static const char *const pty_steps[] = {
    "opening /dev/pts/ptmx",
    "unlocking it",
    "setting its size",
    "opening its terminal side",
    "handing the master over",
};

static const char *const renew_steps[] = {
    "a unix socket was left",
    "mounting a place afresh",
    "the hostname",
    "pid 1 was changed",
    "unmounting the task's cgroup view",
};

#define L(stage) [(stage) - JAIL_L_FDS]

static const struct stage init_stages[] = {
    L(JAIL_L_FDS) = {.name = "arranging descriptors"},
    L(JAIL_L_DUMPABLE) = {.name = "not dumpable"},
    L(JAIL_L_PRIVATE) = {.name = "making mounts private"},
    L(JAIL_L_SOURCE) = {.name = "mounts"},
    L(JAIL_L_USER) = {.name = "switching to the sandbox user"},
    L(JAIL_L_MOUNT) = {.name = "mounts"},
    L(JAIL_L_PIVOT) = {.name = "pivot_root"},
    L(JAIL_L_HOSTNAME) = {.name = "hostname"},
    L(JAIL_L_LOOPBACK) = {.name = "loopback"},
    L(JAIL_L_SIGNALFD) = {.name = "signalfd"},
    // Its failure is PROG's, not found: the user reads it as exec's.
    L(JAIL_L_LOOKPATH) = {.name = "looking up PROG"},
    L(JAIL_L_IDMAPS) = {.name = "writing the id maps", STEPS(idmaps_steps)},
    L(JAIL_L_NETNS) = {.name = "network namespace", STEPS(netns_steps)},
    L(JAIL_L_PIDNS) = {.name = "pid namespace", STEPS(pidns_steps)},
    L(JAIL_L_SUPERVISE) = {.name = "watching the run", STEPS(supervise_steps)},
    L(JAIL_L_LANDLOCK) = {.name = "Landlock ruleset", STEPS(landlock_steps)},
    L(JAIL_L_WARM) = {.name = "warm sandbox", STEPS(warm_steps)},
    L(JAIL_L_RENEW) = {.name = "renewing a reused sandbox", STEPS(renew_steps)},
    L(JAIL_L_EXEC) = {.name = "running a command beside PROG", STEPS(exec_steps)},
    L(JAIL_L_PTY) = {.name = "the sandbox's terminal", STEPS(pty_steps)},
    L(JAIL_L_BOUNDING) = {.name = "dropping capabilities from the bounding set"},
};

static const struct stage *find_stage(int stage) {
	if (stage >= 0 && stage < LEN(spawn_stages))
		return &spawn_stages[stage];
	if (stage >= JAIL_L_FDS && stage - JAIL_L_FDS < LEN(init_stages))
		return &init_stages[stage - JAIL_L_FDS];
	return NULL;
}

const char *jail_stage_name(int stage) {
	const struct stage *s = find_stage(stage);
	return s ? s->name : NULL;
}

const char *jail_stage_step(int stage, int index) {
	const struct stage *s = find_stage(stage);
	if (!s || s->nsteps == 0)
		return NULL;
	if (index < 0)
		index = 0;
	if (index >= s->nsteps)
		index = s->nsteps - 1;
	return s->steps[index];
}

static const char *const sub_names[] = {
    [JAIL_SUB_OPEN] = "open",
    [JAIL_SUB_OPEN_TREE] = "open_tree",
    [JAIL_SUB_MOUNT_SETATTR] = "mount_setattr",
    [JAIL_SUB_MOVE_MOUNT] = "move_mount",
    [JAIL_SUB_MOUNT] = "mount",
    [JAIL_SUB_MKDIR] = "mkdir",
    [JAIL_SUB_CREATE] = "create",
    [JAIL_SUB_CHMOD] = "chmod",
    [JAIL_SUB_SYMLINK] = "symlink",
    [JAIL_SUB_WRITE] = "write",
    [JAIL_SUB_STAT] = "stat",
    [JAIL_SUB_ORDER] = "the root must be the first operation",
    [JAIL_SUB_FSCONFIG] = "fsconfig",
    [JAIL_SUB_FSMOUNT] = "fsmount",
};

const char *jail_sub_name(int sub) {
	if (sub < 0 || sub >= LEN(sub_names))
		return NULL;
	return sub_names[sub];
}
