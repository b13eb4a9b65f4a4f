// Text without libc formatting, for the code that runs after clone in
// memory shared with a Go process (the init, PROG's spawner): strings are
// built by hand into buffers on the stack.
#ifndef JAIL_TEXT_H
#define JAIL_TEXT_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static inline char *put(char *p, char *end, const char *s) {
	while (*s && p < end - 1)
		*p++ = *s++;
	*p = 0;
	return p;
}

static inline char *put_uint(char *p, char *end, unsigned long v) {
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && p < end - 1)
		*p++ = tmp[--n];
	*p = 0;
	return p;
}

// write_proc_self writes data to /proc/self/NAME in one write, as the
// kernel wants its id maps and time offsets.
static inline int write_proc_self(const char *name, const char *data) {
	char path[64];
	put(put(path, path + sizeof path, "/proc/self/"), path + sizeof path, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(data);
	ssize_t n = write(fd, data, len);
	int e = errno;
	close(fd);
	if (n != (ssize_t)len) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

#endif
