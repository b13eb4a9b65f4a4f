package main_test

// PROG sees its own cgroup, read-only, at /sys/fs/cgroup, so that runtimes
// size themselves from its limits. These tests check the layout, that
// nothing of it is writable, and that each runtime really finds the limit
// (the JVM and Go match /proc/self/cgroup against mountinfo, Node reads a
// fixed path), not just that the files exist. As root on a v1 host this is
// backend cgroup1-root; the VM lane checks cgroup v2.

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jail/internal/testutil"
)

// needCgroup1Root skips unless jail as root gets the v1 backend here.
func needCgroup1Root(t *testing.T) (*testutil.Jail, testutil.Opts) {
	t.Helper()
	j, o := asRoot(t)
	r := j.RunWith(t, o, "run", "--", "/bin/true")
	requireOK(t, r)
	if r.Report.LimitBackend != "cgroup1-root" {
		testutil.Skip(t, "this host gives root the %s backend, not cgroup1-root", r.Report.LimitBackend)
	}
	return j, o
}

// writeAttempts tries to change the limits and to leave the cgroup; each
// line is a path and the errno name, or WRITABLE.
const writeAttempts = `
import errno, os, sys
for p in sys.argv[1:]:
    try:
        if p.endswith("/"):
            os.mkdir(p + "escape")
        else:
            fd = os.open(p, os.O_WRONLY)
            os.write(fd, b"0\n")
        print(p, "WRITABLE")
    except OSError as e:
        print(p, errno.errorcode[e.errno])
`

func TestCgroupViewV1Layout(t *testing.T) {
	j, o := needCgroup1Root(t)
	script := `cd /sys/fs/cgroup && for c in cpu cpuacct cpuset memory pids; do test -e $c/cgroup.procs || echo "missing $c"; done
echo "limit $(cat memory/memory.limit_in_bytes)"
echo "pids $(cat pids/pids.max)"
echo "quota $(cat cpu/cpu.cfs_quota_us)"
echo "cpus $(cat cpuset/cpuset.cpus)"
echo "entries $(ls | wc -l)"
cat /proc/self/cgroup; cat /proc/self/mountinfo`
	r := j.RunWith(t, o, "run", "--mem", "256M", "--pids", "50", "--cpu", "100%", "--cpus", "0", "--", "/bin/sh", "-c", script)
	requireOK(t, r)
	assert.NotContains(t, r.Stdout, "missing")
	assert.Contains(t, r.Stdout, "limit 268435456\n")
	assert.Contains(t, r.Stdout, "pids 50\n")
	assert.Contains(t, r.Stdout, "quota 100000\n")
	assert.Contains(t, r.Stdout, "cpus 0\n")

	// Every hierarchy jail uses is a read-only mount whose root is "/",
	// and PROG's cgroup in it is "/" too: that pair is what the JVM's and
	// Go's cgroup code match to find the limit files.
	mounts := map[string]int{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if sep < 0 || sep+1 >= len(f) || f[sep+1] != "cgroup" && f[sep+1] != "cgroup2" {
			continue
		}
		assert.Equal(t, "/", f[3], "mount root: %s", line)
		assert.True(t, strings.HasPrefix(f[4], "/sys/fs/cgroup/"), "a cgroup mount outside /sys/fs/cgroup: %s", line)
		assert.Contains(t, strings.Split(f[5], ","), "ro", "a writable cgroup mount: %s", line)
		mounts[f[4]]++
	}
	for _, c := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids"} {
		n := 0
		for mp, k := range mounts {
			if slices.Contains(strings.Split(filepath.Base(mp), ","), c) {
				n += k
			}
		}
		assert.Equal(t, 1, n, "%s must be mounted exactly once: %v", c, mounts)
		assert.Regexp(t, `(?m)^\d+:([a-z,]*,)?`+c+`(,[a-z,]*)?:/$`, r.Stdout, "/proc/self/cgroup for %s", c)
	}

	w := j.RunWith(t, o, runArgs([]string{"--mem", "256M"}, []string{"--", python, "-c", writeAttempts,
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/cgroup.procs",
		"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/pids/pids.max",
		"/sys/fs/cgroup/memory/", "/sys/fs/cgroup/"})...)
	requireOK(t, w)
	assertNoneWritable(t, w.Stdout, 6)
}

func assertNoneWritable(t *testing.T, out string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, n, out)
	for _, l := range lines {
		assert.Regexp(t, ` (EROFS|EACCES)$`, l)
	}
}

// Without a cgroup (an ordinary user on a v1 host) there is nothing to
// show, and nothing may claim a limit.
func TestCgroupViewEmptyWithoutCgroup(t *testing.T) {
	testutil.NeedUserNS(t)
	j := testutil.New(t)
	r := j.Run(t, "run", "--", "/bin/sh", "-c", "ls -A /sys/fs/cgroup | wc -l; grep -c ' - cgroup' /proc/self/mountinfo")
	require.NotNil(t, r.Report, r.String())
	if r.Report.LimitBackend != "none" {
		testutil.Skip(t, "the test user gets the %s backend here", r.Report.LimitBackend)
	}
	assert.Equal(t, "0\n0\n", r.Stdout, r.String())
}

// TestCgroupPathsHidden: PROG cannot read a host cgroup path from any
// process it can see. PROG's spawner makes PROG's cgroup namespace, rooted
// at the run's cgroup (the init and pid 1 have none of their own, so that
// PROG can be cloned into its cgroup), so every cgroup PROG reads is "/"
// or lies above it ("/.."), with and without a cgroup of the run's; jail's
// own cgroup, read here on the host, must not show through.
func TestCgroupPathsHidden(t *testing.T) {
	own, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	var hostNames []string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 {
			for _, part := range strings.Split(f[2], "/") {
				if part != "" {
					hostNames = append(hostNames, part)
				}
			}
		}
	}
	look := []string{"run", "--", "/bin/sh", "-c", `for p in /proc/[0-9]*; do sed "s|^|${p#/proc/} |" $p/cgroup; done; grep ' - cgroup' /proc/self/mountinfo | cut -d' ' -f4`}
	check := func(t *testing.T, r testutil.Result) {
		requireOK(t, r)
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		require.NotEmpty(t, lines, r.String())
		for _, line := range lines {
			path := line[strings.LastIndexAny(line, ": ")+1:]
			assert.Regexp(t, `^/(\.\.(/\.\.)*)?$`, path, "a cgroup path PROG can read: %q\n%s", line, r.String())
			for _, name := range hostNames {
				assert.NotContains(t, line, name, "a host cgroup name in %q", line)
			}
		}
	}
	t.Run("user", func(t *testing.T) {
		testutil.NeedUserNS(t)
		check(t, testutil.New(t).Run(t, look...))
	})
	t.Run("root-with-cgroup", func(t *testing.T) {
		j, o := needCgroup1Root(t)
		args := append([]string{"run", "--mem", "64M"}, look[1:]...)
		r := j.RunWith(t, o, args...)
		check(t, r)
		assert.Equal(t, "cgroup1-root", r.Report.LimitBackend, r.String())
	})
}

const javaProbe = `public class Probe {
  public static void main(String[] a) {
    if (a.length > 0) {
      // Short-lived garbage: 3,000 MiB in 1 MiB arrays, which fits any
      // heap the JVM sizes from a 256 MiB limit, but not one sized from
      // the host's memory, whose growth the cgroup ends first.
      long sum = 0;
      for (int i = 0; i < 3000; i++) { byte[] b = new byte[1 << 20]; b[i] = 1; sum += b.length; }
      System.out.println("garbage " + (sum >> 20));
      return;
    }
    System.out.println("max " + Runtime.getRuntime().maxMemory());
    System.out.println("cpus " + Runtime.getRuntime().availableProcessors());
  }
}
`

func TestCgroupViewJava(t *testing.T) {
	j, o := needCgroup1Root(t)
	javac, err := exec.LookPath("javac")
	if err != nil {
		testutil.Skip(t, "no javac on this host")
	}
	dir := j.FixtureDir(t, "java")
	src := j.Fixture(t, "java/Probe.java", javaProbe, 0o644)
	out, err := exec.Command(javac, "-d", dir, src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Chmod(filepath.Join(dir, "Probe.class"), 0o644))
	java := func(t *testing.T, flags ...string) map[string]int64 {
		t.Helper()
		r := j.RunWith(t, o, runArgs(append(flags, "-v", dir+":/w"), []string{"--", "java", "-cp", "/w", "Probe"})...)
		requireOK(t, r)
		return fields(t, r.Stdout)
	}

	host := java(t)
	got := java(t, "--mem", "256M")
	t.Logf("maxMemory: %d without --mem, %d with --mem 256M", host["max"], got["max"])
	// The JVM takes a fraction of its memory for the heap: 1/4, or 1/2
	// below about 250 MiB of it. From the host's memory it is gigabytes.
	assert.LessOrEqual(t, got["max"], int64(128<<20), "heap sized from the host, not the cgroup")
	assert.Greater(t, host["max"], int64(256<<20), "the host's heap is not larger: the test shows nothing")

	assert.Equal(t, int64(1), java(t, "--cpu", "100%")["cpus"], "--cpu 100%")
	assert.Equal(t, int64(1), java(t, "--cpus", "0")["cpus"], "--cpus 0")

	r := j.RunWith(t, o, runArgs([]string{"--mem", "256M", "-v", dir + ":/w"}, []string{"--", "java", "-cp", "/w", "Probe", "garbage"})...)
	requireOK(t, r)
	assert.Equal(t, "garbage 3000\n", r.Stdout)
}

func TestCgroupViewGo(t *testing.T) {
	j, o := needCgroup1Root(t)
	probe := buildGoProbe(t, j.FixtureDir(t, "goprobe"))
	r := j.RunWith(t, o, "run", "--cpu", "100%", "-v", probe+":/probe", "--", "/probe")
	requireOK(t, r)
	assert.Contains(t, r.Stdout, "open /sys/fs/cgroup/cpu/cpu.cfs_quota_us\n", "the runtime did not find its cgroup")
	assert.Contains(t, r.Stdout, "open /sys/fs/cgroup/cpu/cpu.cfs_period_us\n", "the runtime did not find its cgroup")
	// Go rounds a limit below 2 CPUs up to 2, so on a 2-CPU host a 100%
	// limit and none give the same number; the open files above are what
	// shows the runtime read the limit.
	assert.Equal(t, int64(min(runtime.NumCPU(), 2)), fields(t, r.Stdout)["gomaxprocs"], r.String())
}

func TestCgroupViewNode(t *testing.T) {
	j, o := needCgroup1Root(t)
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Skip(t, "no node on this host")
	}
	heap := func(t *testing.T, flags ...string) int64 {
		t.Helper()
		r := j.RunWith(t, o, runArgs(flags, []string{"--", "node", "-e",
			`console.log("heap " + require("v8").getHeapStatistics().heap_size_limit)`})...)
		requireOK(t, r)
		return fields(t, r.Stdout)["heap"]
	}
	small, large, host := heap(t, "--mem", "256M"), heap(t, "--mem", "1G"), heap(t)
	t.Logf("heap_size_limit: %d with --mem 256M, %d with --mem 1G, %d without", small, large, host)
	// V8 sizes the heap from the memory libuv reports, which is the
	// cgroup's limit when it is below the host's, with a floor of about
	// 256 MiB of old space.
	assert.Less(t, small, large)
	assert.Less(t, large, host)
	assert.Less(t, small, int64(300<<20))
}

// buildGoProbe builds limits/vmtest/testdata/goprobe, static, into dir.
func buildGoProbe(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	root, err := testutil.ModuleRoot()
	require.NoError(t, err)
	out := filepath.Join(dir, "goprobe")
	build := exec.Command(goBin, "build", "-o", out, "./limits/vmtest/testdata/goprobe")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "%s", b)
	require.NoError(t, os.Chmod(out, 0o755))
	return out
}

// fields parses "name number" lines.
func fields(t *testing.T, out string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}
