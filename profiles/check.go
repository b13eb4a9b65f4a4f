package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultPath is the sandbox's PATH unless the profile's env sets one
// (the same as `jail run`'s: Debian's login PATH).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath finds a program in the sandbox's root and returns its path
// inside the sandbox.
type LookPath func(prog string) (string, bool)

// SandboxPath is the PATH the profile's programs run with.
func (p *Profile) SandboxPath() string {
	if v, ok := p.Env["PATH"]; ok {
		return v
	}
	return DefaultPath
}

// Check reports every program in Requires that lookPath cannot find, with
// the fix. lookPath sees the sandbox's root: use HostLookPath or RootLookPath.
func (p *Profile) Check(lookPath func(string) (string, bool)) error {
	var errs []error
	for _, req := range p.Requires {
		if _, ok := lookPath(req); ok {
			continue
		}
		where := "PATH " + p.SandboxPath()
		if strings.Contains(req, "/") {
			where = req
		}
		root := "the sandbox root (the host's /usr)"
		if p.Root.RootFS != "" {
			root = "the sandbox root (" + p.Root.RootFS + ")"
		}
		errs = append(errs, fmt.Errorf("profile %s: %s not found in %s (looked in %s); install %s (apt-get install %s) or use --rootfs with a root that has it",
			p.Name, path.Base(req), root, where, path.Base(req), hint(req)))
	}
	return errors.Join(errs...)
}

// Missing returns the Requires lookPath cannot find.
func (p *Profile) Missing(lookPath func(string) (string, bool)) []string {
	var out []string
	for _, req := range p.Requires {
		if _, ok := lookPath(req); !ok {
			out = append(out, req)
		}
	}
	return out
}

// HostLookPath looks programs up as the sandbox will see them with the
// profile's root: the host's /usr (with /bin, /sbin, /lib, /lib64 pointing
// into it, as jail's default root has them) or the profile's RootFS, plus
// the profile's mounts, in the profile's PATH.
func (p *Profile) HostLookPath() LookPath {
	return p.RootLookPath(p.Root.RootFS)
}

// RootLookPath is HostLookPath for the root directory rootDir ("" for the
// host's /usr), for when --rootfs overrides the profile's.
func (p *Profile) RootLookPath(rootDir string) LookPath {
	v := &view{root: rootDir}
	for _, m := range p.Mounts {
		if m.Optional && !hostExists(m.Source) {
			continue
		}
		v.mounts = append(v.mounts, m)
	}
	dirs := filepath.SplitList(p.SandboxPath())
	return func(prog string) (string, bool) {
		if strings.Contains(prog, "/") {
			return prog, v.executable(prog)
		}
		for _, dir := range dirs {
			if !path.IsAbs(dir) {
				continue // a relative PATH entry depends on the work dir
			}
			if sp := path.Join(dir, prog); v.executable(sp) {
				return sp, true
			}
		}
		return "", false
	}
}

func hostExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// view maps sandbox paths to host paths the way jail builds the root, so
// that symlinks resolve as they will inside: /usr/bin/java points to
// /etc/alternatives/java, which the default root's generated /etc lacks
// unless a profile mounts it.
type view struct {
	root   string // "" is the default root: the host's /usr and nothing else
	mounts []Mount
}

// mergedUsrLinks are the default root's symlinks into /usr.
var mergedUsrLinks = map[string]string{"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64"}

// hostPath is where a sandbox path lives on the host, "" when nothing is
// there; follow says the host path is a mount source, which the bind
// mount has already resolved.
func (v *view) hostPath(sp string) (hp string, follow bool) {
	best := -1
	for i, m := range v.mounts {
		t := path.Clean(m.Target)
		if (sp == t || strings.HasPrefix(sp, t+"/")) && (best < 0 || len(t) > len(path.Clean(v.mounts[best].Target))) {
			best = i
		}
	}
	if best >= 0 {
		m := v.mounts[best]
		t := path.Clean(m.Target)
		return filepath.Join(m.Source, strings.TrimPrefix(sp, t)), sp == t
	}
	if v.root != "" {
		return filepath.Join(v.root, sp), false
	}
	if sp == "/usr" || strings.HasPrefix(sp, "/usr/") {
		return sp, false
	}
	return "", false
}

// node is what a sandbox path is, as far as a lookup cares.
type node struct {
	dir, exec bool
	link      string // the symlink's target when it is one
}

// lstat is os.Lstat of a sandbox path.
func (v *view) lstat(sp string) (node, error) {
	if v.root == "" {
		if l, ok := mergedUsrLinks[sp]; ok {
			return node{link: l}, nil
		}
	}
	hp, follow := v.hostPath(sp)
	var fi fs.FileInfo
	err := fs.ErrNotExist
	switch {
	case hp == "":
	case follow:
		fi, err = os.Stat(hp)
	default:
		fi, err = os.Lstat(hp)
	}
	if err != nil {
		// jail creates the directories that lead to a mount target.
		for _, m := range v.mounts {
			if strings.HasPrefix(path.Clean(m.Target), sp+"/") {
				return node{dir: true}, nil
			}
		}
		return node{}, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, err := os.Readlink(hp)
		return node{link: link}, err
	}
	return node{dir: fi.IsDir(), exec: fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0}, nil
}

// executable resolves sp component by component inside the view, as the
// kernel would inside the sandbox, and reports an executable file.
func (v *view) executable(sp string) bool {
	cur := "/"
	rest := components(sp)
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		rest = rest[1:]
		n, err := v.lstat(next)
		if err != nil {
			return false
		}
		if n.link != "" {
			// The kernel's limit of 40 symlinks per lookup.
			if hops++; hops > 40 {
				return false
			}
			target := n.link
			if !path.IsAbs(target) {
				target = path.Join(cur, n.link)
			}
			rest = append(components(target), rest...)
			cur = "/"
			continue
		}
		if len(rest) == 0 {
			return n.exec
		}
		if !n.dir {
			return false
		}
		cur = next
	}
	return false
}

func components(p string) []string {
	var out []string
	for _, c := range strings.Split(path.Clean(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
