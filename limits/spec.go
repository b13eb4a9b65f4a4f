package limits

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"jail/field"
)

// Spec holds the limits of one run. A zero field means "no limit".
type Spec struct {
	Memory     int64         // bytes of memory for the whole sandbox (--mem)
	CPUPercent float64       // CPU bandwidth in percent of one CPU (--cpu)
	CPUs       string        // CPUs PROG may run on, a cpuset list like "0-1,3" (--cpus)
	Pids       int64         // processes and threads alive at once (--pids)
	CPUTime    time.Duration // CPU time of the whole process tree (--time)
	ExtraTime  time.Duration // grace after CPUTime before the kill, as isolate's --extra-time
	Wall       time.Duration // wall-clock time from exec to exit (--wall)
	Output     int64         // bytes written to stdout and stderr (--output)
	FileSize   int64         // largest file PROG may write, RLIMIT_FSIZE (--fsize)
	OpenFiles  int64         // open file descriptors per process, RLIMIT_NOFILE (--nofile)
}

// MaxCPUPercent bounds --cpu: 1024 CPUs is more than any cpu.max can use.
const MaxCPUPercent = 102400

// maxOpenFiles is the kernel's fs.nr_open ceiling default; above it
// setrlimit fails inside the sandbox, so refuse it up front.
const maxOpenFiles = 1 << 20

// Validate checks each limit on its own and returns every problem at once,
// so a user fixes a command line in one go. Each problem is a
// *field.Error naming the limit by its descriptor's Name ("mem"); the
// face that shows it spells the name its own way (--mem, limits.mem).
func (s Spec) Validate() error {
	var errs []error
	check := func(bad bool, name, format string, args ...any) {
		if bad {
			errs = append(errs, field.Errorf(name, format, args...))
		}
	}
	check(s.Memory < 0, "mem", "%d: must be positive", s.Memory)
	check(s.Memory > 0 && s.Memory < 1<<20, "mem", "%d bytes: below 1M no program starts; give at least 1M", s.Memory)
	check(s.CPUPercent < 0 || math.IsNaN(s.CPUPercent) || math.IsInf(s.CPUPercent, 0), "cpu", "%g%%: must be positive", s.CPUPercent)
	check(s.CPUPercent > MaxCPUPercent, "cpu", "%g%%: more than %d%% (1024 CPUs); give a smaller share", s.CPUPercent, MaxCPUPercent)
	check(s.CPUPercent > 0 && s.CPUPercent < 0.1, "cpu", "%g%%: below 0.1%% the kernel cannot schedule; give at least 0.1%%", s.CPUPercent)
	check(s.Pids < 0, "pids", "%d: must be positive", s.Pids)
	check(s.CPUTime < 0, "time", "%v: must be positive", s.CPUTime)
	check(s.ExtraTime < 0, "extra_time", "%v: must be positive", s.ExtraTime)
	check(s.ExtraTime > 0 && s.CPUTime == 0, "extra_time", "%v: only means something with {time}; add {time}", s.ExtraTime)
	check(s.CPUs != "" && !validCPUList(s.CPUs), "cpus", "%q: write a CPU list such as 0, 0-3 or 0,2-3 (ranges low-high)", s.CPUs)
	check(s.Wall < 0, "wall", "%v: must be positive", s.Wall)
	check(s.Output < 0, "output", "%d: must be positive", s.Output)
	check(s.FileSize < 0, "fsize", "%d: must be positive", s.FileSize)
	check(s.OpenFiles < 0, "nofile", "%d: must be positive", s.OpenFiles)
	check(s.OpenFiles > 0 && s.OpenFiles < 4, "nofile", "%d: PROG needs at least 4 (stdin, stdout, stderr and one more)", s.OpenFiles)
	check(s.OpenFiles > maxOpenFiles, "nofile", "%d: above the kernel's fs.nr_open (%d); give a smaller number", s.OpenFiles, maxOpenFiles)
	return errors.Join(errs...)
}

var cpuListRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`) })

// validCPUList accepts the kernel's cpuset list syntax with ranges in order.
func validCPUList(list string) bool {
	if !cpuListRE().MatchString(list) {
		return false
	}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			continue
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a > b {
			return false
		}
	}
	return true
}

// needs maps each requested limit that only a cgroup enforces, by its
// field name, to the controller; the others
// are enforced without cgroups (timer, rlimits, output relay, CPU clock
// from /proc when there is no cgroup).
func (s Spec) needs() map[string]string {
	out := map[string]string{}
	for _, f := range Fields {
		if f.Controller != "" && f.IsSet(s) {
			out[f.Name] = f.Controller
		}
	}
	return out
}

// NeedsCgroup reports whether some requested limit only a cgroup enforces.
func (s Spec) NeedsCgroup() bool { return len(s.needs()) > 0 }

// NotEnforced names each requested limit the backend (nil: none) cannot
// enforce, by its field name, with the reason and the fix, so that no limit is ever dropped
// silently.
func (s Spec) NotEnforced(b Backend, why string) map[string]string {
	out := map[string]string{}
	for name, ctl := range s.needs() {
		switch {
		case b == nil:
			out[name] = why
		case !slices.Contains(b.Controllers(), ctl):
			out[name] = fmt.Sprintf("the %s controller is not available to %s: %s", ctl, b.Name(), b.Missing()[ctl])
		}
	}
	return out
}
