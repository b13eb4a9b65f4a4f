package image

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// Scratch is a directory in the store's tmp that the sweep of jail image
// rm and prune leaves alone until Release: a build's writable layer.
type Scratch struct {
	Dir string
	s   *Store
	f   *os.File
}

// Release removes the directory.
func (sc *Scratch) Release() {
	sc.s.removeAll(sc.Dir)
	sc.f.Close()
}

// NewScratch makes a Scratch directory.
func (s *Store) NewScratch(prefix string) (*Scratch, error) {
	d, err := s.tempDir(prefix)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		s.removeAll(d)
		return nil, err
	}
	return &Scratch{Dir: d, s: s, f: f}, nil
}

// busy reports whether a Scratch holds the tmp entry at p.
func busy(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// LayerWriter writes a new layer's tar, compressed as it goes, with its
// DiffID counted on the way.
type LayerWriter struct {
	s    *Store
	file *os.File
	gz   *gzip.Writer
	diff hash.Hash
	treeWriter
}

// treeWriter writes trees of files as tar entries.
type treeWriter struct {
	tw *tar.Writer
	// uid and gid are the owner the entries get, what the image's user
	// sees; with keepOwners, each keeps its file's instead.
	uid, gid   int
	keepOwners bool
	// mode, unless negative, is every entry's permissions but a link's
	// (COPY --chmod).
	mode    int64
	links   map[[2]uint64]string
	entries int
}

func newTreeWriter(w io.Writer, uid, gid int, keepOwners bool) treeWriter {
	return treeWriter{tw: tar.NewWriter(w), uid: uid, gid: gid, keepOwners: keepOwners, mode: -1, links: map[[2]uint64]string{}}
}

// SetMode gives every entry written from now on but links the
// permissions mode, as COPY --chmod does.
func (lw *LayerWriter) SetMode(mode fs.FileMode) { lw.mode = int64(mode.Perm()) }

// permissions are h's, or the writer's mode.
func (t *treeWriter) permissions(h *tar.Header) {
	if t.mode >= 0 && h.Typeflag != tar.TypeSymlink {
		h.Mode = h.Mode&^0o7777 | t.mode
	}
}

// Entries counts the entries written so far.
func (lw *LayerWriter) Entries() int { return lw.entries }

// NewLayer starts a layer whose files belong to uid:gid in the image.
func (s *Store) NewLayer(uid, gid int) (*LayerWriter, error) {
	f, err := os.CreateTemp(filepath.Join(s.Root, "tmp"), "layer-*.tar.gz")
	if err != nil {
		return nil, err
	}
	// Held, so that a sweep leaves it while it is written.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	lw := &LayerWriter{s: s, file: f, diff: sha256.New()}
	lw.gz = gzip.NewWriter(f)
	lw.treeWriter = newTreeWriter(io.MultiWriter(lw.gz, lw.diff), uid, gid, false)
	return lw, nil
}

// WriteHeader writes an entry by hand; its content follows through
// Write.
func (lw *LayerWriter) WriteHeader(h *tar.Header) error {
	lw.entries++
	lw.permissions(h)
	return lw.tw.WriteHeader(h)
}

func (lw *LayerWriter) Write(b []byte) (int, error) { return lw.tw.Write(b) }

// Abort drops the layer.
func (lw *LayerWriter) Abort() {
	lw.file.Close()
	os.Remove(lw.file.Name())
}

// AddTree adds the tree at dir inside root, named below prefix in the
// layer. Every path is resolved inside root, and no link is followed: the
// tree may be what a sandbox wrote. An overlay's upper layer's whiteouts
// (0/0 character devices) and opaque directories (the user.overlay.opaque
// xattr) become the tar's .wh. entries. skip, if set, leaves paths out
// (a build's .dockerignore), with all below them.
func (lw *LayerWriter) AddTree(root *os.Root, dir, prefix string, skip func(p string) bool) error {
	return lw.addTree(root, dir, prefix, skip)
}

func (t *treeWriter) addTree(root *os.Root, dir, prefix string, skip func(p string) bool) error {
	return fs.WalkDir(root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip != nil && p != dir && skip(p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel := ""
		switch {
		case dir == ".":
			rel = p
		case p != dir:
			rel = strings.TrimPrefix(p, dir+"/")
		}
		name := strings.TrimPrefix(path.Join(prefix, rel), "/")
		if name == "" || name == "." {
			return nil // the layer's root has no entry
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		return t.add(root, p, name, fi)
	})
}

// AddParents adds the directories above name, as a COPY's destination
// needs them, owned by the layer's owner with mode 0755.
func (t *treeWriter) AddParents(name string, mtime time.Time) error {
	var dirs []string
	for d := path.Dir(strings.Trim(name, "/")); d != "." && d != "/"; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := t.tw.WriteHeader(&tar.Header{Name: dirs[i] + "/", Typeflag: tar.TypeDir, Mode: 0o755,
			ModTime: mtime, Uid: t.uid, Gid: t.gid}); err != nil {
			return err
		}
	}
	return nil
}

func (t *treeWriter) add(root *os.Root, p, name string, fi fs.FileInfo) error {
	t.entries++
	st, _ := fi.Sys().(*syscall.Stat_t)
	uid, gid := t.uid, t.gid
	if t.keepOwners && st != nil {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	mode := fi.Mode()
	base, parent := path.Base(name), path.Dir(name)
	if mode&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
		return t.tw.WriteHeader(&tar.Header{Name: path.Join(parent, whiteoutPrefix+base),
			Typeflag: tar.TypeReg, Mode: 0o644, ModTime: fi.ModTime(), Uid: uid, Gid: gid})
	}
	h := &tar.Header{Name: name, Mode: int64(mode.Perm()), ModTime: fi.ModTime(), Uid: uid, Gid: gid}
	if mode&fs.ModeSticky != 0 {
		h.Mode |= unix.S_ISVTX
	}
	if t.mode >= 0 && mode&fs.ModeSymlink == 0 {
		h.Mode = t.mode
	}
	switch {
	case mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		if err := t.tw.WriteHeader(h); err != nil {
			return err
		}
		d, err := root.Open(p)
		if err != nil {
			return err
		}
		defer d.Close()
		v := make([]byte, 4)
		if n, err := unix.Fgetxattr(int(d.Fd()), opaqueXattr, v); err == nil && string(v[:n]) == "y" {
			return t.tw.WriteHeader(&tar.Header{Name: name + "/" + opaqueMarker, Typeflag: tar.TypeReg,
				Mode: 0o644, ModTime: fi.ModTime(), Uid: uid, Gid: gid})
		}
		return nil
	case mode&fs.ModeSymlink != 0:
		target, err := root.Readlink(p)
		if err != nil {
			return err
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
		return t.tw.WriteHeader(h)
	case mode&fs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
		return t.tw.WriteHeader(h)
	case mode.IsRegular():
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.links[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				return t.tw.WriteHeader(h)
			}
			t.links[key] = name
		}
		f, err := root.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := t.tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.Copy(t.tw, io.LimitReader(f, fi.Size()))
		return err
	}
	return nil // sockets and device nodes are no part of an image
}

// Commit ends the layer and stores it, unpacked as an imported layer is.
func (lw *LayerWriter) Commit() (Layer, error) {
	defer lw.Abort()
	err := lw.tw.Close()
	if err == nil {
		err = lw.gz.Close()
	}
	if err == nil {
		err = lw.file.Sync()
	}
	if err != nil {
		return Layer{}, err
	}
	diffID, err := v1.NewHash("sha256:" + hex.EncodeToString(lw.diff.Sum(nil)))
	if err != nil {
		return Layer{}, err
	}
	l, err := tarball.LayerFromFile(lw.file.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return Layer{}, err
	}
	unlock, err := lw.s.lock(true)
	if err != nil {
		return Layer{}, err
	}
	defer unlock()
	budget := lw.s.MaxUnpacked
	pl, err := lw.s.putLayer(l, diffID, &budget, nil)
	return pl.Layer, err
}

// Built is an image a build made: its base (nil: scratch), the layers
// it added, and its config.
type Built struct {
	Base   *Image
	Layers []Layer
	Config *v1.ConfigFile
}

// AddBuilt stores a built image under name, with OCI media types.
func (s *Store) AddBuilt(b Built, name string) (*Imported, error) {
	var img v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if b.Base != nil {
		base, err := s.v1Image(b.Base, true)
		if err != nil {
			return nil, err
		}
		img = base
	}
	for _, l := range b.Layers {
		h, err := hexOf(l.Digest)
		if err != nil {
			return nil, err
		}
		tl, err := tarball.LayerFromFile(s.blobPath(h), tarball.WithMediaType(types.MediaType(l.MediaType)))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, tl); err != nil {
			return nil, err
		}
	}
	cf := b.Config.DeepCopy()
	old, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf.RootFS = old.RootFS
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ims, err := s.add(found{img: img, names: []string{name}, digest: name})
	if err != nil {
		return nil, err
	}
	return &ims[0], nil
}

// ConfigFile is a stored image's whole config, for a build to start from.
func (s *Store) ConfigFile(img *Image) (*v1.ConfigFile, error) {
	h, err := hexOf(img.ID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("image %s: its config: %w", img.ID, err)
	}
	return cf, nil
}

// LayerDirs are the unpacked directories of layers, in order.
func (s *Store) LayerDirs(layers []Layer) ([]string, error) {
	var out []string
	for _, l := range layers {
		d, err := s.LayerRoot(l.DiffID)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
