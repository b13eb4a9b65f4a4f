package sandbox

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"jail/rootfs"
	"jail/sandbox/native"
)

// stagingDir is where the init attaches the root's tmpfs before
// pivot_root.
const stagingDir = "/tmp"

// lower decides, for compile, what the C init executes: every mount flag
// and data string, the namespaces, PROG's path candidates, its rlimits and
// filter. What is left to the start is the descriptors, the cgroup.procs
// files among them, and the id maps.
func lower(s *Spec, plan *Plan) (native.Config, error) {
	cfg := native.Config{
		CloneFlags: cloneFlags(s),
		Staging:    stagingDir,
		Hostname:   plan.Hostname,
		Loopback:   plan.LoopbackUp,
		UID:        plan.Exec.UID,
		GID:        plan.Exec.GID,
		DropGroups: plan.Exec.DropGroups,
		// What a Spec.RootCaps task keeps, the most any task may.
		BoundingKeep: containerRootMask(),
		Task:         nativeTask(plan),
	}
	cfg.Ops = make([]native.Op, 0, len(plan.Mounts))
	for _, op := range plan.Mounts {
		n, err := nativeOp(op)
		if err != nil {
			return native.Config{}, err
		}
		cfg.Ops = append(cfg.Ops, n)
	}
	return cfg, nil
}

// nativeTask is PROG's part of the Plan, as the init takes it.
func nativeTask(plan *Plan) native.Task {
	t := native.Task{
		Exec:        *nativeExec(&plan.Exec),
		LandlockABI: plan.Landlock.ABI, LandlockFS: plan.Landlock.FS, LandlockScoped: plan.Landlock.Scoped,
		Decide: plan.Exec.SeccompDecide,
	}
	t.Candidates, t.Check = pathCandidates(&plan.Exec)
	return t
}

// overlayOptions are the root overlay's options besides its layers.
//
// userxattr (Linux 5.11) keeps overlayfs's own marks in user.overlay.*:
// an unprivileged mount cannot write trusted.overlay.*, and without the
// marks removing or replacing a directory of the lower layer (rm -rf, mv,
// every package manager) fails with EIO, because an opaque directory, and
// the emptiness check of a directory holding whiteouts, both need one. The
// upper layer is the --disk tmpfs, which stores user.* xattrs from 6.6 on.
//
// Nothing else is asked for, because nothing else works unprivileged
// (tried on 6.18): redirect_dir=on|follow and metacopy=on are refused next
// to userxattr (they would trust xattrs PROG can forge), so rename(2) of a
// lower directory returns EXDEV and mv falls back to copying; index=on and
// xino=auto fall back to off, since decoding file handles needs
// CAP_DAC_READ_SEARCH in the initial namespace; xino=on would work but gives
// 64-bit inode numbers that stat without large-file support cannot
// return. Each extra option would also be one more way to fail on a kernel
// that lacks it.
const overlayOptions = "userxattr"

// MaxMountDataLayers is how many layers fit in mount(2)'s one page of
// options, each named /proc/self/fd/N by the init (N below 100000): the
// rest of the options take under 100 bytes. Deeper roots need lowerdir+.
const MaxMountDataLayers = (4096 - 100 - len("lowerdir=")) / len("/proc/self/fd/99999:")

func fitsMountData(layers int) bool { return layers <= MaxMountDataLayers }

func nativeOp(op rootfs.Op) (native.Op, error) {
	n := native.Op{Target: op.Target, Source: op.Source, Mode: op.Mode, Data: op.Data}
	switch op.Kind {
	case rootfs.Layer:
		n.Kind = native.OpLayer
	case rootfs.Root:
		n.Kind = native.OpRoot
		n.Data = diskTmpfs(op.Size, 0o755)
		if op.Layers > 0 {
			n.Layers, n.OverlayOpts = op.Layers, overlayOptions
			n.LowerdirPlus = !fitsMountData(op.Layers)
			if n.LowerdirPlus && lowerdirPlus.Missing() {
				return n, fmt.Errorf("a root of %d layers needs Linux 6.8 (overlayfs's lowerdir+); %s stacks at most %d: flatten the image",
					op.Layers, kernelRelease(), MaxMountDataLayers)
			}
		}
	case rootfs.Bind:
		// Read-only unless asked otherwise, never setuid, and
		// device-capable only for /dev.
		n.Kind = native.OpBind
		n.Attrs = unix.MOUNT_ATTR_NOSUID
		if !op.Writable {
			n.Attrs |= unix.MOUNT_ATTR_RDONLY
		}
		if !strings.HasPrefix(op.Target, "/dev/") {
			n.Attrs |= unix.MOUNT_ATTR_NODEV
		}
	case rootfs.Scratch:
		n.Kind = native.OpScratch
		n.Attrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
		if op.Target == "/dev/shm" {
			n.Attrs |= unix.MOUNT_ATTR_NOEXEC
		}
	case rootfs.Tmpfs:
		n.Kind, n.FSType, n.Flags = native.OpMount, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC
		n.Data = fmt.Sprintf("mode=%o,size=%d", op.Mode, op.Size)
	case rootfs.Fresh:
		// As a scratch place: never setuid or devices, exec but in
		// /dev/shm.
		n.Kind, n.FSType, n.Flags, n.Renew = native.OpMount, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, true
		if op.Target == "/dev/shm" {
			n.Flags |= unix.MS_NOEXEC
		}
		n.Data = diskTmpfs(op.Size, op.Mode)
	case rootfs.Seal:
		n.Kind = native.OpSeal
	case rootfs.Proc:
		// Mounted nosuid, nodev, noexec by the pid namespace's pid 1.
		n.Kind = native.OpProc
	case rootfs.Sysfs:
		n.Kind, n.FSType, n.Flags, n.Data = native.OpMount, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""
	case rootfs.Devpts:
		n.Kind, n.FSType, n.Flags = native.OpMount, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC
		n.Data = "newinstance,ptmxmode=0666,mode=0620"
	case rootfs.Mkdir:
		n.Kind = native.OpMkdir
	case rootfs.Symlink:
		n.Kind = native.OpSymlink
	case rootfs.File:
		n.Kind = native.OpFile
	case rootfs.MaskFile:
		n.Kind = native.OpMaskFile
	case rootfs.MaskDir:
		n.Kind = native.OpMaskDir
	case rootfs.ReadOnly:
		n.Kind = native.OpReadOnly
	default:
		return n, fmt.Errorf("unknown mount operation %q", op.Kind)
	}
	if op.Kind == rootfs.Symlink || op.Kind == rootfs.File {
		n.Parent, n.Base = path.Dir(op.Target), path.Base(op.Target)
	}
	return n, nil
}

// diskTmpfs is the mount data of a tmpfs of size bytes that PROG writes
// to: as many inodes as 4 KiB pages (at least 1024), so that a flood of
// empty files meets the same budget as their bytes.
func diskTmpfs(size int64, mode uint32) string {
	return fmt.Sprintf("size=%d,nr_inodes=%d,mode=%04o", size, max(size/4096, 1024), mode)
}

// pathCandidates are the paths execvp would try for PROG with the
// sandbox's PATH (never the host's), in order; the init takes the first
// regular executable file. A name with a slash is used as it is.
func pathCandidates(e *ExecPlan) ([]string, bool) {
	name := e.Argv[0]
	if strings.Contains(name, "/") {
		return []string{name}, false
	}
	pathVar := "/usr/local/bin:/usr/bin:/bin" // execvp's fallback
	for _, kv := range e.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	var out []string
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(e.Dir, p)
		}
		out = append(out, p)
	}
	return out, true
}

// nativeExec is e as jail_spawn takes it.
func nativeExec(e *ExecPlan) *native.Exec {
	x := &native.Exec{Argv: e.Argv, Env: e.Env, Dir: e.Dir, TTY: e.TTY,
		Filter: e.Seccomp, Notify: e.SeccompNotify, Log: e.SeccompLog, RootCaps: e.RootCaps}
	for _, r := range e.Rlimits {
		x.Rlimits = append(x.Rlimits, native.Rlimit{Resource: r.Resource, Cur: r.Cur, Max: r.Max})
	}
	return x
}
