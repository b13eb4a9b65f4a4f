package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// TestOuterSeccompProfile: the profile checked in for the nodes is what
// jail kube seccomp-profile prints, and it allows every call jail makes
// (run, run -d, exec, rm), as strace sees them made.
func TestOuterSeccompProfile(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "kube", "seccomp-profile")
	require.Equal(t, 0, r.ExitCode, "%s", r)
	checkedIn, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "profiles", "seccomp.json"))
	require.NoError(t, err)
	require.Equal(t, string(checkedIn), r.Stdout,
		"deploy/kubernetes/profiles/seccomp.json drifted from the policies: make kube-profiles")
	var profile struct {
		Syscalls []struct{ Names []string }
	}
	require.NoError(t, json.Unmarshal(checkedIn, &profile))
	require.Len(t, profile.Syscalls, 1)
	allowed := profile.Syscalls[0].Names

	strace, err := exec.LookPath("strace")
	if err != nil {
		testutil.Skip(t, "strace traces what jail calls: %v", err)
	}
	rt := j.FixtureDir(t, "runtime")
	require.NoError(t, os.Chmod(rt, 0o700))
	trace := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(strace, append([]string{"-f", "-qq", "-o", filepath.Join(j.FixtureDir(t, "trace"), name), j.Bin}, args...)...)
		cmd.Dir = j.Dir
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "HOME=/nonexistent")
		if j.Cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
		}
		return cmd
	}
	out, err := trace("run", "run", "--", "sh", "-c", "echo hi; ls / >/dev/null").CombinedOutput()
	require.NoError(t, err, "%s", out)
	// The monitor of a detached sandbox is traced until rm ends it.
	detached := trace("detached", "run", "-d", "--name", "traced", "--", "sleep", "60")
	require.NoError(t, detached.Start())
	defer detached.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for j.RunWith(t, testutil.Opts{Env: []string{"XDG_RUNTIME_DIR=" + rt}}, "ps", "--format", "{{.Name}} {{.State}}").Stdout != "traced running\n" {
		require.True(t, time.Now().Before(deadline), "the traced sandbox never started")
		time.Sleep(50 * time.Millisecond)
	}
	out, err = trace("exec", "exec", "traced", "--", "true").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = trace("rm", "rm", "-f", "traced").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, detached.Wait())

	call := regexp.MustCompile(`^\d+ +([a-z0-9_]+)\(`)
	seen := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(j.FixtureDir(t, "trace"), "*"))
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if m := call.FindStringSubmatch(line); m != nil {
				seen[m[1]] = true
			}
		}
	}
	require.Contains(t, seen, "pivot_root", "the trace saw the launcher")
	require.Contains(t, seen, "setns", "the trace saw jail exec join PROG's time namespace")
	var missing []string
	for name := range seen {
		if !slices.Contains(allowed, name) {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	assert.Empty(t, missing, "calls jail made that the outer profile refuses")
}

// TestMaskedProc runs jail, as the test user, under a /proc with a path
// covered, as a container runtime masks paths: jail run names the cause
// and the pod field that removes it, and so does jail doctor in a pod.
func TestMaskedProc(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	if os.Getuid() != 0 || j.Cred == nil {
		testutil.Skip(t, "covering a path of /proc in a mount namespace of its own needs root (CI runs as root)")
	}
	var masked string
	for _, p := range []string{"/proc/timer_list", "/proc/keys", "/proc/kcore", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil {
			masked = p
			break
		}
	}
	require.NotEmpty(t, masked, "no path of /proc to cover")
	under := func(env []string, args ...string) (string, int) {
		// The test's own mount namespace is covered, never the host's;
		// jail runs as the test user, rootless, inside it.
		cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c",
			`m=$0 u=$1 g=$2; shift 2; mount --bind /dev/null "$m" && exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"`,
			masked, fmt.Sprint(j.Cred.Uid), fmt.Sprint(j.Cred.Gid), j.Bin}, args...)...)
		cmd.Dir = j.Dir
		cmd.Env = append(os.Environ(), append([]string{"HOME=/nonexistent", "XDG_CONFIG_HOME="}, env...)...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := under(nil, "run", "--", "true")
	assert.Equal(t, 125, code, "%s", out)
	assert.Contains(t, out, "mounts cover paths of the /proc jail runs under ("+masked+")")
	assert.Contains(t, out, "fix: in a Kubernetes pod, set the container's securityContext.procMount: Unmasked")
	out, _ = under([]string{"KUBERNETES_SERVICE_HOST=10.0.0.1"}, "doctor")
	assert.Regexp(t, `(?m)^FAIL +pod securityContext.procMount +the runtime masks paths of /proc \(`+regexp.QuoteMeta(masked)+`\)`, out)
}

// TestUserNamespaceUsers runs jail, rootless, as the users a container
// gives it in a user namespace of its own: uid 0 with capabilities (an
// unshare -r shell) and an ordinary user (the pod's) run sandboxes; uid 0
// without capabilities cannot map itself, and jail run says why and what
// to do.
func TestUserNamespaceUsers(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	in := func(wrap ...string) (string, int) {
		cmd := exec.Command("unshare", append(wrap, j.Bin, "run", "--", "sh", "-c", "id -u; echo ran")...)
		cmd.Dir = j.Dir
		cmd.Env = append(os.Environ(), "HOME=/nonexistent", "XDG_CONFIG_HOME=")
		if j.Cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: j.Cred}
		}
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := in("-U", "--map-user=1000", "--map-group=1000")
	assert.Equal(t, 0, code, "an ordinary user of its own user namespace: %s", out)
	assert.Contains(t, out, "ran\n")
	out, code = in("-Ur")
	assert.Equal(t, 0, code, "uid 0 of its own user namespace, with capabilities: %s", out)
	assert.Contains(t, out, "ran\n")
	out, code = in("-Ur", "setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--")
	assert.Equal(t, 125, code, "%s", out)
	assert.Contains(t, out, "jail runs as uid 0 without CAP_SETFCAP")
	assert.Contains(t, out, "fix: run jail as an ordinary user (in a Kubernetes pod, securityContext.runAsUser: 1000")
}

// The test binary, run with JAIL_TEST_SECCOMP, loads a seccomp filter on
// its one thread and execs JAIL_TEST_ARGV (separated by \x1f) under it, as a
// container runtime starts a container's process: "namespaces" is a
// runtime default's refusal of new namespaces and mounts without
// CAP_SYS_ADMIN (EPERM; clone3 ENOSYS), anything else the path of an OCI
// profile such as jail's outer one.
func init() {
	which := os.Getenv("JAIL_TEST_SECCOMP")
	if which == "" {
		return
	}
	runtime.LockOSThread()
	if err := loadFilter(which); err != nil {
		fmt.Fprintf(os.Stderr, "loading the seccomp filter: %v\n", err)
		os.Exit(99)
	}
	argv := strings.Split(os.Getenv("JAIL_TEST_ARGV"), "\x1f")
	err := syscall.Exec(argv[0], argv, os.Environ())
	fmt.Fprintf(os.Stderr, "exec %s: %v\n", argv[0], err)
	os.Exit(99)
}

func loadFilter(which string) error {
	var f *libseccomp.ScmpFilter
	var err error
	add := func(name string, act libseccomp.ScmpAction, conds ...libseccomp.ScmpCondition) error {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			return nil // not a call of this architecture
		}
		if len(conds) > 0 {
			return f.AddRuleConditional(nr, act, conds)
		}
		return f.AddRule(nr, act)
	}
	if which == "namespaces" {
		if f, err = libseccomp.NewFilter(libseccomp.ActAllow); err != nil {
			return err
		}
		eperm := libseccomp.ActErrno.SetReturnCode(int16(syscall.EPERM))
		for _, name := range []string{"unshare", "setns", "mount", "umount2", "pivot_root", "fsopen", "fsmount", "move_mount", "open_tree", "mount_setattr"} {
			if err := add(name, eperm); err != nil {
				return err
			}
		}
		newUser, err := libseccomp.MakeCondition(0, libseccomp.CompareMaskedEqual, syscall.CLONE_NEWUSER, syscall.CLONE_NEWUSER)
		if err != nil {
			return err
		}
		if err := add("clone", eperm, newUser); err != nil {
			return err
		}
		if err := add("clone3", libseccomp.ActErrno.SetReturnCode(int16(syscall.ENOSYS))); err != nil {
			return err
		}
	} else {
		b, err := os.ReadFile(which)
		if err != nil {
			return err
		}
		var profile struct {
			DefaultErrnoRet int16
			Syscalls        []struct{ Names []string }
		}
		if err := json.Unmarshal(b, &profile); err != nil {
			return err
		}
		if f, err = libseccomp.NewFilter(libseccomp.ActErrno.SetReturnCode(profile.DefaultErrnoRet)); err != nil {
			return err
		}
		for _, s := range profile.Syscalls {
			for _, name := range s.Names {
				if err := add(name, libseccomp.ActAllow); err != nil {
					return err
				}
			}
		}
	}
	return f.Load()
}

// TestUnderRuntimeSeccomp runs jail, as the test user, under a seccomp
// filter as a container runtime's default loads one: jail run names the
// filter and the pod field that replaces it, doctor in a pod names it
// too; under jail's outer profile instead, the run works.
func TestUnderRuntimeSeccomp(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	if os.Getuid() != 0 || j.Cred == nil {
		testutil.Skip(t, "starting jail as the test user under a filter loaded as root needs root (CI runs as root)")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	under := func(filter string, env []string, args ...string) (string, int) {
		argv := append([]string{"/usr/bin/setpriv", "--reuid=" + fmt.Sprint(j.Cred.Uid), "--regid=" + fmt.Sprint(j.Cred.Gid), "--clear-groups", "--", j.Bin}, args...)
		cmd := exec.Command(self)
		cmd.Dir = j.Dir
		cmd.Env = append(os.Environ(), append([]string{"JAIL_TEST_SECCOMP=" + filter, "JAIL_TEST_ARGV=" + strings.Join(argv, "\x1f"),
			"HOME=/nonexistent", "XDG_CONFIG_HOME="}, env...)...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := under("namespaces", nil, "run", "--", "true")
	assert.Equal(t, 125, code, "%s", out)
	assert.Contains(t, out, "a seccomp filter is loaded in this process")
	assert.Contains(t, out, "in a Kubernetes pod, set securityContext.seccompProfile to jail's Localhost profile")
	out, _ = under("namespaces", []string{"KUBERNETES_SERVICE_HOST=10.0.0.1"}, "doctor")
	assert.Regexp(t, `(?m)^FAIL +pod securityContext.seccompProfile +a seccomp filter is loaded`, out)

	profile, err := filepath.Abs(filepath.Join("..", "..", "deploy", "kubernetes", "profiles", "seccomp.json"))
	require.NoError(t, err)
	out, code = under(profile, nil, "run", "--", "sh", "-c", "grep Seccomp: /proc/self/status; echo ran")
	assert.Equal(t, 0, code, "under jail's outer profile: %s", out)
	assert.Contains(t, out, "ran\n")
}
