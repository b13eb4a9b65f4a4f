// Package image keeps Docker and OCI images in a content-addressed store
// that an ordinary user owns, unpacked once per layer so that every image
// holding a layer shares its directory, and hands a run an image's layer
// directories to stack as the lower layers of its overlay root.
//
// The store, under $XDG_DATA_HOME/jail (or $JAIL_STORE):
//
//	lock                    held exclusively while the store changes
//	blobs/sha256/HEX        layers (as the image's manifest lists them),
//	                        configs and manifests, byte for byte, so that an
//	                        image can be written out again as it came
//	layers/HEX/fs           a layer unpacked, named by its DiffID (the
//	                        digest of its uncompressed tar)
//	layers/HEX/layer.json   what unpacking changed or left out
//	images/HEX.json         an image: its manifest, config and layers; HEX
//	                        is its config's digest, the image ID
//	refs.json               NAME:TAG → image ID
//	store.json              whether the files keep their owners (ids.go)
//
// Nothing is written outside the store: every path an image names is
// resolved inside its layer's directory without following a link (see
// unpack.go).
package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"jail/idmap"
)

// Store is an image store on disk.
type Store struct {
	Root string
	// MaxUnpacked caps the bytes an image's layers may unpack to, so a
	// decompression bomb fills no disk.
	MaxUnpacked int64
	// IDs are the id maps its files' owners are kept in (ids.go), which
	// a sandbox of its images maps too; nil gives the user every file,
	// and Squashed says why.
	IDs      *idmap.IDs
	Squashed string
}

// DefaultMaxUnpacked is the cap on one image's unpacked size.
const DefaultMaxUnpacked = 16 << 30

// MaxLayers is how many lower layers overlayfs stacks (OVL_MAX_STACK).
const MaxLayers = 500

// DefaultRoot is where the store lives: $JAIL_STORE, else
// $XDG_DATA_HOME/jail, else ~/.local/share/jail.
func DefaultRoot() (string, error) {
	if d := os.Getenv("JAIL_STORE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jail"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no image store: set JAIL_STORE or XDG_DATA_HOME, or HOME (%v)", err)
	}
	return filepath.Join(home, ".local", "share", "jail"), nil
}

// Open opens the store at root, making it if it is missing.
func Open(root string) (*Store, error) {
	if !filepath.IsAbs(root) {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, err
		}
		root = abs
	}
	for _, d := range []string{"", "blobs/sha256", "layers", "images", "tmp", "cache"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store %s: %w", root, err)
		}
	}
	s := &Store{Root: root, MaxUnpacked: DefaultMaxUnpacked}
	if err := s.loadIDs(); err != nil {
		return nil, err
	}
	return s, nil
}

// Layer is one layer of an image.
type Layer struct {
	// Digest is the blob's digest, as the manifest lists it.
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
}

// Image is an image in the store.
type Image struct {
	// ID is the digest of the image's config.
	ID string `json:"id"`
	// Manifest is the digest of the manifest blob; ManifestType its media
	// type.
	Manifest     string    `json:"manifest"`
	ManifestType string    `json:"manifest_media_type"`
	Layers       []Layer   `json:"layers"`
	Added        time.Time `json:"added"`
}

// hexOf is the hex part of a sha256 digest, which names the files.
func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not a sha256 digest", digest)
	}
	return h, nil
}

func (s *Store) blobPath(hex string) string  { return filepath.Join(s.Root, "blobs", "sha256", hex) }
func (s *Store) layerDir(hex string) string  { return filepath.Join(s.Root, "layers", hex) }
func (s *Store) imagePath(hex string) string { return filepath.Join(s.Root, "images", hex+".json") }
func (s *Store) refsPath() string            { return filepath.Join(s.Root, "refs.json") }

// LayerRoot is the directory a layer's files are unpacked in.
func (s *Store) LayerRoot(diffID string) (string, error) {
	h, err := hexOf(diffID)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.layerDir(h), "fs"), nil
}

// lock holds the store's lock until the returned function is called:
// shared to read, exclusive to change.
func (s *Store) lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.Root, err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("image store %s: lock: %w", s.Root, err)
	}
	return func() { f.Close() }, nil
}

// tempDir makes a directory in the store's tmp, on the store's file
// system so that what is made there can be renamed into place.
func (s *Store) tempDir(prefix string) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	d := filepath.Join(s.Root, "tmp", prefix+hex.EncodeToString(b[:]))
	return d, os.Mkdir(d, 0o700)
}

// writeFileAtomic replaces path with data, so a reader sees the old or
// the new file, never a part.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Store) readRefs() (map[string]string, error) {
	refs := map[string]string{}
	b, err := os.ReadFile(s.refsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, fmt.Errorf("image store %s: refs.json: %v; remove it and import the images again", s.Root, err)
	}
	return refs, nil
}

func (s *Store) writeRefs(refs map[string]string) error {
	b, err := json.MarshalIndent(refs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.refsPath(), b)
}

func (s *Store) readImage(id string) (*Image, error) {
	h, err := hexOf(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.imagePath(h))
	if err != nil {
		return nil, err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("image store %s: image %s: %v", s.Root, id, err)
	}
	return &img, nil
}

// NormalizeName spells a local image name as the store keeps it: with a
// tag, ":latest" when none is given.
func NormalizeName(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty image name")
	}
	if strings.ContainsAny(ref, " \t\n,\x00") || strings.Contains(ref, "@") {
		return "", fmt.Errorf("%q is not an image name: write NAME or NAME:TAG (letters, digits, '.', '_', '-', '/')", ref)
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") {
		ref += ":latest"
	}
	name, tag, _ := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if name == "" || tag == "" {
		return "", fmt.Errorf("%q is not an image name: write NAME or NAME:TAG", ref)
	}
	return ref, nil
}

// Entry is an image as `jail image ls` lists it.
type Entry struct {
	Names []string `json:"names"`
	Image
	// Size is the layers' blob size.
	Size int64 `json:"size"`
}

// Resolve finds an image by NAME[:TAG], by full ID or by a unique prefix
// of its ID.
func (s *Store) Resolve(ref string) (*Image, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.resolve(ref)
}

func (s *Store) resolve(ref string) (*Image, error) {
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	if n, err := NormalizeName(ref); err == nil {
		if id, ok := refs[n]; ok {
			return s.readImage(id)
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if len(prefix) >= 4 && strings.Trim(prefix, "0123456789abcdef") == "" {
		ents, err := os.ReadDir(filepath.Join(s.Root, "images"))
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range ents {
			if h, ok := strings.CutSuffix(e.Name(), ".json"); ok && strings.HasPrefix(h, prefix) {
				found = append(found, "sha256:"+h)
			}
		}
		switch len(found) {
		case 1:
			return s.readImage(found[0])
		case 0:
		default:
			return nil, fmt.Errorf("image %q: the prefix matches %d images; give more of the ID", ref, len(found))
		}
	}
	return nil, fmt.Errorf("image %q is not in the store %s: see jail image ls, or jail image import FILE", ref, s.Root)
}

// List returns every image with its names, newest first.
func (s *Store) List() ([]Entry, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	for n, id := range refs {
		names[id] = append(names[id], n)
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, "images"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		img, err := s.readImage("sha256:" + h)
		if err != nil {
			return nil, err
		}
		en := Entry{Image: *img, Names: names[img.ID]}
		slices.Sort(en.Names)
		for _, l := range img.Layers {
			en.Size += l.Size
		}
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b Entry) int { return b.Added.Compare(a.Added) })
	return out, nil
}

// Tag gives the image src the name dst.
func (s *Store) Tag(src, dst string) error {
	n, err := NormalizeName(dst)
	if err != nil {
		return err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	img, err := s.resolve(src)
	if err != nil {
		return err
	}
	refs, err := s.readRefs()
	if err != nil {
		return err
	}
	refs[n] = img.ID
	return s.writeRefs(refs)
}

// Remove removes the name ref, and the image when no name is left; by
// ID it removes the image and all its names, which takes force when it
// has more than one. Layers no other image holds go with it, unless a
// run holds the image: then it keeps them, and Prune removes them later.
func (s *Store) Remove(ref string, force bool) (removed []string, err error) {
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	img, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	var names []string
	for n, id := range refs {
		if id == img.ID {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	byName := false
	if n, err := NormalizeName(ref); err == nil && refs[n] == img.ID {
		byName = true
		names = []string{n}
	}
	if !byName && len(names) > 1 && !force {
		return nil, fmt.Errorf("image %s has %d names (%s): remove them one by one, or give -f to remove all", ref, len(names), strings.Join(names, ", "))
	}
	for _, n := range names {
		delete(refs, n)
		removed = append(removed, "untagged "+n)
	}
	if err := s.writeRefs(refs); err != nil {
		return nil, err
	}
	for _, id := range refs {
		if id == img.ID {
			return removed, nil // still named
		}
	}
	h, _ := hexOf(img.ID)
	if busy, err := s.inUse(h); err != nil {
		return removed, err
	} else if busy {
		if !force {
			return removed, fmt.Errorf("image %s is in use by a running sandbox: its layers stay until jail image prune after the run", ref)
		}
		return removed, nil
	}
	if err := os.Remove(s.imagePath(h)); err != nil {
		return removed, err
	}
	removed = append(removed, "deleted "+img.ID)
	gone, err := s.sweep()
	return append(removed, gone...), err
}

// Prune removes every image without a name that no run holds, then
// every layer and blob no image holds.
func (s *Store) Prune() ([]string, error) {
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	for _, id := range refs {
		named[id] = true
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, "images"))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || named["sha256:"+h] {
			continue
		}
		if busy, err := s.inUse(h); err != nil || busy {
			continue
		}
		if err := os.Remove(s.imagePath(h)); err != nil {
			return removed, err
		}
		removed = append(removed, "deleted sha256:"+h)
	}
	gone, err := s.sweep()
	return append(removed, gone...), err
}

// sweep removes the layers and blobs no image record holds, and what an
// interrupted import left in tmp. The caller holds the lock exclusively.
func (s *Store) sweep() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Root, "images"))
	if err != nil {
		return nil, err
	}
	keepLayers, keepBlobs := map[string]bool{}, map[string]bool{}
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		img, err := s.readImage("sha256:" + h)
		if err != nil {
			return nil, err
		}
		keepBlobs[h] = true
		if m, err := hexOf(img.Manifest); err == nil {
			keepBlobs[m] = true
		}
		for _, l := range img.Layers {
			if d, err := hexOf(l.DiffID); err == nil {
				keepLayers[d] = true
			}
			if b, err := hexOf(l.Digest); err == nil {
				keepBlobs[b] = true
			}
		}
	}
	cached, err := s.cachedLayers()
	if err != nil {
		return nil, err
	}
	for d := range cached {
		keepLayers[d] = true
	}
	for b := range cached {
		keepBlobs[cached[b]] = true
	}
	var removed []string
	layers, err := os.ReadDir(filepath.Join(s.Root, "layers"))
	if err != nil {
		return nil, err
	}
	for _, e := range layers {
		if keepLayers[e.Name()] {
			continue
		}
		if err := s.removeAll(s.layerDir(e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, "deleted layer sha256:"+e.Name())
	}
	blobs, err := os.ReadDir(filepath.Join(s.Root, "blobs", "sha256"))
	if err != nil {
		return nil, err
	}
	for _, e := range blobs {
		if !keepBlobs[e.Name()] {
			if err := os.Remove(s.blobPath(e.Name())); err != nil {
				return removed, err
			}
		}
	}
	tmps, err := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if err != nil {
		return nil, err
	}
	for _, e := range tmps {
		p := filepath.Join(s.Root, "tmp", e.Name())
		if busy(p) {
			continue // a build's, still being written
		}
		if err := s.removeAll(p); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// removeAll removes a tree unpacked from an image, whose directories may
// have been made unwritable by the image's own modes.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// inUse reports whether a run holds the image with config hex h.
func (s *Store) inUse(h string) (bool, error) {
	f, err := os.Open(s.imagePath(h))
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// Held is an image a run uses: its layers stay in the store until
// Release.
type Held struct {
	*Image
	// Name is how the run named it.
	Name string
	// Layers are the unpacked layer directories, lowest first, as the
	// manifest lists them.
	Layers []string
	Config *Config
	f      *os.File
}

// Release lets the image's layers be removed.
func (h *Held) Release() { h.f.Close() }

// Hold finds the image ref and keeps its layers in the store until
// Release, for a run to stack them.
func (s *Store) Hold(ref string) (*Held, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	img, err := s.resolve(ref)
	if err != nil {
		return nil, err
	}
	h, _ := hexOf(img.ID)
	f, err := os.Open(s.imagePath(h))
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	held := &Held{Image: img, Name: ref, f: f}
	for _, l := range img.Layers {
		dir, err := s.LayerRoot(l.DiffID)
		if err != nil {
			f.Close()
			return nil, err
		}
		held.Layers = append(held.Layers, dir)
	}
	if held.Config, err = s.config(img); err != nil {
		f.Close()
		return nil, err
	}
	return held, nil
}

// Usage is what the store holds, and what its images share.
type Usage struct {
	Images []ImageUsage `json:"images"`
	// Layers and Blobs are on disk: the unpacked files' bytes, and the
	// blobs' (layers as they came, configs, manifests).
	Layers       int   `json:"layers"`
	SharedLayers int   `json:"shared_layers"`
	LayerBytes   int64 `json:"layer_bytes"`
	BlobBytes    int64 `json:"blob_bytes"`
	// Saved is what the images would take more if each had its layers
	// to itself.
	Saved int64 `json:"saved"`
}

// ImageUsage is one image's part of the store.
type ImageUsage struct {
	ID    string   `json:"id"`
	Names []string `json:"names"`
	// Bytes is its layers' unpacked size; Unique what only it holds.
	Bytes  int64 `json:"bytes"`
	Unique int64 `json:"unique"`
	Layers int   `json:"layers"`
	Shared int   `json:"shared"`
}

// Usage measures the store.
func (s *Store) Usage() (*Usage, error) {
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	holders := map[string]int{}
	for _, e := range list {
		seen := map[string]bool{}
		for _, l := range e.Layers {
			if !seen[l.DiffID] {
				seen[l.DiffID] = true
				holders[l.DiffID]++
			}
		}
	}
	sizes := map[string]int64{}
	for d := range holders {
		h, err := hexOf(d)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(s.layerDir(h), "layer.json"))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d, err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("layer %s: layer.json: %w", d, err)
		}
		sizes[d] = r.Bytes
	}
	u := &Usage{Layers: len(holders)}
	for d, n := range holders {
		u.LayerBytes += sizes[d]
		if n > 1 {
			u.SharedLayers++
			u.Saved += int64(n-1) * sizes[d]
		}
	}
	for _, e := range list {
		iu := ImageUsage{ID: e.ID, Names: e.Names, Layers: len(e.Layers)}
		seen := map[string]bool{}
		for _, l := range e.Layers {
			if seen[l.DiffID] {
				continue
			}
			seen[l.DiffID] = true
			iu.Bytes += sizes[l.DiffID]
			if holders[l.DiffID] > 1 {
				iu.Shared++
			} else {
				iu.Unique += sizes[l.DiffID]
			}
		}
		u.Images = append(u.Images, iu)
	}
	blobs, err := os.ReadDir(filepath.Join(s.Root, "blobs", "sha256"))
	if err != nil {
		return nil, err
	}
	for _, b := range blobs {
		if fi, err := b.Info(); err == nil {
			u.BlobBytes += fi.Size()
		}
	}
	return u, nil
}
