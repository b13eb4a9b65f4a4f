package main_test

import (
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"jail/internal/imagetest"
	"jail/internal/testutil"
)

// The layers and images the tests import (internal/imagetest).
type tarEntry = imagetest.Entry

var (
	tfile     = imagetest.File
	tdir      = imagetest.Dir
	tlink     = imagetest.Symlink
	testLayer = imagetest.Layer
)

func testImage(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	return imagetest.Image(t, cfg, layers...)
}

// staticBusybox is the host's busybox, which the test images are made
// of; it must be static, for the images have no libraries.
func staticBusybox(t *testing.T) []byte {
	const bb = "/bin/busybox"
	f, err := elf.Open(bb)
	if err != nil {
		testutil.Skip(t, "a static %s is needed for the test images (apt-get install busybox-static): %v", bb, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			f.Close()
			testutil.Skip(t, "%s is dynamic; the test images need busybox-static", bb)
		}
	}
	f.Close()
	b, err := os.ReadFile(bb)
	require.NoError(t, err)
	return b
}

// busyboxLayer is a root with busybox, its shell and the users the tests
// name.
func busyboxLayer(t *testing.T, extra ...tarEntry) v1.Layer {
	es := []tarEntry{tdir("bin"), imagetest.Exec("bin/busybox", string(staticBusybox(t)))}
	for _, tool := range []string{"sh", "cat", "ls", "id", "rm", "echo", "test", "wc", "mkdir", "touch", "stat"} {
		es = append(es, tlink("bin/"+tool, "busybox"))
	}
	es = append(es, tdir("etc"),
		tfile("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1235:app:/home/app:/bin/sh\n"),
		tfile("etc/group", "root:x:0:\napp:x:1235:\nstaff:x:50:\n"),
		tdir("tmp"), tdir("root"), tdir("home"), tdir("home/app"))
	return testLayer(t, append(es, extra...)...)
}

// imageEnv is a store of the test user's own, for the runs of one test.
type imageEnv struct {
	j     *testutil.Jail
	store string
}

func newImageEnv(t *testing.T) *imageEnv {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	return &imageEnv{j: j, store: j.FixtureDir(t, "store")}
}

func (e *imageEnv) run(t *testing.T, args ...string) testutil.Result {
	t.Helper()
	return e.j.RunWith(t, testutil.Opts{Env: []string{"JAIL_STORE=" + e.store}}, args...)
}

// save writes img as `docker save` does, as a file the test user reads.
func (e *imageEnv) save(t *testing.T, img v1.Image, ref string) string {
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, tarball.Write(tag, img, &b))
	return e.j.Fixture(t, "archive-"+strings.NewReplacer(":", "-", "/", "-").Replace(ref)+".tar", b.String(), 0o644)
}

func (e *imageEnv) importImage(t *testing.T, img v1.Image, ref string) {
	t.Helper()
	r := e.run(t, "image", "import", e.save(t, img, ref))
	require.Equal(t, 0, r.ExitCode, "%s", r)
	require.Contains(t, r.Stdout, "imported "+ref+" sha256:")
}

// TestImageLayersStackInTheSandbox runs in an image of three layers:
// files of every layer are there, a later layer's whiteout and opaque
// directory hide what earlier ones had, the config gives the program,
// its environment and working directory, and what PROG changes in the
// image lives only as long as the run.
func TestImageLayersStackInTheSandbox(t *testing.T) {
	e := newImageEnv(t)
	img := testImage(t, v1.Config{
		Env: []string{"PATH=/bin", "GREETING=hi from the image"}, WorkingDir: "/srv",
		Cmd: []string{"/bin/sh", "-c", "cat hello.txt; echo $GREETING; id -u; pwd"},
	},
		busyboxLayer(t, tdir("data"), tfile("data/old", "1"), tfile("gone.txt", "x")),
		testLayer(t, tdir("data"), tfile("data/.wh..wh..opq", ""), tfile("data/new", "2"), tfile(".wh.gone.txt", "")),
		testLayer(t, tdir("srv"), tfile("srv/hello.txt", "hello\n")))
	e.importImage(t, img, "example.test/stack:1")

	r := e.run(t, "run", "--image", "example.test/stack:1")
	requireOK(t, r)
	assert.Equal(t, "hello\nhi from the image\n0\n/srv\n", r.Stdout, "the image's Cmd, Env, WorkingDir and root user")
	assert.Contains(t, r.Report.Isolation.Root, "image example.test/stack:1 (3 layers)")

	r = e.run(t, "run", "--image", "example.test/stack:1", "--", "sh", "-c",
		"ls /data; test -e /gone.txt || echo gone; echo $HOME")
	requireOK(t, r)
	assert.Equal(t, "new\ngone\n/root\n", r.Stdout, "the opaque directory hides data/old, the whiteout gone.txt")

	// Removing a directory of a lower layer works (userxattr's opaque
	// marks on the tmpfs upper), and the next run has it back.
	r = e.run(t, "run", "--image", "example.test/stack:1", "--", "sh", "-c",
		"rm -rf /data /srv && test ! -e /data && echo removed && echo x > /bin/planted && mkdir /newdir")
	requireOK(t, r)
	assert.Equal(t, "removed\n", r.Stdout)
	r = e.run(t, "run", "--image", "example.test/stack", "--", "sh", "-c", "ls /data; test -e /bin/planted || echo clean")
	assert.NotEqual(t, 0, r.ExitCode, "example.test/stack means :latest, which is not in the store: %s", r)
	assert.Contains(t, r.Stderr, `image "example.test/stack" is not in the store`)
	r = e.run(t, "run", "--image", "example.test/stack:1", "--", "sh", "-c", "ls /data; test -e /bin/planted || echo clean")
	requireOK(t, r)
	assert.Equal(t, "new\nclean\n", r.Stdout)
}

// TestImageUserAndOverrides: the config's User is resolved in the image's
// own /etc/passwd and /etc/group; flags win over the config.
func TestImageUserAndOverrides(t *testing.T) {
	e := newImageEnv(t)
	base := busyboxLayer(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, User: "app",
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"id -u; id -g; echo $HOME"}}, base), "user:app")
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, User: "app:staff"}, base), "user:group")
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, User: "nosuch"}, base), "user:missing")

	r := e.run(t, "run", "--image", "user:app")
	requireOK(t, r)
	assert.Equal(t, "1234\n1235\n/home/app\n", r.Stdout)
	// Arguments replace Cmd and keep the Entrypoint, as with docker run.
	r = e.run(t, "run", "--image", "user:app", "--", "echo entry; id -u")
	requireOK(t, r)
	assert.Equal(t, "entry\n1234\n", r.Stdout)
	r = e.run(t, "run", "--image", "user:app", "--uid", "7", "-w", "/tmp", "-e", "HOME=/x", "--", "id -u; pwd; echo $HOME")
	requireOK(t, r)
	assert.Equal(t, "7\n/tmp\n/x\n", r.Stdout)
	r = e.run(t, "run", "--image", "user:group", "--", "id", "-g")
	requireOK(t, r)
	assert.Equal(t, "50\n", r.Stdout)
	r = e.run(t, "run", "--image", "user:missing", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, `jail: --image: image user:missing: its User "nosuch": no such user in the image's /etc/passwd; give --uid`)
	r = e.run(t, "run", "--image", "user:missing", "--uid", "5", "--gid", "5", "--", "id", "-u")
	requireOK(t, r)
	assert.Equal(t, "5\n", r.Stdout, "with both ids given, the image's User is not needed")
	r = e.run(t, "run", "--image", "user:app", "--rootfs", "/", "--", "true")
	assert.Equal(t, 125, r.ExitCode)
	assert.Contains(t, r.Stderr, "give --rootfs or --image, not both")
}

// TestImageManyLayers stacks more layers than fit in one page of mount(2)
// options, which the init passes one by one through fsconfig.
func TestImageManyLayers(t *testing.T) {
	e := newImageEnv(t)
	layers := []v1.Layer{busyboxLayer(t)}
	const n = 300
	for i := range n {
		layers = append(layers, testLayer(t, tdir("many"), tfile(fmt.Sprintf("many/f%03d", i), "x")))
	}
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, layers...), "many:1")
	r := e.run(t, "run", "--image", "many:1", "--", "sh", "-c", "ls /many | wc -l")
	if !kernelAtLeast(t, 6, 8) {
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Contains(t, r.Stderr, "a root of 301 layers needs Linux 6.8 (overlayfs's lowerdir+)")
		return
	}
	requireOK(t, r)
	assert.Equal(t, fmt.Sprint(n), strings.TrimSpace(r.Stdout))

	// COPY --from stacks them too, past a page of mount options.
	dir := e.j.FixtureDir(t, "ctx-many")
	e.j.Fixture(t, "ctx-many/Dockerfile", "FROM scratch\nCOPY --from=many:1 /many /many\nCOPY --from=many:1 /bin /bin\n", 0o644)
	r = e.run(t, "build", "-t", "many-copied:1", dir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "many-copied:1", "--", "sh", "-c", "ls /many | wc -l")
	requireOK(t, r)
	assert.Equal(t, fmt.Sprint(n), strings.TrimSpace(r.Stdout))
}

// TestImageCommands walks the store's commands as a user would.
func TestImageCommands(t *testing.T) {
	e := newImageEnv(t)
	base := busyboxLayer(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"echo", "one"}}, base), "one:1")

	// An OCI layout directory, as skopeo and buildah write them.
	d := e.j.FixtureDir(t, "oci")
	p, err := layout.Write(d, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(testImage(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"echo", "two"}}, base),
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "two:2"})))
	chownTree(t, e.j, d)
	r := e.run(t, "image", "import", d)
	require.Equal(t, 0, r.ExitCode, "%s", r)

	r = e.run(t, "image", "ls")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "one:1")
	assert.Contains(t, r.Stdout, "two:2")

	r = e.run(t, "image", "tag", "two:2", "deux")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "deux")
	requireOK(t, r)
	assert.Equal(t, "two\n", r.Stdout)

	r = e.run(t, "image", "inspect", "one:1")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, `"cmd": [`)

	r = e.run(t, "image", "rm", "one:1")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "untagged one:1\n")
	assert.Contains(t, r.Stdout, "deleted sha256:")
	assert.NotContains(t, r.Stdout, "deleted layer", "the base layer is two's too")
	r = e.run(t, "run", "--image", "two:2")
	requireOK(t, r)

	// A hostile archive is refused in one line naming image, layer and entry.
	bad := testImage(t, v1.Config{}, testLayer(t, tlink("evil", "/etc"), tfile("evil/passwd", "x")))
	r = e.run(t, "image", "import", e.save(t, bad, "bad:1"))
	assert.Equal(t, 125, r.ExitCode)
	assert.Regexp(t, `^jail: .*archive-bad-1.tar: image bad:1: layer 1 \(sha256:[0-9a-f]{64}\): entry "evil/passwd": its parent "evil" is not a directory of the layer`, r.Stderr)
	assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), "%s", r.Stderr)
}

// chownTree gives a directory the tests wrote to the test user.
func chownTree(t *testing.T, j *testutil.Jail, dir string) {
	require.NoError(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			j.Chown(t, p)
		}
		return err
	}))
}

// TestImageSaveIsReadByOtherTools: skopeo reads both archives jail image
// save writes, and umoci unpacks the OCI one into a root with the image's
// files.
func TestImageSaveIsReadByOtherTools(t *testing.T) {
	e := newImageEnv(t)
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.Skip(t, "%s is needed to check what jail image save writes (apt-get install %s)", tool, tool)
		}
	}
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"echo", "x"}},
		busyboxLayer(t), testLayer(t, tfile("marker", "layer two\n"))), "interop:1")
	out := e.j.FixtureDir(t, "saved")
	e.j.Chown(t, out)
	for _, format := range []string{"docker-archive", "oci-archive"} {
		file := filepath.Join(out, format+".tar")
		r := e.run(t, "image", "save", "-o", file, "--format", format, "interop:1")
		require.Equal(t, 0, r.ExitCode, "%s", r)
		got, err := exec.Command("skopeo", "inspect", format+":"+file).CombinedOutput()
		require.NoError(t, err, "skopeo inspect %s: %s", format, got)
		var v struct {
			Layers []string
			Env    []string
		}
		require.NoError(t, json.Unmarshal(got, &v), "%s", got)
		assert.Len(t, v.Layers, 2, "%s", got)
		assert.Equal(t, []string{"PATH=/bin"}, v.Env)
	}
	layoutDir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, os.Mkdir(layoutDir, 0o755))
	untar := exec.Command("tar", "-xmf", filepath.Join(out, "oci-archive.tar"), "-C", layoutDir)
	b, err := untar.CombinedOutput()
	require.NoError(t, err, "%s", b)
	bundle := filepath.Join(t.TempDir(), "bundle")
	b, err = exec.Command("umoci", "unpack", "--rootless", "--image", layoutDir+":interop:1", bundle).CombinedOutput()
	require.NoError(t, err, "umoci unpack: %s", b)
	marker, err := os.ReadFile(filepath.Join(bundle, "rootfs", "marker"))
	require.NoError(t, err)
	assert.Equal(t, "layer two\n", string(marker))
	_, err = os.Stat(filepath.Join(bundle, "rootfs", "bin", "busybox"))
	assert.NoError(t, err)
}

// registry is Debian's docker-registry (the reference distribution
// server) on loopback, with one user.
type registry struct {
	addr, user, pass string
}

func startRegistry(t *testing.T) *registry {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		testutil.Skip(t, "a registry is needed for push and pull (apt-get install docker-registry): %v", err)
	}
	dir := t.TempDir()
	reg := &registry{user: "judge", pass: "s3cret-" + marker()}
	hash, err := bcrypt.GenerateFromPassword([]byte(reg.pass), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(reg.user+":"+string(hash)+"\n"), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	reg.addr = ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s/data
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: jail-test
    path: %s/htpasswd
`, dir, reg.addr, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + reg.addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return reg
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s does not answer after 20 s: %v\n%s", reg.addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dockerConfig writes a Docker config file holding the registry's
// credentials, as docker login does, for the test user to read.
func (reg *registry) dockerConfig(t *testing.T, j *testutil.Jail) string {
	auth := base64.StdEncoding.EncodeToString([]byte(reg.user + ":" + reg.pass))
	j.Fixture(t, "docker/config.json", fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.addr, auth), 0o600)
	return filepath.Join(j.Dir, "fixtures", "docker")
}

// TestImageRegistryPushPullRun pushes an image to a registry on loopback
// with the Docker config file's credentials, checks it with skopeo,
// pulls it into another store and runs it.
func TestImageRegistryPushPullRun(t *testing.T) {
	reg := startRegistry(t)
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh", "-c", "cat /hello"}},
		busyboxLayer(t), testLayer(t, tfile("hello", "pulled and run\n"))), "local/app:1")
	ref := reg.addr + "/team/app:1"

	r := e.run(t, "image", "push", "local/app:1", ref)
	assert.NotEqual(t, 0, r.ExitCode, "no credentials: %s", r)
	assert.Contains(t, r.Stderr, "pushing local/app:1 to "+ref)
	assert.Contains(t, r.Stderr, "refused the credentials, or wants some and none were found: log in (docker login "+reg.addr+")")
	assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), "%s", r.Stderr)

	withCreds := testutil.Opts{Env: []string{"JAIL_STORE=" + e.store, "DOCKER_CONFIG=" + reg.dockerConfig(t, e.j)}}
	r = e.j.RunWith(t, withCreds, "image", "push", "local/app:1", ref)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Regexp(t, `^pushed `+regexp.QuoteMeta(ref)+` sha256:[0-9a-f]{64}\n$`, r.Stdout)

	got, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--creds", reg.user+":"+reg.pass, "docker://"+ref).CombinedOutput()
	require.NoError(t, err, "skopeo inspect: %s", got)
	assert.Contains(t, string(got), `"PATH=/bin"`)

	other2 := &imageEnv{j: e.j, store: e.j.FixtureDir(t, "store2")}
	withCreds.Env[0] = "JAIL_STORE=" + other2.store
	r = e.j.RunWith(t, withCreds, "image", "pull", ref)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "pulled "+ref+" sha256:")
	r = other2.run(t, "run", "--image", ref)
	requireOK(t, r)
	assert.Equal(t, "pulled and run\n", r.Stdout)

	// On a terminal, a pull draws its progress.
	master, slave := openPTY(t)
	if e.j.Cred != nil {
		require.NoError(t, slave.Chown(int(e.j.Cred.Uid), int(e.j.Cred.Gid)))
	}
	var drawn bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&drawn, master); close(copied) }()
	onTTY := testutil.Opts{Env: []string{"JAIL_STORE=" + e.j.FixtureDir(t, "store3"), withCreds.Env[1]}, Stderr: slave}
	r = e.j.RunWith(t, onTTY, "image", "pull", ref)
	slave.Close()
	<-copied
	require.Equal(t, 0, r.ExitCode, "%s %s", r, drawn.String())
	assert.Contains(t, drawn.String(), "pulling "+ref+": ")
	assert.Contains(t, drawn.String(), "(100%)")

	// A multi-platform index: the pull takes this machine's platform.
	plat := func(arch string) v1.Image {
		return imagetest.Image(t, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"cat", "/platform"}},
			busyboxLayer(t), testLayer(t, tfile("platform", arch+"\n")))
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: plat(other), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: plat(runtime.GOARCH), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}})
	multi, err := name.ParseReference(reg.addr+"/team/multi:1", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(multi, idx, remote.WithAuth(&authn.Basic{Username: reg.user, Password: reg.pass})))
	r = e.j.RunWith(t, withCreds, "image", "pull", multi.String())
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = other2.run(t, "run", "--image", multi.String())
	requireOK(t, r)
	assert.Equal(t, runtime.GOARCH+"\n", r.Stdout)

	r = e.j.RunWith(t, withCreds, "image", "pull", reg.addr+"/team/absent:1")
	assert.NotEqual(t, 0, r.ExitCode)
	assert.Contains(t, r.Stderr, "pulling "+reg.addr+"/team/absent:1")
	assert.Contains(t, r.Stderr, reg.addr+" has no "+reg.addr+"/team/absent:1")
}

// debianTarball is a Debian root made by mmdebstrap --mode=unshare as
// the test user (an ordinary user: useradd gives it a subuid range),
// minbase with python3, kept in a cache directory between runs: it
// downloads from the machine's Debian mirror.
func debianTarball(t *testing.T, j *testutil.Jail) string {
	const name = "debian-bookworm-minbase-python3.tar"
	cache := os.Getenv("JAIL_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/jail-tests"
	}
	p := filepath.Join(cache, name)
	if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) < 30*24*time.Hour {
		return p
	}
	bin, err := exec.LookPath("mmdebstrap")
	if err != nil {
		testutil.Skip(t, "mmdebstrap makes the Debian image (apt-get install mmdebstrap): %v", err)
	}
	require.NoError(t, os.MkdirAll(cache, 0o755))
	work, err := os.MkdirTemp(cache, "part-")
	require.NoError(t, err)
	defer os.RemoveAll(work)
	require.NoError(t, os.Chmod(work, 0o755))
	j.Chown(t, work)
	// mmdebstrap picks its output's format by the name's extension.
	out := filepath.Join(work, name)
	cmd := exec.Command(bin, "--mode=unshare", "--variant=minbase", "--include=python3-minimal", "bookworm", out)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + work, "TMPDIR=" + work}
	if j.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	}
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "mmdebstrap --mode=unshare as the test user (it needs a range in /etc/subuid and /etc/subgid): %s", b)
	require.NoError(t, os.Rename(out, p))
	return p
}

// TestImageDebian runs a real Debian root as an image: python3, dpkg and
// apt-get's offline checks, rm -rf of the image's directories; then
// builds on it, a RUN's deletions becoming the next layer's whiteouts.
func TestImageDebian(t *testing.T) {
	e := newImageEnv(t)
	tarball := debianTarball(t, e.j)
	r := e.run(t, "image", "import", "--name", "debian:bookworm", tarball)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "left out device nodes, which sandboxes cannot have: dev/")
	assert.Contains(t, r.Stderr, "dropped the setuid/setgid bits, which sandboxes ignore: ")

	r = e.run(t, "run", "--image", "debian:bookworm", "--", "sh", "-c", `set -e
		grep -q 'VERSION_CODENAME=bookworm' /etc/os-release
		python3 -c 'import sys, os; print("py", sys.version_info[0], os.getuid())'
		dpkg -l | grep -c '^ii' > /tmp/n; test "$(cat /tmp/n)" -gt 50
		apt-get check -q=2
		dpkg --audit
		rm -rf /usr/share/doc /var/lib/dpkg/info /etc/apt
		test ! -e /usr/share/doc && test ! -e /etc/apt
		echo done`)
	requireOK(t, r)
	assert.Equal(t, "py 3 0\ndone\n", r.Stdout)
	r = e.run(t, "run", "--image", "debian:bookworm", "--", "test", "-d", "/usr/share/doc")
	requireOK(t, r)

	// Debian's own owners, where the store keeps them: the shadow group's
	// /etc/shadow, apt's _apt cache.
	mapped := storeIDs(t, e.store) != nil
	r = e.run(t, "run", "--image", "debian:bookworm", "--", "stat", "-c", "%U:%G", "/etc/shadow", "/var/cache/apt/archives/partial")
	requireOK(t, r)
	if mapped {
		assert.Equal(t, "root:shadow\n_apt:root\n", r.Stdout)
	} else {
		assert.Equal(t, "root:root\nroot:root\n", r.Stdout)
	}

	// A RUN that adds a user and works as it, as Dockerfiles do; its
	// files keep that user in the layer.
	addUser := ""
	if mapped {
		addUser = "RUN useradd -m -u 1500 carol && setpriv --reuid carol --regid carol --init-groups touch /home/carol/mine\n"
	}
	ctxDir := e.j.FixtureDir(t, "debian-ctx")
	e.j.Fixture(t, "debian-ctx/Dockerfile", "FROM debian:bookworm\n"+
		"RUN rm -rf /usr/share/doc && python3 -c \"open('/srv/made','w').write('by python')\"\n"+addUser+
		"CMD [\"sh\", \"-c\", \"cat /srv/made; test -e /usr/share/doc || echo doc-gone; dpkg -l | grep -c ^ii >/dev/null && echo dpkg-ok\"]\n", 0o644)
	r = e.run(t, "build", "-t", "debian-built:1", ctxDir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "debian-built:1")
	requireOK(t, r)
	assert.Equal(t, "by pythondoc-gone\ndpkg-ok\n", r.Stdout)
	if mapped {
		r = e.run(t, "run", "--image", "debian-built:1", "--", "stat", "-c", "%U:%G %u", "/home/carol/mine", "/home/carol")
		requireOK(t, r)
		assert.Equal(t, "carol:carol 1500\ncarol:carol 1500\n", r.Stdout)
	}
}

// TestServeImage: a task names an image of the server's store; its
// layers are the root and its Env holds (the working directory is the
// task's, with its files), and an image the store lacks is a field error.
func TestServeImage(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin", "FROM_IMAGE=yes"}, WorkingDir: "/srv",
		Entrypoint: []string{"/bin/false"}}, busyboxLayer(t), testLayer(t, tdir("srv"), tfile("srv/marker", "served from the image\n"))), "srv:1")
	// With a pool of the default root: an image task must not take one
	// of its sandboxes, and a plain task still does.
	s := serve(t, "unix", "--store", e.store, "--pool", "default=1")
	s.awaitReady(t)
	v := s.judgeTask(t, map[string]any{"image": "srv:1",
		"steps": []map[string]any{{"argv": []string{"sh", "-c", "cat /srv/marker; echo $FROM_IMAGE"}}}})
	assert.Equal(t, "OK", v.Result.Verdict, "%+v", v.Result)
	assert.Equal(t, "served from the image\nyes\n", v.Result.Run.Output.Text, "the task's argv, not the image's Entrypoint")
	require.NotNil(t, v.Result.Run.PoolHit)
	assert.False(t, *v.Result.Run.PoolHit, "an image task ran in a pooled sandbox of the default root")
	plain := s.judgeTask(t, stepsTask(nil, "/bin/sh", "-c", "test -e /srv/marker || echo host-root"))
	assert.Equal(t, "host-root\n", plain.Result.Run.Output.Text)
	require.NotNil(t, plain.Result.Run.PoolHit)
	assert.True(t, *plain.Result.Run.PoolHit, "the pool was there for a plain task")

	code, b := s.do(t, s.client, http.MethodPost, "/v1/runs?wait=60s", map[string]any{"image": "absent:1",
		"steps": []map[string]any{{"argv": []string{"true"}}}})
	assert.Equal(t, http.StatusUnprocessableEntity, code, "%s", b)
	assert.Contains(t, string(b), `"field":"image"`)
	assert.Contains(t, string(b), `is not in the store`)
}
