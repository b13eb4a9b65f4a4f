package rootfs

import (
	"encoding/json"
	"flag"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// mergedUsrHost is a fixed Debian-12-like host, so the golden files do not
// depend on the machine running the tests.
var mergedUsrHost = Host{
	TopLinks:   map[string]string{"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"},
	ResolvConf: "nameserver 192.0.2.53\n",
	// One of each kind probeEtc finds.
	Etc: []EtcEntry{
		{Path: "services", Kind: EtcCopy, Data: "http\t\t80/tcp\t\twww\n", Mode: 0o444},
		{Path: "ld.so.cache", Kind: EtcCopy, Data: "glibc-ld.so.cache1.1", Mode: 0o444},
		{Path: "alternatives", Kind: EtcBind},
		{Path: "localtime", Kind: EtcLink, Data: "/usr/share/zoneinfo/Europe/Berlin"},
		{Path: "os-release", Kind: EtcLink, Data: "../usr/lib/os-release"},
		{Path: "ssl/certs", Kind: EtcBind},
	},
}

var planCases = []struct {
	name   string // golden file is testdata/<name>.golden
	config Config
}{
	{
		name: "default-root-private-net",
		config: Config{
			Disk: 256 << 20,
			Binds: []UserBind{
				{Source: "/srv/data", Target: "/data"},
				{Source: "/home/user/out", Target: "/tmp/out", Writable: true},
			},
			WorkDir:    "/tmp/out/build",
			Hostname:   "jail",
			UID:        1000,
			GID:        1000,
			PrivateNet: true,
			Host:       mergedUsrHost,
		},
	},
	{
		name: "rootfs-overlay-host-net",
		config: Config{
			RootFS:     "/var/lib/images/debian",
			WorkDir:    "/",
			Disk:       64 << 20,
			Hostname:   "box",
			UID:        1000,
			GID:        1000,
			PrivateNet: false,
			Host:       mergedUsrHost,
		},
	},
	{
		// Root on a cgroup v1 host that mounts cpu and cpuacct as one
		// hierarchy, as most v1 hosts do.
		name: "cgroup1-private-net",
		config: Config{
			Disk: 256 << 20, Hostname: "jail", UID: 65534, GID: 65534, PrivateNet: true, Host: mergedUsrHost,
			Cgroups: []Cgroup{
				{Hierarchy: "cpu,cpuacct", Source: "/sys/fs/cgroup/cpu,cpuacct/user.slice/jail-7-1"},
				{Hierarchy: "cpuset", Source: "/sys/fs/cgroup/cpuset/jail-7-1"},
				{Hierarchy: "memory", Source: "/sys/fs/cgroup/memory/user.slice/jail-7-1"},
				{Hierarchy: "pids", Source: "/sys/fs/cgroup/pids/user.slice/jail-7-1"},
			},
		},
	},
	{
		// A delegated cgroup v2 subtree, with the host's network: no
		// sysfs, so /sys/fs/cgroup is made in the root.
		name: "cgroup2-host-net",
		config: Config{
			Disk: 64 << 20, Hostname: "jail", UID: 1000, GID: 1000, PrivateNet: false, Host: mergedUsrHost,
			Cgroups: []Cgroup{{Source: "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/jail-7-1"}},
		},
	},
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range planCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.MarshalIndent(Build(tc.config), "", "\t")
			require.NoError(t, err)
			got = append(got, '\n')
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run `go test ./rootfs -update` to create it")
			assert.Equal(t, string(want), string(got), "plan differs from %s; rerun with -update if the change is intended", golden)
		})
	}
}

// invariantConfigs adds shapes the golden files do not cover: an older
// host without merged /usr, root inside, and binds into /tmp.
func invariantConfigs() []Config {
	cs := []Config{}
	for _, tc := range planCases {
		cs = append(cs, tc.config)
	}
	return append(cs,
		Config{Disk: 1 << 20, Hostname: "old", PrivateNet: true, WorkDir: "/opt/b/src",
			Host:  Host{TopDirs: []string{"bin", "lib", "lib64", "sbin"}},
			Binds: []UserBind{{Source: "/a", Target: "/tmp/a", Writable: true}, {Source: "/b", Target: "/opt/b"}}},
		Config{Disk: 1 << 20, Hostname: "localhost", PrivateNet: false, Host: mergedUsrHost},
		Config{RootFS: "/img", Disk: 1 << 20, Hostname: "x", PrivateNet: true, WorkDir: "/work",
			Binds: []UserBind{{Source: "/src", Target: "/work", Writable: true}}},
		Config{RootFS: "/img", Disk: 1 << 20, Hostname: "x", PrivateNet: true,
			Cgroups: []Cgroup{{Source: "/sys/fs/cgroup/jail/jail-1-2"}}},
		Config{Layers: []string{"/store/l1", "/store/l2", "/store/l3"}, Disk: 1 << 20, Hostname: "x", PrivateNet: true, WorkDir: "/app"},
		Config{Disk: 1 << 20, Hostname: "x", PrivateNet: false, Host: mergedUsrHost,
			Cgroups: []Cgroup{{Hierarchy: "cpu", Source: "/c/cpu/j"}, {Hierarchy: "cpuacct", Source: "/c/cpuacct/j"}, {Hierarchy: "memory", Source: "/c/memory/j"}}},
	)
}

func TestBuildInvariants(t *testing.T) {
	for i, c := range invariantConfigs() {
		all := Build(c)
		require.NotEmpty(t, all, "config %d", i)

		// The root's layers come first, top first as overlayfs stacks
		// them: the image's last layer, or the one --rootfs.
		var layers []string
		for _, op := range all {
			if op.Kind != Layer {
				break
			}
			layers = append(layers, op.Source)
		}
		want := slices.Clone(c.Layers)
		slices.Reverse(want)
		if c.RootFS != "" {
			want = []string{c.RootFS}
		}
		assert.Equal(t, want, layers, "config %d", i)
		ops := all[len(layers):]
		assert.Equal(t, Root, ops[0].Kind, "config %d: the first op after the layers must create the root", i)
		assert.Equal(t, len(layers), ops[0].Layers, "config %d", i)
		assert.Equal(t, c.Disk, ops[0].Size, "config %d: the root must carry the --disk size", i)

		firstMount := map[string]int{}
		for j, op := range ops {
			assert.NotEqual(t, Layer, op.Kind, "config %d op %d: a layer after the root", i, j)
			if j > 0 {
				assert.NotEqual(t, Root, op.Kind, "config %d op %d: only one root", i, j)
			}
			if op.Kind == Root {
				continue
			}
			assert.True(t, path.IsAbs(op.Target), "config %d op %d: target %q is not absolute", i, j, op.Target)
			assert.Equal(t, path.Clean(op.Target), op.Target, "config %d op %d: target is not clean", i, j)
			if _, ok := firstMount[op.Target]; !ok {
				firstMount[op.Target] = j
			}
		}

		// Masks and read-only rebinds act on a mounted proc/sysfs/dev, so
		// the filesystem must come first. Without sysfs, /sys/fs/cgroup
		// is a mount on a directory of the root.
		for _, fsRoot := range []string{"/proc", "/sys", "/dev", CgroupRoot} {
			fsAt, mounted := firstMount[fsRoot]
			for j, op := range ops {
				if !strings.HasPrefix(op.Target, fsRoot+"/") {
					continue
				}
				if fsRoot == "/sys" && !c.PrivateNet && (op.Target == CgroupRoot || strings.HasPrefix(op.Target, CgroupRoot+"/")) {
					continue
				}
				require.True(t, mounted, "config %d: op %d (%s) under %s, which is never mounted", i, j, op, fsRoot)
				assert.Less(t, fsAt, j, "config %d: op %d (%s) comes before %s is mounted", i, j, op, fsRoot)
			}
		}

		// The user's binds follow every system op, in the order given, so
		// that no later mount hides them; only the -w directory comes after
		// them, because it may lie inside a bind.
		tail := ops
		if c.WorkDir != "" && c.WorkDir != "/" {
			last := ops[len(ops)-1]
			assert.Equal(t, Mkdir, last.Kind, "config %d: the -w directory must be made last", i)
			assert.Equal(t, c.WorkDir, last.Target, "config %d", i)
			assert.Equal(t, "-w "+c.WorkDir, last.Origin, "config %d", i)
			tail = ops[:len(ops)-1]
		}
		n := len(c.Binds)
		require.GreaterOrEqual(t, len(tail), n)
		for k, b := range c.Binds {
			op := tail[len(tail)-n+k]
			assert.Equal(t, Bind, op.Kind, "config %d bind %d", i, k)
			assert.Equal(t, b.Source, op.Source, "config %d bind %d", i, k)
			assert.Equal(t, b.Target, op.Target, "config %d bind %d", i, k)
			assert.Equal(t, b.Writable, op.Writable, "config %d bind %d", i, k)
			assert.True(t, strings.HasPrefix(op.Origin, "-v "), "config %d bind %d: origin %q", i, k, op.Origin)
		}
		for j, op := range tail[:len(tail)-n] {
			assert.Empty(t, op.Origin, "config %d op %d (%s): a user op before the system ops", i, j, op)
		}

		// sysfs shows the host's network devices, so it only exists with a
		// private network namespace.
		_, hasSys := firstMount["/sys"]
		assert.Equal(t, c.PrivateNet, hasSys, "config %d: sysfs mounted without a private net", i)

		// PROG's v1 cgroup is shown exactly when the run has one (a v2
		// one is its spawner's to mount), and never writably: no bind
		// under it is writable, and a v1 tmpfs is made read-only before
		// anything is bound into it.
		cgAt, hasCgroup := -1, false
		for j, op := range ops {
			if op.Target == CgroupRoot && op.Kind != Mkdir && !hasCgroup {
				cgAt, hasCgroup = j, true
			}
		}
		// Without sysfs the root has the directory the spawner mounts a v2
		// cgroup on, whether the run has one or not.
		if !c.PrivateNet {
			at, made := firstMount[CgroupRoot]
			assert.True(t, made && ops[at].Kind == Mkdir, "config %d: no %s made without sysfs", i, CgroupRoot)
		}
		assert.Equal(t, len(c.Cgroups) > 0 && !UnifiedView(c.Cgroups), hasCgroup, "config %d: /sys/fs/cgroup shown without a v1 cgroup, or not with one", i)
		readOnlyAt := -1
		for j, op := range ops {
			if op.Target != CgroupRoot && !strings.HasPrefix(op.Target, CgroupRoot+"/") {
				continue
			}
			switch op.Kind {
			case Bind:
				assert.False(t, op.Writable, "config %d op %d (%s): a writable cgroup", i, j, op)
				if ops[cgAt].Kind == Tmpfs {
					assert.Greater(t, j, readOnlyAt, "config %d op %d (%s): bound before the tmpfs is read-only", i, j, op)
					assert.GreaterOrEqual(t, readOnlyAt, 0, "config %d op %d (%s): bound before the tmpfs is read-only", i, j, op)
				}
			case ReadOnly:
				readOnlyAt = j
			case Tmpfs, Mkdir, Symlink:
			default:
				assert.Failf(t, "unexpected op under /sys/fs/cgroup", "config %d op %d (%s)", i, j, op)
			}
		}
		if hasCgroup && ops[cgAt].Kind == Tmpfs {
			assert.GreaterOrEqual(t, readOnlyAt, 0, "config %d: the v1 tmpfs is never made read-only", i)
		}

		// With a prebuilt root, /etc and /usr are the image's own.
		_, hasEtc := firstMount["/etc"]
		_, hasUsr := firstMount["/usr"]
		hostRoot := c.RootFS == "" && len(c.Layers) == 0
		assert.Equal(t, hostRoot, hasEtc, "config %d: generated /etc", i)
		assert.Equal(t, hostRoot, hasUsr, "config %d: host /usr", i)
		if hasUsr {
			usr := ops[firstMount["/usr"]]
			assert.Equal(t, Bind, usr.Kind)
			assert.False(t, usr.Writable, "config %d: host /usr must be read-only", i)
		}

		// Nothing of the host's /etc but HostEtc, none of it writable, none
		// of it with an image root, and never over a generated file.
		for j, op := range ops {
			if op.Kind == Bind && strings.HasPrefix(op.Source, "/etc/") {
				assert.Empty(t, c.RootFS, "config %d op %d (%s): the host's /etc with an image root", i, j, op)
				assert.False(t, op.Writable, "config %d op %d (%s): a writable bind of the host's /etc", i, j, op)
				assert.True(t, inHostEtc(strings.TrimPrefix(op.Source, "/etc/")), "config %d op %d (%s): not in HostEtc", i, j, op)
			}
			if op.Kind == File && op.Mode&0o222 == 0 {
				assert.True(t, inHostEtc(strings.TrimPrefix(op.Target, "/etc/")), "config %d op %d (%s)", i, j, op)
			}
		}
		for target, n := range countTargets(ops) {
			if strings.HasPrefix(target, "/etc/") {
				assert.Equal(t, 1, n, "config %d: %s is made more than once", i, target)
			}
		}
	}
}

func inHostEtc(rel string) bool {
	for _, a := range HostEtc {
		if a.Path == rel {
			return true
		}
	}
	return false
}

func countTargets(ops []Op) map[string]int {
	n := map[string]int{}
	for _, op := range ops {
		n[op.Target]++
	}
	return n
}

// Spec.Validate accepts any absolute -v target or -w outside the reserved
// trees, unclean ones included, so Build must clean them: the child's
// resolve() walks path.Dir/path.Base, and for "/work/" it creates a stray
// /work/work before opening /work.
func TestBuildCleansUserTargets(t *testing.T) {
	c := Config{
		Disk: 1 << 20, Hostname: "jail", PrivateNet: true, Host: mergedUsrHost,
		Binds:   []UserBind{{Source: "/srv/data", Target: "/data/"}, {Source: "/srv/in", Target: "/tmp//in/./x/.."}},
		WorkDir: "/work/",
	}
	for j, op := range Build(c) {
		if op.Kind == Root {
			continue
		}
		assert.Equal(t, path.Clean(op.Target), op.Target, "op %d (%s): target is not clean", j, op)
	}
}

func TestBuildEtc(t *testing.T) {
	file := func(t *testing.T, ops []Op, target string) string {
		t.Helper()
		for _, op := range ops {
			if op.Kind == File && op.Target == target {
				return op.Data
			}
		}
		require.Failf(t, "file not generated", "%s", target)
		return ""
	}
	base := Config{Disk: 1 << 20, Hostname: "jail", UID: 1000, GID: 1000, Host: mergedUsrHost}

	private := base
	private.PrivateNet = true
	ops := Build(private)
	assert.NotContains(t, file(t, ops, "/etc/resolv.conf"), "nameserver", "a private net must not see host resolvers")
	assert.Contains(t, file(t, ops, "/etc/passwd"), "jail:x:1000:1000:jail:/tmp:/bin/sh\n")
	assert.Contains(t, file(t, ops, "/etc/group"), "jail:x:1000:\n")
	assert.Contains(t, file(t, ops, "/etc/hosts"), "127.0.1.1\tjail\n")
	assert.Equal(t, "jail\n", file(t, ops, "/etc/hostname"))

	hostNet := base
	ops = Build(hostNet)
	assert.Equal(t, mergedUsrHost.ResolvConf, file(t, ops, "/etc/resolv.conf"))

	asRoot := base
	asRoot.UID, asRoot.GID = 0, 0
	ops = Build(asRoot)
	assert.NotContains(t, file(t, ops, "/etc/passwd"), SandboxUser+":")
	assert.NotContains(t, file(t, ops, "/etc/group"), SandboxUser+":")
	assert.Contains(t, file(t, ops, "/etc/passwd"), "root:x:0:0:")
}

func TestReservedTarget(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{
		{"/", true},
		{"/proc", true},
		{"/proc/", true},
		{"/proc/sys/kernel", true},
		{"/dev", true},
		{"/dev/shm", true},
		{"/sys", true},
		{"/sys/fs/cgroup", true},
		{"//proc", true},
		{"/./dev", true},
		{"/tmp/../proc", true},
		{"/tmp/..", true},
		{"/tmp", false},
		{"/data", false},
		{"/procfs", false},
		{"/device", false},
		{"/system", false},
		{"/tmp/proc", false},
		{"/usr/lib/dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			assert.Equal(t, tt.want, ReservedTarget(tt.target))
		})
	}
}
