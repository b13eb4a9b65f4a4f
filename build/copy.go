package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"jail/image"
)

// ignorer is the context's .dockerignore.
type ignorer struct {
	pm *patternmatcher.PatternMatcher
}

func readIgnore(root *os.Root) (*ignorer, error) {
	f, err := root.Open(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return &ignorer{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	defer f.Close()
	pats, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(pats)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return &ignorer{pm: pm}, nil
}

func (ig *ignorer) ignored(name string) bool {
	if ig.pm == nil || name == "." {
		return false
	}
	m, err := ig.pm.MatchesOrParentMatches(name)
	return err == nil && m
}

// source is one path of the context a COPY takes.
type source struct {
	name string // slash-separated, relative to the context
	fi   fs.FileInfo
}

// sources expands a COPY's source patterns in the context, without
// leaving it, and leaves out what .dockerignore names.
func (b *builder) sources(patterns []string) ([]source, error) {
	var out []source
	for _, p := range patterns {
		if strings.Contains(p, "://") {
			return nil, fmt.Errorf("%s: sources from URLs are not supported (the build has no network): download with RUN and --network host", p)
		}
		clean := path.Clean("/" + p)[1:]
		if clean == "" {
			clean = "."
		}
		names := []string{clean}
		if strings.ContainsAny(clean, "*?[") {
			m, err := fs.Glob(b.ctxRoot.FS(), clean)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			names = m
		}
		n := 0
		for _, name := range names {
			if b.ignore.ignored(name) {
				continue
			}
			fi, err := b.ctxRoot.Lstat(name)
			if err != nil {
				return nil, fmt.Errorf("%s: not in the build context: %w", p, err)
			}
			out = append(out, source{name: name, fi: fi})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no file of the build context matches (or .dockerignore leaves it out)", p)
		}
	}
	return out, nil
}

// owner reads --chown: numeric ids, or names in the stage's own
// /etc/passwd and /etc/group.
func (b *builder) owner(s *state, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 == nil && (!hasGroup || err2 == nil) {
		if !hasGroup {
			gid = uid
		}
		return uid, gid, nil
	}
	dirs, err := b.o.Store.LayerDirs(s.allLayers())
	if err != nil {
		return 0, 0, err
	}
	usr, err := image.ResolveUser(b.o.Tag, dirs, chown)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", chown, err)
	}
	return int(usr.UID), int(usr.GID), nil
}

// copy writes COPY's or ADD's layer: each source at the destination,
// a directory's contents into it, and for ADD a local tar archive
// unpacked there.
func (b *builder) copy(s *state, createdBy string, sd instructions.SourcesAndDest, chown, chmod string, add bool) error {
	mode, err := parseChmod(chmod)
	if err != nil {
		return err
	}
	var srcs []source
	if len(sd.SourcePaths) > 0 {
		if srcs, err = b.sources(sd.SourcePaths); err != nil {
			return err
		}
	}
	uid, gid, err := b.owner(s, chown)
	if err != nil {
		return err
	}
	dest, intoDir := s.destination(sd.DestPath)
	intoDir = intoDir || len(srcs)+len(sd.SourceContents) > 1
	sum, err := b.contentHash(srcs)
	if err != nil {
		return err
	}
	key := s.next(map[string]any{"copy": add, "dest": dest, "into": intoDir, "owner": []int{uid, gid}, "content": sum,
		"heredocs": sd.SourceContents, "chmod": chmod})
	if b.cached(s, key, createdBy) {
		return nil
	}
	lw, err := b.o.Store.NewLayer(uid, gid)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := lw.AddParents(parentsOf(dest, intoDir), now); err != nil {
		lw.Abort()
		return err
	}
	if mode != nil {
		lw.SetMode(*mode)
	}
	for _, src := range srcs {
		if err := b.copyOne(lw, src, dest, intoDir, add, uid, gid); err != nil {
			lw.Abort()
			return err
		}
	}
	for _, doc := range sd.SourceContents {
		if err := heredocFile(lw, doc, dest, intoDir, uid, gid, now); err != nil {
			lw.Abort()
			return err
		}
	}
	return b.commit(s, lw, key, createdBy)
}

// commit stores a COPY's layer, caches it under key and makes it the
// stage's next.
func (b *builder) commit(s *state, lw *image.LayerWriter, key, createdBy string) error {
	l, err := lw.Commit()
	if err != nil {
		return err
	}
	e := &image.CacheEntry{Layer: &l, Made: time.Now().UTC().Truncate(time.Second)}
	if err := b.o.Store.CachePut(key, e); err != nil {
		return err
	}
	s.addLayer(key, createdBy, e)
	return nil
}

// copyFrom writes COPY --from's layer: sources of an earlier stage (by
// name or index) or of an image of the store, as its layers stack,
// keeping their owners there unless --chown says otherwise.
func (b *builder) copyFrom(s *state, c *instructions.CopyCommand) error {
	mode, err := parseChmod(c.Chmod)
	if err != nil {
		return err
	}
	if len(c.SourceContents) > 0 {
		return errors.New("COPY --from copies files of the stage or image; a heredoc's file comes from the Dockerfile: give it without --from")
	}
	from, err := b.expand(c.From, shell.EnvsFromSlice(s.env()))
	if err != nil {
		return err
	}
	layers, fromKey, err := b.layersOf(from)
	if err != nil {
		return fmt.Errorf("--from=%s: %w", from, err)
	}
	uid, gid, err := b.owner(s, c.Chown)
	if err != nil {
		return err
	}
	dest, intoDir := s.destination(c.DestPath)
	for _, p := range c.SourcePaths {
		intoDir = intoDir || len(c.SourcePaths) > 1 || strings.ContainsAny(p, "*?[")
	}
	key := s.next(map[string]any{"copy-from": fromKey, "sources": c.SourcePaths, "dest": dest, "into": intoDir, "chown": c.Chown,
		"owner": []int{uid, gid}, "chmod": c.Chmod})
	if b.cached(s, key, c.String()) {
		return nil
	}
	dirs, err := b.o.Store.LayerDirs(layers)
	if err != nil {
		return err
	}
	lw, err := b.o.Store.NewLayer(uid, gid)
	if err != nil {
		return err
	}
	if err := lw.AddParents(parentsOf(dest, intoDir), time.Now()); err != nil {
		lw.Abort()
		return err
	}
	if mode != nil {
		lw.SetMode(*mode)
	}
	if err := lw.AddFromLayers(dirs, c.SourcePaths, dest, intoDir, c.Chown == ""); err != nil {
		lw.Abort()
		return fmt.Errorf("--from=%s: %w", from, err)
	}
	return b.commit(s, lw, key, c.String())
}

// layersOf are the layers of an earlier stage, by name or index, or of an
// image of the store, with what identifies their content for the cache:
// the stage's last cache key, or the image's ID.
func (b *builder) layersOf(from string) ([]image.Layer, string, error) {
	if st, ok := b.done[strings.ToLower(from)]; ok {
		return st.allLayers(), st.key, nil
	}
	if i, err := strconv.Atoi(from); err == nil {
		if i < 0 || i >= len(b.built) {
			return nil, "", fmt.Errorf("no stage %d has been built before this one", i)
		}
		return b.built[i].allLayers(), b.built[i].key, nil
	}
	h, err := b.o.Store.Hold(from)
	if err != nil {
		return nil, "", err
	}
	b.held = append(b.held, h)
	return h.Image.Layers, h.ID, nil
}

func (b *builder) copyOne(lw *image.LayerWriter, src source, dest string, intoDir, add bool, uid, gid int) error {
	target := strings.TrimPrefix(dest, "/")
	if src.fi.IsDir() {
		// A directory's contents, not the directory, as docker build.
		return b.addTree(lw, src.name, target)
	}
	if add && src.fi.Mode().IsRegular() {
		if ok, err := b.addArchive(lw, src.name, target, uid, gid); ok || err != nil {
			return err
		}
	}
	if intoDir {
		target = path.Join(target, path.Base(src.name))
	}
	return b.addTree(lw, src.name, target)
}

// addTree adds the context's name at target, leaving out what
// .dockerignore names.
func (b *builder) addTree(lw *image.LayerWriter, name, target string) error {
	return lw.AddTree(b.ctxRoot, name, target, b.ignore.ignored)
}

// addArchive unpacks a local tar archive (plain, gzip or bzip2) at
// target, as ADD does; ok is false when src is not one.
func (b *builder) addArchive(lw *image.LayerWriter, name, target string, uid, gid int) (ok bool, err error) {
	f, err := b.ctxRoot.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(512)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		r = gz
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	case len(magic) >= 262 && string(magic[257:262]) == "ustar":
	default:
		return false, nil
	}
	tr := tar.NewReader(r)
	for first := true; ; first = false {
		h, err := tr.Next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			if first {
				return false, nil // not a tar after all: copied as a file
			}
			return true, fmt.Errorf("ADD %s: %w", name, err)
		}
		entry, err := under(target, h.Name)
		if err != nil {
			return true, fmt.Errorf("ADD %s: entry %q %v", name, h.Name, err)
		}
		h.Name = entry
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, err = under(target, h.Linkname); err != nil {
				return true, fmt.Errorf("ADD %s: entry %q links to %q, which %v", name, h.Name, h.Linkname, err)
			}
		}
		h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		if err := lw.WriteHeader(h); err != nil {
			return true, err
		}
		if _, err := io.Copy(lw, tr); err != nil {
			return true, err
		}
	}
}

// under names an archive's entry below target, refusing one that climbs
// out with "..".
func under(target, name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`climbs out of the destination with ".."`)
		}
	}
	return strings.TrimPrefix(path.Join(target, path.Clean("/"+name)), "/"), nil
}

// parentsOf is the path whose parent directories a COPY's layer makes:
// dest's, and dest itself when the sources go into it. A source at dest
// makes its own entry there, a directory's contents theirs.
func parentsOf(dest string, intoDir bool) string {
	if intoDir {
		return dest + "/x"
	}
	return dest
}

// parseChmod reads --chmod: octal permissions, nil when not given.
func parseChmod(chmod string) (*fs.FileMode, error) {
	if chmod == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(chmod, 8, 32)
	if err != nil || n > 0o7777 {
		return nil, fmt.Errorf("--chmod=%s: give octal permissions, as --chmod=0755 (symbolic modes are not supported yet)", chmod)
	}
	m := fs.FileMode(n)
	return &m, nil
}

// heredocFile writes a COPY heredoc's document as a file at dest, or
// named by its word inside dest, with mode 0644 unless --chmod.
func heredocFile(lw *image.LayerWriter, doc instructions.SourceContent, dest string, intoDir bool, uid, gid int, now time.Time) error {
	name := strings.TrimPrefix(dest, "/")
	if intoDir {
		name = path.Join(name, path.Base(doc.Path))
	}
	h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(doc.Data)), ModTime: now, Uid: uid, Gid: gid}
	if err := lw.WriteHeader(h); err != nil {
		return err
	}
	_, err := io.WriteString(lw, doc.Data)
	return err
}

// destination is a COPY's destination made absolute in the working
// directory, and whether it names a directory to copy into (a trailing
// slash).
func (s *state) destination(dest string) (string, bool) {
	if !path.IsAbs(dest) {
		wd := s.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest) + map[bool]string{true: "/", false: ""}[strings.HasSuffix(dest, "/")]
	}
	return path.Clean(dest), strings.HasSuffix(dest, "/")
}

// contentHash is what the sources hold: names, modes, link targets and
// bytes, so that a change to any copied file misses the cache.
func (b *builder) contentHash(srcs []source) (string, error) {
	h := sha256.New()
	for _, src := range srcs {
		err := fs.WalkDir(b.ctxRoot.FS(), src.name, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if b.ignore.ignored(p) && p != src.name {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			fi, err := b.ctxRoot.Lstat(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%o\x00%d\x00", p, fi.Mode(), fi.Size())
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := b.ctxRoot.Readlink(p)
				if err != nil {
					return err
				}
				io.WriteString(h, t)
			case fi.Mode().IsRegular():
				f, err := b.ctxRoot.OpenFile(p, os.O_RDONLY, 0)
				if err != nil {
					return err
				}
				_, err = io.Copy(h, f)
				f.Close()
				return err
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
