package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"jail/idmap"
)

// COPY --from reads another image's files as its layers stack: through
// whiteouts and opaque directories, a later layer's file over an
// earlier's. Rather than a second implementation of overlayfs's rules,
// the helper mounts the layers as overlayfs itself, read-only, in a mount
// namespace of its own (idmap.Run gives it one), and writes what the
// COPY names as a tar stream, every path resolved inside the mount.

const opCopyFrom = "image-copy-from"

func init() { idmap.Register(opCopyFrom, helpCopyFrom) }

// copyFrom is what the helper is asked.
type copyFrom struct {
	// Layers are the image's layer directories, lowest first.
	Layers []string `json:"layers"`
	// Dir is an empty directory to mount them in.
	Dir string `json:"dir"`
	// Sources are paths, or patterns, of the stacked tree.
	Sources []string `json:"sources"`
	// Dest is where they go in the layer, relative to its root; IntoDir
	// puts a file source into it rather than at it.
	Dest    string `json:"dest"`
	IntoDir bool   `json:"into_dir"`
}

// AddFromLayers adds sources of the image whose layer directories are
// dirs (lowest first) at dest, as COPY --from does: a directory's
// contents into dest, a file at dest, or into it with intoDir. The files
// keep their owners in that image unless keepOwners is false, when they
// get the layer's.
func (lw *LayerWriter) AddFromLayers(dirs, sources []string, dest string, intoDir, keepOwners bool) error {
	if len(dirs) == 0 {
		return errors.New("the image it names has no layers: nothing to copy")
	}
	tmp, err := lw.s.tempDir("copy-from-")
	if err != nil {
		return err
	}
	defer lw.s.removeAll(tmp)
	ids := lw.s.IDs
	if ids == nil {
		ids = idmap.Own()
	}
	arg, err := json.Marshal(copyFrom{Layers: dirs, Dir: tmp, Sources: sources, Dest: dest, IntoDir: intoDir})
	if err != nil {
		return err
	}
	return lw.addFromHelper(ids, opCopyFrom, []string{string(arg)}, keepOwners)
}

func helpCopyFrom(args []string, _ io.Reader, stdout io.Writer) (any, error) {
	var req copyFrom
	if len(args) != 1 {
		return nil, errors.New("usage: REQUEST")
	}
	if err := json.Unmarshal([]byte(args[0]), &req); err != nil {
		return nil, err
	}
	mnt := filepath.Join(req.Dir, "root")
	if err := stackLayers(mnt, filepath.Join(req.Dir, "empty"), req.Layers); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(mnt)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tw := newTreeWriter(stdout, 0, 0, true)
	for _, src := range req.Sources {
		names, err := matching(root, src)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			fi, err := root.Lstat(name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			}
			target := strings.TrimPrefix(req.Dest, "/")
			if !fi.IsDir() && req.IntoDir {
				target = path.Join(target, path.Base(name))
			}
			if err := tw.addTree(root, name, target, nil); err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			}
		}
	}
	return nil, tw.tw.Close()
}

// matching are the paths of root that src names, a pattern's matches
// expanded; none is an error.
func matching(root *os.Root, src string) ([]string, error) {
	clean := path.Clean("/" + src)[1:]
	if clean == "" {
		clean = "."
	}
	if !strings.ContainsAny(clean, "*?[") {
		if _, err := root.Lstat(clean); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not in the image it copies from", src)
		} else if err != nil {
			// A link on the way that leads out of the root, say.
			return nil, fmt.Errorf("%s: %w (links are followed only inside the image it copies from)", src, err)
		}
		return []string{clean}, nil
	}
	names, err := fs.Glob(root.FS(), clean)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: nothing in the image it copies from matches", src)
	}
	return names, nil
}

// stackLayers mounts dirs (lowest first) read-only at mnt, as a sandbox's
// init stacks an image: through mount(2) when the layers fit its one page
// of options, one fsconfig("lowerdir+") at a time (Linux 6.8) past that.
// A read-only overlay wants two layers; one gets empty under it.
func stackLayers(mnt, empty string, dirs []string) error {
	for _, d := range []string{mnt, empty} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if len(dirs) == 1 {
		dirs = []string{empty, dirs[0]}
	}
	// Each layer as one of our descriptors, so that the options name
	// short paths, and no comma or colon of the store's path can break
	// them.
	var fds []string
	for _, d := range slices.Backward(dirs) {
		fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		fds = append(fds, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	data := "lowerdir=" + strings.Join(fds, ":") + ",userxattr"
	if len(data) < os.Getpagesize() {
		if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return fmt.Errorf("stacking the image's %d layers: %w", len(dirs), err)
		}
		return nil
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("stacking the image's %d layers: fsopen: %w", len(dirs), err)
	}
	defer unix.Close(fsfd)
	for _, fd := range fds {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", fd); err != nil {
			return fmt.Errorf("stacking the image's %d layers: fsconfig lowerdir+ (Linux 6.8 stacks more than a page of options): %w", len(dirs), err)
		}
	}
	if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
		return err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("stacking the image's %d layers: %w", len(dirs), err)
	}
	m, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("stacking the image's %d layers: %w", len(dirs), err)
	}
	defer unix.Close(m)
	return unix.MoveMount(m, "", unix.AT_FDCWD, mnt, unix.MOVE_MOUNT_F_EMPTY_PATH)
}
