// The early init of `jail run`. Go's runtime and package initialisers
// take about 3 ms before main, and the plan another millisecond; this
// constructor runs before all of that and forks the process, still small
// and single-threaded, into the sandbox's init-to-be, which makes the
// user, mount, ipc, uts and cgroup namespaces on the other CPU meanwhile
// and waits on its ctl socket. Once Go has the plan it sends the
// description, as to a warm init, with PROG's streams and cgroup.procs
// files (Early.Start in launcher_linux.go); the init then runs it as a
// cloned one does. Go that does not use it closes the socket, and the
// init exits.
//
// The child is a fork, not a sharer of jail's memory, and runs no Go: the
// rules of init.h hold for it as for a warm init.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

// What the init makes before it knows the plan: what every plan has
// (cloneFlags in sandbox/run_linux.go). The pid namespace is its pid 1's
// to make and the network namespace its helper's, as for any init.
#define EARLY_NS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

static int early_pid = -1, early_ctl = -1, early_rep = -1;

void jail_early(int *pid, int *ctl, int *rep) {
	*pid = early_pid, *ctl = early_ctl, *rep = early_rep;
}

// early_child is the init-to-be, from the fork on.
static void early_child(int ctl, int rep) {
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	// Off the caller's terminal before a ^C there could reach it.
	setsid();
	// The ctl socket and report pipe where every init has them, /dev/null
	// for the streams until PROG's come, and nothing else of jail's.
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		syscall(SYS_exit_group, 1);
	const int from[] = {null, null, null, ctl, rep}, to[] = {0, 1, 2, JAIL_FD_CTL, JAIL_FD_REPORT};
	if (init_place_fds(from, to, 5, 1) < 0 || syscall(SYS_close_range, JAIL_FD_REPORT + 1, ~0U, 0) < 0)
		syscall(SYS_exit_group, 1);
	// Refused namespaces are reported as a warm init's are; jail then
	// starts the sandbox the usual way, which says why.
	struct jail_report r;
	memset(&r, 0, sizeof r);
	r.kind = JAIL_REPORT_UNSHARED;
	if (unshare(EARLY_NS) < 0) {
		r.kind = JAIL_REPORT_ERROR;
		r.stage = JAIL_L_WARM;
		r.index = 1;
		r.err = errno;
		init_report(&r);
		syscall(SYS_exit_group, 1);
	}
	init_report(&r);
	init_from_wire(EARLY_NS);
}

// Constructors get main's arguments from glibc.
__attribute__((constructor)) static void early_entry(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "run") != 0 || getenv(JAIL_WARM_ENV))
		return;
	int sv[2], p[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		early_child(sv[1], p[1]);
	close(sv[1]);
	close(p[1]);
	if (pid < 0) {
		close(sv[0]);
		close(p[0]);
		return;
	}
	early_pid = pid, early_ctl = sv[0], early_rep = p[0];
}
