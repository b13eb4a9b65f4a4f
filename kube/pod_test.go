package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A pod as Kubernetes makes one by default: the node's users, runc's
// masked paths, a read-only cgroup tree, the runtime's seccomp filter
// and AppArmor profile.
const defaultPodMounts = `1455 1373 0:357 / / ro,relatime master:445 - overlay overlay rw
1456 1455 0:360 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1460 1455 0:363 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1461 1460 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
1374 1456 0:360 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
1377 1456 0:360 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
1379 1456 0:361 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1383 1456 0:365 / /proc/acpi ro,relatime - tmpfs tmpfs ro
`

// jail's pod: its own users, /proc unmasked, the cgroup tree writable.
const jailPodMounts = `1455 1373 0:357 / / ro,relatime master:445 - overlay overlay rw
1456 1455 0:360 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1461 1460 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw
1462 1455 0:31 / /var/lib/with\040space rw - tmpfs tmpfs rw
`

func fields(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Field)
	}
	return out
}

func TestProblems(t *testing.T) {
	masked, ro := readMounts(defaultPodMounts)
	assert.Equal(t, []string{"/proc/bus", "/proc/sys", "/proc/kcore", "/proc/acpi"}, masked)
	assert.True(t, ro)
	assert.Equal(t, uint64(1)<<capSetfcap, effectiveCaps("CapInh:\t0000000000000000\nCapEff:\t0000000080000000\n"))
	byDefault := Facts{InPod: true, OwnUsers: !fullIdentity("         0          0 4294967295\n"), Masked: masked,
		CgroupReadOnly: ro, Seccomp: seccompMode("Name:\tjail\nSeccomp:\t2\nSeccomp_filters:\t1\n"), AppArmor: "cri-containerd.apparmor.d"}
	masked, ro = readMounts(jailPodMounts)
	jails := Facts{InPod: true, OwnUsers: !fullIdentity("0 1409286144 65536\n"), Masked: masked, CgroupReadOnly: ro, Seccomp: 2, AppArmor: OuterProfile}

	for _, tc := range []struct {
		name         string
		facts        Facts
		sandboxFails bool
		want         []string
	}{
		{"not a pod", Facts{Masked: []string{"/proc/sys/fs/binfmt_misc"}, CgroupReadOnly: true}, true, nil},
		{"a default pod", byDefault, true, []string{"spec.hostUsers", "securityContext.procMount", "spec.runtimeClassName",
			"securityContext.seccompProfile", "securityContext.appArmorProfile"}},
		// A filter or a profile may allow what jail needs: blamed only
		// when a sandbox does not start.
		{"a default pod whose sandbox starts", byDefault, false, []string{"spec.hostUsers", "securityContext.procMount", "spec.runtimeClassName"}},
		{"jail's pod", jails, false, nil},
		{"jail's pod as root", Facts{InPod: true, OwnUsers: true, RootWithoutSetfcap: true}, true, []string{"securityContext.runAsUser"}},
		{"jail's pod, failing anyway", jails, true, []string{"securityContext.seccompProfile"}},
		{"unconfined", Facts{InPod: true, OwnUsers: true, AppArmor: "unconfined"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.facts.Problems(tc.sandboxFails)
			assert.Equal(t, tc.want, fields(got))
			for _, p := range got {
				assert.NotEmpty(t, p.Why, p.Field)
				assert.NotEmpty(t, p.Fix, p.Field)
			}
		})
	}
	assert.Contains(t, byDefault.Problems(true)[1].Why, "/proc/bus, /proc/sys, /proc/kcore, …", "masked paths named, a few")
}

func TestMountinfoEscapes(t *testing.T) {
	assert.Equal(t, "/var/lib/with space", unescape(`/var/lib/with\040space`))
	assert.Equal(t, `/odd\x`, unescape(`/odd\x`))
	assert.Equal(t, `/end\04`, unescape(`/end\04`))
}
