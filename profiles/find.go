package profiles

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed builtin/*.toml
var builtinFS embed.FS

// Source says where a profile came from: a file path, or BuiltIn.
type Source string

// BuiltIn is the Source of the profiles embedded in jail.
const BuiltIn Source = "built-in"

// Entry is one line of List.
type Entry struct {
	Name        string
	Source      Source
	Description string
	// Err is why the profile does not decode; Description is empty then.
	Err error
}

// systemDir is the administrator's profile directory; a variable so that
// tests do not need to write to /etc.
var systemDir = "/etc/jail/profiles"

// SearchDirs returns the directories searched for NAME.toml, first one
// winning: the user's ($XDG_CONFIG_HOME/jail/profiles, by default
// ~/.config/jail/profiles), then /etc/jail/profiles. The built-ins come
// after them.
func SearchDirs() []string {
	var dirs []string
	cfg := os.Getenv("XDG_CONFIG_HOME")
	// The XDG spec says to ignore a relative value.
	if !filepath.IsAbs(cfg) {
		cfg = ""
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".config")
		}
	}
	if cfg != "" {
		dirs = append(dirs, filepath.Join(cfg, "jail", "profiles"))
	}
	return append(dirs, systemDir)
}

// IsFile reports whether --profile's value names a file rather than a
// profile to search for.
func IsFile(nameOrPath string) bool {
	return strings.Contains(nameOrPath, "/") || strings.HasSuffix(nameOrPath, ".toml")
}

// Find loads a profile: a value containing '/' or ending in .toml is a
// file; anything else is a name looked up as NAME.toml in SearchDirs, then
// among the built-ins.
func Find(nameOrPath string) (*Profile, Source, error) {
	if IsFile(nameOrPath) {
		p, err := LoadFile(nameOrPath)
		return p, Source(nameOrPath), err
	}
	name := nameOrPath
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsRune(name, 0) {
		return nil, "", fmt.Errorf("profile %q: give a profile name such as python3, or a file path ending in .toml", name)
	}
	var looked []string
	for _, dir := range SearchDirs() {
		file := filepath.Join(dir, name+".toml")
		looked = append(looked, file)
		// A directory the caller cannot enter (another user's home, as
		// under sudo or runuser) holds nothing for them.
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			continue
		}
		p, err := LoadFile(file)
		return p, Source(file), err
	}
	p, err := Builtin(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("profile %q not found: looked in %s and the built-ins (%s); `jail profile list` shows them all",
			name, strings.Join(looked, ", "), strings.Join(BuiltinNames(), ", "))
	}
	return p, BuiltIn, err
}

// LoadFile decodes a profile file. Relative env_file and seccomp file
// paths in it are made relative to the file's directory, where the author
// put them.
func LoadFile(file string) (*Profile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	p, err := Decode(file, data)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	if p.EnvFile != "" && !filepath.IsAbs(p.EnvFile) {
		p.EnvFile = filepath.Join(dir, p.EnvFile)
	}
	if isSeccompFile(p.Seccomp) && !filepath.IsAbs(p.Seccomp) {
		p.Seccomp = filepath.Join(dir, p.Seccomp)
	}
	return p, nil
}

// Builtin decodes the built-in profile name; the error wraps
// fs.ErrNotExist when there is none.
func Builtin(name string) (*Profile, error) {
	file := "builtin/" + name + ".toml"
	data, err := builtinFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("built-in profile %q: %w", name, fs.ErrNotExist)
	}
	return Decode(file, data)
}

// BuiltinNames lists the built-in profiles, sorted.
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	slices.Sort(names)
	return names
}

// List returns every profile Find can reach by name, sorted by name, each
// from where Find would take it (a user's python3.toml shadows the
// built-in). Profiles that do not decode are listed with Err set.
func List() []Entry {
	seen := map[string]bool{}
	var out []Entry
	add := func(name string, src Source, load func() (*Profile, error)) {
		if seen[name] {
			return
		}
		seen[name] = true
		e := Entry{Name: name, Source: src}
		if p, err := load(); err != nil {
			e.Err = err
		} else {
			e.Description = p.Description
		}
		out = append(out, e)
	}
	for _, dir := range SearchDirs() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
		slices.Sort(files)
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".toml")
			if strings.HasPrefix(name, ".") {
				continue // Find would refuse the name
			}
			add(name, Source(f), func() (*Profile, error) { return LoadFile(f) })
		}
	}
	for _, name := range BuiltinNames() {
		add(name, BuiltIn, func() (*Profile, error) { return Builtin(name) })
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}
