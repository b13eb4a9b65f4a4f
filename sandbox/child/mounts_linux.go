package child

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"jail/rootfs"
	"jail/sandbox"
)

// stagingDir is where the root's tmpfs is attached before pivot_root. It
// hides the host's /tmp in this mount namespace, so host paths under /tmp
// are opened before it is mounted (openSources).
const stagingDir = "/tmp"

// builder executes the mount plan. rootFD is an O_PATH descriptor of the
// new root; every target is resolved beneath it with RESOLVE_IN_ROOT, so a
// symlink in a user-supplied rootfs can never send a mount outside
// (runc CVE-2025-31133 and friends).
type builder struct {
	plan *sandbox.Plan
	// sources holds, by op index, a detached clone of each bind source
	// and an O_PATH descriptor of the overlay's lower directory.
	sources map[int]int
	rootDir string // staging path of the new root
	rootFD  int
	scratch int // counter for scratch directories
}

// buildRoot assembles the sandbox tree and pivots into it.
func buildRoot(plan *sandbox.Plan) error {
	// Nothing we mount may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return stageErr("making mounts private", err)
	}
	b := &builder{plan: plan, rootFD: -1, sources: map[int]int{}}
	defer b.closeSources()
	for i, op := range plan.Mounts {
		if err := b.openSource(i, op); err != nil {
			return mountErr(op, err)
		}
	}
	if err := becomeSandboxUser(&plan.Exec); err != nil {
		return stageErr("switching to the sandbox user", err)
	}
	for i, op := range plan.Mounts {
		if err := b.apply(i, op); err != nil {
			return mountErr(op, err)
		}
	}
	if err := b.pivot(); err != nil {
		return stageErr("pivot_root", err)
	}
	return nil
}

// becomeSandboxUser gives the init PROG's ids once the caller's paths are
// open. For an ordinary caller it already has them. When jail runs as root
// the init held root's host id until now, to open what root can open; from
// here on it is the unprivileged id PROG's maps to, without root's groups,
// and files it creates are owned by PROG's user. The syscall package (not
// x/sys/unix) changes every thread's ids.
func becomeSandboxUser(e *sandbox.ExecPlan) error {
	if e.DropGroups {
		if err := syscall.Setgroups(nil); err != nil {
			return err
		}
	}
	if err := syscall.Setresgid(int(e.GID), int(e.GID), int(e.GID)); err != nil {
		return err
	}
	return syscall.Setresuid(int(e.UID), int(e.UID), int(e.UID))
}

func mountErr(op rootfs.Op, err error) *sandbox.ChildError {
	ce := &sandbox.ChildError{Stage: "mounts", Op: op.String()}
	var errno unix.Errno
	if errors.As(err, &errno) {
		ce.Errno = errno
	}
	ce.Detail = err.Error()
	return ce
}

// openSource opens op's host path while the host's tree is still this
// namespace's tree. A bind source becomes a detached clone with its final
// attributes already set: read-only unless asked otherwise, never setuid,
// and device-capable only for /dev. Flags the kernel locked on the host's
// mounts stay set because attributes are only added.
func (b *builder) openSource(i int, op rootfs.Op) error {
	switch {
	case op.Kind == rootfs.Root && op.Source != "":
		fd, err := unix.Open(op.Source, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", op.Source, err)
		}
		b.sources[i] = fd
	case op.Kind == rootfs.Bind:
		attrs := uint64(unix.MOUNT_ATTR_NOSUID)
		if !op.Writable {
			attrs |= unix.MOUNT_ATTR_RDONLY
		}
		if !strings.HasPrefix(op.Target, "/dev/") {
			attrs |= unix.MOUNT_ATTR_NODEV
		}
		tree, err := cloneTree(unix.AT_FDCWD, op.Source, attrs)
		if err != nil {
			return fmt.Errorf("%s: %w", op.Source, err)
		}
		b.sources[i] = tree
	}
	return nil
}

func (b *builder) closeSources() {
	for _, fd := range b.sources {
		unix.Close(fd)
	}
}

func (b *builder) apply(i int, op rootfs.Op) error {
	if op.Kind == rootfs.Root {
		return b.root(i, op)
	}
	if b.rootFD < 0 {
		return errors.New("the root must be the first operation")
	}
	switch op.Kind {
	case rootfs.Bind:
		return b.bind(i, op)
	case rootfs.Scratch:
		return b.scratchDir(op)
	case rootfs.Tmpfs:
		return b.mountNew(op.Target, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC,
			fmt.Sprintf("mode=%o,size=%d", op.Mode, op.Size))
	case rootfs.Proc:
		return b.mountNew(op.Target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	case rootfs.Sysfs:
		return b.mountNew(op.Target, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	case rootfs.Devpts:
		return b.mountNew(op.Target, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
	case rootfs.Mkdir:
		fd, err := b.resolve(op.Target, true)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case rootfs.Symlink:
		return b.symlink(op)
	case rootfs.File:
		return b.writeFile(op)
	case rootfs.MaskFile:
		return b.mask(op.Target, func(target int) error {
			return b.attachClone(unix.AT_FDCWD, "/dev/null", target, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
		})
	case rootfs.MaskDir:
		return b.mask(op.Target, func(target int) error {
			return b.attachClone(unix.AT_FDCWD, path.Join(stagingDir, emptyDir), target, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		})
	case rootfs.ReadOnly:
		return b.mask(op.Target, func(target int) error {
			return b.attachClone(target, "", target, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		})
	}
	return fmt.Errorf("unknown operation %q", op.Kind)
}

// emptyDir, in the --disk tmpfs, is what every masked directory shows,
// bound read-only: a bind costs less to make and to tear down than the
// new tmpfs per directory runc mounts (five per run by default).
const emptyDir = "empty"

// root mounts the tmpfs that backs every writable place, and the root on
// it: an overlay whose read-only lower layer is the user's rootfs, or a
// plain directory of the tmpfs for the host-/usr default.
func (b *builder) root(i int, op rootfs.Op) error {
	inodes := max(op.Size/4096, 1024)
	if err := unix.Mount("tmpfs", stagingDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("size=%d,nr_inodes=%d,mode=0755", op.Size, inodes)); err != nil {
		return fmt.Errorf("mounting the --disk tmpfs: %w", err)
	}
	b.rootDir = path.Join(stagingDir, "root")
	for _, d := range []string{"root", "scratch", "upper", "work"} {
		if err := unix.Mkdir(path.Join(stagingDir, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mkdir(path.Join(stagingDir, emptyDir), 0o555); err != nil {
		return err
	}
	if op.Source != "" {
		fd := b.sources[i]
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", fdPath(fd), stagingDir, stagingDir)
		if err := unix.Mount("overlay", b.rootDir, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mounting overlay: %w", err)
		}
	} else if err := unix.Mount(b.rootDir, b.rootDir, "", unix.MS_BIND, ""); err != nil {
		// pivot_root needs the new root to be a mount point.
		return err
	}
	fd, err := unix.Open(b.rootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	b.rootFD = fd
	return nil
}

// bind attaches the clone openSource prepared.
func (b *builder) bind(i int, op rootfs.Op) error {
	tree := b.sources[i]
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return err
	}
	target, err := b.resolve(op.Target, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	return moveTree(tree, target)
}

// attachClone clones the mount tree at (dirfd, p) with attrs added and
// moves it onto target.
func (b *builder) attachClone(dirfd int, p string, target int, attrs uint64) error {
	tree, err := cloneTree(dirfd, p, attrs)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return moveTree(tree, target)
}

// cloneTree makes a detached copy of the mount tree at (dirfd, p), with
// attrs set on every mount of it before it becomes visible anywhere.
func cloneTree(dirfd int, p string, attrs uint64) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_RECURSIVE
	if p == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	tree, err := unix.OpenTree(dirfd, p, uint(flags))
	if err != nil {
		return -1, fmt.Errorf("open_tree: %w", err)
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE,
		&unix.MountAttr{Attr_set: attrs}); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("mount_setattr: %w", err)
	}
	return tree, nil
}

func moveTree(tree, target int) error {
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// scratchDir gives target a fresh directory of the --disk tmpfs.
func (b *builder) scratchDir(op rootfs.Op) error {
	b.scratch++
	dir := path.Join(stagingDir, "scratch", fmt.Sprint(b.scratch))
	if err := unix.Mkdir(dir, 0o700); err != nil {
		return err
	}
	// mkdir honours the umask; the mode must be exact (1777 for /tmp).
	if err := unix.Chmod(dir, op.Mode); err != nil {
		return err
	}
	target, err := b.resolve(op.Target, true)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	attrs := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if op.Target == "/dev/shm" {
		attrs |= unix.MOUNT_ATTR_NOEXEC
	}
	return b.attachClone(unix.AT_FDCWD, dir, target, attrs)
}

func (b *builder) mountNew(target, fstype string, flags uintptr, data string) error {
	fd, err := b.resolve(target, true)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(fstype, fdPath(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s: %w", fstype, err)
	}
	return nil
}

// mask runs fn on target if it exists; absent paths need no hiding.
func (b *builder) mask(target string, fn func(int) error) error {
	fd, err := b.open(target)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

func (b *builder) symlink(op rootfs.Op) error {
	parent, err := b.resolve(path.Dir(op.Target), true)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	return unix.Symlinkat(op.Data, parent, path.Base(op.Target))
}

func (b *builder) writeFile(op rootfs.Op) error {
	parent, err := b.resolve(path.Dir(op.Target), true)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	fd, err := unix.Openat(parent, path.Base(op.Target),
		unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, op.Mode)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), op.Target)
	defer f.Close()
	if _, err := f.WriteString(op.Data); err != nil {
		return err
	}
	return f.Chmod(os.FileMode(op.Mode))
}

// open resolves an existing path inside the new root.
func (b *builder) open(p string) (int, error) {
	return unix.Openat2(b.rootFD, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// resolve opens p inside the new root, creating its missing parents as
// directories and a missing last component as a directory or, for bind
// mounts of files, as an empty file.
func (b *builder) resolve(p string, dir bool) (int, error) {
	fd, err := b.open(p)
	if !errors.Is(err, unix.ENOENT) || p == "/" {
		return fd, err
	}
	parent, err := b.resolve(path.Dir(p), true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	name := path.Base(p)
	if dir {
		err = unix.Mkdirat(parent, name, 0o755)
	} else {
		var f int
		f, err = unix.Openat(parent, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("creating %s: %w", p, err)
	}
	return b.open(p)
}

// pivot makes the new root the process's root and detaches the host's.
// pivot_root(".", ".") stacks the old root on the new one, and the lazy
// unmount then drops it, with no directory for the old root needed.
func (b *builder) pivot() error {
	if err := unix.Fchdir(b.rootFD); err != nil {
		return err
	}
	unix.Close(b.rootFD)
	if err := unix.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// fdPath names an open descriptor as a path the mount(2) family follows.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }
