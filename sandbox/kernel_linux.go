package sandbox

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// KernelFeature is a kernel version and what jail gets from it.
type KernelFeature struct {
	Major, Minor int
	What         string
}

// Missing reports whether the running kernel predates f.
func (f KernelFeature) Missing() bool {
	major, minor, _ := KernelVersion()
	return f.MissingIn(major, minor)
}

// MissingIn reports whether kernel major.minor predates f.
func (f KernelFeature) MissingIn(major, minor int) bool {
	return major < f.Major || (major == f.Major && minor < f.Minor)
}

var (
	userWhiteouts  = KernelFeature{5, 8, "an ordinary user making overlayfs whiteouts (0/0 character devices), which jail image import unpacks an image layer's deletions into"}
	overlayUserNS  = KernelFeature{5, 11, "overlayfs in a user namespace, with the userxattr option its whiteouts and opaque directories need there (--rootfs)"}
	tmpfsUserXattr = KernelFeature{6, 6, "user xattrs on tmpfs, the upper layer of the --rootfs overlay: before it, removing or replacing a directory of the rootfs fails with EIO"}
	lowerdirPlus   = KernelFeature{6, 8, fmt.Sprintf("overlayfs's lowerdir+ (fsconfig), which stacks an image of more than %d layers (up to %d)", MaxMountDataLayers, maxImageLayers)}
	// execEntersTimeNS: exec moves a process into the time namespace it
	// unshared (exec_task_namespaces). Debian 12's 6.1 does not (the VM
	// lane's guest); 6.5's symbol tables have it; so 6.5 is assumed.
	execEntersTimeNS = KernelFeature{6, 5, "exec entering the time namespace the process unshared"}
)

// OverlayKernels is what an unprivileged overlay root needs, oldest first.
// On every kernel rename(2) of a directory of the rootfs is EXDEV (mv and
// shutil.move copy instead), because overlayfs refuses redirect_dir next
// to userxattr.
var OverlayKernels = []KernelFeature{userWhiteouts, overlayUserNS, tmpfsUserXattr, lowerdirPlus}

// KernelVersion returns the running kernel's major and minor version and
// its release string.
func KernelVersion() (major, minor int, release string) {
	v := kernelVersion()
	return v.major, v.minor, v.release
}

// kernelVersion asks uname once: every run asks which features the
// kernel has, and the kernel does not change under a running jail.
var kernelVersion = sync.OnceValue(func() (v struct {
	major, minor int
	release      string
}) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		v.release = "unknown"
		return v
	}
	v.release = unix.ByteSliceToString(u.Release[:])
	fmt.Sscanf(v.release, "%d.%d", &v.major, &v.minor)
	return v
})

func kernelRelease() string {
	_, _, rel := KernelVersion()
	return "Linux " + rel
}

// rootfsWarnings names what the overlay root cannot do on this kernel, so
// that an EIO inside PROG has its cause on jail's stderr.
func rootfsWarnings(s *Spec) []string {
	if s.HostRoot() || !tmpfsUserXattr.Missing() {
		return nil
	}
	return []string{fmt.Sprintf("removing or replacing a directory of {root.rootfs} fails with EIO inside the sandbox on %s: "+
		"the overlay's upper layer is a tmpfs, which stores the user xattrs an unprivileged overlay needs from Linux 6.6 on",
		kernelRelease())}
}
