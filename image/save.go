package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Formats jail image save writes.
const (
	FormatDocker = "docker-archive"
	FormatOCI    = "oci-archive"
)

// containerdName is the annotation containerd and nerdctl name an OCI
// layout's images by in full; refName may be a bare tag.
const containerdName = "io.containerd.image.name"

// v1Image is a stored image as go-containerregistry reads one: its
// manifest, config and layer blobs exactly as they were imported, so a
// saved image has the digests it came with.
//
// With oci, a Docker manifest is rewritten with the OCI media types
// (the layers' bytes and digests stay, the manifest's digest changes),
// since OCI tools such as umoci read nothing else.
func (s *Store) v1Image(img *Image, oci bool) (v1.Image, error) {
	m, err := hexOf(img.Manifest)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.blobPath(m))
	if err != nil {
		return nil, fmt.Errorf("image %s: its manifest: %w", img.ID, err)
	}
	c, _ := hexOf(img.ID)
	cfg, err := os.ReadFile(s.blobPath(c))
	if err != nil {
		return nil, fmt.Errorf("image %s: its config: %w", img.ID, err)
	}
	si := &storedImage{s: s, img: img, manifest: raw, config: cfg, mediaType: types.MediaType(img.ManifestType),
		layerTypes: map[string]types.MediaType{}}
	for _, l := range img.Layers {
		si.layerTypes[l.Digest] = types.MediaType(l.MediaType)
	}
	if oci && !isOCI(si.mediaType) {
		if err := si.toOCI(); err != nil {
			return nil, fmt.Errorf("image %s: %w", img.ID, err)
		}
	}
	return partial.CompressedToImage(si)
}

// ociTypes are the OCI media types of Docker's.
var ociTypes = map[types.MediaType]types.MediaType{
	types.DockerManifestSchema2:   types.OCIManifestSchema1,
	types.DockerConfigJSON:        types.OCIConfigJSON,
	types.DockerLayer:             types.OCILayer,
	types.DockerUncompressedLayer: types.OCIUncompressedLayer,
	types.DockerForeignLayer:      types.OCIRestrictedLayer,
}

func isOCI(t types.MediaType) bool { return strings.HasPrefix(string(t), "application/vnd.oci.") }

func (si *storedImage) toOCI() error {
	m, err := v1.ParseManifest(bytes.NewReader(si.manifest))
	if err != nil {
		return fmt.Errorf("its manifest: %w", err)
	}
	conv := func(t types.MediaType) (types.MediaType, error) {
		if o, ok := ociTypes[t]; ok {
			return o, nil
		}
		if isOCI(t) || t == "" {
			return t, nil
		}
		return "", fmt.Errorf("no OCI media type for %s", t)
	}
	if m.MediaType, err = conv(m.MediaType); err != nil {
		return err
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIManifestSchema1
	}
	if m.Config.MediaType, err = conv(m.Config.MediaType); err != nil {
		return err
	}
	for i := range m.Layers {
		if m.Layers[i].MediaType, err = conv(m.Layers[i].MediaType); err != nil {
			return err
		}
		si.layerTypes[m.Layers[i].Digest.String()] = m.Layers[i].MediaType
	}
	if si.manifest, err = json.Marshal(m); err != nil {
		return err
	}
	si.mediaType = m.MediaType
	return nil
}

type storedImage struct {
	s                *Store
	img              *Image
	manifest, config []byte
	mediaType        types.MediaType
	layerTypes       map[string]types.MediaType
}

func (si *storedImage) RawConfigFile() ([]byte, error)      { return si.config, nil }
func (si *storedImage) RawManifest() ([]byte, error)        { return si.manifest, nil }
func (si *storedImage) MediaType() (types.MediaType, error) { return si.mediaType, nil }

func (si *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range si.img.Layers {
		if l.Digest == h.String() {
			return &storedLayer{s: si.s, l: l, mediaType: si.layerTypes[l.Digest]}, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer %s", si.img.ID, h)
}

type storedLayer struct {
	s         *Store
	l         Layer
	mediaType types.MediaType
}

func (sl *storedLayer) Digest() (v1.Hash, error)            { return v1.NewHash(sl.l.Digest) }
func (sl *storedLayer) Size() (int64, error)                { return sl.l.Size, nil }
func (sl *storedLayer) MediaType() (types.MediaType, error) { return sl.mediaType, nil }

func (sl *storedLayer) Compressed() (io.ReadCloser, error) {
	h, err := hexOf(sl.l.Digest)
	if err != nil {
		return nil, err
	}
	return os.Open(sl.s.blobPath(h))
}

// Save writes the images refs to w in format: a docker-archive, which
// docker load reads, or an OCI archive (a tar of an OCI image layout),
// which skopeo, podman and umoci (once untarred) read.
func (s *Store) Save(w io.Writer, format string, refs ...string) error {
	unlock, err := s.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	type named struct {
		name string
		img  v1.Image
	}
	var imgs []named
	for _, ref := range refs {
		rec, err := s.resolve(ref)
		if err != nil {
			return err
		}
		img, err := s.v1Image(rec, format == FormatOCI || format == "oci")
		if err != nil {
			return err
		}
		n, err := NormalizeName(ref)
		if err != nil || !s.hasName(n, rec.ID) {
			n = "" // saved by ID: no name
		}
		imgs = append(imgs, named{n, img})
	}
	switch format {
	case FormatDocker, "docker", "":
		byRef := map[name.Reference]v1.Image{}
		for _, im := range imgs {
			if im.name == "" {
				if len(imgs) > 1 {
					return fmt.Errorf("a docker-archive of several images names each: give names, not IDs")
				}
				d, err := im.img.Digest()
				if err != nil {
					return err
				}
				// docker save of an ID writes no RepoTags, and so does this.
				ref, err := name.NewDigest("image@" + d.String())
				if err != nil {
					return err
				}
				byRef[ref] = im.img
				continue
			}
			tag, err := name.NewTag(im.name, name.WeakValidation)
			if err != nil {
				return fmt.Errorf("%s: %w", im.name, err)
			}
			byRef[tag] = im.img
		}
		return tarball.MultiRefWrite(byRef, w)
	case FormatOCI, "oci":
		dir, err := s.tempDir("save-")
		if err != nil {
			return err
		}
		defer removeAll(dir)
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return err
		}
		for _, im := range imgs {
			var opts []layout.Option
			if im.name != "" {
				opts = append(opts, layout.WithAnnotations(map[string]string{refName: im.name, containerdName: im.name}))
			}
			if err := p.AppendImage(im.img, opts...); err != nil {
				return err
			}
		}
		return tarTree(w, dir)
	default:
		return fmt.Errorf("--format %q: choose docker-archive (docker load) or oci-archive", format)
	}
}

func (s *Store) hasName(n, id string) bool {
	refs, err := s.readRefs()
	return err == nil && refs[n] == id
}

// tarTree writes the regular files and directories under dir to w, as an
// OCI archive holds its layout.
func tarTree(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), 0, 0, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
