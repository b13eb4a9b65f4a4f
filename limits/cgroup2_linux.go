package limits

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroup2 is a backend on the unified hierarchy: runs are created as
// children of parent, a cgroup jail may write whose subtree_control can
// enable the controllers.
type cgroup2 struct {
	name        string
	parent      string
	controllers []string
	missing     map[string]string
	// swept as cgroup1's.
	swept sync.Once
}

func (c *cgroup2) Name() string               { return c.name }
func (c *cgroup2) Controllers() []string      { return c.controllers }
func (c *cgroup2) Missing() map[string]string { return c.missing }

// isUnified reports whether /sys/fs/cgroup is a cgroup2 mount.
func isUnified() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ownCgroup2 returns the absolute path of this process's v2 cgroup.
func ownCgroup2() (string, error) { return cgroup2Of(os.Getpid()) }

// cgroup2Of is the cgroup v2 directory process pid is in.
func cgroup2Of(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return filepath.Join(cgroupRoot, p), nil
		}
	}
	return "", fmt.Errorf("no cgroup2 entry in /proc/%d/cgroup", pid)
}

func writable(dir string) bool {
	return unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) == nil &&
		unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) == nil &&
		unix.Access(dir, unix.W_OK) == nil
}

// delegationRoot finds the subtree this process may manage: the nearest
// writable cgroup at or above its own (an administrator may have chowned a
// parent and put the shell in a root-owned leaf below it), extended
// upwards while the parents stay writable, but never above the root of a
// systemd unit, whose Delegate=yes is what hands a subtree over.
func delegationRoot(own string) (string, bool) {
	dir := own
	for !writable(dir) {
		if dir == cgroupRoot {
			return "", false
		}
		dir = filepath.Dir(dir)
	}
	for dir != cgroupRoot && !isUnitRoot(dir) && writable(filepath.Dir(dir)) {
		dir = filepath.Dir(dir)
	}
	return dir, true
}

func isUnitRoot(dir string) bool {
	base := filepath.Base(dir)
	return strings.HasSuffix(base, ".service") || strings.HasSuffix(base, ".scope")
}

func controllersOf(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// delegateFix is the drop-in that makes systemd delegate every controller
// jail uses to user managers (systemd before 252 left out cpu; cpuset and
// io are never delegated by default).
const delegateFix = "create /etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu cpuset io memory pids, then systemctl daemon-reload and log in again"

// prepareParent makes parent able to hold runs: the controllers jail needs
// are enabled for its children, which the kernel allows only while parent
// holds no processes itself. If this very process sits in parent, it
// first moves itself into a leaf below it, and the processes with that
// sit there too.
func prepareParent(name, parent string, fix string, with []int) (*cgroup2, error) {
	avail := controllersOf(parent)
	c := &cgroup2{name: name, parent: parent, missing: map[string]string{}}
	for _, want := range []string{"cpu", "cpuset", "memory", "pids"} {
		if slices.Contains(avail, want) {
			c.controllers = append(c.controllers, want)
		} else {
			c.missing[want] = fix
		}
	}
	own, err := ownCgroup2()
	if err != nil {
		return nil, err
	}
	if own == parent {
		leaf := filepath.Join(parent, "jail-supervisor")
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating %s: %w", leaf, err)
		}
		if err := writeFile(leaf, "cgroup.procs", "0"); err != nil {
			return nil, err
		}
		// Best effort: one that is gone, or in another cgroup, is not
		// its to move.
		for _, pid := range with {
			if other, err := cgroup2Of(pid); err == nil && other == own {
				_ = writeFile(leaf, "cgroup.procs", strconv.Itoa(pid))
			}
		}
	}
	// One controller at a time: enabling cpuset, say, can be refused
	// (it must reschedule every task below, root's included) while the
	// others work, and one refusal must not cost every limit.
	var enabled []string
	for _, ctl := range c.controllers {
		if err := writeFile(parent, "cgroup.subtree_control", "+"+ctl); err != nil {
			c.missing[ctl] = fmt.Sprintf("enabling it in %s was refused (%v): the subtree must hold only processes of uid %d, none in %s itself", parent, err, os.Getuid(), parent)
			continue
		}
		enabled = append(enabled, ctl)
	}
	c.controllers = enabled
	return c, nil
}

func (c *cgroup2) Create(spec Spec) (Group, error) {
	c.swept.Do(func() { removeStale(c.parent) })
	dir := filepath.Join(c.parent, runName())
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the run's cgroup: %w", err)
	}
	g := &group2{dir: dir}
	if err := g.Limit(spec); err != nil {
		_ = g.Remove()
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		_ = g.Remove()
		return nil, err
	}
	g.procs = f
	g.counters = openCounters(filepath.Join(dir, "cpu.stat"), filepath.Join(dir, "memory.peak"),
		filepath.Join(dir, "memory.events"), filepath.Join(dir, "pids.peak"))
	return g, nil
}

type group2 struct {
	dir      string
	procs    *os.File
	counters counters
}

// Limit writes the limits. Swap is off so --mem is a hard bound, and
// oom.group kills the whole run at the first OOM: a half-killed process
// tree would report a misleading result.
func (g *group2) Limit(s Spec) error {
	if s.Memory > 0 {
		if err := writeFile(g.dir, "memory.max", fmt.Sprint(s.Memory)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(g.dir, "memory.swap.max")); err == nil {
			if err := writeFile(g.dir, "memory.swap.max", "0"); err != nil {
				return err
			}
		}
		if err := writeFile(g.dir, "memory.oom.group", "1"); err != nil {
			return err
		}
	}
	if s.CPUPercent > 0 {
		if err := writeFile(g.dir, "cpu.max", fmt.Sprintf("%d %d", cpuQuota(s.CPUPercent), cpuPeriod/time.Microsecond)); err != nil {
			return err
		}
	}
	if s.CPUs != "" {
		if err := writeFile(g.dir, "cpuset.cpus", s.CPUs); err != nil {
			return err
		}
	}
	if s.Pids > 0 {
		if err := writeFile(g.dir, "pids.max", fmt.Sprint(s.Pids)); err != nil {
			return err
		}
	}
	return nil
}

func (g *group2) Dirs() []Dir { return []Dir{{Path: g.dir}} }

func (g *group2) ProcsFiles() []*os.File { return []*os.File{g.procs} }

// TracksPeakMemory: memory.peak exists since Linux 5.19, and only with the
// memory controller.
func (g *group2) TracksPeakMemory() bool {
	_, err := os.Stat(filepath.Join(g.dir, "memory.peak"))
	return err == nil
}

func (g *group2) Usage() (time.Duration, error) {
	st, err := g.counters.keyed(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	return time.Duration(st["usage_usec"]) * time.Microsecond, nil
}

// Kill uses cgroup.kill (Linux 5.14); older kernels rely on the pid
// namespace teardown the supervisor starts at the same moment.
func (g *group2) Kill() error {
	err := writeFile(g.dir, "cgroup.kill", "1")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (g *group2) Stats() (Stats, error) {
	var s Stats
	cpu, err := g.counters.keyed(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return s, err
	}
	s.CPUUser = time.Duration(cpu["user_usec"]) * time.Microsecond
	s.CPUSys = time.Duration(cpu["system_usec"]) * time.Microsecond
	if peak, err := g.counters.int(filepath.Join(g.dir, "memory.peak")); err == nil {
		s.PeakMemory, s.PeakMemorySource = peak, "cgroup2 memory.peak"
	}
	if ev, err := g.counters.keyed(filepath.Join(g.dir, "memory.events")); err == nil {
		s.OOMKills = ev["oom_kill"]
	}
	if peak, err := g.counters.int(filepath.Join(g.dir, "pids.peak")); err == nil {
		s.PeakPids = peak
	}
	return s, nil
}

func (g *group2) Remove() error {
	if g.procs != nil {
		g.procs.Close()
	}
	g.counters.close()
	return removeDir(g.dir)
}
