package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"jail/internal/imagetest"
	"jail/internal/testutil"
)

// The layers and images the tests import (internal/imagetest).
type entry = imagetest.Entry

var (
	file     = imagetest.File
	dir      = imagetest.Dir
	symlink  = imagetest.Symlink
	hardlink = imagetest.Hardlink
	tarOf    = imagetest.Tar
	layerOf  = imagetest.Layer
	imageOf  = imagetest.Image
)

// dockerArchive writes img as `docker save` would, named ref.
func dockerArchive(t testing.TB, img v1.Image, ref string) string {
	t.Helper()
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "image.tar")
	require.NoError(t, tarball.WriteToFile(p, tag, img))
	return p
}

func ociLayout(t testing.TB, img v1.Image, ref string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(d, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(img, layout.WithAnnotations(map[string]string{refName: ref})))
	return d
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	require.NoError(t, err)
	return s
}

func TestImportDockerArchiveSharesLayers(t *testing.T) {
	s := newStore(t)
	base := layerOf(t, dir("etc"), file("etc/os-release", "ID=test\n"), dir("bin"), file("bin/tool", "#!/bin/sh\n"))
	a := imageOf(t, v1.Config{Cmd: []string{"/bin/tool"}, Env: []string{"A=1"}, WorkingDir: "/srv", User: "65534"},
		base, layerOf(t, file("a.txt", "a")))
	b := imageOf(t, v1.Config{}, base, layerOf(t, file("b.txt", "b")))
	ims, err := s.Import(dockerArchive(t, a, "example.test/a:1"), "")
	require.NoError(t, err)
	require.Len(t, ims, 1)
	assert.Equal(t, "example.test/a:1", ims[0].Name)
	assert.Len(t, ims[0].Reports, 2)
	ims, err = s.Import(dockerArchive(t, b, "b"), "")
	require.NoError(t, err)
	assert.Equal(t, "b:latest", ims[0].Name)
	assert.Len(t, ims[0].Reports, 1, "the base layer is unpacked once, for both images")

	h, err := s.Hold("example.test/a:1")
	require.NoError(t, err)
	defer h.Release()
	require.Len(t, h.Layers, 2)
	got, err := os.ReadFile(filepath.Join(h.Layers[0], "etc/os-release"))
	require.NoError(t, err)
	assert.Equal(t, "ID=test\n", string(got))
	assert.Equal(t, []string{"/bin/tool"}, h.Config.Cmd)
	assert.Equal(t, "/srv", h.Config.WorkingDir)
	assert.Equal(t, "65534", h.Config.User)
	hb, err := s.Hold("b")
	require.NoError(t, err)
	defer hb.Release()
	assert.Equal(t, h.Layers[0], hb.Layers[0], "one directory for the shared layer")

	list, err := s.List()
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

func TestImportOCILayoutAndArchive(t *testing.T) {
	s := newStore(t)
	img := imageOf(t, v1.Config{Entrypoint: []string{"/e"}}, layerOf(t, file("x", "1")))
	ims, err := s.Import(ociLayout(t, img, "oci-img:v2"), "")
	require.NoError(t, err)
	assert.Equal(t, "oci-img:v2", ims[0].Name)

	// The same layout as a tar, as skopeo and buildah write oci-archive.
	d := ociLayout(t, img, "other:1")
	arch := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, d, arch)
	ims, err = s.Import(arch, "renamed")
	require.NoError(t, err)
	assert.Equal(t, "renamed:latest", ims[0].Name)
	assert.Equal(t, ims[0].ID, mustResolve(t, s, "oci-img:v2").ID)
	tmps, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	assert.Empty(t, tmps, "the archive's unpacked layout is removed")
}

func mustResolve(t *testing.T, s *Store, ref string) *Image {
	img, err := s.Resolve(ref)
	require.NoError(t, err)
	return img
}

func tarDir(t *testing.T, dir, out string) {
	f, err := os.Create(out)
	require.NoError(t, err)
	defer f.Close()
	tw := tar.NewWriter(f)
	require.NoError(t, tw.AddFS(os.DirFS(dir)))
	require.NoError(t, tw.Close())
}

func TestWhiteoutsAndOpaqueDirectories(t *testing.T) {
	s := newStore(t)
	img := imageOf(t, v1.Config{},
		layerOf(t, dir("d"), file("d/old", "1"), file("gone", "x")),
		layerOf(t, dir("d"), file("d/.wh..wh..opq", ""), file("d/new", "2"), file(".wh.gone", "")))
	_, err := s.Import(dockerArchive(t, img, "wh"), "")
	require.NoError(t, err)
	h, err := s.Hold("wh")
	require.NoError(t, err)
	defer h.Release()
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(filepath.Join(h.Layers[1], "gone"), &st))
	assert.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "a whiteout is a 0/0 character device")
	assert.Zero(t, st.Rdev)
	v := make([]byte, 8)
	n, err := unix.Getxattr(filepath.Join(h.Layers[1], "d"), opaqueXattr, v)
	require.NoError(t, err)
	assert.Equal(t, "y", string(v[:n]))
	_, err = os.Lstat(filepath.Join(h.Layers[1], "d", ".wh..wh..opq"))
	assert.True(t, os.IsNotExist(err), "the marker itself is not a file of the layer")
}

// TestHostileLayers feeds layers that try to write outside the store or
// smuggle what a sandbox must not have; each is refused with a message
// naming the image, the layer and the entry, or confined.
func TestHostileLayers(t *testing.T) {
	outside := t.TempDir()
	refused := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dotdot", []entry{file("../../escape", "x")}, `entry "../../escape": climbs out`},
		{"absolute", []entry{file(outside+"/abs", "x")}, "an absolute path"},
		{"through-symlink", []entry{symlink("link", outside), file("link/planted", "x")}, `entry "link/planted": its parent "link" is not a directory`},
		{"through-relative-symlink", []entry{dir("a"), symlink("a/up", "../../../.."), file("a/up/tmp/planted", "x")}, "is not a directory"},
		{"hardlink-out", []entry{hardlink("h", "../../../etc/passwd")}, "a hard link to"},
		{"hardlink-abs", []entry{hardlink("h", "/etc/passwd")}, "a hard link to"},
		{"hardlink-through-symlink", []entry{symlink("s", "/etc"), hardlink("h", "s/passwd")}, "is not a directory"},
		// ".wh..." would whiteout ".." and with it the directory above.
		{"whiteout-dotdot", []entry{dir("a"), file("a/keep", "1"), file("a/b/.wh...", "")}, "a whiteout that names no entry of its directory"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			img := imageOf(t, v1.Config{}, layerOf(t, tc.entries...))
			_, err := s.Import(dockerArchive(t, img, "hostile:"+tc.name), "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "image hostile:"+tc.name+": layer 1 (sha256:")
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
			left, _ := os.ReadDir(outside)
			assert.Empty(t, left, "nothing written outside the store")
			layers, _ := os.ReadDir(filepath.Join(s.Root, "layers"))
			assert.Empty(t, layers, "no half layer is kept")
			if _, err := os.Lstat("/etc/passwd"); err == nil {
				var st unix.Stat_t
				unix.Stat("/etc/passwd", &st)
				assert.EqualValues(t, 1, st.Nlink, "no hard link was made to /etc/passwd")
			}
		})
	}

	t.Run("confined", func(t *testing.T) {
		s := newStore(t)
		dev := entry{Name: "dev/sda", Type: tar.TypeBlock, Mode: 0o600}
		suid := entry{Name: "bin/su", Body: "x", Type: tar.TypeReg, Mode: 0o4755}
		img := imageOf(t, v1.Config{}, layerOf(t,
			dir("dev"), dev, dir("bin"), suid,
			// A later entry replaces an earlier one, never writing
			// through what the earlier one was.
			symlink("dup", outside+"/dup"), file("dup", "second"),
			file("odd,name:with=chars", "ok")))
		ims, err := s.Import(dockerArchive(t, img, "confined"), "")
		require.NoError(t, err)
		var rep *Report
		for _, r := range ims[0].Reports {
			rep = r
		}
		require.NotNil(t, rep)
		assert.Equal(t, []string{"dev/sda"}, rep.Devices)
		assert.Equal(t, []string{"bin/su"}, rep.SetID)
		h, err := s.Hold("confined")
		require.NoError(t, err)
		defer h.Release()
		fi, err := os.Stat(filepath.Join(h.Layers[0], "bin/su"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
		assert.Zero(t, fi.Mode()&(os.ModeSetuid|os.ModeSetgid))
		_, err = os.Lstat(filepath.Join(h.Layers[0], "dev/sda"))
		assert.True(t, os.IsNotExist(err))
		got, err := os.ReadFile(filepath.Join(h.Layers[0], "dup"))
		require.NoError(t, err)
		assert.Equal(t, "second", string(got))
		_, err = os.Lstat(filepath.Join(outside, "dup"))
		assert.True(t, os.IsNotExist(err))
		got, err = os.ReadFile(filepath.Join(h.Layers[0], "odd,name:with=chars"))
		require.NoError(t, err)
		assert.Equal(t, "ok", string(got))
	})
}

func TestDecompressionBombIsCapped(t *testing.T) {
	s := newStore(t)
	s.MaxUnpacked = 1 << 20
	img := imageOf(t, v1.Config{}, layerOf(t, file("zeros", strings.Repeat("\x00", 2<<20))))
	_, err := s.Import(dockerArchive(t, img, "bomb"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `entry "zeros": unpacks to more than the store allows for one image (1048576 bytes`)
	layers, _ := os.ReadDir(filepath.Join(s.Root, "layers"))
	assert.Empty(t, layers)
}

func TestTooManyLayers(t *testing.T) {
	s := newStore(t)
	var ls []v1.Layer
	one := layerOf(t, file("f", "1"))
	for range MaxLayers + 1 {
		ls = append(ls, one)
	}
	img := imageOf(t, v1.Config{}, ls...)
	_, err := s.Import(ociLayout(t, img, "deep"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "image deep: it has 501 layers; overlayfs stacks at most 500")
}

func TestForgedBlobIsRefused(t *testing.T) {
	s := newStore(t)
	img := imageOf(t, v1.Config{}, layerOf(t, file("f", "genuine")))
	d := ociLayout(t, img, "forged")
	l, err := img.Layers()
	require.NoError(t, err)
	dg, err := l[0].Digest()
	require.NoError(t, err)
	// Replace the layer's blob with another layer's bytes.
	other, err := layerOf(t, file("f", "forged!")).Compressed()
	require.NoError(t, err)
	b, err := io.ReadAll(other)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d, "blobs", "sha256", dg.Hex), b, 0o644))
	_, err = s.Import(d, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "image forged: layer 1 (sha256:"+dg.Hex)
	assert.Contains(t, err.Error(), "the file is damaged or forged")
	_, err = s.Resolve("forged")
	assert.Error(t, err, "a refused image gets no name")
}

func TestMalformedAndEnormousManifests(t *testing.T) {
	s := newStore(t)
	d := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(d, "index.json"), []byte(`{"manifests": [`), 0o644))
	_, err := s.Import(d, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), d+": ")

	require.NoError(t, os.WriteFile(filepath.Join(d, "index.json"), bytes.Repeat([]byte(" "), maxMeta+1), 0o644))
	_, err = s.Import(d, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "index.json is 4194305 bytes, over the 4194304 a manifest may have")

	// A config and a manifest of more than 4 MiB, which the store would
	// read whole.
	big := strings.Repeat("x", maxMeta)
	_, err = s.Import(ociLayout(t, imageOf(t, v1.Config{Labels: map[string]string{"big": big}}, layerOf(t, file("f", "1"))), "bigcfg"), "")
	require.Error(t, err)
	assert.Regexp(t, `image bigcfg: its config is \d+ bytes, over 4194304`, err.Error())
	annotated := mutate.Annotations(imageOf(t, v1.Config{}, layerOf(t, file("f", "1"))), map[string]string{"big": big}).(v1.Image)
	_, err = s.Import(ociLayout(t, annotated, "bigmanifest"), "")
	require.Error(t, err)
	assert.Regexp(t, `manifest sha256:[0-9a-f]{64} is \d+ bytes, over 4194304`, err.Error(), "refused before it is read")

	arch := filepath.Join(t.TempDir(), "x.tar")
	require.NoError(t, os.WriteFile(arch, []byte("not a tar at all, not even close................"), 0o644))
	_, err = s.Import(arch, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.tar: not a tar archive")
}

func TestRemoveKeepsSharedLayersAndHeldImages(t *testing.T) {
	s := newStore(t)
	base := layerOf(t, file("base", "1"))
	_, err := s.Import(dockerArchive(t, imageOf(t, v1.Config{}, base, layerOf(t, file("a", "a"))), "a"), "")
	require.NoError(t, err)
	_, err = s.Import(dockerArchive(t, imageOf(t, v1.Config{}, base), "b"), "")
	require.NoError(t, err)
	require.NoError(t, s.Tag("a", "a2:x"))

	_, err = s.Remove(mustResolve(t, s, "a").ID, false)
	assert.ErrorContains(t, err, "has 2 names (a2:x, a:latest)")

	held, err := s.Hold("a")
	require.NoError(t, err)
	_, err = s.Remove("a", false)
	require.NoError(t, err, "one of two names")
	_, err = s.Remove("a2:x", false)
	assert.ErrorContains(t, err, "in use by a running sandbox")
	_, err = os.Stat(held.Layers[1])
	assert.NoError(t, err, "a held image's layers stay")
	held.Release()

	gone, err := s.Prune()
	require.NoError(t, err)
	assert.Contains(t, strings.Join(gone, "\n"), "deleted layer")
	_, err = os.Stat(held.Layers[1])
	assert.True(t, os.IsNotExist(err), "pruned once released")
	hb, err := s.Hold("b")
	require.NoError(t, err)
	defer hb.Release()
	_, err = os.Stat(filepath.Join(hb.Layers[0], "base"))
	assert.NoError(t, err, "the shared layer stays with b")
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{"busybox": "busybox:latest", "a/b:1": "a/b:1",
		"localhost:5000/x": "localhost:5000/x:latest", "localhost:5000/x:2": "localhost:5000/x:2"} {
		got, err := NormalizeName(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "a,b", "x@sha256:00", "a:", "a b"} {
		_, err := NormalizeName(bad)
		assert.Error(t, err, bad)
	}
}

// TestSaveOCIConvertsDockerTypes: an image that came with Docker media
// types is saved as OCI with OCI's, the layers' bytes and digests kept,
// since OCI tools read nothing else.
func TestSaveOCIConvertsDockerTypes(t *testing.T) {
	s := newStore(t)
	img := imageOf(t, v1.Config{}, layerOf(t, file("a", "1")))
	_, err := s.Import(dockerArchive(t, img, "dock:1"), "")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "oci.tar")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, s.Save(f, FormatOCI, "dock:1"))
	require.NoError(t, f.Close())
	other := newStore(t)
	_, err = other.Import(p, "")
	require.NoError(t, err)
	orig, back := mustResolve(t, s, "dock:1"), mustResolve(t, other, "dock:1")
	assert.Equal(t, string(types.DockerManifestSchema2), orig.ManifestType)
	assert.Equal(t, string(types.OCIManifestSchema1), back.ManifestType)
	assert.Equal(t, orig.ID, back.ID, "the config is the same bytes")
	assert.Equal(t, orig.Layers[0].Digest, back.Layers[0].Digest)
	assert.Equal(t, string(types.OCILayer), back.Layers[0].MediaType)
}

// TestSaveRoundTrip writes an image out in both formats and reads it
// back: the same image ID, and for OCI the very manifest it came with.
func TestSaveRoundTrip(t *testing.T) {
	s := newStore(t)
	img := imagetest.OCIImage(t, v1.Config{Cmd: []string{"/x"}}, tarOf(t, file("a", "1")), tarOf(t, file(".wh.a", "")))
	_, err := s.Import(ociLayout(t, img, "round:trip"), "")
	require.NoError(t, err)
	orig := mustResolve(t, s, "round:trip")
	for _, format := range []string{FormatDocker, FormatOCI} {
		t.Run(format, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "saved.tar")
			f, err := os.Create(p)
			require.NoError(t, err)
			require.NoError(t, s.Save(f, format, "round:trip"))
			require.NoError(t, f.Close())
			other := newStore(t)
			ims, err := other.Import(p, "")
			require.NoError(t, err)
			require.Len(t, ims, 1)
			assert.Equal(t, "round:trip", ims[0].Name)
			assert.Equal(t, orig.ID, ims[0].ID)
			back := mustResolve(t, other, "round:trip")
			assert.Equal(t, len(orig.Layers), len(back.Layers))
			for i := range orig.Layers {
				assert.Equal(t, orig.Layers[i].Digest, back.Layers[i].Digest)
				assert.Equal(t, orig.Layers[i].DiffID, back.Layers[i].DiffID)
			}
			if format == FormatOCI {
				assert.Equal(t, orig.Manifest, back.Manifest)
			}
		})
	}
}

func TestUsageCountsSharedLayers(t *testing.T) {
	s := newStore(t)
	base := layerOf(t, file("big", strings.Repeat("b", 10000)))
	_, err := s.Import(dockerArchive(t, imageOf(t, v1.Config{}, base, layerOf(t, file("a", "aaa"))), "a"), "")
	require.NoError(t, err)
	_, err = s.Import(dockerArchive(t, imageOf(t, v1.Config{}, base, layerOf(t, file("b", "bb"))), "b"), "")
	require.NoError(t, err)
	u, err := s.Usage()
	require.NoError(t, err)
	assert.Equal(t, 3, u.Layers)
	assert.Equal(t, 1, u.SharedLayers)
	assert.EqualValues(t, 10000+3+2, u.LayerBytes)
	assert.EqualValues(t, 10000, u.Saved)
	require.Len(t, u.Images, 2)
	for _, i := range u.Images {
		assert.Equal(t, 1, i.Shared)
		assert.Less(t, i.Unique, int64(10))
		assert.Greater(t, i.Bytes, int64(10000))
	}
	assert.Positive(t, u.BlobBytes)
}

// TestImportRootFSTarball imports a root's tarball, gzipped, as docker
// import does: one layer, named as asked.
func TestImportRootFSTarball(t *testing.T) {
	s := newStore(t)
	raw := tarOf(t, dir("etc"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), dir("bin"), file("bin/sh", "#!"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	p := filepath.Join(t.TempDir(), "root.tar.gz")
	require.NoError(t, os.WriteFile(p, gz.Bytes(), 0o644))
	ims, err := s.Import(p, "rootfs:1")
	require.NoError(t, err)
	require.Len(t, ims, 1)
	h, err := s.Hold("rootfs:1")
	require.NoError(t, err)
	defer h.Release()
	require.Len(t, h.Layers, 1)
	got, err := os.ReadFile(filepath.Join(h.Layers[0], "etc/passwd"))
	require.NoError(t, err)
	assert.Equal(t, "root:x:0:0::/root:/bin/sh\n", string(got))
	sum := sha256.Sum256(raw)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), h.Image.Layers[0].DiffID, "the DiffID is the uncompressed tar's")
	tmps, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	assert.Empty(t, tmps, "the compressed copy is gone")
}

// TestImportMultiPlatformLayout takes the image of this machine's
// platform from a layout that holds several under one name.
func TestImportMultiPlatformLayout(t *testing.T) {
	s := newStore(t)
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: imageOf(t, v1.Config{}, layerOf(t, file("arch", other))),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: imageOf(t, v1.Config{}, layerOf(t, file("arch", runtime.GOARCH))),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}})
	d := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(d, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refName: "multi:1"})))
	ims, err := s.Import(d, "")
	require.NoError(t, err)
	require.Len(t, ims, 1)
	h, err := s.Hold("multi:1")
	require.NoError(t, err)
	defer h.Release()
	got, err := os.ReadFile(filepath.Join(h.Layers[0], "arch"))
	require.NoError(t, err)
	assert.Equal(t, runtime.GOARCH, string(got))
}

// TestUnpackKeepsOwners unpacks as a store with subordinate ids does, in
// its namespace, where the owners of 64 Ki ids are the namespace's to
// give; as root on the host here, which may give them too. Owners beyond
// the range are refused by name, and the image's modes are kept exactly,
// since such a store removes its layers as their root.
func TestUnpackKeepsOwners(t *testing.T) {
	testutil.NeedRoot(t, "only root may give files other owners outside a user namespace")
	tarOf := func(es ...imagetest.Entry) io.Reader { return bytes.NewReader(imagetest.Tar(t, es...)) }
	owned := imagetest.Owned
	dir := t.TempDir()
	budget := int64(1 << 20)
	rep, err := unpackLayer(tarOf(
		owned(imagetest.Dir("home/bob"), 1000, 1000),
		owned(imagetest.File("home/bob/note", "x"), 1000, 1000),
		owned(imagetest.File("etc/shadow", "s"), 0, 42),
		owned(imagetest.Symlink("home/bob/link", "note"), 1000, 1001),
		owned(imagetest.Entry{Name: "ro", Type: tar.TypeDir, Mode: 0o555}, 7, 8),
		owned(imagetest.File("ro/f", "f"), 65535, 65535),
	), dir, &budget, &owners{UIDs: 65536, GIDs: 65536})
	require.NoError(t, err)
	assert.Zero(t, rep.Squashed)
	for _, c := range []struct {
		name     string
		uid, gid uint32
		mode     uint32
	}{
		{"home/bob", 1000, 1000, 0o755},
		{"home/bob/note", 1000, 1000, 0o644},
		{"etc/shadow", 0, 42, 0o644},
		{"home/bob/link", 1000, 1001, 0o777},
		{"ro", 7, 8, 0o555},
		{"ro/f", 65535, 65535, 0o644},
		{"home", 0, 0, 0o755},
	} {
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(filepath.Join(dir, c.name), &st), c.name)
		assert.Equal(t, [2]uint32{c.uid, c.gid}, [2]uint32{st.Uid, st.Gid}, "owner of %s", c.name)
		assert.Equal(t, c.mode, st.Mode&0o7777, "mode of %s", c.name)
	}

	_, err = unpackLayer(tarOf(owned(imagetest.File("far", "x"), 65536, 0)), t.TempDir(), &budget, &owners{UIDs: 65536, GIDs: 65536})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `entry "far": owned by 65536:0, beyond the 65536 user and 65536 group ids`)

	squashed := t.TempDir()
	rep, err = unpackLayer(tarOf(owned(imagetest.File("a", "1"), 1000, 1000), imagetest.File("b", "2"),
		owned(imagetest.Entry{Name: "ro", Type: tar.TypeDir, Mode: 0o555}, 0, 5)), squashed, &budget, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Squashed, "what another user owns is counted as squashed")
	var st unix.Stat_t
	require.NoError(t, unix.Lstat(filepath.Join(squashed, "a"), &st))
	assert.Equal(t, [2]uint32{0, 0}, [2]uint32{st.Uid, st.Gid}, "a squashed store's files are its user's")
	require.NoError(t, unix.Lstat(filepath.Join(squashed, "ro"), &st))
	assert.Equal(t, uint32(0o755), st.Mode&0o7777, "its directories stay open to its user")
}

// TestLaterEntryReplacesDirectory: a file entry after a directory of the
// same name replaces it, whether the directory is the parent the
// unpacker holds open for the next entries or holds one of them.
func TestLaterEntryReplacesDirectory(t *testing.T) {
	dir := t.TempDir()
	budget := int64(1 << 20)
	_, err := unpackLayer(bytes.NewReader(imagetest.Tar(t,
		imagetest.Dir("etc"), imagetest.Dir("etc/app.conf"), imagetest.File("etc/app.conf/inner", "i"),
		imagetest.File("etc/app.conf", "conf"), imagetest.File("etc/other", "o"),
		imagetest.Dir("a/b/c"), imagetest.File("a/b/c/f", "f"), imagetest.File("a/b", "now a file"), imagetest.File("a/b2", "2"),
	)), dir, &budget, nil)
	require.NoError(t, err)
	for name, want := range map[string]string{"etc/app.conf": "conf", "etc/other": "o", "a/b": "now a file", "a/b2": "2"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(b), name)
	}
}
