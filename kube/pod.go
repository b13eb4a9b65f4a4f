// Package kube tells what a process can see of the Kubernetes pod it
// runs in, and names the pod field or node setting that keeps jail's
// sandboxes from working there, with the fix (docs/kubernetes.md).
package kube

import (
	"os"
	"strconv"
	"strings"
)

// Facts are what the process read of its container.
type Facts struct {
	// InPod: the kubelet's service variables or service account, or a
	// kubepods cgroup.
	InPod bool
	// OwnUsers: the process's user namespace is not the node's (its
	// uid_map is not the whole identity).
	OwnUsers bool
	// Masked are mount points below /proc: the runtime's masked paths,
	// which make the kernel refuse a fresh /proc in a nested user
	// namespace.
	Masked []string
	// Seccomp is /proc/self/status's mode: 2 when a filter is loaded.
	Seccomp int
	// AppArmor is the process's profile ("" without AppArmor).
	AppArmor string
	// CgroupReadOnly: /sys/fs/cgroup is mounted read-only.
	CgroupReadOnly bool
	// RootWithoutSetfcap: uid 0 without CAP_SETFCAP, which may not map
	// itself into a user namespace (Linux 5.12+).
	RootWithoutSetfcap bool
}

// Problem is one thing the pod lacks, named as its spec or its node
// names it.
type Problem struct {
	Field string
	Why   string
	Fix   string
}

// OuterProfile is the name docs/kubernetes.md gives jail's AppArmor
// profile on the nodes.
const OuterProfile = "jail-serve"

// Problems are what keep sandboxes from working in the pod the facts
// describe; none outside a pod. sandboxFails says a test sandbox failed
// to start, which is when a seccomp filter or an AppArmor profile is to
// blame: either may allow what jail needs.
func (f Facts) Problems(sandboxFails bool) []Problem {
	if !f.InPod {
		return nil
	}
	var out []Problem
	if !f.OwnUsers {
		out = append(out, Problem{Field: "spec.hostUsers",
			Why: "the pod shares the node's user namespace, so jail's nested ones would be the node's",
			Fix: "set spec.hostUsers: false (Kubernetes 1.33+, Linux 6.3+, containerd 2.0+ or CRI-O 1.25+)"})
	}
	if f.RootWithoutSetfcap {
		out = append(out, Problem{Field: "securityContext.runAsUser",
			Why: "the container runs as uid 0 without CAP_SETFCAP, which the kernel does not let map itself into the sandboxes' user namespaces",
			Fix: "run it as an ordinary user: securityContext.runAsUser: 1000 and runAsNonRoot: true (jail needs no root)"})
	}
	if len(f.Masked) > 0 {
		shown := f.Masked
		if len(shown) > 3 {
			shown = append(shown[:3:3], "…")
		}
		out = append(out, Problem{Field: "securityContext.procMount",
			Why: "the runtime masks paths of /proc (" + strings.Join(shown, ", ") + "), and the kernel then refuses the sandbox a /proc of its own",
			Fix: "set the container's securityContext.procMount: Unmasked (with hostUsers: false; Pod Security Baseline v1.35+)"})
	}
	if f.CgroupReadOnly {
		out = append(out, Problem{Field: "spec.runtimeClassName",
			Why: "/sys/fs/cgroup is read-only, so no run gets a cgroup of its own: memory, pids and CPU limits cannot be enforced",
			Fix: "run the pod with a runtime class whose handler makes the cgroup tree writable (containerd 2.1+: cgroup_writable = true), as deploy/kubernetes/runtimeclass.yaml"})
	}
	if sandboxFails && f.Seccomp == 2 {
		out = append(out, Problem{Field: "securityContext.seccompProfile",
			Why: "a seccomp filter is loaded, and the runtimes' default refuses unshare, mount and pivot_root without CAP_SYS_ADMIN",
			Fix: "set securityContext.seccompProfile to jail's Localhost profile (docs/kubernetes.md)"})
	}
	if sandboxFails && f.AppArmor != "" && f.AppArmor != "unconfined" && f.AppArmor != OuterProfile {
		out = append(out, Problem{Field: "securityContext.appArmorProfile",
			Why: "the AppArmor profile " + strconv.Quote(f.AppArmor) + " confines the container, and the runtimes' default refuses mounts",
			Fix: "set securityContext.appArmorProfile to Localhost " + OuterProfile + ", installed on the nodes (docs/kubernetes.md)"})
	}
	return out
}

// Read reads the facts of this process's container.
func Read() Facts {
	var f Facts
	_, svc := os.LookupEnv("KUBERNETES_SERVICE_HOST")
	_, sa := os.Stat("/var/run/secrets/kubernetes.io")
	cg, _ := os.ReadFile("/proc/self/cgroup")
	f.InPod = svc || sa == nil || strings.Contains(string(cg), "kubepods")
	uidMap, _ := os.ReadFile("/proc/self/uid_map")
	f.OwnUsers = !fullIdentity(string(uidMap))
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	f.Masked, f.CgroupReadOnly = readMounts(string(mounts))
	status, _ := os.ReadFile("/proc/self/status")
	f.Seccomp = seccompMode(string(status))
	f.RootWithoutSetfcap = os.Getuid() == 0 && effectiveCaps(string(status))&(1<<capSetfcap) == 0
	for _, p := range []string{"/proc/self/attr/apparmor/current", "/proc/self/attr/current"} {
		if b, err := os.ReadFile(p); err == nil {
			f.AppArmor = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(b)), "(enforce)"))
			break
		}
	}
	return f
}

// fullIdentity says a uid_map maps every id to itself: the node's own
// user namespace.
func fullIdentity(uidMap string) bool {
	f := strings.Fields(uidMap)
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// readMounts reads mountinfo for the mount points strictly below /proc
// and whether /sys/fs/cgroup is read-only.
func readMounts(mountinfo string) (masked []string, cgroupRO bool) {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		point, opts := unescape(f[4]), strings.Split(f[5], ",")
		switch {
		case strings.HasPrefix(point, "/proc/"):
			masked = append(masked, point)
		case point == "/sys/fs/cgroup":
			cgroupRO = false
			for _, o := range opts {
				if o == "ro" {
					cgroupRO = true
				}
			}
		}
	}
	return masked, cgroupRO
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// capSetfcap is CAP_SETFCAP's number.
const capSetfcap = 31

// effectiveCaps is /proc/self/status's CapEff.
func effectiveCaps(status string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n
		}
	}
	return 0
}

func seccompMode(status string) int {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
