package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"jail/kube"
	"jail/sandbox/native"
)

// setupExitCode follows docker: 127 when PROG does not exist in the
// sandbox, 126 when it exists but cannot be executed, 125 otherwise.
func setupExitCode(e *ChildError) int {
	if e.Stage != StageExec {
		return ExitSetupFailed
	}
	switch e.Errno {
	case unix.ENOENT, unix.ENOTDIR:
		return ExitNotFound
	}
	return ExitCannotExec
}

// StageExec is the child's last stage, named as stages.c names it; its
// failures are PROG's fault, not the sandbox's, and get exit codes
// 126/127.
var StageExec = native.StageExec.Name()

// explainChildError adds the fix to the kernel refusals we know.
func explainChildError(e *ChildError, s *Spec) error {
	if e.Stage == StageExec {
		switch e.Errno {
		case unix.ENOENT, unix.ENOTDIR:
			return fmt.Errorf("%s: not found inside the sandbox (the sandbox sees only its root and your -v binds; bind the program's directory, e.g. -v \"$PWD:/work\" -w /work)", e.Detail)
		case unix.EACCES:
			return fmt.Errorf("%s: permission denied inside the sandbox (PROG runs as uid %d; make it executable and readable by that user)", e.Detail, s.UID)
		case unix.ENOEXEC:
			return fmt.Errorf("%s: not an executable format this kernel can run (a script needs a #! line)", e.Detail)
		}
		return fmt.Errorf("%s: cannot execute: %v", e.Detail, e.Errno)
	}
	// The sandbox opens a mount's source as its own host uid, which for
	// root's sandboxes is not root's: a source below a directory that
	// uid may not search is refused, though the caller could reach it.
	if e.Source != "" && e.Errno == unix.EACCES {
		uid, gid := hostIDs()
		if dir, st := unsearchable(e.Source, uid, gid); dir != "" {
			return fmt.Errorf("%w: the sandbox opens it as host uid %d, which may not search %s (mode %04o, owner uid %d); fix: let it (chmod o+x %s), or keep the files below a directory it can reach (jail serve writes its tasks' files under $TMPDIR)",
				e, uid, dir, st.Mode&0o7777, st.Uid, dir)
		}
	}
	// The kernel refuses a fresh /proc in a user namespace while paths of
	// the /proc above it are covered (mount_too_revealing): a
	// container's masked paths.
	if e.Stage == native.StagePidNS.Name() && strings.Contains(e.Detail, "(proc)") && e.Errno == unix.EPERM {
		if masked := kube.Read().Masked; len(masked) > 0 {
			return fmt.Errorf("%w: mounts cover paths of the /proc jail runs under (%s), and the kernel refuses the sandbox a /proc of its own while they do; fix: in a Kubernetes pod, set the container's securityContext.procMount: Unmasked (with hostUsers: false); in another container, run it without masked paths",
				e, strings.Join(masked, ", "))
		}
	}
	// Since Linux 5.12 a map of uid 0 outside takes CAP_SETFCAP: uid 0 of a
	// user namespace without capabilities (a pod's) cannot map itself.
	if e.Stage == native.StageIDMaps.Name() && e.Errno == unix.EPERM && kube.Read().RootWithoutSetfcap {
		return fmt.Errorf("%w: jail runs as uid 0 without CAP_SETFCAP, and the kernel lets only a holder of it map uid 0 into a user namespace (Linux 5.12+); fix: run jail as an ordinary user (in a Kubernetes pod, securityContext.runAsUser: 1000 and runAsNonRoot: true; jail needs no root), or keep CAP_SETFCAP", e)
	}
	// Before 5.11 overlayfs refuses a user namespace (EPERM) or, where a
	// distribution allowed it earlier, the userxattr option (EINVAL).
	if e.Stage == "mounts" && strings.HasPrefix(e.Op, "overlay root") && (e.Errno == unix.EINVAL || e.Errno == unix.EPERM) && overlayUserNS.Missing() {
		return fmt.Errorf("%w (this kernel lacks %s: it needs Linux %d.%d; this is %s)", e,
			overlayUserNS.What, overlayUserNS.Major, overlayUserNS.Minor, kernelRelease())
	}
	return e
}

// unsearchable is the first directory on the way to path that uid, with
// gid (and, for an ordinary user, its groups), may not search by its mode
// bits, and its stat; "" when the mode bits allow every step (an ACL or
// an LSM refused, which the mode does not show).
func unsearchable(path string, uid, gid int) (string, *unix.Stat_t) {
	groups := map[int]bool{gid: true}
	if !asRoot() {
		own, _ := os.Getgroups()
		for _, g := range own {
			groups[g] = true
		}
	}
	dir := "/"
	for _, name := range strings.Split(strings.Trim(filepath.Clean(path), "/"), "/") {
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return "", nil
		}
		bit := uint32(0o001)
		switch {
		case int(st.Uid) == uid:
			bit = 0o100
		case groups[int(st.Gid)]:
			bit = 0o010
		}
		if st.Mode&bit == 0 {
			return dir, &st
		}
		dir = filepath.Join(dir, name)
	}
	return "", nil
}

// explainCloneError turns a refused clone into the sysctl or limit to fix.
func explainCloneError(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	switch errno {
	case unix.EPERM, unix.EACCES:
		var fixes []string
		if readSysctl("kernel/unprivileged_userns_clone") == "0" {
			fixes = append(fixes, "sysctl -w kernel.unprivileged_userns_clone=1")
		}
		if readSysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" {
			fixes = append(fixes, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for jail)")
		}
		if readSysctl("user/max_user_namespaces") == "0" {
			fixes = append(fixes, "sysctl -w user.max_user_namespaces=15000")
		}
		if len(fixes) == 0 && kube.Read().Seccomp == 2 {
			fixes = append(fixes, "a seccomp filter is loaded in this process (Seccomp: 2 in /proc/self/status), as a container runtime's default, which refuses new namespaces without CAP_SYS_ADMIN: in a Kubernetes pod, set securityContext.seccompProfile to jail's Localhost profile (jail kube seccomp-profile; docs/kubernetes.md); in another container, run it with that profile")
		}
		if len(fixes) == 0 {
			fixes = append(fixes, "check that a seccomp or LSM policy of the calling environment (a container?) allows unshare(CLONE_NEWUSER)")
		}
		return fmt.Errorf("creating user namespaces was refused (%v); fix: %s", errno, strings.Join(fixes, "; "))
	case unix.ENOSPC:
		return fmt.Errorf("the namespace count limit is reached (%v); raise user.max_user_namespaces (and the other user.max_*_namespaces) with sysctl", errno)
	case unix.EINVAL:
		return fmt.Errorf("the kernel refused a namespace jail needs (%v); it must be built with CONFIG_USER_NS, PID_NS, NET_NS, IPC_NS, UTS_NS and CGROUPS", errno)
	}
	return fmt.Errorf("starting the sandbox: %w", err)
}

func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
