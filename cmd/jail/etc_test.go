package main_test

// The sandbox's /etc: the host's harmless files by rootfs.HostEtc, jail's
// own passwd, group, hosts and the like, and no secret of the host's.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
	"jail/rootfs"
)

// etcProbe asks what real programs ask of /etc. Each answer is printed,
// an error as its text, so one run compares the sandbox with the host.
const etcProbe = `
import json, mimetypes, os, socket, ssl, time
out = {}
def probe(name, f):
    try:
        out[name] = f()
    except Exception as e:
        out[name] = "error: %s" % e
probe("http", lambda: socket.getservbyname("http"))
probe("tcp", lambda: socket.getprotobyname("tcp"))
probe("x509_ca", lambda: ssl.create_default_context().cert_store_stats()["x509_ca"])
probe("tm_zone", lambda: time.localtime().tm_zone)
probe("tzif", lambda: open("/etc/localtime", "rb").read(4).decode())
probe("os_id", lambda: [l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("ID=")][0])
probe("html", lambda: mimetypes.guess_type("a.html")[0])
# The types known beyond Python's built-in table come from mime.types.
known = [f for f in mimetypes.knownfiles if os.path.exists(f)]
probe("mime_extra", lambda: len(set(mimetypes.MimeTypes(known).types_map[True]) - set(mimetypes.MimeTypes().types_map[True])))
print(json.dumps(out))
`

func runEtcProbe(t *testing.T, r testutil.Result) map[string]any {
	t.Helper()
	requireOK(t, r)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &got), "%s", r)
	return got
}

// TestEtcAsOnHost runs the probe on the host as the test user, then in
// the sandbox, with either network: the answers must be the host's, and
// the host's must be real answers, or the comparison proves nothing.
func TestEtcAsOnHost(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	cmd := exec.Command(python, "-c", etcProbe)
	if j.Cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
	}
	b, err := cmd.Output()
	require.NoError(t, err)
	var host map[string]any
	require.NoError(t, json.Unmarshal(b, &host))
	assert.EqualValues(t, 80, host["http"])
	assert.EqualValues(t, 6, host["tcp"])
	assert.Equal(t, "TZif", host["tzif"])
	assert.IsType(t, "", host["os_id"])
	if n, ok := host["x509_ca"].(float64); !ok || n == 0 {
		testutil.Skip(t, "the host has no CA certificates to compare with: %v", host["x509_ca"])
	}
	if _, err := os.Stat("/etc/mime.types"); err == nil {
		n, _ := host["mime_extra"].(float64)
		assert.Greater(t, n, 0.0, "/etc/mime.types adds types on the host: %v", host["mime_extra"])
	} else {
		t.Logf("no /etc/mime.types on the host: only Python's own table is compared")
	}

	for _, net := range []string{"none", "host"} {
		t.Run(net, func(t *testing.T) {
			got := runEtcProbe(t, j.Run(t, "run", "--net", net, "--", python, "-c", etcProbe))
			assert.Equal(t, host, got)
		})
	}
}

// TestEtcReadOnly writes to each way a host entry is shown: a copy refuses
// the write by its mode, a bound file or directory by its mount. The host's
// files stay as they were even where PROG makes its own copy writable.
func TestEtcReadOnly(t *testing.T) {
	testutil.NeedUserNS(t)
	needPython(t)
	j := testutil.New(t)
	targets := map[string]string{
		"/etc/services": "EACCES", // a copy without write bits
		// The host's own permission check comes before the mount's
		// read-only flag for a file that exists, and after it for a new one.
		"/etc/ssl/certs/ca-certificates.crt": "EACCES",
		"/etc/ssl/certs/new.pem":             "EROFS",
		"/etc/alternatives/new":              "EROFS",
	}
	var paths []string
	for p := range targets {
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			testutil.Skip(t, "the host has no %s to write to: %v", filepath.Dir(p), err)
		}
		paths = append(paths, p)
	}
	before, err := os.ReadFile("/etc/services")
	require.NoError(t, err)
	script := `
import errno, os, sys
for p in sys.argv[1:]:
    try:
        with open(p, "a") as f:
            f.write("written by the sandbox\n")
        print(p, "WRITTEN")
    except OSError as e:
        print(p, errno.errorcode[e.errno])
# The copy is PROG's own, on the run's tmpfs, so PROG may chmod it; the
# write still never reaches the host.
os.chmod("/etc/services", 0o644)
with open("/etc/services", "a") as f:
    f.write("written by the sandbox\n")
`
	r := j.Run(t, append([]string{"run", "--net", "host", "--", python, "-c", script}, paths...)...)
	requireOK(t, r)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		p, res, _ := strings.Cut(line, " ")
		got[p] = res
	}
	assert.Equal(t, targets, got)
	after, err := os.ReadFile("/etc/services")
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "a sandbox write reached the host's /etc/services")
}

// TestEtcSecretsUnreachable looks inside for every name of
// rootfs.SecretEtc and for the contents of the host's machine-id, and
// checks that jail's own files, not the host's, answer for the sandbox.
func TestEtcSecretsUnreachable(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	var secrets, onHost []string
	for _, s := range rootfs.SecretEtc {
		p := "/etc/" + s
		secrets = append(secrets, p)
		if _, err := os.Lstat(p); err == nil {
			onHost = append(onHost, p)
		}
	}
	if len(onHost) == 0 {
		testutil.Skip(t, "the host has none of the secrets to hide")
	}
	t.Logf("on the host: %v", onHost)
	script := `for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then echo "VISIBLE $p"; fi; done; echo done`
	for _, net := range []string{"none", "host"} {
		r := j.Run(t, append([]string{"run", "--net", net, "--", "/bin/sh", "-c", script, "sh"}, secrets...)...)
		requireOK(t, r)
		assert.Equal(t, "done\n", r.Stdout, "--net %s", net)
	}
	// The probe sees a secret bound in, so it can fail.
	r := j.Run(t, "run", "-v", onHost[0]+":"+onHost[0], "--", "/bin/sh", "-c", script, "sh", onHost[0])
	requireOK(t, r)
	assert.Equal(t, "VISIBLE "+onHost[0]+"\ndone\n", r.Stdout)

	// Under another name: no file of the sandbox's /etc holds the host's
	// machine id (grep -r does not follow the links into /usr).
	if id, err := os.ReadFile("/etc/machine-id"); err == nil && len(strings.TrimSpace(string(id))) > 0 {
		r := j.Run(t, "run", "--net", "host", "--", "/bin/sh", "-c", `grep -rlF "$1" /etc 2>/dev/null; echo done`, "sh", strings.TrimSpace(string(id)))
		requireOK(t, r)
		assert.Equal(t, "done\n", r.Stdout, "the host's machine id is readable inside")
	}

	// The host's versions of the files jail generates stay outside.
	hostPasswd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	require.Contains(t, string(hostPasswd), testutil.TestUser+":", "the host's passwd names the test user")
	r = j.Run(t, "run", "--net", "host", "--", "/bin/cat", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
	requireOK(t, r)
	assert.NotContains(t, r.Stdout, testutil.TestUser, "the host's passwd or group is inside")
	assert.Contains(t, r.Stdout, rootfs.SandboxUser+":x:1000:1000:")
	assert.Contains(t, r.Stdout, "passwd: files\n", "jail's nsswitch.conf, which consults only its own files")
}

// TestEtcRootfsImage: an image root keeps its own /etc, and nothing of the
// host's is added to it.
func TestEtcRootfsImage(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	dir := busyboxRoot(t, j, map[string]string{"etc/image-release": "ID=image\n"}, "ls")

	r := j.Run(t, "run", "--rootfs", dir, "--net", "host", "--", "/bin/ls", "-A", "/etc")
	requireOK(t, r)
	assert.Equal(t, "image-release\n", r.Stdout)
	// The same listing without --rootfs shows the host's entries, so the
	// probe above can fail.
	r = j.Run(t, "run", "--", "/bin/ls", "-A", "/etc")
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "services\n")
}
