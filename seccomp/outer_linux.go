package seccomp

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
)

// OuterProfile is the seccomp profile, in the OCI runtimes' JSON (a
// Kubernetes Localhost profile), of a container that runs jail: the
// filter around jail itself, below which each sandbox loads its own.
//
// It allows every system call a built-in policy decides, whatever the
// policy decides: filters stack, and of two verdicts the kernel takes
// the stronger, so an outer errno would overrule the inner filter's user
// notification, by which jail's init counts an errno denial and names a
// violation. With each of them allowed outside, a sandbox's verdict in
// the container is what it is on a host. The calls jail itself makes (its
// launcher's namespaces and mounts, Landlock, pidfds, the Go runtime's)
// are all among them; a test runs jail under strace to hold that. Any
// other call fails with ENOSYS, as the built-in policies fail one they
// do not know, though uncounted.
func OuterProfile() ([]byte, error) {
	arch, ok := ociArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("no seccomp architecture name for %s", runtime.GOARCH)
	}
	var names []string
	for _, p := range []*Policy{Default(), Strict()} {
		for _, r := range p.Rules {
			names = append(names, r.Names...)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	type syscalls struct {
		Names  []string `json:"names"`
		Action string   `json:"action"`
	}
	profile := struct {
		DefaultAction   string     `json:"defaultAction"`
		DefaultErrnoRet int        `json:"defaultErrnoRet"`
		Architectures   []string   `json:"architectures"`
		Syscalls        []syscalls `json:"syscalls"`
	}{"SCMP_ACT_ERRNO", int(errNoSys), []string{arch}, []syscalls{{names, "SCMP_ACT_ALLOW"}}}
	b, err := json.MarshalIndent(profile, "", "  ")
	return append(b, '\n'), err
}

// ociArch names the native architecture as OCI profiles do; the built-in
// policies admit no other ABI.
var ociArch = map[string]string{
	"amd64":   "SCMP_ARCH_X86_64",
	"arm64":   "SCMP_ARCH_AARCH64",
	"riscv64": "SCMP_ARCH_RISCV64",
	"ppc64le": "SCMP_ARCH_PPC64LE",
	"s390x":   "SCMP_ARCH_S390X",
}
