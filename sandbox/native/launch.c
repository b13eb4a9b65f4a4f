// jail's side of the clone: the init's stacks, the clone itself, and the
// release once the init is reaped.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>

#include "init.h"

// When this process's C start-up ran, before the Go runtime's.
static int64_t process_start_usec;

int64_t jail_process_start_usec(void) { return process_start_usec; }

__attribute__((constructor)) static void at_process_start(void) { process_start_usec = now_usec(); }

#define INIT_STACK (1024 * 1024)

// init_launch_alloc maps what the init needs besides its own stack: the
// spawner's result page and the stacks of pid 1 and the network
// namespace helper. It returns the namespaces the init itself is made
// with: the init makes the pid namespace itself (start_pid1), so that it
// stays out of PROG's reach, and the helper the network namespace.
int init_launch_alloc(struct jail_launch *l, unsigned long *flags) {
	// The spawner reports into this; it is a copy of the init, not a
	// sharer of its memory (jail_spawn), so the page must be MAP_SHARED.
	struct jail_spawn_result *result = mmap(NULL, sizeof *result, PROT_READ | PROT_WRITE,
	                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (result == MAP_FAILED)
		return -errno;
	l->task.exec.result = result;
	// Touched only by a message as large: most lifelines carry one byte.
	l->ctl_buf = mmap(NULL, JAIL_WIRE_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->ctl_buf == MAP_FAILED) {
		int e = errno;
		l->ctl_buf = NULL;
		jail_launch_release(l);
		return -e;
	}
	// pid 1's stack, in the memory it shares with the init.
	l->pid1_stack = mmap(NULL, PID1_STACK, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (l->pid1_stack == MAP_FAILED) {
		int e = errno;
		l->pid1_stack = NULL;
		jail_launch_release(l);
		return -e;
	}
	*flags = l->clone_flags & ~(unsigned long)CLONE_NEWPID;
	if (*flags & CLONE_NEWNET) {
		l->net_stack = mmap(NULL, NET_STACK, PROT_READ | PROT_WRITE,
		                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (l->net_stack != MAP_FAILED) {
			*flags &= ~(unsigned long)CLONE_NEWNET;
			l->net_helper = 1;
		} else {
			l->net_stack = NULL;
		}
	}
	return 0;
}

int jail_launch_start(struct jail_launch *l) {
	unsigned long ns;
	int r = init_launch_alloc(l, &ns);
	if (r < 0)
		return r;
	// The init's stack; it lives until jail_launch_release, after the
	// init is reaped.
	void *stack = mmap(NULL, INIT_STACK, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED) {
		int e = errno;
		jail_launch_release(l);
		return -e;
	}
	// Go's signal handlers must never run in the child; it resets them
	// all before it unblocks anything.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	// CLONE_VM when asked: see Init in launcher_linux.go. Never
	// CLONE_FILES, CLONE_FS or CLONE_SIGHAND: the init's descriptors, root
	// and handlers are its own.
	int flags = (int)ns | SIGCHLD;
	if (l->share_vm)
		flags |= CLONE_VM;
	int pid = clone(init_main, (char *)stack + INIT_STACK, flags, l);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(stack, INIT_STACK);
		jail_launch_release(l);
		return -e;
	}
	l->stack = stack;
	return pid;
}

void jail_launch_release(struct jail_launch *l) {
	if (l->stack)
		munmap(l->stack, INIT_STACK);
	if (l->task.exec.result)
		munmap(l->task.exec.result, sizeof *l->task.exec.result);
	if (l->net_stack)
		munmap(l->net_stack, NET_STACK);
	if (l->pid1_stack)
		munmap(l->pid1_stack, PID1_STACK);
	if (l->ctl_buf)
		munmap(l->ctl_buf, JAIL_WIRE_MAX);
	l->ctl_buf = NULL;
	l->net_stack = NULL;
	l->pid1_stack = NULL;
	l->stack = NULL;
	l->task.exec.result = NULL;
}
