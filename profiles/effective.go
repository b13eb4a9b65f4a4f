package profiles

import (
	"fmt"
	"jail/limits"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Effective prints the profile as TOML with every default filled in and
// every step's limits merged, in a fixed order, so users see exactly what
// a run gets. Decoding the output gives an equal Profile.
func (p *Profile) Effective() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# profile %s: the effective configuration (defaults applied, step limits merged)\n", p.Name)
	kv(&b, "description", quote(p.Description))
	if p.SourceName != "" {
		kv(&b, "source_name", quote(p.SourceName))
	}
	if len(p.Requires) > 0 {
		kv(&b, "requires", list(p.Requires))
	}
	kv(&b, "seccomp", quote(p.Seccomp))
	if p.EnvFile != "" {
		kv(&b, "env_file", quote(p.EnvFile))
	}

	b.WriteString("\n[root]\n")
	switch {
	case p.Root.Image != "":
		kv(&b, "image", quote(p.Root.Image))
	case p.Root.RootFS == "":
		b.WriteString("# rootfs: the host's /usr, read-only, with a generated /etc\n")
	default:
		kv(&b, "rootfs", quote(p.Root.RootFS))
	}
	kv(&b, "disk", quote(limits.FormatSize(p.Root.Disk)))
	kv(&b, "hostname", quote(p.Root.Hostname))
	kv(&b, "network", quote(string(p.Root.Network)))
	kv(&b, "uid", strconv.FormatUint(uint64(p.Root.UID), 10))
	kv(&b, "gid", strconv.FormatUint(uint64(p.Root.GID), 10))
	kv(&b, "workdir", quote(p.Root.Workdir))

	for _, m := range p.Mounts {
		b.WriteString("\n[[mount]]\n")
		kv(&b, "source", quote(m.Source))
		kv(&b, "target", quote(m.Target))
		kv(&b, "writable", strconv.FormatBool(m.Writable))
		kv(&b, "optional", strconv.FormatBool(m.Optional))
	}

	if len(p.Env) > 0 {
		b.WriteString("\n[env]\n")
		keys := make([]string, 0, len(p.Env))
		for k := range p.Env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			kv(&b, key(k), quote(p.Env[k]))
		}
	}

	b.WriteString("\n[limits]\n")
	writeLimits(&b, p.Limits)
	for _, s := range []struct {
		name string
		step *Step
	}{{"compile", p.Compile}, {"run", p.Run}} {
		if s.step == nil {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", s.name)
		kv(&b, "command", list(s.step.Command))
		fmt.Fprintf(&b, "\n[%s.limits]\n", s.name)
		writeLimits(&b, s.step.Limits)
	}
	return b.String()
}

func kv(b *strings.Builder, k, v string) {
	fmt.Fprintf(b, "%s = %s\n", k, v)
}

// writeLimits prints every limit key; the ones not set become comments so
// that the reader sees they are unlimited rather than forgotten.
func writeLimits(b *strings.Builder, l Limits) {
	item := func(k string, set bool, v string) {
		if set {
			kv(b, k, quote(v))
		} else {
			fmt.Fprintf(b, "# %s: no limit\n", k)
		}
	}
	for _, f := range limits.Fields {
		item(f.Name, f.IsSet(l.Spec), f.Format(l.Spec))
	}
	kv(b, "strict", strconv.FormatBool(l.Strict))
}

var bareKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

func key(k string) string {
	if bareKeyRE().MatchString(k) {
		return k
	}
	return quote(k)
}

// quote writes a TOML basic string; Go's strconv.Quote is not TOML (its
// \x escapes are not in the TOML grammar).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func list(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
