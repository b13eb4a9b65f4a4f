// The mount executor: the init applies the parent's mount plan (struct
// jail_op) on the new root, before it pivots into it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"
#include "text.h"

// fd_path names an open descriptor as a path the mount(2) family follows.
static const char *fd_path(char *buf, size_t len, int fd) {
	char *p = put(buf, buf + len, "/proc/self/fd/");
	put_uint(p, buf + len, (unsigned long)fd);
	return buf;
}

// open_in_root resolves an existing path inside the new root; a symlink in
// a user-supplied rootfs can never send a mount outside it.
static int open_in_root(struct init *s, const char *p) {
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	s->sub = JAIL_SUB_OPEN;
	return (int)syscall(SYS_openat2, s->root_fd, p, &how, sizeof how);
}

// resolve opens p inside the new root, creating missing parents as
// directories and a missing last component as a directory or, for binds
// of files, as an empty file.
static int resolve(struct init *s, const char *p, int dir) {
	int fd = open_in_root(s, p);
	if (fd >= 0 || errno != ENOENT || strcmp(p, "/") == 0)
		return fd;
	char buf[PATHBUF];
	size_t n = strlen(p);
	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, p, n + 1);
	char *slash = strrchr(buf, '/');
	if (!slash) {
		errno = EINVAL;
		return -1;
	}
	const char *base = slash + 1;
	char parent_buf[PATHBUF];
	if (slash == buf) {
		parent_buf[0] = '/';
		parent_buf[1] = 0;
	} else {
		memcpy(parent_buf, buf, (size_t)(slash - buf));
		parent_buf[slash - buf] = 0;
	}
	int parent = resolve(s, parent_buf, 1);
	if (parent < 0)
		return -1;
	int r;
	if (dir) {
		s->sub = JAIL_SUB_MKDIR;
		r = mkdirat(parent, base, 0755);
	} else {
		s->sub = JAIL_SUB_CREATE;
		r = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (r >= 0)
			close(r);
	}
	int e = errno;
	close(parent);
	if (r < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return open_in_root(s, p);
}

// clone_tree makes a detached copy of the mount tree at (dirfd, p), with
// attrs set on every mount of it before it becomes visible anywhere. Flags
// the kernel locked on the host's mounts stay set: attributes are only
// added.
static int clone_tree(struct init *s, int dirfd, const char *p, unsigned long long attrs) {
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
	if (p[0] == 0)
		flags |= AT_EMPTY_PATH;
	s->sub = JAIL_SUB_OPEN_TREE;
	int tree = (int)syscall(SYS_open_tree, dirfd, p, flags);
	if (tree < 0)
		return -1;
	struct mount_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.attr_set = attrs;
	s->sub = JAIL_SUB_MOUNT_SETATTR;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
		int e = errno;
		close(tree);
		errno = e;
		return -1;
	}
	return tree;
}

static int move_tree(struct init *s, int tree, int target) {
	s->sub = JAIL_SUB_MOVE_MOUNT;
	return (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int attach_clone(struct init *s, int dirfd, const char *p, int target, unsigned long long attrs) {
	int tree = clone_tree(s, dirfd, p, attrs);
	if (tree < 0)
		return -1;
	int r = move_tree(s, tree, target);
	int e = errno;
	close(tree);
	errno = e;
	return r;
}

// init_open_source opens op i's host path while the host's tree is still
// this namespace's tree: a mount can only be cloned from the namespace it
// is in.
int init_open_source(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	int fd = -1;
	switch (op->kind) {
	case JAIL_OP_ROOT: // with a source: where its overlay keeps its writes
		if (!op->source || !op->source[0])
			return 0;
		__attribute__((fallthrough));
	case JAIL_OP_LAYER:
		s->sub = JAIL_SUB_OPEN;
		fd = open(op->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
		break;
	case JAIL_OP_BIND:
		fd = clone_tree(s, AT_FDCWD, op->source, op->attrs);
		break;
	default:
		return 0;
	}
	if (fd < 0)
		return -1;
	s->l->op_fds[i] = fd;
	return 0;
}

#define EMPTY_DIR "empty"

static char *staging_path(struct init *s, const char *name, char *buf) {
	char *p = put(buf, buf + PATHBUF, s->l->staging);
	p = put(p, buf + PATHBUF, "/");
	put(p, buf + PATHBUF, name);
	return buf;
}

static int mkdir_staging(struct init *s, const char *name, char *buf, mode_t mode) {
	s->sub = JAIL_SUB_MKDIR;
	return mkdir(staging_path(s, name, buf), mode);
}

// upper_path is where op i's overlay writes: the kept directory the
// parent made (its upper/ and work/), or the --disk tmpfs's.
static char *upper_path(struct init *s, int i, const char *name, char *buf) {
	const struct jail_op *op = &s->l->ops[i];
	if (!op->source || !op->source[0])
		return staging_path(s, name, buf);
	char *p = put(buf, buf + PATHBUF, "/proc/self/fd/");
	p = put_uint(p, buf + PATHBUF, (unsigned long)s->l->op_fds[i]);
	p = put(p, buf + PATHBUF, "/");
	put(p, buf + PATHBUF, name);
	return buf;
}

// stack_lowers mounts the overlay of op i's layers at root, with one
// fsconfig per layer: the kernel takes lowerdir+ from Linux 6.8, and it
// has no page limit on how many.
static int stack_lowers(struct init *s, int i, const char *root) {
	const struct jail_op *op = &s->l->ops[i];
	char buf[PATHBUF];
	s->sub = JAIL_SUB_MOUNT;
	int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -1;
	s->sub = JAIL_SUB_FSCONFIG;
	int r = 0;
	for (int k = i - op->layers; k < i && r == 0; k++)
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+",
		                 fd_path(buf, sizeof buf, s->l->op_fds[k]), 0);
	if (r == 0)
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", upper_path(s, i, "upper", buf), 0);
	if (r == 0)
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", upper_path(s, i, "work", buf), 0);
	if (r == 0 && op->overlay_opts && op->overlay_opts[0])
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, op->overlay_opts, NULL, 0);
	if (r == 0)
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	int m = -1;
	if (r == 0) {
		s->sub = JAIL_SUB_FSMOUNT;
		m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	}
	int e = errno;
	close(fs);
	if (m < 0) {
		errno = e;
		return -1;
	}
	s->sub = JAIL_SUB_MOVE_MOUNT;
	r = (int)syscall(SYS_move_mount, m, "", AT_FDCWD, root, MOVE_MOUNT_F_EMPTY_PATH);
	e = errno;
	close(m);
	errno = e;
	return r;
}

// mount_lowers mounts the overlay of op i's layers at root with one
// mount(2), whose options the parent made sure fit in a page.
static int mount_lowers(struct init *s, int i, const char *root) {
	const struct jail_op *op = &s->l->ops[i];
	char buf[PATHBUF], fdp[64], dir[PATHBUF];
	char *p = put(buf, buf + PATHBUF, "lowerdir=");
	for (int k = i - op->layers; k < i; k++) {
		if (k > i - op->layers)
			p = put(p, buf + PATHBUF, ":");
		p = put(p, buf + PATHBUF, fd_path(fdp, sizeof fdp, s->l->op_fds[k]));
	}
	p = put(p, buf + PATHBUF, ",upperdir=");
	p = put(p, buf + PATHBUF, upper_path(s, i, "upper", dir));
	p = put(p, buf + PATHBUF, ",workdir=");
	p = put(p, buf + PATHBUF, upper_path(s, i, "work", dir));
	if (op->overlay_opts && op->overlay_opts[0]) {
		p = put(p, buf + PATHBUF, ",");
		put(p, buf + PATHBUF, op->overlay_opts);
	}
	s->sub = JAIL_SUB_MOUNT;
	return (int)sys_mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, buf);
}

// apply_root mounts the tmpfs that backs every writable place, and the
// root on it: an overlay whose read-only lower layers are the LAYER ops
// before it (an image's layers, or the one --rootfs), or a plain
// directory of the tmpfs for the host-/usr default.
static int apply_root(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	const char *st = s->l->staging;
	char buf[PATHBUF], root[PATHBUF];
	s->sub = JAIL_SUB_MOUNT;
	if (sys_mount("tmpfs", st, "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0)
		return -1;
	static const char *const dirs[] = {"root", "scratch", "upper", "work"};
	for (unsigned k = 0; k < 4; k++) {
		if (mkdir_staging(s, dirs[k], buf, 0755) < 0)
			return -1;
	}
	// What every masked directory shows, bound read-only.
	if (mkdir_staging(s, EMPTY_DIR, buf, 0555) < 0)
		return -1;
	char *p = put(root, root + PATHBUF, st);
	put(p, root + PATHBUF, "/root");
	if (op->layers > 0) {
		if ((op->lowerdir_plus ? stack_lowers(s, i, root) : mount_lowers(s, i, root)) < 0)
			return -1;
	} else {
		// pivot_root needs the new root to be a mount point.
		s->sub = JAIL_SUB_MOUNT;
		if (sys_mount(root, root, NULL, MS_BIND, NULL) < 0)
			return -1;
	}
	s->sub = JAIL_SUB_OPEN;
	s->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return s->root_fd < 0 ? -1 : 0;
}

static int apply_scratch(struct init *s, const struct jail_op *op) {
	char dir[PATHBUF];
	s->scratch++;
	char *p = put(dir, dir + PATHBUF, s->l->staging);
	p = put(p, dir + PATHBUF, "/scratch/");
	put_uint(p, dir + PATHBUF, (unsigned long)s->scratch);
	s->sub = JAIL_SUB_MKDIR;
	if (mkdir(dir, 0700) < 0)
		return -1;
	// mkdir honours the umask; the mode must be exact (1777 for /tmp).
	s->sub = JAIL_SUB_CHMOD;
	if (chmod(dir, op->mode) < 0)
		return -1;
	int target = resolve(s, op->target, 1);
	if (target < 0)
		return -1;
	int r = attach_clone(s, AT_FDCWD, dir, target, op->attrs);
	int e = errno;
	close(target);
	errno = e;
	return r;
}

static int write_file(struct init *s, const struct jail_op *op) {
	int parent = resolve(s, op->parent, 1);
	if (parent < 0)
		return -1;
	s->sub = JAIL_SUB_CREATE;
	int fd = openat(parent, op->base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, op->mode);
	int e = errno;
	close(parent);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	const char *d = op->data;
	unsigned long left = op->data_len;
	s->sub = JAIL_SUB_WRITE;
	while (left > 0) {
		ssize_t n = write(fd, d, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		d += n;
		left -= (unsigned long)n;
	}
	s->sub = JAIL_SUB_CHMOD;
	int r = fchmod(fd, op->mode);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int init_apply(struct init *s, int i) {
	const struct jail_op *op = &s->l->ops[i];
	if (op->kind == JAIL_OP_LAYER)
		return 0; // opened with the sources, stacked by the root
	if (op->kind == JAIL_OP_ROOT)
		return apply_root(s, i);
	if (s->root_fd < 0) {
		s->sub = JAIL_SUB_ORDER;
		errno = EINVAL;
		return -1;
	}
	char fdp[64];
	int fd, r, e;
	switch (op->kind) {
	case JAIL_OP_BIND: {
		struct stat st;
		s->sub = JAIL_SUB_STAT;
		if (fstat(s->l->op_fds[i], &st) < 0)
			return -1;
		fd = resolve(s, op->target, S_ISDIR(st.st_mode));
	}
		if (fd < 0)
			return -1;
		r = move_tree(s, s->l->op_fds[i], fd);
		break;
	case JAIL_OP_SCRATCH:
		return apply_scratch(s, op);
	case JAIL_OP_MOUNT:
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		s->sub = JAIL_SUB_MOUNT;
		r = (int)sys_mount(op->fstype, fd_path(fdp, sizeof fdp, fd), op->fstype, op->flags, op->data);
		break;
	case JAIL_OP_PROC: {
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		struct jail_launch *l = (struct jail_launch *)s->l;
		int proc = init_take_proc(s);
		r = move_tree(s, proc, fd);
		e = errno;
		// Kept for supervise's look at what is left of the namespace.
		if (r == 0)
			s->proc_list = init_own_fd(openat(proc, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		close(proc);
		l->proc_fd = -1;
		errno = e;
		break;
	}
	case JAIL_OP_SEAL: {
		// fspick reconfigures the superblock alone: a remount would set
		// the mount's flags too, and clear any it was not given.
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		s->sub = JAIL_SUB_MOUNT;
		int fs = (int)syscall(SYS_fspick, fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC);
		r = fs < 0 ? -1 : 0;
		if (r == 0 && (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
		               syscall(SYS_fsconfig, fs, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0))
			r = -1;
		if (fs >= 0) {
			e = errno;
			close(fs);
			errno = e;
		}
		break;
	}
	case JAIL_OP_MKDIR:
		fd = resolve(s, op->target, 1);
		if (fd < 0)
			return -1;
		r = 0;
		break;
	case JAIL_OP_SYMLINK:
		fd = resolve(s, op->parent, 1);
		if (fd < 0)
			return -1;
		s->sub = JAIL_SUB_SYMLINK;
		r = symlinkat(op->data, fd, op->base);
		break;
	case JAIL_OP_FILE:
		return write_file(s, op);
	case JAIL_OP_MASK_FILE:
	case JAIL_OP_MASK_DIR:
	case JAIL_OP_READ_ONLY:
		// Absent paths need no hiding.
		fd = open_in_root(s, op->target);
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		if (op->kind == JAIL_OP_MASK_FILE) {
			r = attach_clone(s, AT_FDCWD, "/dev/null", fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
		} else if (op->kind == JAIL_OP_MASK_DIR) {
			char empty[PATHBUF];
			r = attach_clone(s, AT_FDCWD, staging_path(s, EMPTY_DIR, empty), fd,
			                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		} else {
			r = attach_clone(s, fd, "", fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		}
		break;
	default:
		s->sub = JAIL_SUB_ORDER;
		errno = EINVAL;
		return -1;
	}
	e = errno;
	close(fd);
	errno = e;
	return r;
}

// init_pivot makes the new root the process's root and detaches the
// host's: pivot_root(".", ".") stacks the old root on the new one, and the
// lazy unmount drops it, with no directory for the old root needed.
int init_pivot(struct init *s) {
	if (fchdir(s->root_fd) < 0)
		return -1;
	close(s->root_fd);
	s->root_fd = -1;
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -1;
	if (syscall(SYS_umount2, ".", MNT_DETACH) < 0)
		return -1;
	return chdir("/");
}
