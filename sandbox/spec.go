// Package sandbox is the parent side of a run: it validates a Spec,
// compiles it into the flat Plan the child executes, starts the child in new
// namespaces, supervises it and turns what happened into a Result.
//
// The life of a run, top-down:
//
//	Spec.Validate → Compile (Plan, fds) → start (clone + id maps, run.go)
//	→ child stages (sandbox/child: mounts, hostname, loopback, spawn PROG)
//	→ wait + wall timer → Decide (verdict) → Result
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"jail/limits"
	"jail/rootfs"
	"jail/seccomp"
)

// Net is the network a sandbox gets.
type Net string

const (
	// NetNone is a private network namespace with only loopback, up.
	NetNone Net = "none"
	// NetHost shares the host's network namespace.
	NetHost Net = "host"
)

// DefaultUID and DefaultGID are the ids PROG runs as inside: unprivileged,
// and the first regular user id on Debian, so files look like a user's.
const (
	DefaultUID = 1000
	DefaultGID = 1000
)

// DefaultDisk bounds the tmpfs behind every writable place (/, /tmp,
// /dev/shm) when --disk is not given.
const DefaultDisk = 256 << 20

// Spec is a validated description of one run; the CLI and profiles build it.
type Spec struct {
	Argv     []string
	Env      []string // complete environment, KEY=VALUE
	Dir      string   // working directory inside the sandbox
	RootFS   string   // prebuilt root directory; "" means the host's /usr
	Binds    []rootfs.UserBind
	Hostname string
	Net      Net
	UID, GID uint32
	Disk     int64
	TTY      bool
	Limits   limits.Spec
	// Strict refuses to run when a requested limit cannot be enforced,
	// instead of running with a warning.
	Strict bool
	// Seccomp is the system-call policy PROG runs under; nil runs it
	// unfiltered (--seccomp none).
	Seccomp *seccomp.Policy
	// SeccompLog has the kernel log every call the policy denies (the
	// audit log: dmesg, journalctl -k), quiet errno denials included.
	SeccompLog bool
	// CompileStep marks a language profile's compile step: anything but
	// a clean exit is verdict CE.
	CompileStep bool
}

// ValidHostname reports whether name is a single DNS label, the form
// sethostname inside the sandbox and /etc/hosts both accept.
func ValidHostname(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Validate runs every check before anything is created, and reports all
// problems together. Each check names the flag and how to fix it.
func (s *Spec) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		add(errors.New("no program given: write it after --, as in: jail run -- /bin/echo hello"))
	}
	for _, a := range s.Argv {
		if strings.ContainsRune(a, 0) {
			add(fmt.Errorf("argument %q contains a NUL byte, which no program can receive", a))
		}
	}
	add(validateEnv(s.Env))
	if !path.IsAbs(s.Dir) {
		add(fmt.Errorf("-w %q: the working directory must be an absolute path inside the sandbox", s.Dir))
	}
	add(validateRootFS(s.RootFS))
	for _, b := range s.Binds {
		add(validateBind(b))
	}
	if !ValidHostname(s.Hostname) {
		add(fmt.Errorf("--hostname %q: use 1-63 letters, digits and dashes, starting with a letter or digit", s.Hostname))
	}
	if s.Net != NetNone && s.Net != NetHost {
		add(fmt.Errorf("--net %q: choose none (loopback only) or host", s.Net))
	}
	if s.UID == 1<<32-1 || s.GID == 1<<32-1 {
		add(errors.New("--uid/--gid 4294967295 is the kernel's invalid id; choose another"))
	}
	if s.Disk < 1<<20 {
		add(fmt.Errorf("--disk %d bytes: give at least 1M", s.Disk))
	}
	add(s.Limits.Validate())
	if s.Limits.Output > 0 && s.TTY {
		add(errors.New("--output cannot be enforced with -t (the terminal is not a counted stream); drop one of them"))
	}
	return errors.Join(errs...)
}

func validateEnv(env []string) error {
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("environment entry %q: write KEY=VALUE", kv)
		}
		if strings.ContainsRune(kv, 0) {
			return fmt.Errorf("environment entry %q contains a NUL byte", k)
		}
	}
	return nil
}

func validateRootFS(dir string) error {
	if dir == "" {
		return nil
	}
	if strings.ContainsAny(dir, ",:\\") {
		// overlayfs splits its lowerdir option on these characters.
		return fmt.Errorf("--rootfs %q: the path may not contain ',', ':' or '\\'; move or symlink the directory", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--rootfs %q does not exist: give a directory holding a root file system", dir)
		}
		return fmt.Errorf("--rootfs %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--rootfs %q is not a directory: give a directory holding a root file system (extract an image into one)", dir)
	}
	return nil
}

func validateBind(b rootfs.UserBind) error {
	spelled := fmt.Sprintf("-v %s:%s", b.Source, b.Target)
	if !path.IsAbs(b.Source) {
		return fmt.Errorf("%s: the host path must be absolute (try \"$PWD/%s\")", spelled, b.Source)
	}
	if !path.IsAbs(b.Target) {
		return fmt.Errorf("%s: the sandbox path must be absolute", spelled)
	}
	if rootfs.ReservedTarget(b.Target) {
		return fmt.Errorf("%s: / and the trees under /proc, /dev and /sys are built by jail; mount somewhere else", spelled)
	}
	if _, err := os.Stat(b.Source); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %s does not exist on the host", spelled, b.Source)
		}
		return fmt.Errorf("%s: %w", spelled, err)
	}
	return nil
}
