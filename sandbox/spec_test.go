package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/limits"
	"jail/rootfs"
)

// validSpec is a spec every check accepts; each test case breaks one field
// of it, so a failure points at exactly one check.
func validSpec(t *testing.T) *Spec {
	t.Helper()
	src := t.TempDir()
	return &Spec{
		Argv:     []string{"/bin/echo", "hello"},
		Env:      []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "EMPTY="},
		Dir:      "/",
		Binds:    []rootfs.UserBind{{Source: src, Target: "/data"}, {Source: src, Target: "/tmp/out", Writable: true}},
		Hostname: "jail",
		Net:      NetNone,
		UID:      DefaultUID,
		GID:      DefaultGID,
		Disk:     DefaultDisk,
		Limits:   limits.Spec{Wall: 10 * time.Second, FileSize: 10 << 20, OpenFiles: 64},
	}
}

func TestSpecValidate(t *testing.T) {
	tmp := t.TempDir()
	rootDir := filepath.Join(tmp, "root")
	require.NoError(t, os.Mkdir(rootDir, 0o755))
	regular := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(regular, nil, 0o644))
	// These directories exist, so only the forbidden character can be the
	// reason they are refused.
	withComma := filepath.Join(tmp, "a,b")
	withColon := filepath.Join(tmp, "a:b")
	withBackslash := filepath.Join(tmp, `a\b`)
	for _, d := range []string{withComma, withColon, withBackslash} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	missing := filepath.Join(tmp, "missing")

	tests := []struct {
		name    string
		mutate  func(s *Spec)
		wantErr []string // every substring must appear; nil means valid
	}{
		{name: "base spec", mutate: func(*Spec) {}},
		{name: "rootfs directory", mutate: func(s *Spec) { s.RootFS = rootDir }},
		{name: "host net", mutate: func(s *Spec) { s.Net = NetHost }},
		{name: "root inside", mutate: func(s *Spec) { s.UID, s.GID = 0, 0 }},
		{name: "63-character hostname", mutate: func(s *Spec) { s.Hostname = strings.Repeat("a", 63) }},
		{name: "hostname with dash", mutate: func(s *Spec) { s.Hostname = "build-1" }},
		{name: "disk at 1M", mutate: func(s *Spec) { s.Disk = 1 << 20 }},
		{name: "bind target under /tmp", mutate: func(s *Spec) { s.Binds[0].Target = "/tmp/in" }},
		{name: "bind target that only looks like /proc", mutate: func(s *Spec) { s.Binds[0].Target = "/procfs" }},

		{name: "no argv", mutate: func(s *Spec) { s.Argv = nil },
			wantErr: []string{"no program given", "write it after --"}},
		{name: "empty program", mutate: func(s *Spec) { s.Argv = []string{""} },
			wantErr: []string{"no program given"}},
		{name: "NUL in argument", mutate: func(s *Spec) { s.Argv = append(s.Argv, "a\x00b") },
			wantErr: []string{"contains a NUL byte"}},
		{name: "env entry without =", mutate: func(s *Spec) { s.Env = append(s.Env, "FOO") },
			wantErr: []string{`environment: entry "FOO"`, "write KEY=VALUE"}},
		{name: "env entry with empty key", mutate: func(s *Spec) { s.Env = append(s.Env, "=x") },
			wantErr: []string{`environment: entry "=x"`, "write KEY=VALUE"}},
		{name: "NUL in env", mutate: func(s *Spec) { s.Env = append(s.Env, "K=a\x00b") },
			wantErr: []string{`environment: entry "K"`, "NUL byte"}},
		{name: "relative workdir", mutate: func(s *Spec) { s.Dir = "tmp" },
			wantErr: []string{`root.workdir: "tmp"`, "must be an absolute path"}},
		{name: "empty workdir", mutate: func(s *Spec) { s.Dir = "" },
			wantErr: []string{`root.workdir: ""`, "must be an absolute path"}},
		{name: "rootfs does not exist", mutate: func(s *Spec) { s.RootFS = missing },
			wantErr: []string{"root.rootfs: ", "does not exist", "give a directory"}},
		{name: "rootfs is a file", mutate: func(s *Spec) { s.RootFS = regular },
			wantErr: []string{"root.rootfs: ", "is not a directory", "extract an image into one"}},
		{name: "rootfs with comma", mutate: func(s *Spec) { s.RootFS = withComma },
			wantErr: []string{"root.rootfs: ", "may not contain ','", "move or symlink the directory"}},
		{name: "rootfs with colon", mutate: func(s *Spec) { s.RootFS = withColon },
			wantErr: []string{"root.rootfs: ", "may not contain", "move or symlink the directory"}},
		{name: "rootfs with backslash", mutate: func(s *Spec) { s.RootFS = withBackslash },
			wantErr: []string{"root.rootfs: ", "may not contain", "move or symlink the directory"}},
		{name: "bind with relative source", mutate: func(s *Spec) { s.Binds[0].Source = "data" },
			wantErr: []string{"binds[0]: data:/data", "the host path must be absolute", `"$PWD/data"`}},
		{name: "bind with relative target", mutate: func(s *Spec) { s.Binds[0].Target = "data" },
			wantErr: []string{":data", "the sandbox path must be absolute"}},
		{name: "bind onto /", mutate: func(s *Spec) { s.Binds[0].Target = "/" },
			wantErr: []string{":/:", "built by jail", "mount somewhere else"}},
		{name: "bind onto /proc", mutate: func(s *Spec) { s.Binds[0].Target = "/proc" },
			wantErr: []string{":/proc", "built by jail", "mount somewhere else"}},
		{name: "bind under /proc", mutate: func(s *Spec) { s.Binds[0].Target = "/proc/sys/kernel" },
			wantErr: []string{":/proc/sys/kernel", "mount somewhere else"}},
		{name: "bind onto /dev", mutate: func(s *Spec) { s.Binds[0].Target = "/dev" },
			wantErr: []string{":/dev", "mount somewhere else"}},
		{name: "bind onto /dev/shm", mutate: func(s *Spec) { s.Binds[0].Target = "/dev/shm" },
			wantErr: []string{":/dev/shm", "mount somewhere else"}},
		{name: "bind onto /sys", mutate: func(s *Spec) { s.Binds[0].Target = "/sys/fs/cgroup" },
			wantErr: []string{":/sys/fs/cgroup", "mount somewhere else"}},
		{name: "bind escaping into /proc with ..", mutate: func(s *Spec) { s.Binds[0].Target = "/tmp/../proc" },
			wantErr: []string{"mount somewhere else"}},
		{name: "missing bind source", mutate: func(s *Spec) { s.Binds[0].Source = missing },
			wantErr: []string{"binds[0]: " + missing + ":/data", "does not exist on the host"}},
		{name: "empty hostname", mutate: func(s *Spec) { s.Hostname = "" },
			wantErr: []string{`root.hostname: ""`, "1-63 letters, digits and dashes"}},
		{name: "hostname too long", mutate: func(s *Spec) { s.Hostname = strings.Repeat("a", 64) },
			wantErr: []string{"root.hostname: ", "1-63 letters"}},
		{name: "hostname starting with dash", mutate: func(s *Spec) { s.Hostname = "-jail" },
			wantErr: []string{`root.hostname: "-jail"`, "starting with a letter or digit"}},
		{name: "hostname with dot", mutate: func(s *Spec) { s.Hostname = "jail.local" },
			wantErr: []string{`root.hostname: "jail.local"`}},
		{name: "hostname with underscore", mutate: func(s *Spec) { s.Hostname = "my_box" },
			wantErr: []string{`root.hostname: "my_box"`}},
		{name: "hostname with trailing newline", mutate: func(s *Spec) { s.Hostname = "jail\n" },
			wantErr: []string{"root.hostname: "}},
		{name: "bad net", mutate: func(s *Spec) { s.Net = "bridge" },
			wantErr: []string{`root.network: "bridge"`, "choose none (loopback only) or host"}},
		{name: "empty net", mutate: func(s *Spec) { s.Net = "" },
			wantErr: []string{`root.network: ""`, "choose none"}},
		{name: "invalid uid", mutate: func(s *Spec) { s.UID = 1<<32 - 1 },
			wantErr: []string{"root.uid: 4294967295", "choose another"}},
		{name: "invalid gid", mutate: func(s *Spec) { s.GID = 1<<32 - 1 },
			wantErr: []string{"root.uid: 4294967295", "choose another"}},
		{name: "disk too small", mutate: func(s *Spec) { s.Disk = 1<<20 - 1 },
			wantErr: []string{"root.disk: 1048575 bytes", "give at least 1M"}},
		{name: "disk zero", mutate: func(s *Spec) { s.Disk = 0 },
			wantErr: []string{"root.disk: 0 bytes", "give at least 1M"}},
		{name: "limit invalid", mutate: func(s *Spec) { s.Limits.OpenFiles = 2 },
			wantErr: []string{"limits.nofile: 2", "at least 4"}},
		// Whether a cgroup limit can be enforced is decided at run time
		// (--strict refuses, otherwise a warning), so Validate accepts them.
		{name: "cgroup limits accepted", mutate: func(s *Spec) {
			s.Limits.Memory, s.Limits.CPUPercent, s.Limits.CPUs, s.Limits.Pids = 100<<20, 50, "0", 10
		}},
		{name: "output limit without a tty", mutate: func(s *Spec) { s.Limits.Output = 1 << 20 }},
		{name: "output limit with a tty", mutate: func(s *Spec) { s.Limits.Output, s.TTY = 1<<20, true },
			wantErr: []string{"limits.output: cannot be enforced with tty", "drop one of them"}},
		{name: "cpu list invalid", mutate: func(s *Spec) { s.Limits.CPUs = "first" },
			wantErr: []string{`limits.cpus: "first"`, "write a CPU list"}},
		{name: "every problem reported at once", mutate: func(s *Spec) {
			s.Argv, s.Dir, s.Hostname, s.Net, s.Disk = nil, "rel", "", "wifi", 0
		}, wantErr: []string{"no program given", `root.workdir: "rel"`, `root.hostname: ""`, `root.network: "wifi"`, "root.disk: 0 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec(t)
			tt.mutate(s)
			err := s.Validate()
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
