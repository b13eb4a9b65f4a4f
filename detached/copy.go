package detached

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Copying into and out of a running sandbox goes through its root as
// PROG's /proc/PID/root shows it, and every path inside is resolved with
// openat2's RESOLVE_IN_ROOT: a link PROG planted ("ln -s / x") resolves
// inside the sandbox, never out of it (docker cp's CVE-2018-15664 and
// CVE-2019-14271). Below the path a copy names, each entry is opened
// relative to its directory's descriptor with O_NOFOLLOW: links are
// copied as links, and a swap of a directory for a link mid-copy finds
// the link, not its target. FIFOs, sockets and devices are skipped, so a
// FIFO cannot hang the copy.

// Root is a running sandbox's root directory.
type Root struct {
	fd int
}

// OpenRoot opens the root of the sandbox whose PROG is pid, checking
// that the process is still there once it is open, so that a pid reused
// since is not taken for the sandbox's.
func OpenRoot(pid int) (*Root, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("its PROG (pid %d) is gone: %w", pid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening its root: %w", err)
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("its PROG (pid %d) ended while its root was opened", pid)
	}
	return &Root{fd: fd}, nil
}

// Close closes the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// open resolves p inside the root.
func (r *Root) open(p string, flags int, mode uint32) (int, error) {
	return unix.Openat2(r.fd, p, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// CopyOut copies the sandbox's src to the host's dst: into dst when it is
// a directory, else as dst. It reports what it skipped.
func (r *Root) CopyOut(src, dst string) (skipped []string, err error) {
	fd, err := r.open(src, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	defer unix.Close(fd)
	name := path.Base(path.Clean("/" + src))
	if name == "/" {
		name = "root"
	}
	parent, base, err := hostTarget(dst, name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(parent)
	c := &copier{}
	err = c.copyEntry(fd, path.Clean("/"+src), parent, base)
	return c.skipped, err
}

// CopyIn copies the host's src into the sandbox's dst: into dst when it
// is a directory, else as dst. Host links inside src are copied as links.
func (r *Root) CopyIn(src, dst string) (skipped []string, err error) {
	fd, err := unix.Open(src, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	name := path.Base(path.Clean(src))
	var parent int
	var base string
	if dfd, err := r.open(dst, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		parent, base = dfd, name
	} else {
		dir, b := path.Split(path.Clean("/" + dst))
		if b == "" {
			return nil, fmt.Errorf("%s: not a directory of the sandbox", dst)
		}
		if parent, err = r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		base = b
	}
	defer unix.Close(parent)
	c := &copier{}
	err = c.copyEntry(fd, path.Clean(src), parent, base)
	return c.skipped, err
}

// hostTarget is the directory and name dst names on the host: dst itself
// as the directory when it is one, else its parent.
func hostTarget(dst, name string) (int, string, error) {
	if fd, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		return fd, name, nil
	}
	dir, base := path.Split(path.Clean(dst))
	if dir == "" {
		dir = "."
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("%s: %w", dir, err)
	}
	return fd, base, nil
}

type copier struct {
	skipped []string
}

// copyEntry copies the entry src (an O_PATH descriptor; name is its path,
// for messages) to base in the directory dstDir.
func (c *copier) copyEntry(src int, name string, dstDir int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return c.copyDir(src, name, dstDir, base, st.Mode&0o7777)
	case unix.S_IFREG:
		return c.copyFile(src, dstDir, base, st.Mode&0o777)
	case unix.S_IFLNK:
		target := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, "", target)
		if err != nil {
			return err
		}
		replaceFile(dstDir, base)
		return unix.Symlinkat(string(target[:n]), dstDir, base)
	}
	c.skipped = append(c.skipped, name)
	return nil
}

func (c *copier) copyFile(src, dstDir int, base string, mode uint32) error {
	// Reopened for reading through its own descriptor, which names this
	// very file: no path is resolved again.
	in, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", src), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	inf := os.NewFile(uintptr(in), base)
	defer inf.Close()
	out, err := unix.Openat(dstDir, base, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EISDIR) {
		// A link or a directory there: replaced, never written through.
		replaceFile(dstDir, base)
		out, err = unix.Openat(dstDir, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	outf := os.NewFile(uintptr(out), base)
	defer outf.Close()
	if _, err := io.Copy(outf, inf); err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	return outf.Chmod(os.FileMode(mode))
}

func (c *copier) copyDir(src int, name string, dstDir int, base string, mode uint32) error {
	if err := unix.Mkdirat(dstDir, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", base, err)
	}
	out, err := unix.Openat(dstDir, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: not a directory to copy into (a link?): %w", base, err)
	}
	defer unix.Close(out)
	in, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", src), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(in), base)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		fd, err := unix.Openat(in, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", path.Join(name, n), err)
		}
		err = c.copyEntry(fd, path.Join(name, n), out, n)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return unix.Fchmod(out, mode)
}

// replaceFile removes what is not a directory at base of dir.
func replaceFile(dir int, base string) {
	unix.Unlinkat(dir, base, 0)
}
