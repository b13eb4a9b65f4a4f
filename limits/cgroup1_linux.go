package limits

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// cgroup1 is the backend for root on a legacy or hybrid host: one child
// of jail's own cgroup in each v1 hierarchy jail uses.
type cgroup1 struct {
	// dirs maps a controller to jail's own cgroup directory in it, and
	// hierarchies to the directory its hierarchy is mounted on under
	// /sys/fs/cgroup ("cpu,cpuacct" where the two share one).
	dirs        map[string]string
	hierarchies map[string]string
	missing     map[string]string
	// swept: the stale runs of dead jail processes are removed once,
	// at the first run; a long-lived jail's later runs would find only
	// their own siblings there.
	swept sync.Once
}

func (c *cgroup1) Name() string { return "cgroup1-root" }

func (c *cgroup1) Controllers() []string {
	var out []string
	for _, ctl := range []string{"cpu", "cpuset", "memory", "pids"} {
		if _, ok := c.dirs[ctl]; ok {
			out = append(out, ctl)
		}
	}
	return out
}

func (c *cgroup1) Missing() map[string]string { return c.missing }

// ownCgroups1 maps each v1 controller to this process's cgroup directory
// and to its hierarchy's mount directory under /sys/fs/cgroup.
func ownCgroups1() (dirs, hierarchies map[string]string, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	dirs, hierarchies = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			mount := parts[1]
			if _, err := os.Stat(filepath.Join(cgroupRoot, mount)); err != nil {
				mount = ctl
			}
			dirs[ctl] = filepath.Join(cgroupRoot, mount, parts[2])
			hierarchies[ctl] = mount
		}
	}
	return dirs, hierarchies, nil
}

func detectCgroup1() (*cgroup1, error) {
	own, hierarchies, err := ownCgroups1()
	if err != nil {
		return nil, err
	}
	c := &cgroup1{dirs: map[string]string{}, hierarchies: hierarchies, missing: map[string]string{}}
	for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids"} {
		dir, ok := own[ctl]
		if ok {
			if _, err := os.Stat(dir); err == nil {
				c.dirs[ctl] = dir
				continue
			}
		}
		c.missing[ctl] = "mount the v1 " + ctl + " controller, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
	}
	if _, ok := c.dirs["cpuacct"]; !ok {
		return nil, errors.New("no cpuacct hierarchy: CPU time cannot be measured")
	}
	return c, nil
}

func (c *cgroup1) Create(spec Spec) (Group, error) {
	c.swept.Do(func() {
		for _, parent := range c.dirs {
			removeStale(parent)
		}
	})
	name := runName()
	g := &group1{dirs: map[string]string{}}
	// Every hierarchy, limited or not: cpuacct is the CPU-time clock for
	// --time and the result, memory and pids count the peaks, and the JVM
	// reads its cgroup (the memory limit too) only when it finds cpu,
	// cpuacct, cpuset and memory all mounted at /sys/fs/cgroup; an absent
	// one would have to be jail's own cgroup, whose siblings are not
	// PROG's business.
	for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids"} {
		parent, ok := c.dirs[ctl]
		if !ok {
			continue
		}
		dir := filepath.Join(parent, name)
		if _, dup := g.byDir(dir); dup {
			// cpu and cpuacct may share one hierarchy: one directory,
			// known under both names, or the second one's limits and
			// clock would be lost.
			g.dirs[ctl] = dir
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = g.Remove()
			return nil, fmt.Errorf("creating the run's %s cgroup: %w", ctl, err)
		}
		g.dirs[ctl] = dir
		g.order = append(g.order, Dir{Hierarchy: c.hierarchies[ctl], Path: dir})
	}
	if err := g.joinable(c.dirs); err != nil {
		_ = g.Remove()
		return nil, err
	}
	if err := g.Limit(spec); err != nil {
		_ = g.Remove()
		return nil, err
	}
	for _, dir := range g.order {
		f, err := os.OpenFile(filepath.Join(dir.Path, "cgroup.procs"), os.O_WRONLY, 0)
		if err != nil {
			_ = g.Remove()
			return nil, err
		}
		g.procs = append(g.procs, f)
	}
	g.counters = openCounters(g.counterFiles()...)
	return g, nil
}

type group1 struct {
	dirs     map[string]string
	order    []Dir
	procs    []*os.File
	counters counters
}

// counterFiles are the files Usage and Stats read.
func (g *group1) counterFiles() []string {
	acct := g.dirs["cpuacct"]
	files := []string{filepath.Join(acct, "cpuacct.usage"), filepath.Join(acct, "cpuacct.usage_user"), filepath.Join(acct, "cpuacct.usage_sys")}
	if dir, ok := g.dirs["memory"]; ok {
		files = append(files, filepath.Join(dir, "memory.max_usage_in_bytes"), filepath.Join(dir, "memory.oom_control"))
	}
	if dir, ok := g.dirs["pids"]; ok {
		files = append(files, filepath.Join(dir, "pids.peak"))
	}
	return files
}

func (g *group1) Dirs() []Dir { return g.order }

func (g *group1) TracksPeakMemory() bool {
	_, ok := g.dirs["memory"]
	return ok
}

func (g *group1) byDir(dir string) (string, bool) {
	for ctl, d := range g.dirs {
		if d == dir {
			return ctl, true
		}
	}
	return "", false
}

// joinable gives a new cpuset its parent's CPUs and memory nodes: a v1
// cpuset takes no task before it has both.
func (g *group1) joinable(parents map[string]string) error {
	dir, ok := g.dirs["cpuset"]
	if !ok {
		return nil
	}
	for _, f := range []string{"cpuset.mems", "cpuset.cpus"} {
		v, err := os.ReadFile(filepath.Join(parents["cpuset"], f))
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, strings.TrimSpace(string(v))); err != nil {
			return err
		}
	}
	return nil
}

func (g *group1) Limit(s Spec) error {
	if dir, ok := g.dirs["memory"]; ok && s.Memory > 0 {
		if err := writeFile(dir, "memory.limit_in_bytes", fmt.Sprint(s.Memory)); err != nil {
			return err
		}
		// memsw exists only with swap accounting; it bounds memory+swap.
		if err := writeFile(dir, "memory.memsw.limit_in_bytes", fmt.Sprint(s.Memory)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := writeFile(dir, "memory.swappiness", "0"); err != nil {
			return err
		}
	}
	if dir, ok := g.dirs["cpu"]; ok && s.CPUPercent > 0 {
		if err := writeFile(dir, "cpu.cfs_period_us", fmt.Sprint(int64(cpuPeriod/time.Microsecond))); err != nil {
			return err
		}
		if err := writeFile(dir, "cpu.cfs_quota_us", fmt.Sprint(cpuQuota(s.CPUPercent))); err != nil {
			return err
		}
	}
	if dir, ok := g.dirs["cpuset"]; ok && s.CPUs != "" {
		if err := writeFile(dir, "cpuset.cpus", s.CPUs); err != nil {
			return err
		}
	}
	if dir, ok := g.dirs["pids"]; ok && s.Pids > 0 {
		if err := writeFile(dir, "pids.max", fmt.Sprint(s.Pids)); err != nil {
			return err
		}
	}
	return nil
}

func (g *group1) ProcsFiles() []*os.File { return g.procs }

func (g *group1) Usage() (time.Duration, error) {
	ns, err := g.counters.int(filepath.Join(g.dirs["cpuacct"], "cpuacct.usage"))
	return time.Duration(ns), err
}

// Kill is left to the pid namespace teardown: v1 has no cgroup.kill, and
// every process of the group lives in the sandbox's pid namespace, which
// the kernel empties race-free when its init dies.
func (g *group1) Kill() error { return nil }

func (g *group1) Stats() (Stats, error) {
	var s Stats
	acct := g.dirs["cpuacct"]
	user, err := g.counters.int(filepath.Join(acct, "cpuacct.usage_user"))
	if err != nil {
		return s, err
	}
	sys, err := g.counters.int(filepath.Join(acct, "cpuacct.usage_sys"))
	if err != nil {
		return s, err
	}
	// usage_user and usage_sys come from tick sampling and drift from the
	// precise total in cpuacct.usage by up to tens of ms; report the
	// precise total, split in their proportion.
	total, err := g.counters.int(filepath.Join(acct, "cpuacct.usage"))
	if err != nil {
		return s, err
	}
	if user+sys > 0 {
		s.CPUUser = time.Duration(float64(total) * float64(user) / float64(user+sys))
		s.CPUSys = time.Duration(total) - s.CPUUser
	} else {
		s.CPUUser = time.Duration(total)
	}
	if dir, ok := g.dirs["memory"]; ok {
		if peak, err := g.counters.int(filepath.Join(dir, "memory.max_usage_in_bytes")); err == nil {
			s.PeakMemory, s.PeakMemorySource = peak, "cgroup1 memory.max_usage_in_bytes"
		}
		if oc, err := g.counters.keyed(filepath.Join(dir, "memory.oom_control")); err == nil {
			s.OOMKills = oc["oom_kill"]
		}
	}
	if dir, ok := g.dirs["pids"]; ok {
		if peak, err := g.counters.int(filepath.Join(dir, "pids.peak")); err == nil {
			s.PeakPids = peak
		}
	}
	return s, nil
}

func (g *group1) Remove() error {
	for _, f := range g.procs {
		f.Close()
	}
	g.counters.close()
	var errs []error
	for _, dir := range g.order {
		errs = append(errs, removeDir(dir.Path))
	}
	return errors.Join(errs...)
}
