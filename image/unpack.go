package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Report is what unpacking a layer changed or left out, kept beside it.
type Report struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	// Devices are the device nodes left out: a sandbox mounts its root
	// nodev, and an ordinary user cannot make them.
	Devices []string `json:"devices,omitempty"`
	// SetID are the files whose setuid or setgid bit was dropped: a
	// sandbox mounts its root nosuid.
	SetID []string `json:"setid,omitempty"`
	// Whiteouts and Opaque count the layer's deletions, as overlayfs
	// spells them: a 0/0 character device, and the user.overlay.opaque
	// xattr that an unprivileged overlay (userxattr) reads.
	Whiteouts int `json:"whiteouts,omitempty"`
	Opaque    int `json:"opaque,omitempty"`
	// Squashed counts the entries another user than root owns, which a
	// store without subordinate ids gives to the caller (root inside).
	Squashed int `json:"squashed,omitempty"`
}

// noted keeps at most this many names per list in a Report.
const noted = 20

func note(list []string, name string) []string {
	if len(list) < noted {
		return append(list, name)
	}
	return list
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	opaqueXattr    = "user.overlay.opaque"
)

// notDirError is an entry's parent that is no directory of the layer.
type notDirError struct{ parent string }

func (e notDirError) Error() string {
	return fmt.Sprintf("its parent %q is not a directory of the layer (a symbolic link?); nothing is written through a link", e.parent)
}

// errBudget is returned once a layer unpacks past its budget.
var errBudget = errors.New("unpacks to more than the store allows for one image")

// unpacker writes one layer's tar into dir, which it made, opening every
// path component relative to dir with O_NOFOLLOW: an entry never reaches
// through a symbolic link, its own layer's or any other, and nothing is
// made outside dir.
type unpacker struct {
	root   *os.File
	budget *int64
	// owners, when set, has every entry keep its owner; otherwise the
	// caller owns them all.
	owners *owners
	report Report
	// dirs are the directories made, with the mode and time to give them
	// once every entry is in: a read-only directory would refuse its own
	// entries.
	dirs     []madeDir
	dirIndex map[string]int
	// cache is the last parent opened.
	cacheName string
	cacheFd   int
}

type madeDir struct {
	name     string
	mode     uint32
	mtime    time.Time
	uid, gid int
}

// owners are how many ids a store's namespace maps, from 0: an entry
// owned beyond them has no owner there.
type owners struct {
	UIDs uint64 `json:"uids"`
	GIDs uint64 `json:"gids"`
}

// unpackLayer unpacks the tar stream r into dir, which must be empty.
// An entry it refuses is named in the error. With o, it runs as the root
// of a namespace that maps o's ids, and every entry keeps its owner.
func unpackLayer(r io.Reader, dir string, budget *int64, o *owners) (*Report, error) {
	root, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	u := &unpacker{root: root, budget: budget, owners: o, cacheFd: -1, dirIndex: map[string]int{}}
	defer u.dropCache()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the layer's tar: %w", err)
		}
		u.report.Entries++
		if err := u.entry(h, tr); err != nil {
			return nil, fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
	// Deepest first, so that a directory made read-only has its
	// children already.
	for _, d := range slices.Backward(u.dirs) {
		if err := u.finishDir(d); err != nil {
			return nil, fmt.Errorf("entry %q: %w", d.name, err)
		}
	}
	return &u.report, nil
}

// cleanName is an entry's path relative to the layer's root, refused when
// it is absolute or climbs out with "..".
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("an absolute path; a layer's paths are relative to its root")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("climbs out of the layer with \"..\"")
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("a NUL byte in the name")
	}
	n := path.Clean(name)
	if n == "." {
		return "", nil
	}
	return n, nil
}

func (u *unpacker) spend(n int64) error {
	*u.budget -= n
	if *u.budget < 0 {
		return errBudget
	}
	return nil
}

func (u *unpacker) entry(h *tar.Header, r io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	// Headers cost too, so a tar of a million empty files meets the cap.
	if err := u.spend(512); err != nil {
		return err
	}
	if err := u.owned(h); err != nil {
		return err
	}
	if name == "" {
		// The layer's root itself: its owner, mode and time.
		if h.Typeflag == tar.TypeDir {
			u.madeDir(madeDir{name: ".", mode: dirMode(h), mtime: h.ModTime, uid: h.Uid, gid: h.Gid})
		}
		return nil
	}
	dir, base := path.Split(name)
	parent, err := u.parent(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	if base == opaqueMarker {
		fd, err := unix.Openat(parent, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		u.report.Opaque++
		return unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
	}
	if hidden, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if hidden == "" || hidden == "." || hidden == ".." {
			return fmt.Errorf("a whiteout that names no entry of its directory")
		}
		if err := u.replace(parent, hidden, path.Join(dir, hidden)); err != nil {
			return err
		}
		u.report.Whiteouts++
		if err := unix.Mknodat(parent, hidden, unix.S_IFCHR, 0); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("making its whiteout: %w (Linux 5.8 lets an ordinary user make overlayfs whiteouts)", err)
			}
			return fmt.Errorf("making its whiteout: %w", err)
		}
		return nil
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return u.mkdir(parent, base, name, h)
	case tar.TypeReg:
		return u.regular(parent, base, name, h, r)
	case tar.TypeSymlink:
		if err := u.replace(parent, base, name); err != nil {
			return err
		}
		if err := unix.Symlinkat(h.Linkname, parent, base); err != nil {
			return err
		}
		if err := u.chownAt(parent, base, h); err != nil {
			return err
		}
		return setTimes(parent, base, h.ModTime)
	case tar.TypeLink:
		return u.hardlink(parent, base, name, h)
	case tar.TypeFifo:
		if err := u.replace(parent, base, name); err != nil {
			return err
		}
		if err := unix.Mkfifoat(parent, base, uint32(h.Mode)&0o777); err != nil {
			return err
		}
		if err := u.chownAt(parent, base, h); err != nil {
			return err
		}
		return setTimes(parent, base, h.ModTime)
	case tar.TypeChar, tar.TypeBlock:
		u.report.Devices = note(u.report.Devices, name)
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("tar entry type %q is not a file, directory, link, FIFO or device", h.Typeflag)
	}
}

// owned checks that the entry's owner is one the store keeps, and counts
// it as squashed where the store keeps none.
func (u *unpacker) owned(h *tar.Header) error {
	if h.Uid < 0 || h.Gid < 0 {
		return fmt.Errorf("a negative owner %d:%d", h.Uid, h.Gid)
	}
	switch {
	case u.owners == nil:
		if h.Uid != 0 || h.Gid != 0 {
			u.report.Squashed++
		}
	case uint64(h.Uid) >= u.owners.UIDs || uint64(h.Gid) >= u.owners.GIDs:
		return fmt.Errorf("owned by %d:%d, beyond the %d user and %d group ids this user's ranges in /etc/subuid and /etc/subgid give; ask for larger ranges",
			h.Uid, h.Gid, u.owners.UIDs, u.owners.GIDs)
	}
	return nil
}

// chownAt gives the entry base of parent its owner, when the store keeps
// owners; the link itself, if it is one.
func (u *unpacker) chownAt(parent int, base string, h *tar.Header) error {
	if u.owners == nil {
		return nil
	}
	return unix.Fchownat(parent, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

// parent opens the directory dir of the layer, making the directories a
// tar may leave implicit. The descriptor belongs to the cache.
func (u *unpacker) parent(dir string) (int, error) {
	if dir == "" {
		return int(u.root.Fd()), nil
	}
	if u.cacheFd >= 0 && u.cacheName == dir {
		return u.cacheFd, nil
	}
	u.dropCache()
	fd, err := unix.Dup(int(u.root.Fd()))
	if err != nil {
		return -1, err
	}
	done := ""
	for _, c := range strings.Split(dir, "/") {
		done = path.Join(done, c)
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil {
				u.madeDir(madeDir{name: done, mode: 0o755})
				next, err = unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, notDirError{done}
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	u.cacheName, u.cacheFd = dir, fd
	return fd, nil
}

func (u *unpacker) dropCache() {
	if u.cacheFd >= 0 {
		unix.Close(u.cacheFd)
	}
	u.cacheName, u.cacheFd = "", -1
}

// replace removes what an earlier entry of the same name (the layer's
// path name, base of parent) made, as tar does: a later entry wins. A
// directory is kept for a directory entry (mkdir), and otherwise removed
// with everything in it.
func (u *unpacker) replace(parent int, base, name string) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(parent, base, 0)
	}
	// The cache may be this directory or one below it, about to go; not
	// when it is parent, which the caller goes on using.
	if u.cacheName == name || strings.HasPrefix(u.cacheName, name+"/") {
		u.dropCache()
	}
	return removeDir(parent, base)
}

// removeDir removes the directory base of parent and all in it, through
// no link.
func removeDir(parent int, base string) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	names, err := f.Readdirnames(-1)
	if err == nil {
		unix.Fchmod(fd, 0o700)
		for _, n := range names {
			var st unix.Stat_t
			if err = unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				break
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = removeDir(fd, n)
			} else {
				err = unix.Unlinkat(fd, n, 0)
			}
			if err != nil {
				break
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(parent, base, unix.AT_REMOVEDIR)
}

func dirMode(h *tar.Header) uint32 { return uint32(h.Mode) & 0o7777 &^ (unix.S_ISUID | unix.S_ISGID) }

func (u *unpacker) mkdir(parent int, base, name string, h *tar.Header) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := u.replace(parent, base, name); err != nil {
			return err
		}
		err = unix.ENOENT
	}
	if errors.Is(err, unix.ENOENT) {
		if err := unix.Mkdirat(parent, base, 0o755); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if h.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		u.report.SetID = note(u.report.SetID, name+"/")
	}
	u.madeDir(madeDir{name: name, mode: dirMode(h), mtime: h.ModTime, uid: h.Uid, gid: h.Gid})
	return nil
}

// madeDir records a directory's final mode and time; a later entry of
// the same directory, or one made implicitly first, has the last word.
func (u *unpacker) madeDir(d madeDir) {
	if i, ok := u.dirIndex[d.name]; ok {
		u.dirs[i] = d
		return
	}
	u.dirIndex[d.name] = len(u.dirs)
	u.dirs = append(u.dirs, d)
}

func (u *unpacker) regular(parent int, base, name string, h *tar.Header, r io.Reader) error {
	if err := u.replace(parent, base, name); err != nil {
		return err
	}
	if err := u.spend(h.Size); err != nil {
		return err
	}
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, h.Size))
	if err == nil && n != h.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	u.report.Bytes += n
	if u.owners != nil {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	mode := uint32(h.Mode) & 0o7777
	if mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		u.report.SetID = note(u.report.SetID, name)
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return err
	}
	return futimes(fd, h.ModTime)
}

func futimes(fd int, t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Futimes(fd, []unix.Timeval{tv, tv})
}

// hardlink links an entry to an earlier one of the same layer, which is
// found as every entry is: inside the layer, through no link.
func (u *unpacker) hardlink(parent int, base, name string, h *tar.Header) error {
	target, err := cleanName(h.Linkname)
	if err != nil || target == "" {
		return fmt.Errorf("a hard link to %q, outside the layer", h.Linkname)
	}
	// Hold the entry's parent while the target's is opened: both may
	// come from the one cache.
	own, err := unix.Dup(parent)
	if err != nil {
		return err
	}
	defer unix.Close(own)
	tdir, tbase := path.Split(target)
	tparent, err := u.parent(strings.TrimSuffix(tdir, "/"))
	if err != nil {
		return fmt.Errorf("a hard link to %q: %w", h.Linkname, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(tparent, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("a hard link to %q, which the layer does not hold before it", h.Linkname)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("a hard link to the directory %q", h.Linkname)
	}
	if err := u.replace(own, base, name); err != nil {
		return err
	}
	// replace may have closed the cache, and tparent with it.
	if tparent, err = u.parent(strings.TrimSuffix(tdir, "/")); err != nil {
		return err
	}
	return unix.Linkat(tparent, tbase, own, base, 0)
}

func setTimes(dirfd int, base string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return nil // a FIFO the kernel refuses to touch keeps its time
	}
	return err
}

func (u *unpacker) finishDir(d madeDir) error {
	fd := int(u.root.Fd())
	own := -1
	if d.name != "." {
		dir, base := path.Split(d.name)
		parent, err := u.parent(strings.TrimSuffix(dir, "/"))
		if errors.As(err, new(notDirError)) {
			return nil // a later entry replaced a directory above it
		}
		if err != nil {
			return err
		}
		if own, err = unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				return nil // replaced by a later entry
			}
			return err
		}
		defer unix.Close(own)
		fd = own
	}
	mode := d.mode
	if u.owners != nil {
		if err := unix.Fchown(fd, d.uid, d.gid); err != nil {
			return err
		}
	} else {
		// The caller keeps the right to read and enter it, so that the
		// store can be walked and removed; inside, it is the image's
		// root's. A store that keeps owners removes as their root.
		mode |= 0o700
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return err
	}
	if !d.mtime.IsZero() {
		return futimes(fd, d.mtime)
	}
	return nil
}
