package profiles

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
)

func decodeOK(t *testing.T, src string) *Profile {
	t.Helper()
	p, err := Decode("test.toml", []byte(src))
	require.NoError(t, err)
	return p
}

func TestDecodeBuiltins(t *testing.T) {
	names := BuiltinNames()
	assert.Equal(t, []string{"c", "cpp", "default", "go", "java", "node", "python3", "strict"}, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			p, err := Builtin(name)
			require.NoError(t, err)
			assert.Equal(t, name, p.Name)
			assert.NotEmpty(t, p.Description)
			assert.NoError(t, p.Limits.Validate())
			for _, s := range []*Step{p.Compile, p.Run} {
				if s == nil {
					continue
				}
				assert.NoError(t, s.Limits.Validate())
				// A judge step without a wall clock could hang forever.
				assert.NotZero(t, s.Limits.Wall, "step without wall limit")
				assert.NotZero(t, s.Limits.Memory, "step without memory limit")
			}
			if p.Compile != nil || p.Run != nil {
				assert.NotEmpty(t, p.Requires, "a language profile names its toolchain")
				assert.NotEmpty(t, p.SourceName)
				assert.Equal(t, "/box", p.Root.Workdir)
			}
		})
	}
}

func TestDecodeBuiltinStrict(t *testing.T) {
	p, err := Builtin("strict")
	require.NoError(t, err)
	assert.Equal(t, "strict", p.Seccomp)
	assert.Equal(t, sandbox.NetNone, p.Root.Network)
	assert.Equal(t, Limits{Strict: true, Spec: limits.Spec{
		Memory: 256 << 20, Pids: 64, CPUTime: 2 * time.Second, Wall: 10 * time.Second,
		Output: 64 << 20, FileSize: 64 << 20, OpenFiles: 64,
	}}, p.Limits)
}

func TestDecodeBuiltinDefaultChangesNothing(t *testing.T) {
	p, err := Builtin("default")
	require.NoError(t, err)
	assert.Equal(t, Root{Disk: sandbox.DefaultDisk, Hostname: "jail", Network: sandbox.NetNone,
		UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Workdir: "/"}, p.Root)
	assert.Equal(t, Limits{}, p.Limits)
	assert.Equal(t, "default", p.Seccomp)
	assert.Nil(t, p.Compile)
	assert.Nil(t, p.Run)
}

func TestDecodeStepArgv(t *testing.T) {
	p, err := Builtin("cpp")
	require.NoError(t, err)
	v := p.Vars()
	assert.Equal(t, Vars{Source: "/box/main.cpp", Dir: "/box", Exe: "/box/prog"}, v)
	assert.Equal(t, []string{"g++", "-O2", "-std=c++17", "-o", "/box/prog", "/box/main.cpp"}, p.Compile.Argv(v))
	assert.Equal(t, []string{"/box/prog"}, p.Run.Argv(v))

	j, err := Builtin("java")
	require.NoError(t, err)
	assert.Equal(t, []string{"java", "-cp", "/box", "Main"}, j.Run.Argv(j.Vars()))
}

func TestDecodeDefaults(t *testing.T) {
	p := decodeOK(t, "")
	assert.Equal(t, &Profile{
		Name: "test", Seccomp: "default",
		Root: Root{Disk: sandbox.DefaultDisk, Hostname: "jail", Network: sandbox.NetNone,
			UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Workdir: "/"},
	}, p)
}

func TestDecodeValues(t *testing.T) {
	p := decodeOK(t, `
description = "all keys"
source_name = "a.py"
requires = ["python3", "/usr/bin/env"]
seccomp = "policies/x.json"
env_file = "vars.env"

[root]
rootfs = "/srv/root"
disk = "1.5G"
hostname = "box-1"
network = "host"
uid = 0
gid = 42
workdir = "/work"

[[mount]]
source = "/data"
target = "/in"

[[mount]]
source = "/out"
target = "/out"
writable = true
optional = true

[env]
A = "1"

[limits]
mem = 104857600      # a bare number of bytes
cpu = "50%"
cpus = "0-1"
pids = 32
time = 1.5
extra_time = "500ms"
wall = "1m30s"
output = "1M"
fsize = "2M"
nofile = "16"

[run]
command = ["python3", "{source}"]

[run.limits]
mem = "64M"
strict = true
`)
	assert.Equal(t, "all keys", p.Description)
	assert.Equal(t, []string{"python3", "/usr/bin/env"}, p.Requires)
	assert.Equal(t, Root{RootFS: "/srv/root", Disk: 1536 << 20, Hostname: "box-1", Network: sandbox.NetHost,
		UID: 0, GID: 42, Workdir: "/work"}, p.Root)
	assert.Equal(t, []Mount{{Source: "/data", Target: "/in"}, {Source: "/out", Target: "/out", Writable: true, Optional: true}}, p.Mounts)
	assert.Equal(t, map[string]string{"A": "1"}, p.Env)
	want := limits.Spec{Memory: 100 << 20, CPUPercent: 50, CPUs: "0-1", Pids: 32, CPUTime: 1500 * time.Millisecond,
		ExtraTime: 500 * time.Millisecond, Wall: 90 * time.Second, Output: 1 << 20, FileSize: 2 << 20, OpenFiles: 16}
	assert.Equal(t, Limits{Spec: want}, p.Limits)
	want.Memory = 64 << 20
	assert.Equal(t, Limits{Spec: want, Strict: true}, p.Run.Limits, "step limits override the profile's")
	assert.Nil(t, p.Compile)
}

func TestDecodeStepMerge(t *testing.T) {
	base := Limits{Strict: true, Spec: limits.Spec{Memory: 1, Pids: 2, CPUs: "0", Wall: time.Second}}
	got := base.Merge(Limits{Spec: limits.Spec{Memory: 10, CPUTime: time.Second}})
	assert.Equal(t, Limits{Strict: true, Spec: limits.Spec{Memory: 10, Pids: 2, CPUs: "0", Wall: time.Second, CPUTime: time.Second}}, got)
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr []string
	}{
		{name: "unknown top-level key", src: "description = \"x\"\nsecomp = \"none\"\n",
			wantErr: []string{`test.toml:2: secomp: unknown key; the keys allowed at the top level are: description, source_name`}},
		{name: "unknown key in root", src: "[root]\nhostname = \"a\"\nhostnme = \"b\"\n",
			wantErr: []string{`test.toml:3: root.hostnme: unknown key; the keys allowed in [root] are: rootfs, image, disk, hostname`}},
		{name: "unknown key in step limits", src: "source_name = \"a\"\n[run]\ncommand = [\"a\"]\n\n[run.limits]\nmemory = \"1G\"\n",
			wantErr: []string{`test.toml:6: run.limits.memory: unknown key; the keys allowed in [run.limits] are: mem, cpu`}},
		{name: "unknown key in second mount", src: "[[mount]]\nsource = \"/a\"\ntarget = \"/a\"\n[[mount]]\nsource = \"/b\"\ntarget = \"/b\"\nrw = true\n",
			wantErr: []string{`test.toml:7: mount.rw: unknown key; the keys allowed in [mount] are: source, target, writable, optional`}},
		{name: "unknown table reported once", src: "[compiler]\ncommand = [\"x\"]\n",
			wantErr: []string{`test.toml:1: compiler: unknown key`}},
		{name: "bad size names the key and the fix", src: "[limits]\nmem = \"lots\"\n",
			wantErr: []string{`test.toml:2: limits.mem: "lots" is not a size: write a number with an optional unit, like 64K, 100M or 2G`}},
		{name: "bad duration in a step", src: "[compile]\ncommand = [\"cc\"]\n[compile.limits]\ntime = \"fast\"\n",
			wantErr: []string{`test.toml:4: compile.limits.time: "fast" is not a duration`}},
		{name: "a step limit under a key of other case", src: "[Compile]\ncommand = [\"cc\"]\n[Compile.limits]\nmem = \"1000\"\n",
			wantErr: []string{`test.toml:4: compile.limits.mem: 1000 bytes: below 1M no program starts`}},
		{name: "bad count", src: "[limits]\npids = -3\n", wantErr: []string{`test.toml:2: limits.pids: "-3" is not a positive count`}},
		{name: "bad percent", src: "[limits]\ncpu = \"half\"\n", wantErr: []string{`test.toml:2: limits.cpu: "half" is not a percentage`}},
		{name: "bad disk", src: "[root]\ndisk = \"1K\"\n", wantErr: []string{`test.toml:2: root.disk: 1024 bytes is too small: give at least 1M`}},
		{name: "wrong type", src: "[limits]\nstrict = \"yes\"\n", wantErr: []string{`test.toml:2: limits.strict: this is a string; write true or false`}},
		{name: "array of tables for a table", src: "[[run]]\ncommand = [\"a\"]\n", wantErr: []string{`test.toml:1: run: this is an array of tables ([[name]]); write a table ([name], once)`}},
		{name: "string for an array", src: "requires = \"gcc\"\n", wantErr: []string{`test.toml:1: requires: this is a string; write an array such as ["a", "b"]`}},
		{name: "limit of a table", src: "[limits]\nmem = [1]\n", wantErr: []string{`test.toml:2: limits.mem: a []interface {} cannot be a limit`}},
		{name: "syntax error", src: "description = \"x\"\na = = 1\n", wantErr: []string{`test.toml:2: `}},
		{name: "bad network", src: "[root]\nnetwork = \"wifi\"\n", wantErr: []string{`test.toml:2: root.network: "wifi": choose "none" (loopback only) or "host"`}},
		{name: "bad hostname", src: "[root]\nhostname = \"-x\"\n", wantErr: []string{`test.toml:2: root.hostname: "-x": use 1-63 letters`}},
		{name: "bad uid", src: "[root]\nuid = -1\n", wantErr: []string{`test.toml:2: root.uid: -1 is not a user or group id`}},
		{name: "invalid uid", src: "[root]\nuid = 4294967295\n", wantErr: []string{`root.uid: 4294967295 is not a user or group id`}},
		{name: "relative workdir", src: "[root]\nworkdir = \"box\"\n", wantErr: []string{`test.toml:2: root.workdir: "box": give an absolute path`}},
		{name: "bad rootfs", src: "[root]\nrootfs = \"/a:b\"\n", wantErr: []string{`test.toml:2: root.rootfs: "/a:b": the path may not contain`}},
		{name: "bad seccomp", src: "seccomp = \"tight\"\n", wantErr: []string{`test.toml:1: seccomp: "tight": choose default, none, strict or a policy file path`}},
		{name: "relative mount source", src: "[[mount]]\nsource = \"x\"\ntarget = \"/x\"\n[[mount]]\nsource = \"/y\"\ntarget = \"/proc/y\"\n",
			wantErr: []string{`test.toml:1: mount[0]: source "x": the host path must be absolute`, `test.toml:4: mount[1]: target "/proc/y": / and the trees under /proc`}},
		{name: "empty command", src: "[run]\ncommand = []\n", wantErr: []string{`test.toml:2: run.command: a step needs a command`}},
		{name: "missing command", src: "[run]\n", wantErr: []string{`test.toml:1: run.command: a step needs a command`}},
		{name: "unknown placeholder", src: "source_name = \"a\"\n[run]\ncommand = [\"{src}\"]\n", wantErr: []string{`test.toml:3: run.command: unknown placeholder {src} in "{src}": use {source}, {dir} or {exe}`}},
		{name: "multi-line command is reported at its key", src: "source_name = \"a\"\n[run]\ncommand = [\n  \"a\",\n  \"{src}\",\n]\n",
			wantErr: []string{`test.toml:3: run.command: unknown placeholder {src}`}},
		{name: "source without source_name", src: "[run]\ncommand = [\"python3\", \"{source}\"]\n", wantErr: []string{`source_name: a step uses {source}, so the profile needs source_name`}},
		{name: "source_name with a slash", src: "source_name = \"a/b.c\"\n", wantErr: []string{`test.toml:1: source_name: "a/b.c": give a plain file name`}},
		{name: "relative requires path", src: "requires = [\"bin/gcc\"]\n", wantErr: []string{`test.toml:1: requires: "bin/gcc": give a program name`}},
		{name: "bad env name", src: "[env]\n\"A B\" = \"1\"\n", wantErr: []string{`test.toml:2: env.A B: "A B" is not a usable variable name`}},
		{name: "env value not a string", src: "[env]\nA = 1\n", wantErr: []string{`test.toml:2: env.A: this is a whole number; write a string in quotes`}},
		{name: "extra_time without time", src: "[limits]\nextra_time = \"1s\"\n", wantErr: []string{`test.toml:2: limits.extra_time: 1s: only means something with time; add time`}},
		{name: "step extra_time with the profile's time is fine, nofile too small is not",
			src:     "[limits]\ntime = \"1s\"\n[run]\ncommand = [\"a\"]\n[run.limits]\nextra_time = \"1s\"\nnofile = 2\n",
			wantErr: []string{`test.toml:7: run.limits.nofile: 2: PROG needs at least 4`}},
		{name: "every problem at once", src: "[root]\nnetwork = \"x\"\nworkdir = \"y\"\nbogus = 1\n",
			wantErr: []string{`test.toml:4: root.bogus: unknown key`, `test.toml:2: root.network`, `test.toml:3: root.workdir`}},
		{name: "multi-line description", src: "description = \"\"\"a\nb\"\"\"\n", wantErr: []string{`test.toml:1: description: write a single line`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("test.toml", []byte(tt.src))
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			lines := strings.Split(err.Error(), "\n")
			assert.Len(t, lines, len(tt.wantErr), "one line per problem:\n%s", err)
			for _, l := range lines {
				assert.True(t, strings.HasPrefix(l, "test.toml"), "every problem names the file: %q", l)
			}
		})
	}
}

func TestEffectiveRoundTrip(t *testing.T) {
	var profiles []*Profile
	for _, name := range BuiltinNames() {
		p, err := Builtin(name)
		require.NoError(t, err)
		profiles = append(profiles, p)
	}
	profiles = append(profiles, decodeOK(t, `
description = "quotes \" and \\ and tabs\t and ünïcode"
seccomp = "/etc/jail/seccomp.json"
env_file = "/etc/x.env"
[root]
rootfs = "/srv/root"
disk = "1048577"
uid = 0
gid = 4294967294
[[mount]]
source = "/a b"
target = "/c\"d"
writable = true
[env]
MULTI = "line1\nline2\u0001"
EMPTY = ""
[limits]
cpu = "12.5%"
cpus = "0,2-3"
time = "1.000000001"
extra_time = "90m"
[compile]
command = ["sh", "-c", "echo {dir}"]
`))
	for _, p := range profiles {
		t.Run(p.Name, func(t *testing.T) {
			out := p.Effective()
			back, err := Decode(p.Name+".toml", []byte(out))
			require.NoError(t, err, "effective output:\n%s", out)
			assert.Equal(t, p, back)
			assert.Equal(t, out, back.Effective(), "printing is deterministic")
		})
	}
}

func TestEffectiveShowsDefaults(t *testing.T) {
	out := decodeOK(t, "[limits]\nmem = \"1048576\"\n").Effective()
	for _, want := range []string{
		"seccomp = \"default\"\n", "disk = \"256M\"\n", "hostname = \"jail\"\n", "network = \"none\"\n",
		"uid = 1000\n", "workdir = \"/\"\n", "mem = \"1M\"\n", "# time: no limit\n", "strict = false\n",
	} {
		assert.Contains(t, out, want)
	}
}

func TestCheck(t *testing.T) {
	p, err := Builtin("cpp")
	require.NoError(t, err)
	have := map[string]bool{}
	look := func(prog string) (string, bool) { return "/usr/bin/" + prog, have[prog] }

	err = p.Check(look)
	require.Error(t, err)
	assert.Equal(t, "profile cpp: g++ not found in the sandbox root (the host's /usr) (looked in PATH "+DefaultPath+
		"); install g++ (apt-get install g++) or use --rootfs with a root that has it", err.Error())
	assert.Equal(t, []string{"g++"}, p.Missing(look))

	have["g++"] = true
	assert.NoError(t, p.Check(look))
	assert.Empty(t, p.Missing(look))

	j, err := Builtin("java")
	require.NoError(t, err)
	j.Root.RootFS = "/srv/jdk"
	err = j.Check(look)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "profile java: javac not found in the sandbox root (/srv/jdk)")
	assert.Contains(t, err.Error(), "apt-get install default-jdk-headless")
	assert.Len(t, strings.Split(err.Error(), "\n"), 2, "one line per missing program")
}

func TestDecodeBinds(t *testing.T) {
	p := &Profile{Mounts: []Mount{
		{Source: "/present", Target: "/a", Writable: true},
		{Source: "/absent", Target: "/b", Optional: true},
		{Source: "/absent", Target: "/c"},
	}}
	got := p.Binds(func(s string) bool { return s == "/present" })
	assert.Equal(t, []rootfs.UserBind{{Source: "/present", Target: "/a", Writable: true}, {Source: "/absent", Target: "/c"}}, got,
		"a missing optional mount is dropped; a missing required one is left for Spec.Validate to report")
}

func TestDecodeImageRoot(t *testing.T) {
	p, err := Decode("img.toml", []byte("[root]\nimage = \"python:3.12\"\n"))
	require.NoError(t, err)
	assert.Equal(t, "python:3.12", p.Root.Image)
	_, err = Decode("both.toml", []byte("[root]\nimage = \"x\"\nrootfs = \"/r\"\n"))
	assert.ErrorContains(t, err, "root.image: \"x\": an image is the root already; give rootfs or image, not both")
	_, err = Decode("bad.toml", []byte("[root]\nimage = \"a,b\"\n"))
	assert.ErrorContains(t, err, "is not an image name")
}
