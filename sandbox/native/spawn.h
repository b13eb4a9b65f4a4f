// The last step before PROG: a vfork-style child that runs only this C code
// (Go cannot run code between fork and exec) and only system calls on data
// the Go side prepared, then execs PROG.
#ifndef JAIL_SPAWN_H
#define JAIL_SPAWN_H

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
	int nrlimits;
	struct jail_rlimit *rlimits;
	// A compiled seccomp filter (struct sock_filter[filter_len]), or none.
	// With notify, its kill actions are user notifications, and the
	// listener descriptor is left in listener_fd for the init.
	unsigned short filter_len;
	void *filter;
	int notify;
	int log;
	int listener_fd;
	// Written by the child when a stage fails; the parent reads them after
	// the child has exited, which CLONE_VFORK guarantees.
	int failed_stage;
	int failed_index;
	int failed_errno;
};

int jail_spawn(struct jail_exec *x);
void jail_protect_init(void);

#endif
