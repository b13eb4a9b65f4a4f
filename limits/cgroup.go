package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Backend is how a host lets jail enforce limits. Detect picks one; its
// Name appears in results and in `jail doctor`.
type Backend interface {
	Name() string
	// Controllers lists the controllers runs get, e.g. cpu memory pids.
	Controllers() []string
	// Missing explains each controller the host does not give jail, with
	// the fix, keyed by controller name.
	Missing() map[string]string
	// Create makes the cgroup of one run, with spec's limits written.
	// One made with the zero Spec limits nothing until Limit writes the
	// run's: a warm sandbox's next run's cgroup is made before its run.
	Create(spec Spec) (Group, error)
}

// Group is the cgroup (one per v1 hierarchy) of one run. PROG's process
// joins it by writing "0" to each of ProcsFiles just before exec, so the
// sandbox's own init is neither limited nor counted.
type Group interface {
	// Limit writes spec's limits, those of a group made without them.
	Limit(spec Spec) error
	ProcsFiles() []*os.File
	// Usage is the CPU time of the group so far, for --time.
	Usage() (time.Duration, error)
	// Kill sends SIGKILL to every process of the group at once.
	Kill() error
	// Stats reads the accounting once the group is empty.
	Stats() (Stats, error)
	// TracksPeakMemory says Stats will have the group's peak memory, so
	// no process's rusage is needed for it.
	TracksPeakMemory() bool
	// Remove deletes the group; it retries while the kernel finishes
	// tearing down exited tasks.
	Remove() error
	// Dirs are the group's directories, one per hierarchy, for showing
	// PROG its own cgroup.
	Dirs() []Dir
}

// Dir is a run's cgroup directory in one hierarchy.
type Dir struct {
	// Hierarchy is the v1 hierarchy's mount directory under
	// /sys/fs/cgroup ("memory", "cpu,cpuacct"); "" on cgroup v2.
	Hierarchy string
	Path      string
}

// Stats is what a run used, from the cgroup.
type Stats struct {
	CPUUser, CPUSys  time.Duration
	PeakMemory       int64
	PeakMemorySource string
	PeakPids         int64
	OOMKills         int64
}

// Wanted lists the controllers spec needs, sorted.
func (s Spec) Wanted() []string {
	var out []string
	for _, ctl := range s.needs() {
		out = append(out, ctl)
	}
	slices.Sort(out)
	return out
}

// cpuPeriod is the cpu.max / cfs period: 100ms, the kernel default, long
// enough that a 10% share is a 10ms slice, short enough to look smooth.
const cpuPeriod = 100 * time.Millisecond

func cpuQuota(percent float64) int64 {
	return int64(percent / 100 * float64(cpuPeriod/time.Microsecond))
}

// counters are a group's accounting files, opened as the group is made
// and read with pread: a warm sandbox's next run's group is made ahead of
// the run, and opening its six counters by path at the run's end was 5.6%
// of a reusing root server's CPU samples (cgroupfs path lookups). A file
// that could not be opened then is read by path.
type counters map[string]int

func openCounters(paths ...string) counters {
	c := counters{}
	for _, p := range paths {
		if fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
			c[p] = fd
		}
	}
	return c
}

func (c counters) close() {
	for p, fd := range c {
		syscall.Close(fd)
		delete(c, p)
	}
}

// read reads path from its start into buf: through its descriptor, which
// a cgroup file renders afresh at offset 0, or by path.
func (c counters) read(path string, buf []byte) (int, error) {
	if fd, ok := c[path]; ok {
		n, err := syscall.Pread(fd, buf, 0)
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: path, Err: err}
		}
		return n, nil
	}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil {
		return 0, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return n, nil
}

// int reads a file holding one integer (or "max", -1).
func (c counters) int(path string) (int64, error) {
	var buf [64]byte
	n, err := c.read(path, buf[:])
	if err != nil {
		return 0, err
	}
	if n == len(buf) {
		return 0, fmt.Errorf("reading %s: not one integer", path)
	}
	s := strings.TrimSpace(string(buf[:n]))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// keyed reads "key value" lines (cpu.stat, memory.events...).
func (c counters) keyed(path string) (map[string]int64, error) {
	var buf [4096]byte
	n, err := c.read(path, buf[:])
	if err != nil {
		return nil, err
	}
	if n == len(buf) {
		return nil, fmt.Errorf("reading %s: longer than %d bytes", path, len(buf))
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	// In three system calls: a run's cgroup takes about ten of these.
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err == nil {
		_, err = syscall.Write(fd, []byte(value))
		if cerr := syscall.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, &os.PathError{Op: "write", Path: path, Err: err})
	}
	return nil
}

// removeDir removes an emptied cgroup. rmdir fails with EBUSY until the
// kernel has finished releasing the last exited task, which takes a few
// ms after the pid namespace is gone.
func removeDir(dir string) error {
	var err error
	for i := 0; i < 200; i++ {
		// rmdir itself: os.Remove tries unlink first, a failed system
		// call per directory per run.
		err = syscall.Rmdir(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(time.Millisecond * time.Duration(1+i/20))
	}
	return fmt.Errorf("removing cgroup %s: %w", dir, err)
}

// removeStale removes run cgroups under parent left by jail processes that
// died without cleaning up (SIGKILL): their name carries the pid, and a
// dead pid's empty cgroup can go. A busy one (rmdir EBUSY) stays.
func removeStale(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "jail-*-*"))
	for _, d := range dirs {
		f := strings.SplitN(filepath.Base(d), "-", 3)
		if pid, err := strconv.Atoi(f[1]); err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + f[1]); errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(d)
		}
	}
}

// runName names a run's cgroup uniquely on this host.
func runName() string {
	return fmt.Sprintf("jail-%d-%d", os.Getpid(), time.Now().UnixNano())
}
