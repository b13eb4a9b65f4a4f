package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Config is what of an image's config a run honours.
type Config struct {
	Env          []string            `json:"env,omitempty"`
	WorkingDir   string              `json:"working_dir,omitempty"`
	Entrypoint   []string            `json:"entrypoint,omitempty"`
	Cmd          []string            `json:"cmd,omitempty"`
	User         string              `json:"user,omitempty"`
	ExposedPorts map[string]struct{} `json:"exposed_ports,omitempty"`
	Labels       map[string]string   `json:"labels,omitempty"`
	// Healthcheck, OnBuild (the triggers a build FROM the image runs
	// first) and StopSignal are kept for what runs the image later.
	Healthcheck *v1.HealthConfig `json:"healthcheck,omitempty"`
	OnBuild     []string         `json:"on_build,omitempty"`
	StopSignal  string           `json:"stop_signal,omitempty"`
}

// maxMeta caps a manifest, config or index read from an image, which
// the store parses whole.
const maxMeta = 4 << 20

func (s *Store) config(img *Image) (*Config, error) {
	h, err := hexOf(img.ID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("image %s: its config: %w", img.ID, err)
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("image %s: its config: %w", img.ID, err)
	}
	c := cf.Config
	return &Config{Env: c.Env, WorkingDir: c.WorkingDir, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		User: c.User, ExposedPorts: c.ExposedPorts, Labels: c.Labels, Healthcheck: c.Healthcheck, OnBuild: c.OnBuild,
		StopSignal: c.StopSignal}, nil
}

// Imported is one image an import added.
type Imported struct {
	Name string
	ID   string
	// Reports are the layers' unpack reports, for the layers this import
	// unpacked (a layer already in the store is not unpacked again).
	Reports map[string]*Report
}

// Import adds the images of file: a docker-archive (docker save), an OCI
// image layout directory, or an OCI archive (a tar of one). name, if
// given, names the image when the file holds exactly one.
func (s *Store) Import(file, name string) ([]Imported, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("jail image import %s: %w", file, err)
	}
	var found []found
	if fi.IsDir() {
		found, err = fromLayout(file)
	} else {
		var cleanup func()
		found, cleanup, err = s.fromArchive(file)
		defer cleanup()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s holds no image", file)
	}
	if name != "" {
		if len(found) != 1 {
			return nil, fmt.Errorf("%s holds %d images: give no name, and tag them after the import", file, len(found))
		}
		found[0].names = []string{name}
	}
	unlock, err := s.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []Imported
	for _, f := range found {
		if f.cleanup != nil {
			defer f.cleanup()
		}
	}
	for _, f := range found {
		im, err := s.add(f)
		if err != nil {
			return out, fmt.Errorf("%s: image %s: %w", file, f.label(), err)
		}
		out = append(out, im...)
	}
	return out, nil
}

// found is an image in a file, with the names the file gives it.
type found struct {
	img v1.Image
	// cleanup, if set, removes what reading img left in the store's tmp.
	cleanup func()
	// layers, if set, are img's layers as the store reads them best.
	layers []v1.Layer
	names  []string
	// digest is what the file calls it, for messages.
	digest string
	// progress counts the layers' blobs as they arrive, if set.
	progress *transfer
}

func (f found) label() string {
	if len(f.names) > 0 {
		return f.names[0]
	}
	return f.digest
}

// fromArchive reads a docker-archive, or an OCI archive through a
// directory it is unpacked in, which cleanup removes once the images,
// read lazily, are in the store.
func (s *Store) fromArchive(file string) (_ []found, cleanup func(), _ error) {
	f, dir, err := s.readArchive(file)
	return f, func() {
		if dir != "" {
			removeAll(dir)
		}
	}, err
}

func (s *Store) readArchive(file string) (_ []found, tmp string, _ error) {
	if compressed(file) {
		f, err := s.fromRootFS(file)
		return f, "", err
	}
	names, err := tarNames(file)
	if err != nil {
		return nil, "", err
	}
	if names["oci-layout"] && names["index.json"] {
		dir, err := s.tempDir("oci-")
		if err != nil {
			return nil, "", err
		}
		if err := extractFlat(file, dir); err != nil {
			return nil, dir, err
		}
		f, err := fromLayout(dir)
		return f, dir, err
	}
	if !names["manifest.json"] && (names["etc/os-release"] || names["usr/lib/os-release"] || names["bin/sh"] || names["etc/passwd"]) {
		f, err := s.fromRootFS(file)
		return f, "", err
	}
	f, err := s.fromDockerArchive(file, names)
	return f, "", err
}

// compressed reports whether file starts as a gzip or zstd stream: a
// root file system's tarball (mmdebstrap's debian.tar.gz, .tar.zst),
// never an archive of images.
func compressed(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return magic[0] == 0x1f && magic[1] == 0x8b || string(magic[:]) == "\x28\xb5\x2f\xfd"
}

// fromRootFS makes an image of one layer from a tarball of a root file
// system, as docker import does: no name unless given, no command.
func (s *Store) fromRootFS(file string) ([]found, error) {
	open := func() (io.ReadCloser, error) {
		f, err := os.Open(file)
		if err != nil || !compressed(file) {
			return f, err
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(file) })
		f.Close()
		if err != nil {
			return nil, err
		}
		return l.Uncompressed()
	}
	now := time.Now().UTC()
	cf := v1.ConfigFile{OS: "linux", Architecture: hostArch(), Created: v1.Time{Time: now},
		History: []v1.History{{Created: v1.Time{Time: now}, CreatedBy: "jail image import " + filepath.Base(file),
			Comment: "a root file system's tarball"}}}
	makeConfig := func(diffIDs []v1.Hash) ([]byte, error) {
		cf.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
		return json.Marshal(cf)
	}
	img, layers, cleanup, err := s.rebuild(makeConfig, false, []func() (io.ReadCloser, error){open})
	if err != nil {
		return nil, err
	}
	return []found{{img: img, layers: layers, cleanup: cleanup, digest: filepath.Base(file)}}, nil
}

func (s *Store) fromDockerArchive(file string, names map[string]bool) ([]found, error) {
	if !names["manifest.json"] {
		return nil, fmt.Errorf("neither a docker-archive (no manifest.json) nor an OCI archive (no oci-layout and index.json)")
	}
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []found
	for i, d := range m {
		if len(d.RepoTags) == 0 {
			if len(m) > 1 {
				return nil, fmt.Errorf("manifest.json's image %d has no RepoTags, and the archive holds %d images: save them by name", i, len(m))
			}
			f, err := s.fromDocker(opener, nil, d.Config)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
			continue
		}
		tag, err := name.NewTag(d.RepoTags[0], name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("manifest.json: RepoTags %q: %w", d.RepoTags[0], err)
		}
		f, err := s.fromDocker(opener, &tag, d.Config)
		if err != nil {
			return nil, err
		}
		f.names = d.RepoTags
		out = append(out, f)
	}
	return out, nil
}

// fromDocker is one image of a docker-archive, its config's bytes kept
// and its layers gzipped once (rebuilt.go).
func (s *Store) fromDocker(opener tarball.Opener, tag *name.Tag, config string) (found, error) {
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return found{}, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return found{}, fmt.Errorf("%s: %w", config, err)
	}
	// By DiffID: img.Layers() would compute the manifest, which gzips
	// every layer at the default level to learn its digest.
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return found{}, fmt.Errorf("%s: %w", config, err)
	}
	var sources []func() (io.ReadCloser, error)
	for _, d := range cf.RootFS.DiffIDs {
		l, err := img.LayerByDiffID(d)
		if err != nil {
			return found{}, fmt.Errorf("%s's layer %s: %w", config, d, err)
		}
		sources = append(sources, l.Uncompressed)
	}
	rb, layers, cleanup, err := s.rebuild(func([]v1.Hash) ([]byte, error) { return cfg, nil }, true, sources)
	if err != nil {
		return found{}, err
	}
	return found{img: rb, layers: layers, cleanup: cleanup, digest: config}, nil
}

// tarNames lists an archive's top-level regular files, refusing the
// metadata files ggcr would read whole when they are enormous.
func tarNames(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		n := strings.TrimPrefix(h.Name, "./")
		// go-containerregistry reads these whole: the manifests, and a
		// docker-archive's configs (HEX.json).
		if strings.HasSuffix(n, ".json") || n == "oci-layout" || n == "repositories" {
			if h.Size > maxMeta {
				return nil, fmt.Errorf("%s is %d bytes, over the %d a manifest or config may have", n, h.Size, maxMeta)
			}
		}
		if h.Typeflag == tar.TypeReg {
			names[n] = true
		}
	}
}

// extractFlat unpacks an OCI archive's files (index.json, oci-layout,
// blobs/sha256/*) into dir; nothing else is taken from it.
func extractFlat(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		ok := n == "index.json" || n == "oci-layout"
		if b, isBlob := strings.CutPrefix(n, "blobs/sha256/"); isBlob {
			if _, err := hexOf("sha256:" + b); err != nil {
				return fmt.Errorf("entry %q: a blob's name must be its sha256 digest", h.Name)
			}
			ok = true
		}
		if !ok {
			continue
		}
		out, err := os.OpenFile(filepath.Join(dir, n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}

// refName is the annotation an OCI layout names its images by.
const refName = "org.opencontainers.image.ref.name"

// fromLayout reads an OCI image layout directory.
func fromLayout(dir string) ([]found, error) {
	if fi, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	} else if fi.Size() > maxMeta {
		return nil, fmt.Errorf("index.json is %d bytes, over the %d a manifest may have", fi.Size(), maxMeta)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	return fromIndex(idx, "")
}

func fromIndex(idx v1.ImageIndex, inherited string) ([]found, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []found
	for _, d := range im.Manifests {
		n := d.Annotations[containerdName]
		if n == "" {
			n = d.Annotations[refName]
		}
		if n == "" {
			n = inherited
		}
		// The store would read it whole: refused before it is read.
		if d.Size > maxMeta {
			return nil, fmt.Errorf("manifest %s is %d bytes, over %d", d.Digest, d.Size, maxMeta)
		}
		switch {
		case d.MediaType.IsImage():
			// Only images this machine runs: a multi-platform layout's
			// other images would take the same name.
			if p := d.Platform; p != nil && (p.OS != "" && p.OS != "linux" || p.Architecture != "" && p.Architecture != hostArch()) {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
			}
			f := found{img: img, digest: d.Digest.String()}
			if n != "" {
				f.names = []string{n}
			}
			out = append(out, f)
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("index %s: %w", d.Digest, err)
			}
			sub, err := fromIndex(child, n)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// add puts one image in the store: its blobs, checked against their
// digests, and each layer not there yet unpacked. The caller holds the
// lock exclusively.
func (s *Store) add(f found) ([]Imported, error) {
	raw, err := f.img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("its manifest: %w", err)
	}
	if len(raw) > maxMeta {
		return nil, fmt.Errorf("its manifest is %d bytes, over %d", len(raw), maxMeta)
	}
	mt, err := f.img.MediaType()
	if err != nil {
		return nil, err
	}
	if m, err := f.img.Manifest(); err == nil && m.Config.Size > maxMeta {
		return nil, fmt.Errorf("its config is %d bytes, over %d", m.Config.Size, maxMeta)
	}
	cfgRaw, err := f.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("its config: %w", err)
	}
	if len(cfgRaw) > maxMeta {
		return nil, fmt.Errorf("its config is %d bytes, over %d", len(cfgRaw), maxMeta)
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(cfgRaw)))
	if err != nil {
		return nil, fmt.Errorf("its config: %w", err)
	}
	if cf.OS != "" && cf.OS != "linux" {
		return nil, fmt.Errorf("it is an image for %s, not Linux", cf.OS)
	}
	layers := f.layers
	if layers == nil {
		if layers, err = f.img.Layers(); err != nil {
			return nil, fmt.Errorf("its layers: %w", err)
		}
	}
	if len(layers) > MaxLayers {
		return nil, fmt.Errorf("it has %d layers; overlayfs stacks at most %d (flatten it: docker export, or squash in the build)", len(layers), MaxLayers)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("its manifest lists %d layers and its config %d", len(layers), len(cf.RootFS.DiffIDs))
	}
	manifestDigest := digestOf(raw)
	configDigest := digestOf(cfgRaw)
	if err := s.putBlob(raw, manifestDigest); err != nil {
		return nil, err
	}
	if err := s.putBlob(cfgRaw, configDigest); err != nil {
		return nil, err
	}
	rec := &Image{ID: configDigest, Manifest: manifestDigest, ManifestType: string(mt), Added: time.Now().UTC()}
	reports := map[string]*Report{}
	budget := s.MaxUnpacked
	for i, l := range layers {
		ld, err := s.putLayer(l, cf.RootFS.DiffIDs[i], &budget, f.progress)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i+1, layerName(l, cf.RootFS.DiffIDs[i]), err)
		}
		if ld.report != nil {
			reports[ld.DiffID] = ld.report
		}
		rec.Layers = append(rec.Layers, ld.Layer)
	}
	h, _ := hexOf(rec.ID)
	if old, err := s.readImage(rec.ID); err == nil {
		rec.Added = old.Added // a re-import keeps the image's age
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.imagePath(h), b); err != nil {
		return nil, err
	}
	refs, err := s.readRefs()
	if err != nil {
		return nil, err
	}
	var out []Imported
	names := f.names
	if len(names) == 0 {
		names = []string{""}
	}
	for _, n := range names {
		im := Imported{ID: rec.ID, Reports: reports}
		if n != "" {
			if im.Name, err = NormalizeName(n); err != nil {
				return nil, err
			}
			refs[im.Name] = rec.ID
		}
		out = append(out, im)
	}
	return out, s.writeRefs(refs)
}

func layerName(l v1.Layer, diffID v1.Hash) string {
	if d, err := l.Digest(); err == nil {
		return d.String()
	}
	return diffID.String()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (s *Store) putBlob(b []byte, digest string) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	p := s.blobPath(h)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return writeFileAtomic(p, b)
}

type putLayer struct {
	Layer
	report *Report
}

// putLayer stores a layer's blob, checked against the manifest's digest,
// and unpacks it, checked against the config's DiffID, unless the store
// has it already.
func (s *Store) putLayer(l v1.Layer, diffID v1.Hash, budget *int64, p *transfer) (putLayer, error) {
	var out putLayer
	want, err := l.Digest()
	if err != nil {
		return out, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return out, err
	}
	out.Layer = Layer{Digest: want.String(), DiffID: diffID.String(), MediaType: string(mt)}
	wantHex, err := hexOf(want.String())
	if err != nil {
		return out, err
	}
	diffHex, err := hexOf(diffID.String())
	if err != nil {
		return out, err
	}
	blob := s.blobPath(wantHex)
	if fi, err := os.Stat(blob); err == nil {
		out.Size = fi.Size()
	} else {
		rc, err := l.Compressed()
		if err != nil {
			return out, err
		}
		out.Size, err = s.copyBlob(p.counting(rc), blob, want.String())
		rc.Close()
		if err != nil {
			return out, err
		}
	}
	dir := s.layerDir(diffHex)
	if _, err := os.Stat(filepath.Join(dir, "layer.json")); err == nil {
		return out, nil
	}
	tmp, err := s.tempDir("layer-")
	if err != nil {
		return out, err
	}
	defer s.removeAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "fs"), 0o755); err != nil {
		return out, err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return out, err
	}
	defer rc.Close()
	sum := sha256.New()
	rep, err := s.unpack(io.TeeReader(rc, sum), filepath.Join(tmp, "fs"), budget)
	if err != nil {
		if errors.Is(err, errBudget) {
			return out, fmt.Errorf("%w (%d bytes; give a larger --max-unpacked if the image is trusted)", err, s.MaxUnpacked)
		}
		return out, err
	}
	// The tar's end may leave padding unread.
	if _, err := io.Copy(sum, rc); err != nil {
		return out, err
	}
	if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); got != diffID.String() {
		return out, fmt.Errorf("its content's digest is %s, but the image's config says %s: the file is damaged or forged", got, diffID)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return out, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o600); err != nil {
		return out, err
	}
	s.removeAll(dir) // what an interrupted import left
	if err := os.Rename(tmp, dir); err != nil {
		return out, err
	}
	out.report = rep
	return out, nil
}

// copyBlob writes r to path, refusing it unless its digest is want.
func (s *Store) copyBlob(r io.Reader, path, want string) (int64, error) {
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); got != want {
			err = fmt.Errorf("its blob's digest is %s, but the manifest says %s: the file is damaged or forged", got, want)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, os.Rename(tmp, path)
}
