package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/limits"
	"jail/profiles"
	"jail/rootfs"
	"jail/sandbox"
)

// defaultFlags mirrors the defaults newRunCommand registers, so tests start
// from what a bare `jail run -- PROG` would see.
func defaultFlags(t *testing.T) *runFlags {
	t.Helper()
	return &runFlags{
		lim:      map[string]string{},
		workdir:  "/",
		hostname: "jail",
		net:      "none",
		disk:     "256M",
		uid:      sandbox.DefaultUID,
		gid:      sandbox.DefaultGID,
	}
}

// environment is the environment the flags give PROG, through the
// resolver as jail run builds it.
func (f *runFlags) environment() ([]string, error) {
	s, err := f.spec([]string{"/bin/true"}, nil)
	if err != nil {
		return nil, err
	}
	return s.Env, nil
}

func TestDefaultFlagsMatchCommand(t *testing.T) {
	fl := newRunCommand().Flags()
	f := defaultFlags(t)
	for name, want := range map[string]string{
		"workdir": f.workdir, "hostname": f.hostname, "net": f.net, "disk": f.disk,
		"uid": "1000", "gid": "1000",
	} {
		got := fl.Lookup(name)
		require.NotNil(t, got, "flag --%s", name)
		assert.Equal(t, want, got.DefValue, "default of --%s", name)
	}
}

func TestParseVolume(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    rootfs.UserBind
		wantErr string
	}{
		{name: "read-only by default", in: "/src:/dst", want: rootfs.UserBind{Source: "/src", Target: "/dst"}},
		{name: "explicit ro", in: "/src:/dst:ro", want: rootfs.UserBind{Source: "/src", Target: "/dst"}},
		{name: "rw", in: "/src:/dst:rw", want: rootfs.UserBind{Source: "/src", Target: "/dst", Writable: true}},
		// Relative paths parse; Spec.Validate refuses them with a hint.
		{name: "relative source", in: "data:/in", want: rootfs.UserBind{Source: "data", Target: "/in"}},

		{name: "empty", in: "", wantErr: "write SRC:DST"},
		{name: "no target", in: "/src", wantErr: "-v /src: write SRC:DST or SRC:DST:ro or SRC:DST:rw"},
		{name: "too many parts", in: "/a:/b:rw:x", wantErr: "paths may not contain ':'"},
		{name: "bad mode", in: "/src:/dst:wr", wantErr: `the mode "wr" is not ro or rw`},
		{name: "upper-case mode", in: "/src:/dst:RW", wantErr: `the mode "RW" is not ro or rw`},
		{name: "empty mode", in: "/src:/dst:", wantErr: `the mode "" is not ro or rw`},
		{name: "empty source", in: ":/dst", wantErr: "-v :/dst: both SRC and DST are needed"},
		{name: "empty target", in: "/src:", wantErr: "both SRC and DST are needed"},
		{name: "empty target with mode", in: "/src::rw", wantErr: "both SRC and DST are needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVolume(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// envMap turns the KEY=VALUE list into a map, failing on duplicates: PROG
// must see each key once.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, "entry %q has no '='", kv)
		_, dup := m[k]
		require.False(t, dup, "key %s appears twice", k)
		m[k] = v
	}
	return m
}

func writeEnvFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vars.env")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("JAIL_TEST_CANARY", "host-secret")
	t.Setenv("PATH", "/canary/bin")
	t.Setenv("HOME", "/root/canary")
	t.Setenv("LANG", "xx_XX.canary")
	t.Setenv("USER", "canary")
	t.Setenv("TERM", "xterm-256color")

	env, err := defaultFlags(t).environment()
	require.NoError(t, err)
	assert.Equal(t, []string{
		"PATH=" + profiles.DefaultPath,
		"HOME=/tmp",
		"LANG=C.UTF-8",
		"TERM=xterm-256color",
		"USER=" + rootfs.SandboxUser,
	}, env)
	for _, kv := range env {
		assert.NotContains(t, kv, "canary", "host value leaked into %q", kv)
		assert.NotContains(t, kv, "host-secret", "host value leaked into %q", kv)
		assert.False(t, strings.HasPrefix(kv, "JAIL_TEST_CANARY="), "host variable leaked: %q", kv)
	}
}

func TestEnvironmentTermAndUser(t *testing.T) {
	t.Setenv("TERM", "")
	f := defaultFlags(t)
	f.uid = 0
	env, err := f.environment()
	require.NoError(t, err)
	m := envMap(t, env)
	assert.Equal(t, "dumb", m["TERM"], "an unset TERM falls back to dumb")
	assert.Equal(t, "root", m["USER"], "uid 0 is root in the generated /etc/passwd")
}

func TestEnvironmentFlags(t *testing.T) {
	t.Setenv("JAIL_TEST_PASS", "from-host")
	t.Setenv("JAIL_TEST_EMPTY", "")
	t.Setenv("TERM", "xterm")
	require.NoError(t, os.Unsetenv("JAIL_TEST_UNSET"))

	tests := []struct {
		name    string
		env     []string
		want    map[string]string // checked entries
		absent  []string
		wantErr string
	}{
		{name: "set a new key", env: []string{"FOO=bar"}, want: map[string]string{"FOO": "bar"}},
		{name: "override a default", env: []string{"PATH=/opt/bin", "HOME=/work"},
			want: map[string]string{"PATH": "/opt/bin", "HOME": "/work"}},
		{name: "later flag wins", env: []string{"FOO=1", "FOO=2"}, want: map[string]string{"FOO": "2"}},
		{name: "empty value", env: []string{"FOO="}, want: map[string]string{"FOO": ""}},
		{name: "value with =", env: []string{"OPTS=a=b=c"}, want: map[string]string{"OPTS": "a=b=c"}},
		{name: "copy host value", env: []string{"JAIL_TEST_PASS"}, want: map[string]string{"JAIL_TEST_PASS": "from-host"}},
		{name: "copy empty host value", env: []string{"JAIL_TEST_EMPTY"}, want: map[string]string{"JAIL_TEST_EMPTY": ""}},
		{name: "unset host key is dropped", env: []string{"JAIL_TEST_UNSET"}, absent: []string{"JAIL_TEST_UNSET"}},

		{name: "empty key", env: []string{"=value"}, wantErr: "-e =value: write KEY=VALUE"},
		{name: "empty entry", env: []string{""}, wantErr: "write KEY=VALUE"},
		{name: "space in key", env: []string{"MY VAR=1"}, wantErr: "-e MY VAR=1: write KEY=VALUE"},
		{name: "tab in key", env: []string{"A\tB=1"}, wantErr: "write KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := defaultFlags(t)
			f.env = tt.env
			env, err := f.environment()
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			m := envMap(t, env)
			for k, v := range tt.want {
				assert.Contains(t, m, k)
				assert.Equal(t, v, m[k], "value of %s", k)
			}
			for _, k := range tt.absent {
				assert.NotContains(t, m, k)
			}
		})
	}
}

func TestEnvironmentOrder(t *testing.T) {
	f := defaultFlags(t)
	f.env = []string{"ZZZ=1", "PATH=/x", "AAA=2"}
	env, err := f.environment()
	require.NoError(t, err)
	// Overriding keeps a key's place; new keys follow in the order given.
	require.Len(t, env, 7)
	assert.Equal(t, "PATH=/x", env[0])
	assert.Equal(t, []string{"ZZZ=1", "AAA=2"}, env[5:])
}

func TestEnvironmentFile(t *testing.T) {
	t.Setenv("JAIL_TEST_PASS", "from-host")
	require.NoError(t, os.Unsetenv("JAIL_TEST_UNSET"))

	file := writeEnvFile(t, strings.Join([]string{
		"# a comment",
		"",
		"   ",
		"FOO=from-file",
		"  # an indented comment",
		"\tINDENTED=yes",
		`QUOTED="kept literally"`,
		"SPACES=a b  ",
		"HASH=x # not a comment",
		"JAIL_TEST_PASS",
		"JAIL_TEST_UNSET",
		"OVERRIDDEN=file",
		"HOME=/from/file",
		"",
	}, "\n"))
	f := defaultFlags(t)
	f.envFiles = []string{file}
	f.env = []string{"OVERRIDDEN=flag"}
	env, err := f.environment()
	require.NoError(t, err)
	m := envMap(t, env)
	assert.Equal(t, "from-file", m["FOO"])
	assert.Equal(t, "yes", m["INDENTED"])
	assert.Equal(t, `"kept literally"`, m["QUOTED"])
	assert.Equal(t, "a b  ", m["SPACES"])
	assert.Equal(t, "x # not a comment", m["HASH"])
	assert.Equal(t, "from-host", m["JAIL_TEST_PASS"])
	assert.NotContains(t, m, "JAIL_TEST_UNSET")
	assert.Equal(t, "flag", m["OVERRIDDEN"], "-e must win over --env-file")
	assert.Equal(t, "/from/file", m["HOME"], "--env-file must win over the defaults")
	for k := range m {
		assert.False(t, strings.HasPrefix(k, "#"), "comment became a variable: %q", k)
		assert.NotEmpty(t, k)
	}
}

func TestEnvironmentFileLaterFileWins(t *testing.T) {
	f := defaultFlags(t)
	f.envFiles = []string{writeEnvFile(t, "A=1\nB=1\n"), writeEnvFile(t, "B=2\n")}
	env, err := f.environment()
	require.NoError(t, err)
	m := envMap(t, env)
	assert.Equal(t, "1", m["A"])
	assert.Equal(t, "2", m["B"])
}

func TestEnvironmentFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
	}{
		{name: "empty key", content: "A=1\n=oops\n", line: 2},
		{name: "space in key", content: "# header\n\nMY KEY=1\n", line: 3},
		{name: "export prefix", content: "export FOO=1\n", line: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeEnvFile(t, tt.content)
			f := defaultFlags(t)
			f.envFiles = []string{file}
			_, err := f.environment()
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("--env-file %s:%d:", file, tt.line))
			assert.Contains(t, err.Error(), "write KEY=VALUE")
		})
	}

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.env")
		f := defaultFlags(t)
		f.envFiles = []string{missing}
		_, err := f.environment()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--env-file "+missing)
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name    string
		set     func(f *runFlags)
		want    limits.Spec
		wantErr []string
	}{
		{name: "none", set: func(*runFlags) {}, want: limits.Spec{}},
		{name: "every flag", set: func(f *runFlags) {
			f.lim["mem"], f.lim["cpu"], f.lim["pids"], f.lim["time"] = "100M", "50%", "64", "2s"
			f.lim["wall"], f.lim["output"], f.lim["fsize"], f.lim["nofile"] = "10", "1M", "10M", "256"
		}, want: limits.Spec{
			Memory: 100 << 20, CPUPercent: 50, Pids: 64, CPUTime: 2 * time.Second,
			Wall: 10 * time.Second, Output: 1 << 20, FileSize: 10 << 20, OpenFiles: 256,
		}},
		{name: "bad mem", set: func(f *runFlags) { f.lim["mem"] = "lots" }, wantErr: []string{"--mem:", `"lots"`}},
		{name: "bad output", set: func(f *runFlags) { f.lim["output"] = "-1" }, wantErr: []string{"--output:", `"-1"`}},
		{name: "bad fsize", set: func(f *runFlags) { f.lim["fsize"] = "0" }, wantErr: []string{"--fsize:", "positive"}},
		{name: "bad pids", set: func(f *runFlags) { f.lim["pids"] = "1.5" }, wantErr: []string{"--pids:", "whole number"}},
		{name: "bad nofile", set: func(f *runFlags) { f.lim["nofile"] = "many" }, wantErr: []string{"--nofile:", `"many"`}},
		{name: "bad time", set: func(f *runFlags) { f.lim["time"] = "soon" }, wantErr: []string{"--time:", `"soon"`}},
		{name: "bad wall", set: func(f *runFlags) { f.lim["wall"] = "0s" }, wantErr: []string{"--wall:", "1ms"}},
		{name: "bad cpu", set: func(f *runFlags) { f.lim["cpu"] = "NaN%" }, wantErr: []string{"--cpu:", "percentage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := defaultFlags(t)
			tt.set(f)
			got, err := f.limits()
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSpec(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name    string
		set     func(f *runFlags)
		wantErr []string
		// stdinNotTTY marks cases about a stdin that is not a terminal;
		// the test gives them /dev/null, as CI has, even when run from
		// one.
		stdinNotTTY bool
	}{
		{name: "defaults", set: func(*runFlags) {}},
		{name: "enforced limits accepted", set: func(f *runFlags) { f.lim["wall"], f.lim["fsize"], f.lim["nofile"] = "5s", "1M", "64" }},
		{name: "volume", set: func(f *runFlags) { f.volumes = []string{src + ":/in:rw"} }},

		// Cgroup limits are not refused here: the run decides, once it
		// knows the backend, whether to warn or (with --strict) refuse.
		{name: "cgroup limits pass through", set: func(f *runFlags) { f.lim["mem"], f.lim["cpu"], f.lim["pids"] = "100M", "50%", "64" }},
		{name: "cpu time and output pass through", set: func(f *runFlags) { f.lim["time"], f.lim["output"] = "2s", "1M" }},
		{name: "-t without a terminal", set: func(f *runFlags) { f.tty = true },
			wantErr: []string{"-t needs a terminal on stdin"}, stdinNotTTY: true},

		{name: "bad disk", set: func(f *runFlags) { f.disk = "big" }, wantErr: []string{"--disk:", `"big"`}},
		{name: "bad volume", set: func(f *runFlags) { f.volumes = []string{src} }, wantErr: []string{"-v " + src, "write SRC:DST"}},
		{name: "relative volume source", set: func(f *runFlags) { f.volumes = []string{"data:/in"} },
			wantErr: []string{"-v data:/in", "must be absolute"}},
		{name: "bad env", set: func(f *runFlags) { f.env = []string{"=x"} }, wantErr: []string{"-e =x"}},
		{name: "bad limit value", set: func(f *runFlags) { f.lim["wall"] = "forever" }, wantErr: []string{"--wall:", `"forever"`}},
		{name: "bad net", set: func(f *runFlags) { f.net = "bridge" }, wantErr: []string{`--net "bridge"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.stdinNotTTY {
				devNull, err := os.Open(os.DevNull)
				require.NoError(t, err)
				stdin := os.Stdin
				os.Stdin = devNull
				t.Cleanup(func() { os.Stdin = stdin; devNull.Close() })
			}
			f := defaultFlags(t)
			tt.set(f)
			s, err := f.spec([]string{"/bin/true"}, nil)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, want := range tt.wantErr {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			require.NotNil(t, s)
			assert.Equal(t, []string{"/bin/true"}, s.Argv)
			assert.Equal(t, int64(256<<20), s.Disk)
			assert.Equal(t, sandbox.NetNone, s.Net)
			want, err := f.limits()
			require.NoError(t, err)
			assert.Equal(t, want, s.Limits, "the spec must carry the parsed limits")
		})
	}
}
