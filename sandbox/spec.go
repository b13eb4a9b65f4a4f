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

	"jail/field"
	"jail/idmap"
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
	Argv   []string
	Env    []string // complete environment, KEY=VALUE
	Dir    string   // working directory inside the sandbox
	RootFS string   // prebuilt root directory; "" means the host's /usr
	// Layers are an image's unpacked layer directories, lowest first,
	// the lower layers of an overlay root instead of RootFS; Image names
	// the image for the result.
	Layers []string
	Image  string
	// Upper keeps what PROG writes to an overlay root in this host
	// directory's upper/ and work/, which jail makes, rather than on the
	// --disk tmpfs that goes with the run: jail build's RUN turns it into
	// a layer.
	Upper    string
	Binds    []rootfs.UserBind
	Hostname string
	Net      Net
	UID, GID uint32
	// IDs maps the caller's subordinate ranges as well as its own id, for
	// an image whose files keep their owners (see jail/idmap); the caller
	// is 0 inside and UID and GID must be mapped. Nil maps only the
	// caller, as UID and GID.
	IDs *idmap.IDs
	// RootCaps leaves a PROG that runs as uid 0 the capabilities a
	// Docker container's root has (ContainerRootCaps), in its own user
	// namespace, where they reach only the ids it maps: what a
	// Dockerfile's RUN expects (chown, useradd). Any other PROG has none.
	RootCaps bool
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
}

// maxImageLayers is how many lower layers overlayfs stacks
// (OVL_MAX_STACK).
const maxImageLayers = 500

// HostRoot reports whether the root is jail's own, with the host's /usr,
// rather than a prebuilt tree or an image.
func (s *Spec) HostRoot() bool { return s.RootFS == "" && len(s.Layers) == 0 }

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
// problems together. Each problem is a *field.Error naming the setting
// by its profile-schema path ("root.workdir", "limits.mem", "binds[2]")
// and saying how to fix it; the face that shows it spells the name (the
// CLI writes -w, --mem, -v SRC:DST).
func (s *Spec) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	bad := func(cond bool, name, format string, args ...any) {
		if cond {
			errs = append(errs, field.Errorf(name, format, args...))
		}
	}
	bad(len(s.Argv) == 0 || s.Argv[0] == "", "argv", "no program given: write it after --, as in: jail run -- /bin/echo hello")
	for _, a := range s.Argv {
		bad(strings.ContainsRune(a, 0), "argv", "argument %q contains a NUL byte, which no program can receive", a)
	}
	add(validateEnv(s.Env))
	bad(!path.IsAbs(s.Dir), "root.workdir", "%q: the working directory must be an absolute path inside the sandbox", s.Dir)
	add(validateRootFS(s.RootFS))
	bad(s.RootFS != "" && len(s.Layers) > 0, "root.rootfs", "%q: an image is the root already; give --rootfs or --image, not both", s.RootFS)
	bad(s.Upper != "" && !path.IsAbs(s.Upper), "root.upper", "%q: give an absolute path", s.Upper)
	bad(s.Upper != "" && s.HostRoot(), "root.upper", "keeping the writes needs an overlay root: an image or --rootfs")
	bad(len(s.Layers) > maxImageLayers, "root.image", "%s has %d layers; overlayfs stacks at most %d", s.Image, len(s.Layers), maxImageLayers)
	for i, b := range s.Binds {
		add(validateBind(fmt.Sprintf("binds[%d]", i), b))
	}
	add(CheckHostname(s.Hostname))
	bad(s.Net != NetNone && s.Net != NetHost, "root.network", "%q: choose none (loopback only) or host", s.Net)
	bad(s.UID == 1<<32-1 || s.GID == 1<<32-1, "root.uid", "4294967295 is the kernel's invalid id; choose another")
	if s.IDs != nil {
		bad(!s.IDs.UID.Contains(s.UID), "root.uid", "%d is not mapped: this user's ids inside are %s", s.UID, s.IDs)
		bad(!s.IDs.GID.Contains(s.GID), "root.gid", "%d is not mapped: this user's ids inside are %s", s.GID, s.IDs)
	}
	bad(s.Disk < 1<<20, "root.disk", "%d bytes: give at least 1M", s.Disk)
	add(field.Under("limits", s.Limits.Validate()))
	bad(s.Limits.Output > 0 && s.TTY, "limits.output", "cannot be enforced with {tty} (the terminal is not a counted stream); drop one of them")
	return errors.Join(errs...)
}

// CheckHostname refuses a host name sethostname or /etc/hosts would not
// take; profiles check theirs with it too.
func CheckHostname(name string) error {
	if !ValidHostname(name) {
		return field.Errorf("root.hostname", "%q: use 1-63 letters, digits and dashes, starting with a letter or digit", name)
	}
	return nil
}

// CheckRootFSPath refuses a root directory overlayfs cannot take as a
// lower layer, without looking at the host.
func CheckRootFSPath(dir string) error {
	if strings.ContainsAny(dir, ",:\\\x00") {
		// overlayfs splits its lowerdir option on these characters.
		return field.Errorf("root.rootfs", "%q: the path may not contain ',', ':' or '\\'; move or symlink the directory", dir)
	}
	return nil
}

func validateEnv(env []string) error {
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return field.Errorf("environment", "entry %q: write KEY=VALUE", kv)
		}
		if strings.ContainsRune(kv, 0) {
			return field.Errorf("environment", "entry %q contains a NUL byte", k)
		}
	}
	return nil
}

func validateRootFS(dir string) error {
	if dir == "" {
		return nil
	}
	if err := CheckRootFSPath(dir); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return field.Errorf("root.rootfs", "%q does not exist: give a directory holding a root file system", dir)
		}
		return field.Errorf("root.rootfs", "%q: %v", dir, err)
	}
	if !fi.IsDir() {
		return field.Errorf("root.rootfs", "%q is not a directory: give a directory holding a root file system (extract an image into one)", dir)
	}
	return nil
}

func validateBind(name string, b rootfs.UserBind) error {
	spelled := b.Source + ":" + b.Target
	fail := func(format string, args ...any) error {
		return field.Errorf(name, "%s: %s", spelled, fmt.Sprintf(format, args...))
	}
	if !path.IsAbs(b.Source) {
		return fail("the host path must be absolute (try \"$PWD/%s\")", b.Source)
	}
	if !path.IsAbs(b.Target) {
		return fail("the sandbox path must be absolute")
	}
	if rootfs.ReservedTarget(b.Target) {
		return fail("/ and the trees under /proc, /dev and /sys are built by jail; mount somewhere else")
	}
	if _, err := os.Stat(b.Source); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("%s does not exist on the host", b.Source)
		}
		return fail("%v", err)
	}
	return nil
}
