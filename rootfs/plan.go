// Package rootfs turns what the user asked for (a root directory or the
// host's /usr, bind mounts, a hostname) into the ordered list of mount
// operations that builds the sandbox's file system tree.
//
// Building the list is pure and happens in the parent, so it can be tested
// as golden output and so that the child, which runs inside the new
// namespaces, only executes operations and never decides anything. The
// executor is the C init, sandbox/native/mounts.c.
package rootfs

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// Kind is what one Op does.
type Kind string

const (
	// Layer is a read-only lower layer of the root's overlay: the host
	// directory Source. The Root op after them stacks them.
	Layer Kind = "layer"
	// Root creates the sandbox root: a size-limited tmpfs, with an overlay
	// of the Layers ops before it on top when there are any, writing to
	// Source's upper/ and work/ when Source is set.
	Root Kind = "root"
	// Bind mounts the host path Source at Target, read-only unless Writable.
	Bind Kind = "bind"
	// Scratch binds a fresh directory of the root's tmpfs at Target, so every
	// writable place shares the one --disk budget.
	Scratch Kind = "scratch"
	// Tmpfs mounts a small private tmpfs at Target (used for /dev).
	Tmpfs Kind = "tmpfs"
	Proc  Kind = "proc"
	Sysfs Kind = "sysfs"
	// Devpts mounts a private devpts instance so PROG cannot reach the
	// host's terminals.
	Devpts  Kind = "devpts"
	Mkdir   Kind = "mkdir"
	Symlink Kind = "symlink" // Target -> Data
	File    Kind = "file"    // writes Data to Target
	// MaskFile hides a file by binding /dev/null over it, MaskDir a
	// directory by binding an empty directory read-only over it; both
	// skip absent targets.
	MaskFile Kind = "mask-file"
	MaskDir  Kind = "mask-dir"
	// ReadOnly rebinds an existing Target read-only.
	ReadOnly Kind = "read-only"
	// Fresh mounts a tmpfs of its own at Target, which a sandbox that
	// serves task after task mounts afresh between them.
	Fresh Kind = "fresh"
	// Seal makes the file system at Target read-only, for everyone who
	// sees it: a sandbox that serves again keeps nothing a task wrote.
	Seal Kind = "seal"
)

// Op is one step of building the tree. Targets are absolute paths inside
// the sandbox; Source is a host path.
type Op struct {
	Kind     Kind   `json:"kind"`
	Target   string `json:"target,omitempty"`
	Source   string `json:"source,omitempty"`
	Writable bool   `json:"writable,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Mode     uint32 `json:"mode,omitempty"`
	Data     string `json:"data,omitempty"`
	// Layers is, for Root, how many Layer ops right before it are its
	// overlay's lower layers, the first one on top.
	Layers int `json:"layers,omitempty"`
	// Origin is the user's spelling of this op, e.g. `-v /data:/in`, used
	// to name it in error messages.
	Origin string `json:"origin,omitempty"`
}

func (o Op) String() string {
	if o.Origin != "" {
		return o.Origin
	}
	switch o.Kind {
	case Bind:
		return fmt.Sprintf("bind %s on %s", o.Source, o.Target)
	case Root:
		if o.Layers > 0 && o.Source != "" {
			return fmt.Sprintf("overlay root of %d layers, writing to %s", o.Layers, o.Source)
		}
		if o.Layers > 0 {
			return fmt.Sprintf("overlay root of %d layers", o.Layers)
		}
		return "tmpfs root"
	case Layer:
		return fmt.Sprintf("layer %s of the root", o.Source)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Target)
}

// UserBind is a -v SRC:DST[:ro|rw] from the command line.
type UserBind struct {
	Source   string
	Target   string
	Writable bool
}

// Config is everything Build needs; Host describes the machine so that
// Build itself stays pure.
type Config struct {
	RootFS string // prebuilt root directory, or "" for the host's /usr
	// Layers are an image's unpacked layers, lowest first, as its
	// manifest lists them; instead of RootFS.
	Layers []string
	// Upper is a host directory whose upper/ and work/ keep what the run
	// writes to its root (jail build's RUN), instead of the --disk tmpfs;
	// /tmp is then the root's too, as it is in a docker build.
	Upper    string
	WorkDir  string // created if missing, as docker does for -w
	Disk     int64  // bytes of the tmpfs behind every writable place
	Binds    []UserBind
	Hostname string
	UID, GID uint32
	// PrivateNet is true when the sandbox has its own network namespace;
	// sysfs can only be mounted then.
	PrivateNet bool
	// Reusable builds the tree of a sandbox that serves task after task:
	// /tmp and /dev/shm are tmpfs mounts of their own (Fresh, each up to
	// Disk), renewed between tasks, and the root and /dev are sealed
	// read-only once built, so that no task leaves anything for the next.
	Reusable bool
	// Cgroups are the run's own cgroup directories, shown read-only at
	// /sys/fs/cgroup; none when the run has no cgroup.
	Cgroups []Cgroup
	Host    Host
}

// Cgroup is one directory of the run's cgroup on the host.
type Cgroup struct {
	// Hierarchy is the v1 hierarchy's directory under /sys/fs/cgroup as
	// the host names it ("memory", "cpu,cpuacct"); "" is the unified
	// (v2) hierarchy.
	Hierarchy string
	// Source is the run's cgroup directory in that hierarchy.
	Source string
}

// UnifiedView says the run's cgroup is one cgroup v2 directory, which
// PROG's spawner shows at CgroupRoot with a mount of its own (see
// cgroupOps), rather than the plan.
func UnifiedView(cgs []Cgroup) bool { return len(cgs) == 1 && cgs[0].Hierarchy == "" }

// CgroupRoot is where PROG finds its cgroup, as in every container.
const CgroupRoot = "/sys/fs/cgroup"

// Host is what Build needs to know about the host's root.
type Host struct {
	// TopLinks maps top-level names (bin, lib, lib64...) to their symlink
	// target on the host, for merged-/usr systems.
	TopLinks map[string]string
	// TopDirs lists top-level directories outside /usr that hold programs
	// or libraries on hosts that are not merged-/usr.
	TopDirs []string
	// Etc are the entries of HostEtc the host has, in HostEtc's order.
	Etc []EtcEntry
	// ResolvConf is the host's /etc/resolv.conf, used with the host network.
	ResolvConf string
}

// SandboxUser is the account name PROG runs as in the generated /etc.
const SandboxUser = "jail"

// Build returns the ordered operations. The order matters: the root first,
// the system trees, /proc and its masks (masks need proc mounted), /dev,
// the scratch places, then the user's binds so they may land inside /tmp
// but never under a mount made after them, and the working directory last
// so it may lie inside a bind.
func Build(c Config) []Op {
	// Sized for the whole tree at once: grown by appends, it was copied
	// five times over, 40 KB of garbage per task in a service (pprof).
	ops := make([]Op, 0, 56+len(c.Layers)+len(c.Binds)+len(c.Host.TopLinks)+len(c.Host.TopDirs)+len(c.Host.Etc)+2*len(c.Cgroups))
	ops = rootOps(ops, c)
	if c.RootFS == "" && len(c.Layers) == 0 {
		ops = hostUsr(ops, c)
		ops = generatedEtc(ops, c)
	}
	ops = append(ops, procTree...)
	ops = devOps(ops, c)
	if c.Upper == "" {
		ops = append(ops, scratch(c, "/tmp"))
	} else {
		ops = append(ops, Op{Kind: Mkdir, Target: "/tmp", Mode: 0o1777})
	}
	// sysfs can only be mounted in the sandbox's own network namespace,
	// which the native launcher creates meanwhile on another CPU: last of
	// the system mounts, so everything before it overlaps with that.
	if c.PrivateNet {
		ops = append(ops, Op{Kind: Sysfs, Target: "/sys"},
			Op{Kind: MaskDir, Target: "/sys/firmware"},
			Op{Kind: MaskDir, Target: "/sys/devices/virtual/powercap"})
	}
	// Where PROG's cgroup is shown: sysfs has the directory, and without
	// sysfs the root has it, cgroup or not, as in every container.
	if !c.PrivateNet {
		ops = append(ops, Op{Kind: Mkdir, Target: CgroupRoot, Mode: 0o755})
	}
	ops = append(ops, cgroupOps(c.Cgroups)...)
	for _, b := range c.Binds {
		mode := "ro"
		if b.Writable {
			mode = "rw"
		}
		ops = append(ops, Op{Kind: Bind, Source: b.Source, Target: path.Clean(b.Target), Writable: b.Writable,
			Origin: fmt.Sprintf("-v %s:%s:%s", b.Source, b.Target, mode)})
	}
	if wd := path.Clean(c.WorkDir); c.WorkDir != "" && wd != "/" {
		ops = append(ops, Op{Kind: Mkdir, Target: wd, Mode: 0o755, Origin: "-w " + c.WorkDir})
	}
	if c.Reusable {
		ops = append(ops, Op{Kind: Seal, Target: "/"}, Op{Kind: Seal, Target: "/dev"})
	}
	return ops
}

// rootOps are the root's layers, top first as overlayfs stacks them,
// and the root.
func rootOps(ops []Op, c Config) []Op {
	first := len(ops)
	if c.RootFS != "" {
		ops = append(ops, Op{Kind: Layer, Source: c.RootFS, Origin: "--rootfs " + c.RootFS})
	}
	for i := len(c.Layers) - 1; i >= 0; i-- {
		ops = append(ops, Op{Kind: Layer, Source: c.Layers[i]})
	}
	return append(ops, Op{Kind: Root, Size: c.Disk, Layers: len(ops) - first, Source: c.Upper})
}

var procTree = procOps()

// scratch is a writable place: a directory of the root's tmpfs, or in a
// reusable sandbox a tmpfs of its own.
func scratch(c Config, target string) Op {
	if c.Reusable {
		return Op{Kind: Fresh, Target: target, Mode: 0o1777, Size: c.Disk}
	}
	return Op{Kind: Scratch, Target: target, Mode: 0o1777}
}

func hostUsr(ops []Op, c Config) []Op {
	ops = append(ops, Op{Kind: Bind, Source: "/usr", Target: "/usr"})
	for _, name := range slices.Sorted(maps.Keys(c.Host.TopLinks)) {
		ops = append(ops, Op{Kind: Symlink, Target: "/" + name, Data: c.Host.TopLinks[name]})
	}
	for _, d := range c.Host.TopDirs {
		ops = append(ops, Op{Kind: Bind, Source: "/" + d, Target: "/" + d})
	}
	return ops
}

func generatedEtc(ops []Op, c Config) []Op {
	passwd := "root:x:0:0:root:/root:/bin/sh\n"
	group := "root:x:0:\n"
	if c.UID != 0 {
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:/tmp:/bin/sh\n", SandboxUser, c.UID, c.GID, SandboxUser)
	}
	if c.GID != 0 {
		group += fmt.Sprintf("%s:x:%d:\n", SandboxUser, c.GID)
	}
	passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	group += "nogroup:x:65534:\n"
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if c.Hostname != "" && c.Hostname != "localhost" {
		hosts += fmt.Sprintf("127.0.1.1\t%s\n", c.Hostname)
	}
	resolv := "# this sandbox has no network\n"
	if !c.PrivateNet && c.Host.ResolvConf != "" {
		resolv = c.Host.ResolvConf
	}
	ops = append(ops, []Op{
		{Kind: Mkdir, Target: "/etc", Mode: 0o755},
		{Kind: File, Target: "/etc/passwd", Data: passwd, Mode: 0o644},
		{Kind: File, Target: "/etc/group", Data: group, Mode: 0o644},
		{Kind: File, Target: "/etc/hosts", Data: hosts, Mode: 0o644},
		{Kind: File, Target: "/etc/hostname", Data: c.Hostname + "\n", Mode: 0o644},
		{Kind: File, Target: "/etc/nsswitch.conf", Data: "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n", Mode: 0o644},
		{Kind: File, Target: "/etc/resolv.conf", Data: resolv, Mode: 0o644},
	}...)
	return hostEtcOps(ops, c.Host.Etc)
}

// procOps mounts a proc that shows only the sandbox's pid namespace, then
// hides what still speaks about the host, following runc's masked and
// read-only path lists. They are the same for every sandbox: procTree.
func procOps() []Op {
	ops := []Op{{Kind: Proc, Target: "/proc"}}
	for _, f := range []string{"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/kallsyms", "/proc/kmsg",
		// The sandbox's init shares jail's memory, so its command line
		// is jail's, host paths included.
		"/proc/1/cmdline", "/proc/1/task/1/cmdline"} {
		ops = append(ops, Op{Kind: MaskFile, Target: f})
	}
	for _, d := range []string{"/proc/acpi", "/proc/asound", "/proc/scsi"} {
		ops = append(ops, Op{Kind: MaskDir, Target: d})
	}
	for _, p := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		ops = append(ops, Op{Kind: ReadOnly, Target: p})
	}
	return ops
}

// cgroupOps show PROG its own cgroup at /sys/fs/cgroup, laid out as runc
// lays it out under a cgroup namespace, because runtimes size themselves
// from it: the JVM's heap and CPU count, Go's GOMAXPROCS, Node's heap.
// They find it by matching /proc/self/cgroup against mountinfo, and both
// say "/" inside: PROG's spawner joins the run's cgroup and then unshares
// a cgroup namespace, which makes that cgroup the root of every hierarchy,
// and mountinfo shows a cgroup mount's root relative to the reader's
// namespace. A bind of the run's directory is therefore a mount of "/",
// just like the container runtimes' own cgroup mounts.
//
// Everything is read-only, so PROG cannot raise its own limits or move
// itself out; the binds are mounted read-only, like every bind.
//
// cgroup v2 is not the plan's: PROG's spawner mounts the hierarchy of its
// new cgroup namespace, whose root is the run's cgroup (UnifiedView), so
// that a sandbox built before its run's cgroup existed shows it too. v1
// cannot be mounted in a user namespace: it is a tmpfs with one bind per
// hierarchy, named as the host names it, and for a
// hierarchy holding several controllers ("cpu,cpuacct") a symlink per
// controller, which is where libraries look for them. The tmpfs is made
// read-only before the binds land in it: made after, the read-only copy
// would carry a second copy of every bind, and mountinfo would list each
// hierarchy twice.
func cgroupOps(cgs []Cgroup) []Op {
	if len(cgs) == 0 || UnifiedView(cgs) {
		return nil
	}
	ops := []Op{{Kind: Tmpfs, Target: CgroupRoot, Mode: 0o755, Size: 64 << 10}}
	links := map[string]string{}
	for _, cg := range cgs {
		ops = append(ops, Op{Kind: Mkdir, Target: path.Join(CgroupRoot, cg.Hierarchy), Mode: 0o755})
		if !strings.Contains(cg.Hierarchy, ",") {
			continue
		}
		for _, ctl := range strings.Split(cg.Hierarchy, ",") {
			links[ctl] = cg.Hierarchy
		}
	}
	for _, cg := range cgs {
		delete(links, cg.Hierarchy) // a real directory wins over a link
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		ops = append(ops, Op{Kind: Symlink, Target: path.Join(CgroupRoot, name), Data: links[name]})
	}
	ops = append(ops, Op{Kind: ReadOnly, Target: CgroupRoot})
	for _, cg := range cgs {
		ops = append(ops, Op{Kind: Bind, Source: cg.Source, Target: path.Join(CgroupRoot, cg.Hierarchy)})
	}
	return ops
}

// devOps builds a minimal /dev. Device nodes are bind mounts of the host's,
// because mknod is refused inside a user namespace (bubblewrap does the same).
func devOps(ops []Op, c Config) []Op {
	ops = append(ops, Op{Kind: Tmpfs, Target: "/dev", Mode: 0o755, Size: 64 << 10})
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		ops = append(ops, Op{Kind: Bind, Source: "/dev/" + n, Target: "/dev/" + n, Writable: true})
	}
	ops = append(ops,
		Op{Kind: Devpts, Target: "/dev/pts"},
		Op{Kind: Symlink, Target: "/dev/ptmx", Data: "pts/ptmx"},
		scratch(c, "/dev/shm"),
		Op{Kind: Symlink, Target: "/dev/fd", Data: "/proc/self/fd"},
		Op{Kind: Symlink, Target: "/dev/stdin", Data: "/proc/self/fd/0"},
		Op{Kind: Symlink, Target: "/dev/stdout", Data: "/proc/self/fd/1"},
		Op{Kind: Symlink, Target: "/dev/stderr", Data: "/proc/self/fd/2"},
	)
	return ops
}

// ReservedTarget reports whether a user bind target would land on or under
// a tree the sandbox builds itself, where it would weaken isolation or be
// hidden by a later mount.
func ReservedTarget(target string) bool {
	t := path.Clean(target)
	if t == "/" {
		return true
	}
	for _, r := range []string{"/proc", "/dev", "/sys"} {
		if t == r || strings.HasPrefix(t, r+"/") {
			return true
		}
	}
	return false
}
