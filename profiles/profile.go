package profiles

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
)

// Profile is a decoded profile with every default applied: what a run
// with this profile gets before flags override it.
type Profile struct {
	// Name is the file name without .toml (or the built-in's name); it is
	// not a TOML key.
	Name        string
	Description string // one line, shown by `jail profile list`
	// SourceName is the name the user's source file gets in the work
	// directory ("main.cpp"); {source} expands to Root.Workdir/SourceName.
	SourceName string
	// Requires lists programs that must exist in the sandbox's root
	// (looked up in the sandbox's PATH); Check reports the missing ones.
	Requires []string
	// Seccomp is "default", "none", "strict" or a policy file path. It
	// stays a string here: the seccomp package interprets it.
	Seccomp string
	// EnvFile is read (docker's --env-file format) before Env is applied;
	// a relative path is relative to the profile file's directory.
	EnvFile string
	Root    Root
	Mounts  []Mount
	// Env is set after jail's default environment and EnvFile, before
	// the user's --env-file and -e flags.
	Env    map[string]string
	Limits Limits // the limits of a plain `jail run --profile NAME -- PROG`
	// Compile and Run are the language steps; nil when the profile has
	// none. Their Limits already include the profile's Limits.
	Compile *Step
	Run     *Step
}

// Root describes the sandbox's file system, identity and network.
type Root struct {
	RootFS   string      // prebuilt root directory; "" is the host's /usr read-only (--rootfs)
	Image    string      // an image of the store (jail image ls) as the root, instead of RootFS (--image)
	Disk     int64       // bytes of the tmpfs behind /, /tmp and /dev/shm (--disk); default 256M
	Hostname string      // default "jail" (--hostname)
	Network  sandbox.Net // "none" (loopback only, the default) or "host" (--net)
	UID, GID uint32      // ids inside the sandbox; default 1000 (--uid, --gid)
	Workdir  string      // absolute, created if missing; default "/" (-w)
}

// Mount is a bind mount from the host, read-only unless Writable.
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute sandbox path
	Writable bool
	// Optional mounts are skipped when Source does not exist on the host,
	// so that one profile serves hosts with and without, say, /usr/local/go.
	Optional bool
}

// Limits are a profile's or a step's limits; a zero field is "no limit".
type Limits struct {
	limits.Spec
	// Strict refuses to run when a limit cannot be enforced (--strict).
	Strict bool
}

// Step is a compile or run step of a language profile.
type Step struct {
	// Command is the argv, with {source}, {dir} and {exe} placeholders.
	Command []string
	// Limits are the profile's limits with the step's own on top.
	Limits Limits
}

// Vars are the values of a step's placeholders, all sandbox paths.
type Vars struct {
	Source string // {source}: the user's source file
	Dir    string // {dir}: the work directory
	Exe    string // {exe}: the program a compile step writes
}

// ExeName is the file name {exe} gets in the work directory.
const ExeName = "prog"

// Vars returns the placeholders' values for this profile: the source file
// and the program live in the work directory.
func (p *Profile) Vars() Vars { return p.VarsIn(p.Root.Workdir) }

// VarsIn is Vars with the work directory at dir instead.
func (p *Profile) VarsIn(dir string) Vars {
	v := Vars{Dir: dir, Exe: path.Join(dir, ExeName)}
	if p.SourceName != "" {
		v.Source = path.Join(dir, p.SourceName)
	}
	return v
}

// Argv returns the step's command with the placeholders replaced.
func (s *Step) Argv(v Vars) []string {
	out := slices.Clone(s.Command)
	// Built only for a command that has placeholders: a raw step has
	// none, and the replacer's trie was 3% of a service's allocations.
	var r *strings.Replacer
	for i, a := range out {
		if !strings.Contains(a, "{") {
			continue
		}
		if r == nil {
			r = strings.NewReplacer("{source}", v.Source, "{dir}", v.Dir, "{exe}", v.Exe)
		}
		out[i] = r.Replace(a)
	}
	return out
}

// Binds returns the profile's mounts as sandbox binds, leaving out the
// optional ones whose source is missing on this host (exists reports that;
// pass nil for os.Stat).
func (p *Profile) Binds(exists func(string) bool) []rootfs.UserBind {
	if exists == nil {
		exists = hostExists
	}
	var out []rootfs.UserBind
	for _, m := range p.Mounts {
		if m.Optional && !exists(m.Source) {
			continue
		}
		out = append(out, rootfs.UserBind{Source: m.Source, Target: m.Target, Writable: m.Writable})
	}
	return out
}

// Merge returns l with every limit that o sets replacing l's; Strict is
// on when either asks for it (a step cannot relax a strict profile).
func (l Limits) Merge(o Limits) Limits {
	return Limits{Spec: l.Spec.Merge(o.Spec), Strict: l.Strict || o.Strict}
}

// Defaults of the keys a profile may leave out; they equal `jail run`'s
// flag defaults so that a profile without [root] changes nothing.
const (
	DefaultHostname = "jail"
	DefaultWorkdir  = "/"
	DefaultSeccomp  = "default"
)

// Seccomp choices other than a file path.
var seccompNames = []string{"default", "none", "strict"}

var (
	placeholderRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{[A-Za-z_]*\}`) })
	envKeyRE      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
)

// validPlaceholders are the only {words} a step command may contain.
var validPlaceholders = []string{"{source}", "{dir}", "{exe}"}

func isSeccompFile(s string) bool {
	return strings.Contains(s, "/") || strings.HasSuffix(s, ".toml") || strings.HasSuffix(s, ".json")
}

func validSeccomp(s string) bool {
	return slices.Contains(seccompNames, s) || isSeccompFile(s)
}

// installHint names the Debian package that provides a program, for the
// error Check returns.
var installHint = map[string]string{
	"gcc": "gcc", "g++": "g++", "python3": "python3", "node": "nodejs",
	"java": "default-jdk-headless", "javac": "default-jdk-headless", "go": "golang-go",
}

func hint(prog string) string {
	if p, ok := installHint[prog]; ok {
		return p
	}
	return path.Base(prog)
}

// errorf formats one problem of a profile file as "file:line: key: msg".
func errorf(file string, line int, key, format string, args ...any) error {
	loc := file
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", file, line)
	}
	if key != "" {
		loc += ": " + key
	}
	return fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...))
}
