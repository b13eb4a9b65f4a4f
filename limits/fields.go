package limits

import (
	"fmt"
	"strconv"
	"time"
)

// Kind is how a limit's value is spelled and parsed.
type Kind int

const (
	Size     Kind = iota // bytes: "100M", "1.5g", "4096" (ParseSize)
	Duration             // "2s", "500ms", "1.5" seconds (ParseDuration)
	Percent              // of one CPU: "10%", "250%" (ParsePercent)
	Count                // a positive whole number (ParseCount)
	CPUList              // a cpuset list such as "0-1,3", checked by Validate
)

// Field describes one limit once, for every face that names it: the
// profile key and JSON name, the `jail run` flag, how its value is
// spelled, the Spec field it sets and its help text. Adding a limit is a
// Spec field plus one entry in Fields; TestFieldsCoverSpec keeps the two
// in step.
type Field struct {
	Name string // profile (TOML) key and JSON name: "mem", "extra_time"
	Flag string // `jail run` flag without dashes: "mem", "extra-time"
	Kind Kind
	Go   string // the Spec field it sets: "Memory"
	Help string // the flag's help text
	// Controller is the cgroup controller that enforces the limit; ""
	// when jail enforces it without cgroups (timer, rlimit, relay).
	Controller string
	// Mechanism says how the limit is enforced, for the result's list of
	// limits in force (after the backend's name for a cgroup limit); ""
	// for a limit that is part of another's mechanism.
	Mechanism string
}

// Fields lists every limit, in the order flags and printed configs show
// them.
var Fields = []Field{
	{"mem", "mem", Size, "Memory", "memory limit, e.g. 100M", "memory", "memory limit, swap off, OOM kills the whole run"},
	{"cpu", "cpu", Percent, "CPUPercent", "CPU bandwidth, e.g. 10% (of one CPU) or 250%", "cpu", "CPU bandwidth quota"},
	{"cpus", "cpus", CPUList, "CPUs", "CPUs PROG may use, e.g. 0-1 or 0,2", "cpuset", "cpuset"},
	{"pids", "pids", Count, "Pids", "limit on processes and threads", "pids", "pids.max"},
	{"time", "time", Duration, "CPUTime", "CPU time limit of the whole process tree, e.g. 2s", "", "supervisor watching the CPU time, kill at time + extra_time; RLIMIT_CPU backstop"},
	{"extra_time", "extra-time", Duration, "ExtraTime", "grace after --time before the kill (the verdict is still TLE), e.g. 0.5s", "", ""},
	{"wall", "wall", Duration, "Wall", "wall-clock limit, e.g. 10s", "", "supervisor timer, SIGKILL of the whole sandbox"},
	{"output", "output", Size, "Output", "limit on bytes written to stdout and stderr", "", "supervisor relay of stdout and stderr"},
	{"fsize", "fsize", Size, "FileSize", "largest file PROG may write, e.g. 10M", "", "RLIMIT_FSIZE"},
	{"nofile", "nofile", Count, "OpenFiles", "limit on open file descriptors per process", "", "RLIMIT_NOFILE"},
}

// FieldByName returns the limit with the profile key name.
func FieldByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Parse reads text as this limit's kind. The error does not name the
// limit: each face says which one in its own spelling.
func (f Field) Parse(text string) (any, error) {
	switch f.Kind {
	case Size:
		return ParseSize(text)
	case Duration:
		return ParseDuration(text)
	case Percent:
		return ParsePercent(text)
	case Count:
		return ParseCount(text)
	default:
		return text, nil
	}
}

// Set parses text and stores it in s.
func (f Field) Set(s *Spec, text string) error {
	v, err := f.Parse(text)
	if err != nil {
		return err
	}
	f.Store(s, v)
	return nil
}

// Store sets the limit in s to v, a value Parse returned.
func (f Field) Store(s *Spec, v any) {
	switch p := s.limit(f.Go).(type) {
	case *int64:
		*p = v.(int64)
	case *time.Duration:
		*p = v.(time.Duration)
	case *float64:
		*p = v.(float64)
	case *string:
		*p = v.(string)
	}
}

// Value is the limit's value in s: an int64, time.Duration, float64 or
// string.
func (f Field) Value(s Spec) any {
	switch p := s.limit(f.Go).(type) {
	case *int64:
		return *p
	case *time.Duration:
		return *p
	case *float64:
		return *p
	case *string:
		return *p
	}
	panic("limits: field " + f.Name + " has no value type")
}

// IsSet reports whether s asks for this limit (zero is "no limit").
func (f Field) IsSet(s Spec) bool {
	switch p := s.limit(f.Go).(type) {
	case *string:
		return *p != ""
	case *float64:
		return *p != 0
	case *time.Duration:
		return *p != 0
	default:
		return *p.(*int64) != 0
	}
}

// limit is the Spec field named goName, by pointer. A switch rather than
// a function per descriptor: through a function value s would escape,
// and every IsSet and Value copied the Spec to the heap (17 KB of
// garbage per task in a service).
func (s *Spec) limit(goName string) any {
	switch goName {
	case "Memory":
		return &s.Memory
	case "CPUPercent":
		return &s.CPUPercent
	case "CPUs":
		return &s.CPUs
	case "Pids":
		return &s.Pids
	case "CPUTime":
		return &s.CPUTime
	case "ExtraTime":
		return &s.ExtraTime
	case "Wall":
		return &s.Wall
	case "Output":
		return &s.Output
	case "FileSize":
		return &s.FileSize
	case "OpenFiles":
		return &s.OpenFiles
	}
	panic("limits: no Spec field " + goName)
}

// Format spells the limit's value in s so that Parse reads it back.
func (f Field) Format(s Spec) string {
	switch v := f.Value(s).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64) + "%"
	case time.Duration:
		return FormatDuration(v)
	default:
		if f.Kind == Size {
			return FormatSize(v.(int64))
		}
		return strconv.FormatInt(v.(int64), 10)
	}
}

// Merge returns s with every limit o sets replacing s's.
func (s Spec) Merge(o Spec) Spec {
	for _, f := range Fields {
		if f.IsSet(o) {
			f.Store(&s, f.Value(o))
		}
	}
	return s
}

// FormatSize writes the largest binary unit that divides n exactly, so
// that ParseSize gives n back.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		bytes  int64
	}{{"P", 1 << 50}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n != 0 && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// FormatDuration writes d so that ParseDuration gives it back, in whole
// seconds when it is under an hour of them ("60s" reads better than
// "1m0s").
func FormatDuration(d time.Duration) string {
	if d%time.Second == 0 && d < time.Hour {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// String names the kind, for messages and tests.
func (k Kind) String() string {
	switch k {
	case Size:
		return "size"
	case Duration:
		return "duration"
	case Percent:
		return "percent"
	case Count:
		return "count"
	case CPUList:
		return "cpulist"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}
