// The early init of `jail run`. Go's runtime and package initialisers
// take about 3 ms before main, and the plan another millisecond; this
// constructor runs before all of that and forks the process, still small
// and single-threaded, into the sandbox's init-to-be, which makes the
// user, mount, ipc and uts namespaces on the other CPU meanwhile
// and waits on its ctl socket. Once Go has the plan it sends the
// description, as to a warm init, with PROG's streams and cgroup.procs
// files (Early.Start in launcher_linux.go); the init then runs it as a
// cloned one does. Go that does not use it closes the socket, and the
// init exits.
//
// An ordinary user's jail also saves the description of its sandbox (as a
// warm init gets one, everything but PROG) for the next run. When that
// file is intact and was written by this binary, the init does not wait:
// it builds the whole sandbox from it while Go starts, and jail compares
// the plan it compiles with those bytes. If they are equal, PROG runs in
// it as in a warm sandbox; if not, the init is killed and the run clones
// one. What the init does before the comparison happens in namespaces of
// its own, as the user, from a file only the user can write.
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "text.h"

// What the init makes before it knows the plan: what every plan has
// (cloneFlags in sandbox/run_linux.go). The pid namespace is its pid 1's
// to make and the network namespace its helper's, as for any init.
#define EARLY_NS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)

static int early_pid = -1, early_ctl = -1, early_rep = -1;
static char saved_path[PATHBUF];
static void *saved;
static long saved_len;

void jail_early(int *pid, int *ctl, int *rep, const char **path, const void **desc, long *len) {
	*pid = early_pid, *ctl = early_ctl, *rep = early_rep;
	*path = saved_path, *desc = saved, *len = saved_len;
}

// The saved description lives in the user's runtime directory, else in
// their cache directory; only absolute directories count, as the XDG base
// directory specification says.
static void find_saved_path(void) {
	static const struct {
		const char *var, *sub;
	} dirs[] = {{"XDG_RUNTIME_DIR", "/jail/"}, {"XDG_CACHE_HOME", "/jail/"}, {"HOME", "/.cache/jail/"}};
	char *end = saved_path + sizeof saved_path;
	for (unsigned i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		const char *d = getenv(dirs[i].var);
		if (d && d[0] == '/' && strlen(d) < PATHBUF - 64) {
			put(put(put(saved_path, end, d), end, dirs[i].sub), end, "last-sandbox");
			return;
		}
	}
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static int read_full(int fd, void *buf, size_t n) {
	for (size_t got = 0; got < n;) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

// read_saved reads the saved description if it is the user's own file,
// intact, and saved by this very binary; anything else is ignored.
static void read_saved(void) {
	struct stat exe, st;
	struct jail_saved h;
	// Not blocking: a FIFO there must not hold jail's start.
	int fd = open(saved_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022) ||
	    stat("/proc/self/exe", &exe) < 0 || read_full(fd, &h, sizeof h) < 0 ||
	    memcmp(h.magic, JAIL_SAVED_MAGIC, sizeof h.magic) != 0 || h.exe_dev != (uint64_t)exe.st_dev ||
	    h.exe_ino != (uint64_t)exe.st_ino || h.exe_size != (uint64_t)exe.st_size ||
	    h.exe_mtime_sec != (int64_t)exe.st_mtim.tv_sec || h.exe_mtime_nsec != (int64_t)exe.st_mtim.tv_nsec ||
	    h.len < sizeof(struct jail_launch) || h.len > JAIL_WIRE_MAX || (uint64_t)st.st_size != sizeof h + h.len) {
		close(fd);
		return;
	}
	void *buf = mmap(NULL, h.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		close(fd);
		return;
	}
	if (read_full(fd, buf, h.len) < 0 || fnv1a(buf, h.len) != h.fnv1a) {
		munmap(buf, h.len);
		close(fd);
		return;
	}
	close(fd);
	saved = buf;
	saved_len = (long)h.len;
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
	if (saved)
		init_from_saved(saved, saved_len, EARLY_NS);
	init_from_wire(EARLY_NS);
}

// Constructors get main's arguments from glibc.
__attribute__((constructor)) static void early_entry(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "run") != 0 || getenv(JAIL_WARM_ENV))
		return;
	// With a standard stream closed, the socket would take its number,
	// and jail's os.Stdin would be the init's.
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0)
			return;
	}
	// root's init would wait for jail to write its id maps: nothing to
	// gain before Go runs.
	if (getuid() != 0) {
		find_saved_path();
		if (saved_path[0])
			read_saved();
	}
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
