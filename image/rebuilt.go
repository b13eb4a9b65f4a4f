package image

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A docker-archive (docker save) and a root file system's tarball hold
// their layers uncompressed, and go-containerregistry would gzip each
// twice at its default level to learn the digest and then copy the blob.
// A rebuilt image gzips each once, at the fastest level, into the store's
// tmp, and keeps the config's bytes, so the image ID is the archive's.

// rebuilt is an image of uncompressed layers with its config as given.
type rebuilt struct {
	// makeConfig writes the config once the layers' DiffIDs are known.
	makeConfig func(diffIDs []v1.Hash) ([]byte, error)
	config     []byte
	mediaType  types.MediaType
	layerType  types.MediaType
	layers     []*passLayer
	once       sync.Once
	manifest   []byte
	err        error
}

// rebuild is an image of the uncompressed layers sources opens, and the
// config makeConfig writes for their DiffIDs, with Docker's media types
// or OCI's; layers are its layers, which read their content from the
// sources (go-containerregistry's own would gunzip the copy); cleanup
// removes the compressed copies.
func (s *Store) rebuild(makeConfig func([]v1.Hash) ([]byte, error), docker bool, sources []func() (io.ReadCloser, error)) (_ v1.Image, layers []v1.Layer, cleanup func(), _ error) {
	r := &rebuilt{makeConfig: makeConfig, mediaType: types.OCIManifestSchema1, layerType: types.OCILayer}
	if docker {
		r.mediaType, r.layerType = types.DockerManifestSchema2, types.DockerLayer
	}
	for _, open := range sources {
		r.layers = append(r.layers, &passLayer{s: s, open: open, mediaType: r.layerType})
	}
	for _, l := range r.layers {
		layers = append(layers, l)
	}
	img, err := partial.CompressedToImage(r)
	return img, layers, r.cleanup, err
}

func (r *rebuilt) RawConfigFile() ([]byte, error) {
	_, err := r.RawManifest()
	return r.config, err
}

func (r *rebuilt) MediaType() (types.MediaType, error) { return r.mediaType, nil }

func (r *rebuilt) RawManifest() ([]byte, error) {
	r.once.Do(func() {
		var diffIDs []v1.Hash
		for _, l := range r.layers {
			if r.err = l.pass(); r.err != nil {
				return
			}
			diffIDs = append(diffIDs, l.diffID)
		}
		if r.config, r.err = r.makeConfig(diffIDs); r.err != nil {
			return
		}
		cfgType := types.OCIConfigJSON
		if r.mediaType == types.DockerManifestSchema2 {
			cfgType = types.DockerConfigJSON
		}
		sum := sha256.Sum256(r.config)
		m := v1.Manifest{SchemaVersion: 2, MediaType: r.mediaType, Config: v1.Descriptor{MediaType: cfgType,
			Size: int64(len(r.config)), Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}}
		for _, l := range r.layers {
			m.Layers = append(m.Layers, v1.Descriptor{MediaType: r.layerType, Size: l.size, Digest: l.digest})
		}
		r.manifest, r.err = json.Marshal(m)
	})
	return r.manifest, r.err
}

func (r *rebuilt) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range r.layers {
		if err := l.pass(); err != nil {
			return nil, err
		}
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// passLayer is an uncompressed layer gzipped once, on first need, into a
// file of the store's tmp that the import's end removes.
type passLayer struct {
	s         *Store
	open      func() (io.ReadCloser, error)
	mediaType types.MediaType
	once      sync.Once
	err       error
	path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
}

func (l *passLayer) pass() error {
	l.once.Do(func() { l.err = l.compress() })
	return l.err
}

func (l *passLayer) compress() error {
	rc, err := l.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(l.s.Root, "tmp"), "import-*.tar.gz")
	if err != nil {
		return err
	}
	l.path = f.Name()
	sum, diff := sha256.New(), sha256.New()
	count := &counter{}
	// flate writes in small pieces; the file gets them in large ones.
	buf := bufio.NewWriterSize(io.MultiWriter(f, sum, count), 1<<20)
	gz, err := gzip.NewWriterLevel(buf, gzip.BestSpeed)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := io.Copy(io.MultiWriter(gz, diff), rc); err != nil {
		f.Close()
		return err
	}
	if err := gz.Close(); err != nil {
		f.Close()
		return err
	}
	if err := buf.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	l.size = count.n
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum.Sum(nil))}
	l.diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	return nil
}

// remove drops the compressed copy, once the store has its blob.
func (l *passLayer) remove() {
	if l.path != "" {
		os.Remove(l.path)
	}
}

func (l *passLayer) Digest() (v1.Hash, error)            { return l.digest, l.pass() }
func (l *passLayer) Size() (int64, error)                { return l.size, l.pass() }
func (l *passLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// DiffID and Uncompressed make it a whole v1.Layer: the store unpacks
// it from the source rather than gunzip the copy back.
func (l *passLayer) DiffID() (v1.Hash, error) { return l.diffID, l.pass() }

func (l *passLayer) Uncompressed() (io.ReadCloser, error) { return l.open() }

func (l *passLayer) Compressed() (io.ReadCloser, error) {
	if err := l.pass(); err != nil {
		return nil, err
	}
	return os.Open(l.path)
}

type counter struct{ n int64 }

func (c *counter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

// cleanup removes what the rebuilt image left in tmp.
func (r *rebuilt) cleanup() {
	for _, l := range r.layers {
		l.remove()
	}
}
