package profiles

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"jail/field"
	"jail/rootfs"
)

// environment builds PROG's environment: a clean default, then the
// profile's env_file and [env], then envFiles, then the entries of
// entries (KEY=VALUE, or KEY for the host's value), later ones winning.
// Nothing of the host's comes in unless named, except TERM so terminal
// programs draw correctly.
func environment(p *Profile, uid uint32, img *Image, envFiles, entries []string) ([]string, error) {
	user := rootfs.SandboxUser
	if uid == 0 {
		user = "root"
	}
	term := os.Getenv("TERM")
	if term == "" {
		term = "dumb"
	}
	env := newEnv()
	env.set("PATH", DefaultPath)
	env.set("HOME", "/tmp")
	env.set("LANG", "C.UTF-8")
	env.set("TERM", term)
	env.set("USER", user)
	if img != nil {
		if img.Home != "" {
			env.set("HOME", img.Home)
		}
		// Never the host's value: an image's entry without a value is
		// broken, not a request to pass one.
		for _, e := range img.Env {
			k, v, ok := strings.Cut(e, "=")
			if !ok || k == "" {
				return nil, field.Errorf("root.image", "%s: its config's Env entry %q is not KEY=VALUE; fix the image", img.Name, e)
			}
			env.set(k, v)
		}
	}
	if p.EnvFile != "" {
		if err := env.readFile(p.EnvFile); err != nil {
			return nil, field.Within("profile "+p.Name, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		env.set(k, p.Env[k])
	}
	for _, file := range envFiles {
		if err := env.readFile(file); err != nil {
			return nil, err
		}
	}
	for _, e := range entries {
		if err := env.add(e, "env", e); err != nil {
			return nil, err
		}
	}
	return env.list(), nil
}

// env keeps insertion order so PROG sees a stable environment.
type env struct {
	keys []string
	vals map[string]string
}

func newEnv() *env { return &env{vals: map[string]string{}} }

func (e *env) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

// add takes KEY=VALUE, or KEY alone to copy the host's value (dropped when
// the host has none), as docker does. A bad entry is reported as name's,
// at where.
func (e *env) add(entry, name, where string) error {
	k, v, ok := strings.Cut(entry, "=")
	if k == "" || strings.ContainsAny(k, " \t") {
		return field.Errorf(name, "%s: write KEY=VALUE, or KEY to pass the host's value", where)
	}
	if !ok {
		hv, set := os.LookupEnv(k)
		if !set {
			return nil
		}
		v = hv
	}
	e.set(k, v)
	return nil
}

// maxEnvLine bounds one --env-file line at the kernel's limit for one
// environment string (MAX_ARG_STRLEN), past which exec would fail.
const maxEnvLine = 128 << 10

// readFile reads docker's --env-file format: KEY=VALUE or KEY per line,
// with blank lines and # comments ignored; values are taken literally.
func (e *env) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return field.Wrap("env_file", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxEnvLine)
	n := 0
	for n = 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := e.add(line, "env_file", fmt.Sprintf("%s:%d", path, n)); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return field.Errorf("env_file", "%s:%d: the line is longer than the kernel's %d-byte limit for one variable; put such a value in a file you bind with {binds}", path, n, maxEnvLine)
	}
	if err := sc.Err(); err != nil {
		return field.Wrap("env_file", path, err)
	}
	return nil
}

func (e *env) list() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}
