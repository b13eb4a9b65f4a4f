// Package kubernetes holds jail serve's manifests; its tests decode each
// one strictly against the Kubernetes API types and check the pod with
// the Pod Security Admission library at the version the namespace pins.
// These dependencies live in this module of their own, not jail's.
package kubernetes

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// The Pod Security version the namespace pins; Baseline accepts
// procMount: Unmasked with hostUsers: false from it on.
var pinned = psaapi.MajorMinorVersion(1, 35)

type manifests struct {
	// namespace is jail serve's; nodeNamespace the profile installer's.
	namespace     *corev1.Namespace
	nodeNamespace *corev1.Namespace
	daemonSet     *appsv1.DaemonSet
	deployment    *appsv1.Deployment
	service       *corev1.Service
	pdb           *policyv1.PodDisruptionBudget
	hpa           *autoscalingv2.HorizontalPodAutoscaler
	runtimeClass  *nodev1.RuntimeClass
	files         []string
}

// load decodes every manifest of the directory strictly: an unknown or
// duplicated field, a kind this test does not know, or a second object
// of one kind fails it.
func load(t *testing.T) *manifests {
	t.Helper()
	paths, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	m := &manifests{}
	for _, p := range paths {
		if p == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var tm metav1.TypeMeta
			require.NoError(t, yaml.Unmarshal(doc, &tm), "%s #%d", p, i)
			var into any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				var meta struct{ Metadata metav1.ObjectMeta }
				require.NoError(t, yaml.Unmarshal(doc, &meta), "%s #%d", p, i)
				if meta.Metadata.Name == "jail-node" {
					into = once(t, &m.nodeNamespace, p)
				} else {
					into = once(t, &m.namespace, p)
				}
			case "apps/v1 DaemonSet":
				into = once(t, &m.daemonSet, p)
			case "apps/v1 Deployment":
				into = once(t, &m.deployment, p)
			case "v1 Service":
				into = once(t, &m.service, p)
			case "policy/v1 PodDisruptionBudget":
				into = once(t, &m.pdb, p)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				into = once(t, &m.hpa, p)
			case "node.k8s.io/v1 RuntimeClass":
				into = once(t, &m.runtimeClass, p)
			default:
				t.Fatalf("%s #%d: %s %s is not a kind these manifests should have", p, i, tm.APIVersion, tm.Kind)
			}
			require.NoError(t, yaml.UnmarshalStrict(doc, into), "%s #%d", p, i)
		}
	}
	for what, got := range map[string]bool{"Namespace": m.namespace != nil, "the nodes' Namespace": m.nodeNamespace != nil,
		"DaemonSet": m.daemonSet != nil, "Deployment": m.deployment != nil, "Service": m.service != nil,
		"PodDisruptionBudget": m.pdb != nil, "HorizontalPodAutoscaler": m.hpa != nil, "RuntimeClass": m.runtimeClass != nil} {
		require.True(t, got, "no %s among the manifests", what)
	}
	return m
}

// once allocates *dst for a kind's one object.
func once[T any](t *testing.T, dst **T, file string) *T {
	t.Helper()
	require.Nil(t, *dst, "%s: a second object of its kind", file)
	*dst = new(T)
	return *dst
}

// TestKustomization: kubectl apply -k applies every manifest, and only
// those.
func TestKustomization(t *testing.T) {
	m := load(t)
	b, err := os.ReadFile("kustomization.yaml")
	require.NoError(t, err)
	var k struct {
		APIVersion         string   `json:"apiVersion"`
		Kind               string   `json:"kind"`
		Resources          []string `json:"resources"`
		ConfigMapGenerator []struct {
			Name      string   `json:"name"`
			Namespace string   `json:"namespace"`
			Files     []string `json:"files"`
		} `json:"configMapGenerator"`
	}
	require.NoError(t, yaml.UnmarshalStrict(b, &k))
	assert.Equal(t, "Kustomization", k.Kind)
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	assert.Equal(t, m.files, got)

	// The profiles' ConfigMap, as the DaemonSet mounts it.
	require.Len(t, k.ConfigMapGenerator, 1)
	gen := k.ConfigMapGenerator[0]
	assert.Equal(t, m.daemonSet.Namespace, gen.Namespace)
	var mounted string
	for _, v := range m.daemonSet.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			mounted = v.ConfigMap.Name
		}
	}
	assert.Equal(t, gen.Name, mounted)
	for _, f := range gen.Files {
		_, err := os.Stat(f)
		assert.NoError(t, err)
	}
	assert.ElementsMatch(t, []string{"profiles/seccomp.json", "profiles/jail-serve.apparmor"}, gen.Files)
}

// TestNodeProfiles: the DaemonSet puts each profile where the pod names
// it, and the AppArmor profile is one apparmor_parser accepts.
func TestNodeProfiles(t *testing.T) {
	m := load(t)
	pod := m.deployment.Spec.Template.Spec.SecurityContext
	script := strings.Join(m.daemonSet.Spec.Template.Spec.InitContainers[0].Command, " ")
	var seccompDir string
	for _, v := range m.daemonSet.Spec.Template.Spec.Volumes {
		if v.Name == "seccomp" {
			seccompDir = v.HostPath.Path
		}
	}
	assert.Equal(t, "/var/lib/kubelet/seccomp", seccompDir, "the kubelet's root of Localhost profiles")
	assert.Contains(t, script, "/seccomp/"+*pod.SeccompProfile.LocalhostProfile)
	assert.Equal(t, "privileged", m.nodeNamespace.Labels[psaapi.EnforceLevelLabel], "it writes to the nodes")
	assert.Equal(t, m.nodeNamespace.Name, m.daemonSet.Namespace)

	profile, err := os.ReadFile("profiles/jail-serve.apparmor")
	require.NoError(t, err)
	name := *pod.AppArmorProfile.LocalhostProfile
	assert.Regexp(t, `(?m)^profile `+name+` flags=`, string(profile), "the profile the pod names")
	assert.Contains(t, script, "apparmor_parser -r /etc/apparmor.d/"+name)
	parser, err := exec.LookPath("apparmor_parser")
	if err != nil {
		if os.Getenv("JAIL_MUST_WORK") == "1" {
			t.Fatalf("apparmor_parser checks the profile: %v", err)
		}
		t.Skipf("apparmor_parser checks the profile: %v", err)
	}
	// -Q: parse and compile, load nothing; -K: no cache.
	out, err := exec.Command(parser, "-Q", "-K", "-T", "profiles/jail-serve.apparmor").CombinedOutput()
	assert.NoError(t, err, "%s", out)
}

// TestPodSecurity: the namespace enforces Baseline at the pinned version,
// which allows the pod; Restricted refuses it for procMount alone; and
// Baseline before the pinned version refused it, which is why it is
// pinned.
func TestPodSecurity(t *testing.T) {
	m := load(t)
	labels := m.namespace.Labels
	assert.Equal(t, "baseline", labels[psaapi.EnforceLevelLabel])
	v, err := psaapi.ParseVersion(labels[psaapi.EnforceVersionLabel])
	require.NoError(t, err)
	assert.Equal(t, pinned, v, "the namespace pins the version this test checks")

	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	require.NoError(t, err)
	pod := &m.deployment.Spec.Template
	check := func(level psaapi.Level, v psaapi.Version) []string {
		var refused []string
		for _, r := range eval.EvaluatePod(psaapi.LevelVersion{Level: level, Version: v}, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				refused = append(refused, r.ForbiddenReason+": "+r.ForbiddenDetail)
			}
		}
		return refused
	}
	assert.Empty(t, check(psaapi.LevelBaseline, pinned), "Baseline at the pinned version")
	restricted := check(psaapi.LevelRestricted, pinned)
	require.Len(t, restricted, 1, "Restricted refuses one thing: %q", restricted)
	assert.Contains(t, restricted[0], "procMount")
	before := check(psaapi.LevelBaseline, psaapi.MajorMinorVersion(1, 34))
	require.Len(t, before, 1, "Baseline before the pinned version: %q", before)
	assert.Contains(t, before[0], "procMount")
}

// TestPodSpec: what the pod needs (docs/kubernetes.md says why), and
// nothing that would make it privileged.
func TestPodSpec(t *testing.T) {
	m := load(t)
	spec := m.deployment.Spec.Template.Spec
	require.NotNil(t, spec.HostUsers)
	assert.False(t, *spec.HostUsers, "hostUsers: false, a user namespace of the pod's own")
	require.NotNil(t, spec.RuntimeClassName)
	assert.Equal(t, m.runtimeClass.Name, *spec.RuntimeClassName)
	require.NotNil(t, spec.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeLocalhost, spec.SecurityContext.SeccompProfile.Type)
	require.NotNil(t, spec.SecurityContext.AppArmorProfile)
	assert.Equal(t, corev1.AppArmorProfileTypeLocalhost, spec.SecurityContext.AppArmorProfile.Type)
	assert.False(t, spec.HostNetwork || spec.HostPID || spec.HostIPC)
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	sc := c.SecurityContext
	require.NotNil(t, sc)
	require.NotNil(t, sc.RunAsUser)
	assert.NotZero(t, *sc.RunAsUser, "an ordinary user: uid 0 without CAP_SETFCAP cannot map itself")
	require.NotNil(t, sc.RunAsNonRoot)
	assert.True(t, *sc.RunAsNonRoot)
	require.NotNil(t, sc.ProcMount)
	assert.Equal(t, corev1.UnmaskedProcMount, *sc.ProcMount)
	assert.True(t, sc.Privileged == nil || !*sc.Privileged)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.ReadOnlyRootFilesystem)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	for _, v := range spec.Volumes {
		assert.Nil(t, v.HostPath, "volume %s: no host path", v.Name)
		if v.EmptyDir != nil {
			assert.Equal(t, corev1.StorageMediumMemory, v.EmptyDir.Medium, "volume %s: memory-backed", v.Name)
		}
	}
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
}

// TestDrainFitsTheGrace: the grace period covers the drain delay, the
// drain and the 5 s jail serve gives connections to close.
func TestDrainFitsTheGrace(t *testing.T) {
	m := load(t)
	spec := m.deployment.Spec.Template.Spec
	flag := func(name string) time.Duration {
		for _, a := range spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				d, err := time.ParseDuration(v)
				require.NoError(t, err, a)
				return d
			}
		}
		t.Fatalf("jail serve is not given --%s", name)
		return 0
	}
	assert.Contains(t, spec.Containers[0].Args, "--limits=cgroup", "not ready rather than serve without a cgroup per run")
	delay, drain, wall := flag("drain-delay"), flag("drain"), flag("max-wall")
	assert.Positive(t, delay, "--drain-delay: tasks keep coming while the endpoints update")
	assert.GreaterOrEqual(t, drain, wall, "--drain lets the longest run finish")
	require.NotNil(t, spec.TerminationGracePeriodSeconds)
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	assert.Greater(t, grace, delay+drain+5*time.Second)
}

// TestSelectors: the Service, the budget and the autoscaler all find the
// Deployment's pods, in its namespace.
func TestSelectors(t *testing.T) {
	m := load(t)
	pods := m.deployment.Spec.Template.Labels
	sel, err := metav1.LabelSelectorAsMap(m.deployment.Spec.Selector)
	require.NoError(t, err)
	for k, v := range sel {
		assert.Equal(t, v, pods[k], "the Deployment selects its own pods")
	}
	for k, v := range m.service.Spec.Selector {
		assert.Equal(t, v, pods[k], "the Service selects the pods")
	}
	pdbSel, err := metav1.LabelSelectorAsMap(m.pdb.Spec.Selector)
	require.NoError(t, err)
	for k, v := range pdbSel {
		assert.Equal(t, v, pods[k], "the budget selects the pods")
	}
	assert.Equal(t, m.deployment.Name, m.hpa.Spec.ScaleTargetRef.Name)
	assert.Equal(t, "Deployment", m.hpa.Spec.ScaleTargetRef.Kind)
	require.Len(t, m.hpa.Spec.Metrics, 1)
	assert.Equal(t, "jail_backlog_per_slot", m.hpa.Spec.Metrics[0].Pods.Metric.Name)
	assert.Equal(t, "http", m.service.Spec.Ports[0].TargetPort.StrVal)
	assert.Equal(t, "http", m.deployment.Spec.Template.Spec.Containers[0].Ports[0].Name)
	for _, ns := range []string{m.deployment.Namespace, m.service.Namespace, m.pdb.Namespace, m.hpa.Namespace} {
		assert.Equal(t, m.namespace.Name, ns)
	}
}
