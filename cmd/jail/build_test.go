package main_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

const testDockerfile = `FROM base:1
ARG GREETING=hello
ENV APP=/app
WORKDIR /app
COPY . .
COPY --chown=app:app data.txt /data/
ADD bundle.tar.gz /opt/
RUN echo "$GREETING from RUN" > made.txt && rm /gone.txt && echo in-tmp > /tmp/keep
RUN cat /tmp/keep >> /app/made.txt
USER app
EXPOSE 8080
LABEL org.example.test=yes
CMD ["sh", "-c", "cat /app/made.txt; ls /opt/bundled; id -u; test -e /gone.txt || echo gone; ls /app"]
`

// gzTar is a .tar.gz of the given files.
func gzTar(t *testing.T, files map[string]string) string {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return b.String()
}

// TestBuild builds an image from a Dockerfile on a busybox base, runs it,
// rebuilds it from the cache, and rebuilds after a change to the context.
func TestBuild(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, busyboxLayer(t, tfile("gone.txt", "x"))), "base:1")
	ctxDir := e.j.FixtureDir(t, "ctx")
	e.j.Fixture(t, "ctx/Dockerfile", testDockerfile, 0o644)
	e.j.Fixture(t, "ctx/main.txt", "v1", 0o644)
	e.j.Fixture(t, "ctx/data.txt", "data", 0o644)
	e.j.Fixture(t, "ctx/secret.key", "never in the image", 0o600)
	e.j.Fixture(t, "ctx/.dockerignore", "secret.key\n*.tar.gz\n!bundle.tar.gz\n", 0o644)
	e.j.Fixture(t, "ctx/bundle.tar.gz", gzTar(t, map[string]string{"bundled/file": "in the bundle"}), 0o644)

	r := e.run(t, "build", "-t", "built:1", "--build-arg", "GREETING=hi", ctxDir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "step 8/13: RUN ")
	assert.Regexp(t, `built built:1 sha256:[0-9a-f]{64} \(13 steps: 2 ran, 0 from the cache\)`, r.Stdout)
	firstBuild := r

	r = e.run(t, "run", "--image", "built:1")
	requireOK(t, r)
	assert.Equal(t, "hi from RUN\nin-tmp\nfile\n1234\ngone\nDockerfile\nbundle.tar.gz\ndata.txt\nmade.txt\nmain.txt\n", r.Stdout,
		"ARG, ENV, WORKDIR, COPY (without what .dockerignore names), --chown, ADD's unpacking, both RUNs' layers (/tmp kept between them), USER and CMD")

	r = e.run(t, "image", "inspect", "built:1")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	var insp []struct {
		Config struct {
			Env          []string            `json:"env"`
			User         string              `json:"user"`
			WorkingDir   string              `json:"working_dir"`
			ExposedPorts map[string]struct{} `json:"exposed_ports"`
			Labels       map[string]string   `json:"labels"`
		} `json:"config"`
		Layers []json.RawMessage `json:"layers"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &insp), "%s", r.Stdout)
	require.Len(t, insp, 1)
	c := insp[0].Config
	assert.Equal(t, []string{"PATH=/bin", "APP=/app"}, c.Env)
	assert.Equal(t, "app", c.User)
	assert.Equal(t, "/app", c.WorkingDir)
	assert.Contains(t, c.ExposedPorts, "8080/tcp")
	assert.Equal(t, "yes", c.Labels["org.example.test"])
	assert.Len(t, insp[0].Layers, 1+5, "the base's and one for each COPY, ADD and RUN")

	firstID := regexp.MustCompile(`built built:1 (sha256:[0-9a-f]{64})`).FindStringSubmatch(firstBuild.Stdout)
	require.Len(t, firstID, 2)
	r = e.run(t, "build", "-t", "built:1", "--build-arg", "GREETING=hi", ctxDir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "(13 steps: 0 ran, 5 from the cache)", "nothing changed: no RUN")
	assert.Contains(t, r.Stdout, "built built:1 "+firstID[1], "the same image, so no unnamed one is left behind")

	e.j.Fixture(t, "ctx/main.txt", "v2", 0o644)
	r = e.run(t, "build", "-t", "built:2", "--build-arg", "GREETING=hi", ctxDir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "(13 steps: 2 ran, 0 from the cache)", "a copied file changed: every later step runs")
	r = e.run(t, "run", "--image", "built:2", "--", "cat", "/app/main.txt")
	requireOK(t, r)
	assert.Equal(t, "v2", r.Stdout)

	// Inside, every file is the run's user's (one id is mapped), so the
	// owner --chown gave is read where the image keeps it: its layer.
	saved := filepath.Join(e.j.FixtureDir(t, "saved-docker"), "built.tar")
	e.j.Chown(t, filepath.Dir(saved))
	r = e.run(t, "image", "save", "-o", saved, "built:1")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Equal(t, [2]int{1234, 1235}, ownerInArchive(t, saved, "data/data.txt"))
	assert.Equal(t, [2]int{0, 0}, ownerInArchive(t, saved, "app/main.txt"))

	if _, err := exec.LookPath("skopeo"); err == nil {
		out := filepath.Join(e.j.FixtureDir(t, "saved-build"), "built.tar")
		e.j.Chown(t, filepath.Dir(out))
		r = e.run(t, "image", "save", "--format", "oci-archive", "-o", out, "built:1")
		require.Equal(t, 0, r.ExitCode, "%s", r)
		got, err := exec.Command("skopeo", "inspect", "oci-archive:"+out).CombinedOutput()
		require.NoError(t, err, "%s", got)
		assert.Contains(t, string(got), `"org.example.test": "yes"`)
		// umoci unpacks it, with the RUN's file and its deletion.
		layoutDir := filepath.Join(t.TempDir(), "layout")
		require.NoError(t, os.Mkdir(layoutDir, 0o755))
		got, err = exec.Command("tar", "-xmf", out, "-C", layoutDir).CombinedOutput()
		require.NoError(t, err, "%s", got)
		bundle := filepath.Join(t.TempDir(), "bundle")
		got, err = exec.Command("umoci", "unpack", "--rootless", "--image", layoutDir+":built:1", bundle).CombinedOutput()
		require.NoError(t, err, "umoci unpack: %s", got)
		made, err := os.ReadFile(filepath.Join(bundle, "rootfs", "app", "made.txt"))
		require.NoError(t, err)
		assert.Equal(t, "hi from RUN\nin-tmp\n", string(made))
		assert.NoFileExists(t, filepath.Join(bundle, "rootfs", "gone.txt"), "the RUN's rm is a whiteout umoci applies")
	} else if testutil.MustWork() {
		t.Fatal("skopeo is needed to check what jail build makes")
	}
}

// TestBuildFailures: a failing RUN names its line and status and keeps
// no image; unsupported instructions say so.
func TestBuildFailures(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, busyboxLayer(t)), "base:1")
	for _, tc := range []struct{ name, dockerfile, want string }{
		{"run-fails", "FROM base:1\nRUN echo partial > /x\nRUN exit 3\n", `Dockerfile:3: RUN: "/bin/sh -c exit 3" exited with status 3`},
		{"no-base", "FROM absent:1\n", `FROM absent:1: image "absent:1" is not in the store`},
		{"copy-outside", "FROM base:1\nCOPY ../../etc/passwd /x\n", "../../etc/passwd: not in the build context"},
		{"run-mount", "FROM base:1\nRUN --mount=type=cache,target=/c true\n", "RUN --mount is not supported by jail build"},
		{"no-network", "FROM base:1\nRUN cat /sys/class/net/*/operstate | grep -q up || exit 9\n", "exited with status 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := e.j.FixtureDir(t, "ctx-"+tc.name)
			e.j.Fixture(t, "ctx-"+tc.name+"/Dockerfile", tc.dockerfile, 0o644)
			r := e.run(t, "build", "-t", "failed:"+tc.name, dir)
			assert.Equal(t, 125, r.ExitCode, "%s", r)
			assert.Contains(t, r.Stderr, tc.want)
			assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), "%s", r.Stderr)
			r = e.run(t, "image", "ls")
			assert.NotContains(t, r.Stdout, "failed:"+tc.name)
		})
	}
}

// ownerInArchive finds name in the layers of a docker-archive and returns
// its tar owner.
func ownerInArchive(t *testing.T, archive, name string) [2]int {
	img, err := tarball.ImageFromPath(archive, nil)
	require.NoError(t, err)
	layers, err := img.Layers()
	require.NoError(t, err)
	for _, l := range layers {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == name {
				rc.Close()
				return [2]int{h.Uid, h.Gid}
			}
		}
		rc.Close()
	}
	t.Fatalf("%s is in no layer of %s", name, archive)
	return [2]int{}
}

// TestBuildStages: a stage is the base of a later one, and SHELL changes
// how RUN and CMD's shell forms run.
func TestBuildStages(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, busyboxLayer(t)), "base:1")
	dir := e.j.FixtureDir(t, "ctx-stages")
	e.j.Fixture(t, "ctx-stages/Dockerfile", `FROM base:1 AS first
RUN echo from-first > /first
FROM first
SHELL ["/bin/sh", "-e", "-c"]
RUN cat /first > /second; echo "$0" >> /second
CMD cat /second
`, 0o644)
	r := e.run(t, "build", "-t", "staged:1", dir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "staged:1")
	requireOK(t, r)
	assert.Equal(t, "from-first\n/bin/sh\n", r.Stdout)
}

// TestBuildCopyFrom copies out of an earlier stage (by name and by index)
// and out of an image of the store, as their layers stack: a file a
// later layer deleted is not there, owners are kept unless --chown, and
// a link the stage planted is copied as a link, never followed out of
// the stage's root.
func TestBuildCopyFrom(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}},
		busyboxLayer(t, tfile("base-only", "b")), testLayer(t, tfile(".wh.base-only", ""), tdir("srv"), tfile("srv/kept", "k"))), "base:1")
	dir := e.j.FixtureDir(t, "ctx-from")
	e.j.Fixture(t, "ctx-from/Dockerfile", `FROM base:1 AS build
RUN mkdir -p /out/sub && echo one > /out/a && echo two > /out/sub/b && chown 1234:1235 /out/a
RUN rm /out/sub/b && echo three > /out/c && ln -s /etc/passwd /out/host-link && ln -s / /root-link
FROM scratch
COPY --from=build /bin /bin
COPY --from=build /out /dst
COPY --from=0 /srv/kept /etc/passwd /etc/
COPY --from=base:1 --chown=7:8 /srv /srv-chowned
COPY --from=build / /whole
CMD ["/bin/sh", "-c", "cd /dst && ls -A . sub; cat a c; stat -c '%u:%g %n' a c /srv-chowned/kept; readlink host-link; ls /etc; test -e /whole/base-only || echo base-only-gone"]
`, 0o644)
	r := e.run(t, "build", "-t", "from:1", dir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "from:1")
	requireOK(t, r)
	assert.Equal(t, ".:\na\nc\nhost-link\nsub\n\nsub:\none\nthree\n1234:1235 a\n0:0 c\n7:8 /srv-chowned/kept\n/etc/passwd\nkept\npasswd\nbase-only-gone\n", r.Stdout)

	// A path through a link that leaves the stage's root is refused.
	e.j.Fixture(t, "ctx-from/Dockerfile", "FROM base:1 AS build\nRUN ln -s / /root-link\nFROM scratch\nCOPY --from=build /root-link/etc/passwd /p\n", 0o644)
	r = e.run(t, "build", "-t", "from:2", dir)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "COPY: --from=build: /root-link/etc/passwd: ")
	assert.Contains(t, r.Stderr, "(links are followed only inside the image it copies from)")
	for _, bad := range []struct{ from, want string }{
		{"missing:1", `--from=missing:1: image "missing:1" is not in the store`},
		{"5", "--from=5: no stage 5 has been built before this one"},
	} {
		e.j.Fixture(t, "ctx-from/Dockerfile", "FROM scratch\nCOPY --from="+bad.from+" /x /x\n", 0o644)
		r = e.run(t, "build", "-t", "from:3", dir)
		assert.Equal(t, 125, r.ExitCode, "%s", r)
		assert.Contains(t, r.Stderr, bad.want)
	}
	e.j.Fixture(t, "ctx-from/Dockerfile", "FROM base:1 AS build\nFROM scratch\nCOPY --from=build /nothing-here /x\n", 0o644)
	r = e.run(t, "build", "-t", "from:4", dir)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "/nothing-here: not in the image it copies from")
}

// TestBuildHeredocsChmodHealthcheckOnbuild: the Dockerfile forms beyond
// the basics that images are written with: RUN and COPY heredocs (a
// script, one with #!, one inside a longer command), COPY --chmod,
// HEALTHCHECK kept in the config, and ONBUILD triggers that run when a
// later build starts FROM the image.
func TestBuildHeredocsChmodHealthcheckOnbuild(t *testing.T) {
	e := newImageEnv(t)
	e.importImage(t, testImage(t, v1.Config{Env: []string{"PATH=/bin"}}, busyboxLayer(t)), "base:1")
	dir := e.j.FixtureDir(t, "ctx-forms")
	e.j.Fixture(t, "ctx-forms/tool", "#!/bin/sh\necho tool\n", 0o600)
	e.j.Fixture(t, "ctx-forms/Dockerfile", `# syntax=docker/dockerfile:1
FROM base:1
ARG WHO=heredoc
RUN <<EOF
echo "script by $WHO" > /script
echo second line >> /script
EOF
RUN <<EOF
#!/bin/sh -e
echo "shebang $0" > /shebang
EOF
RUN cat <<EOF > /inline
inline text
EOF
COPY <<EOF /etc/app.conf
name=$WHO
EOF
COPY --chmod=0750 tool /usr/local/bin/
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD ["/bin/true"]
ONBUILD RUN echo triggered > /onbuild
`, 0o644)
	r := e.run(t, "build", "-t", "forms:1", dir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	r = e.run(t, "run", "--image", "forms:1", "--", "sh", "-c",
		"cat /script /shebang /inline /etc/app.conf; stat -c '%a %n' /usr/local/bin/tool /etc/app.conf; /usr/local/bin/tool; test -e /onbuild || echo no-trigger-yet")
	requireOK(t, r)
	assert.Equal(t, "script by heredoc\nsecond line\nshebang /dev/stdin\ninline text\nname=heredoc\n750 /usr/local/bin/tool\n644 /etc/app.conf\ntool\nno-trigger-yet\n", r.Stdout)

	r = e.run(t, "image", "inspect", "forms:1")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	var insp []struct {
		Config struct {
			Healthcheck *v1.HealthConfig `json:"healthcheck"`
			OnBuild     []string         `json:"on_build"`
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &insp), r.Stdout)
	require.Len(t, insp, 1)
	hc := insp[0].Config.Healthcheck
	require.NotNil(t, hc, r.Stdout)
	assert.Equal(t, []string{"CMD", "/bin/true"}, hc.Test)
	assert.Equal(t, 4, hc.Retries)
	assert.Equal(t, 5*time.Second, hc.Interval)
	assert.Equal(t, []string{"RUN echo triggered > /onbuild"}, insp[0].Config.OnBuild)

	e.j.Fixture(t, "ctx-forms/Dockerfile", "FROM forms:1\nRUN cat /onbuild\n", 0o644)
	r = e.run(t, "build", "-t", "child:1", dir)
	require.Equal(t, 0, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stdout, "RUN echo triggered > /onbuild\n", "the trigger runs first")
	assert.Contains(t, r.Stdout, "triggered\n")

	e.j.Fixture(t, "ctx-forms/Dockerfile", "FROM base:1\nCOPY --chmod=u+x tool /t\n", 0o644)
	r = e.run(t, "build", "-t", "bad:1", dir)
	assert.Equal(t, 125, r.ExitCode, "%s", r)
	assert.Contains(t, r.Stderr, "--chmod=u+x: give octal permissions, as --chmod=0755")
}
