package bench

// BenchmarkStages breaks a run's start-up cost into its parts, so the
// next optimisation is chosen from data. Each part is measured as the
// difference between two whole commands run interleaved in one loop (so
// machine drift hits all alike): what a namespace costs is `unshare` with
// it minus `unshare` without, what seccomp costs is jail with its policy
// minus jail with --seccomp none, and so on. Everything runs as the
// unprivileged test user, as in real use.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"jail/internal/testutil"
)

// stage is one command of the breakdown.
type stage struct {
	name string
	argv []string
}

func BenchmarkStages(b *testing.B) {
	e := newEnv(b)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testutil.Skip(b, "unshare (util-linux) is not installed: %v", err)
	}
	// A --rootfs made of links into the host's /usr, bound in: the
	// overlay path with the same programs as the default root.
	root := filepath.Join(e.jail.Dir, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, target := range map[string]string{"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			b.Fatal(err)
		}
	}
	jail := func(flags ...string) []string {
		return append(append([]string{e.jail.Bin, "run"}, flags...), "--", "/bin/true")
	}
	landlock := buildLandlockTrue(b, e)
	stages := []stage{
		{"forkexec", []string{"/bin/true"}},
		{"go-start", []string{e.jail.Bin, "version"}},
		{"unshare-none", []string{unshare, "/bin/true"}},
		{"unshare-user", []string{unshare, "-Ur", "/bin/true"}},
		{"unshare-user-mnt", []string{unshare, "-Urm", "/bin/true"}},
		{"unshare-user-pid", []string{unshare, "-Urpf", "/bin/true"}},
		{"unshare-user-ipc", []string{unshare, "-Uri", "/bin/true"}},
		{"unshare-user-uts", []string{unshare, "-Uru", "/bin/true"}},
		{"unshare-user-net", []string{unshare, "-Urn", "/bin/true"}},
		{"unshare-user-cgroup", []string{unshare, "-UrC", "/bin/true"}},
		{"unshare-user-time", []string{unshare, "-UrT", "/bin/true"}},
		{"nnp-exec", []string{landlock, "0"}},
		{"landlock-exec", []string{landlock, "1"}},
		{"unshare-all", []string{unshare, "-UrmpfiunC", "/bin/true"}},
		{"jail", jail()},
		{"jail-seccomp-none", jail("--seccomp", "none")},
		{"jail-net-host", jail("--net", "host")},
		{"jail-rootfs-overlay", jail("--rootfs", root, "-v", "/usr:/usr")},
		{"jail-time-limit", jail("--time", "10s")},
		{"jail-limits", jail(limitFlags...)},
	}
	e.jail.Chown(b, root)
	times := map[string][]time.Duration{}
	for _, s := range stages {
		launcher{name: s.name, argv: s.argv, env: e}.run(b) // warm up
	}
	round := 0
	for b.Loop() {
		for i := range stages {
			s := stages[(i+round)%len(stages)]
			times[s.name] = append(times[s.name], launcher{name: s.name, argv: s.argv, env: e}.run(b))
		}
		round++
	}
	med := func(name string) float64 { return ms(percentile(times[name], 50)) }
	for _, s := range stages {
		b.ReportMetric(med(s.name), s.name+"-ms")
	}
	// The differences are the breakdown.
	diffs := []struct{ name, with, without string }{
		{"user-ns", "unshare-user", "unshare-none"},
		{"mount-ns", "unshare-user-mnt", "unshare-user"},
		{"pid-ns", "unshare-user-pid", "unshare-user"},
		{"ipc-ns", "unshare-user-ipc", "unshare-user"},
		{"uts-ns", "unshare-user-uts", "unshare-user"},
		{"net-ns", "unshare-user-net", "unshare-user"},
		{"cgroup-ns", "unshare-user-cgroup", "unshare-user"},
		{"time-ns", "unshare-user-time", "unshare-user"},
		{"landlock", "landlock-exec", "nnp-exec"},
		{"seccomp", "jail", "jail-seccomp-none"},
		{"net-ns-in-jail", "jail", "jail-net-host"},
		{"overlay-vs-binds", "jail-rootfs-overlay", "jail"},
		{"cpu-time-watch", "jail-time-limit", "jail"},
		{"cgroup-limits", "jail-limits", "jail"},
		{"jail-over-all-namespaces", "jail", "unshare-all"},
	}
	names := make([]string, 0, len(diffs))
	for _, d := range diffs {
		b.ReportMetric(med(d.with)-med(d.without), "Δ"+d.name+"-ms")
		names = append(names, d.name)
	}
	slices.Sort(names)
	b.Logf("parts measured: %v (machine: %d CPUs)", names, runtime.NumCPU())
}

// BenchmarkRunStages is the breakdown of one run from the inside: jail
// and the sandbox's init timestamp each stage (the "stages" of the --json
// result, native launcher), and this reports each stage's median over the
// runs, as metrics and as a markdown table, for a run whose sandbox is
// built once jail has its plan and for one built ahead from the last
// run's description.
func BenchmarkRunStages(b *testing.B) {
	e := newEnv(b)
	argv := []string{e.jail.Bin, "run", "--json", "--", "/bin/true"}
	// Interleaved: a run whose early init waits for the plan, and one
	// with a runtime directory, whose sandbox is built from the last
	// run's saved description while Go starts.
	ways := []struct{ name, runtime string }{{"waiting for the plan", ""}, {"built ahead", e.runtimeDir(b, "stages")}}
	all := make([][]map[string]float64, len(ways))
	for b.Loop() {
		for i, w := range ways {
			var stderr bytes.Buffer
			env := []string{"PATH=/usr/bin:/bin"}
			if w.runtime != "" {
				env = append(env, "XDG_RUNTIME_DIR="+w.runtime)
			}
			cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: env, Dir: e.jail.Dir,
				Stderr: &stderr, SysProcAttr: &syscall.SysProcAttr{Credential: e.jail.Cred}}
			if err := cmd.Run(); err != nil {
				b.Fatalf("%q: %v\n%s", argv, err, stderr.Bytes())
			}
			var res struct {
				Stages map[string]float64 `json:"stages"`
			}
			for line := range strings.Lines(stderr.String()) {
				if strings.HasPrefix(line, "{") {
					if err := json.Unmarshal([]byte(line), &res); err != nil {
						b.Fatal(err)
					}
				}
			}
			if res.Stages == nil {
				b.Fatalf("no stages in the result: %s", stderr.Bytes())
			}
			all[i] = append(all[i], res.Stages)
		}
	}
	// The order of a run; the names are those of sandbox.Stages.
	order := []string{"start", "clone", "id_maps", "mounts", "pivot", "prepare", "spawn", "exec", "run", "teardown"}
	fmt.Printf("\n| stage of `jail run -- /bin/true` | %s, median ms | %s, median ms |\n|---|---|---|\n", ways[0].name, ways[1].name)
	col := func(i int, name string) float64 {
		var ds []time.Duration
		for _, st := range all[i] {
			ds = append(ds, time.Duration(st[name]*float64(time.Second)))
		}
		return ms(percentile(ds, 50))
	}
	sum := func(i int) float64 {
		var total []time.Duration
		for _, st := range all[i] {
			var s float64
			for _, v := range st {
				s += v
			}
			total = append(total, time.Duration(s*float64(time.Second)))
		}
		return ms(percentile(total, 50))
	}
	for _, name := range order {
		b.ReportMetric(col(0, name), name+"-ms")
		b.ReportMetric(col(1, name), name+"-ahead-ms")
		fmt.Printf("| %s | %.2f | %.2f |\n", name, col(0, name), col(1, name))
	}
	fmt.Printf("| (sum, median of the runs) | %.2f | %.2f |\n\n%d runs each, interleaved.\n", sum(0), sum(1), len(all[0]))
}

// landlockTrue sets no_new_privs and, with argument 1, builds and enforces
// the ruleset PROG gets (every access right of the kernel's ABI beneath
// "/", signals and abstract sockets scoped from ABI 6), then execs
// /bin/true: what Landlock adds to a run, as jail's spawner does it.
const landlockTrue = `#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 1;
	if (argc > 1 && argv[1][0] == '1') {
		long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
		if (abi < 1) return 2;
		uint64_t fs = (1ULL << 13) - 1;
		if (abi >= 2) fs |= 1ULL << 13;
		if (abi >= 3) fs |= 1ULL << 14;
		if (abi >= 5) fs |= 1ULL << 15;
		struct { uint64_t fs, net, scoped; } attr = {fs, 0, abi >= 6 ? 3 : 0};
		int rs = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
		int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct landlock_path_beneath_attr pb = {.allowed_access = fs, .parent_fd = root};
		if (rs < 0 || root < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0)) return 3;
		if (syscall(SYS_landlock_restrict_self, rs, 0)) return 4;
	}
	execl("/bin/true", "true", (char *)NULL);
	return 5;
}
`

func buildLandlockTrue(b *testing.B, e *env) string {
	cc, err := exec.LookPath("cc")
	if err != nil {
		b.Fatal("no C compiler for the Landlock stage (apt-get install gcc)")
	}
	dir := filepath.Join(e.jail.Dir, "landlock")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	src, bin := filepath.Join(dir, "landlock-true.c"), filepath.Join(dir, "landlock-true")
	if err := os.WriteFile(src, []byte(landlockTrue), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v: %s", src, err, out)
	}
	return bin
}
