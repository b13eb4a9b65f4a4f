// Package imagetest writes the images the tests run: layers of tar
// entries given one by one, and images of them with go-containerregistry,
// as a registry or docker save would hand them over.
package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one tar entry of a layer.
type Entry struct {
	Name, Body, Link string
	Type             byte
	Mode             int64
	UID, GID         int
}

// Owned is e owned by uid:gid.
func Owned(e Entry, uid, gid int) Entry {
	e.UID, e.GID = uid, gid
	return e
}

func File(name, body string) Entry {
	return Entry{Name: name, Body: body, Type: tar.TypeReg, Mode: 0o644}
}
func Exec(name, body string) Entry {
	return Entry{Name: name, Body: body, Type: tar.TypeReg, Mode: 0o755}
}
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir, Mode: 0o755} }
func Symlink(name, to string) Entry {
	return Entry{Name: name, Link: to, Type: tar.TypeSymlink, Mode: 0o777}
}
func Hardlink(name, to string) Entry {
	return Entry{Name: name, Link: to, Type: tar.TypeLink, Mode: 0o644}
}

// modTime is every entry's, so that a layer's digest is the same on
// every run.
var modTime = time.Unix(1700000000, 0)

// Tar is the tar of the entries, in order.
func Tar(t testing.TB, es ...Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Link, ModTime: modTime, Uid: e.UID, Gid: e.GID}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.Type == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Layer is a layer of the entries, with Docker's media type, or those
// given.
func Layer(t testing.TB, es ...Entry) v1.Layer {
	t.Helper()
	return layerOf(t, Tar(t, es...))
}

func layerOf(t testing.TB, b []byte, opts ...tarball.LayerOption) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image is an image of the layers with Docker's media types, for Linux
// on this machine's architecture (as every real image says, and umoci
// insists), whose config is cfg.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	return withConfig(t, empty.Image, cfg, layers...)
}

// OCIImage is Image with OCI media types throughout, as buildah and
// BuildKit write them, of layers given as tars.
func OCIImage(t testing.TB, cfg v1.Config, tars ...[]byte) v1.Image {
	t.Helper()
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	var layers []v1.Layer
	for _, b := range tars {
		layers = append(layers, layerOf(t, b, tarball.WithMediaType(types.OCILayer)))
	}
	return withConfig(t, base, cfg, layers...)
}

func withConfig(t testing.TB, base v1.Image, cfg v1.Config, layers ...v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}
