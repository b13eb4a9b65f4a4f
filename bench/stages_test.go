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
		launcher{s.name, s.argv, e}.run(b) // warm up
	}
	round := 0
	for b.Loop() {
		for i := range stages {
			s := stages[(i+round)%len(stages)]
			times[s.name] = append(times[s.name], launcher{s.name, s.argv, e}.run(b))
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
// runs, as metrics and as a markdown table.
func BenchmarkRunStages(b *testing.B) {
	e := newEnv(b)
	argv := []string{e.jail.Bin, "run", "--json", "--", "/bin/true"}
	var all []map[string]float64
	for b.Loop() {
		var stderr bytes.Buffer
		cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: []string{"PATH=/usr/bin:/bin"}, Dir: e.jail.Dir,
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
		all = append(all, res.Stages)
	}
	// The order of a run; the names are those of sandbox.Stages.
	order := []string{"start", "clone", "id_maps", "mounts", "pivot", "prepare", "spawn", "exec", "run", "teardown"}
	fmt.Printf("\n| stage of `jail run -- /bin/true` | median ms |\n|---|---|\n")
	var total []time.Duration
	for i := range all {
		var sum float64
		for _, v := range all[i] {
			sum += v
		}
		total = append(total, time.Duration(sum*float64(time.Second)))
	}
	for _, name := range order {
		var ds []time.Duration
		for _, st := range all {
			ds = append(ds, time.Duration(st[name]*float64(time.Second)))
		}
		m := ms(percentile(ds, 50))
		b.ReportMetric(m, name+"-ms")
		fmt.Printf("| %s | %.2f |\n", name, m)
	}
	fmt.Printf("| (sum, median of the runs) | %.2f |\n\n%d runs.\n", ms(percentile(total, 50)), len(all))
}
