package limits

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Detection is the backend chosen for this process, and why each better
// one was not used.
type Detection struct {
	Backend Backend // nil when no cgroup can be used
	Notes   []string
}

// Why summarises the notes for a "not enforced" message.
func (d Detection) Why() string {
	if len(d.Notes) == 0 {
		return "no usable cgroup"
	}
	return strings.Join(d.Notes, "; ")
}

// Detect picks the best backend, in the order: root on cgroup v2, a
// delegated v2 subtree this process already lives in, the systemd user
// manager (only with askSystemd, because it costs a D-Bus round trip),
// root on cgroup v1; else none. with are processes of this one that must
// stay in its cgroup wherever the choice moves it (the sandbox init
// `jail run` forks before Go starts), so that what they start may join
// the runs' cgroups.
func Detect(ctx context.Context, askSystemd bool, with ...int) Detection {
	var d Detection
	note := func(format string, args ...any) { d.Notes = append(d.Notes, fmt.Sprintf(format, args...)) }
	if !isUnified() {
		if _, err := os.Stat(filepath.Join(cgroupRoot, "memory")); err != nil {
			note("no cgroup hierarchy is mounted at %s", cgroupRoot)
			return d
		}
		if os.Geteuid() != 0 {
			note("this host uses cgroup v1, which cannot be delegated to an ordinary user; boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2) so jail can use the systemd user slice, or run jail as root")
			return d
		}
		b, err := detectCgroup1()
		if err != nil {
			note("cgroup v1: %v", err)
			return d
		}
		d.Backend = b
		return d
	}
	if readOnly(cgroupRoot) {
		// A container's, whose runtime gave it no cgroup tree to write:
		// no backend below can create a run's cgroup.
		note("%s is mounted read-only, as a container's is without a writable cgroup tree (in a Kubernetes pod: a runtime class whose handler makes it writable, spec.runtimeClassName; docs/kubernetes.md)", cgroupRoot)
		return d
	}
	if os.Geteuid() == 0 {
		b, err := rootCgroup2()
		if err == nil {
			d.Backend = b
			return d
		}
		note("cgroup v2 as root: %v", err)
	}
	if own, err := ownCgroup2(); err == nil {
		if root, ok := delegationRoot(own); ok {
			b, err := prepareParent("cgroup2-delegated", root, "ask whoever delegated "+root+" to enable the controller in its parent's cgroup.subtree_control", with)
			if err == nil {
				d.Backend = b
				return d
			}
			note("delegated cgroup %s: %v", root, err)
		} else {
			note("this process's cgroup %s is not delegated to uid %d", own, os.Getuid())
		}
	}
	if !askSystemd {
		note("the systemd user manager is asked only when a limit needs a cgroup")
		return d
	}
	b, err := systemdScope(ctx, with)
	if err != nil {
		note("systemd user manager: %v", err)
		return d
	}
	d.Backend = b
	return d
}

// readOnly says the file system at dir is mounted read-only.
func readOnly(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}

// rootCgroup2 is jail's own subtree at /sys/fs/cgroup/jail, for root.
func rootCgroup2() (*cgroup2, error) {
	avail := controllersOf(cgroupRoot)
	var enable []string
	for _, ctl := range []string{"cpu", "cpuset", "memory", "pids"} {
		if slices.Contains(avail, ctl) {
			enable = append(enable, "+"+ctl)
		}
	}
	if len(enable) > 0 {
		if err := writeFile(cgroupRoot, "cgroup.subtree_control", strings.Join(enable, " ")); err != nil {
			return nil, err
		}
	}
	parent := filepath.Join(cgroupRoot, "jail")
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	return prepareParent("cgroup2-root", parent, "the kernel does not offer it at "+cgroupRoot+"/cgroup.controllers", nil)
}
