// The port helper of a detached sandbox (jail __netns, detached/ports.go)
// must make its sockets in the sandbox's network namespace, which only a
// process of one thread may enter through the sandbox's user namespace:
// so before the Go runtime starts, this constructor enters both, through
// the pidfd of the sandbox's PROG that the monitor hands down on fd 3.
// setns with a pidfd takes the namespaces of that very process, never of
// one that reused its pid. Everything the helper's Go then does happens
// there; it opens no file.
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>


#define ENTER_ARG "__netns"
#define ENTER_PIDFD 3

__attribute__((constructor)) static void enter_entry(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], ENTER_ARG) != 0)
		return;
	if (setns(ENTER_PIDFD, CLONE_NEWUSER | CLONE_NEWNET) < 0) {
		static const char msg[] = "jail __netns: entering the sandbox's user and network namespaces failed\n";
		if (write(2, msg, sizeof msg - 1) < 0) {
		}
		_exit(125);
	}
	close(ENTER_PIDFD);
}
