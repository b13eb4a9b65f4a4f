// Creating a network namespace (the loopback device, its sysctls, IPv6
// address configuration) is the costliest namespace, about 0.6 ms here; a
// helper does it on another CPU while the init builds the mounts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "raw.h"

static int net_helper_main(void *arg) {
	struct jail_launch *l = arg;
	long r = raw_syscall(SYS_unshare, CLONE_NEWNET, 0, 0);
	if (r < 0) {
		l->net_sub = 0;
		goto fail;
	}
	if (l->loopback) {
		r = init_loopback_up();
		if (r < 0) {
			l->net_sub = 1;
			goto fail;
		}
	}
	r = raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (r < 0) {
		l->net_sub = 2;
		goto fail;
	}
	l->net_fd = (int)r;
	raw_syscall(SYS_exit, 0, 0, 0);
	return 0;
fail:
	l->net_err = (int)-r;
	raw_syscall(SYS_exit, 1, 0, 0);
	return 1;
}

// init_start_net_helper clones the helper; it shares the init's memory and
// descriptors (net_fd lands in the init's table) and exits without a
// signal, so only init_join_net_helper's __WCLONE wait sees it.
int init_start_net_helper(struct jail_launch *l) {
	l->net_fd = -1;
	return clone(net_helper_main, (char *)l->net_stack + NET_STACK, CLONE_VM | CLONE_FILES, l);
}

// init_join_net_helper waits for the helper and moves the init into the
// network namespace it made, which PROG then inherits.
void init_join_net_helper(struct jail_launch *l, int pid) {
	int st;
	while (waitpid(pid, &st, __WCLONE) < 0) {
		if (errno != EINTR)
			init_die(JAIL_L_NETNS, 4, 0, errno);
	}
	if (l->net_fd < 0)
		init_die(JAIL_L_NETNS, l->net_sub, 0, l->net_err ? l->net_err : EIO);
	if (setns(l->net_fd, CLONE_NEWNET) < 0)
		init_die(JAIL_L_NETNS, 3, 0, errno);
	close(l->net_fd);
}

// init_loopback_up brings lo up and returns 0 or -errno. Its system
// calls are raw: the helper makes them too.
int init_loopback_up(void) {
	long fd = raw_syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (int)fd;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
	long r = raw_syscall(SYS_ioctl, fd, SIOCSIFFLAGS, (long)&ifr);
	raw_syscall(SYS_close, fd, 0, 0);
	return (int)r;
}
