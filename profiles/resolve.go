package profiles

import (
	"slices"
	"sync"

	"jail/field"
	"jail/idmap"
	"jail/limits"
	"jail/rootfs"
	"jail/sandbox"
	"jail/seccomp"
)

// Overrides are the settings a face (the command line, a service
// request) puts on top of a profile, as typed values. A nil pointer, or a
// zero limit, is "not given": the profile's value, or its default, holds.
type Overrides struct {
	Argv []string

	RootFS, Workdir, Hostname *string
	Net                       *sandbox.Net
	UID, GID                  *uint32
	Disk                      *int64
	// Seccomp is "default", "strict", "none" or a policy file.
	Seccomp *string
	Strict  *bool
	// Limits replace the profile's (or the step's) where non-zero.
	Limits limits.Spec

	// Binds come after the profile's mounts; Env (KEY=VALUE, or KEY for
	// the host's value) and EnvFiles after its env_file and [env].
	Binds    []rootfs.UserBind
	EnvFiles []string
	Env      []string

	TTY, SeccompLog bool

	// Step selects a language profile's step (p.Compile or p.Run),
	// whose limits replace the profile's own; nil is a plain run.
	Step *Step

	// Image is the root, and its config the defaults, of a run in an
	// image; nil is a run without one.
	Image *Image
}

// Image is an image as a run takes it: its layers, and what its config
// sets, which holds where the face gave nothing. Its environment comes
// after jail's defaults and before the profile's; its program is
// Entrypoint followed by the face's argv, or by Cmd when there is none,
// as docker run does.
type Image struct {
	Name string
	// Layers are its unpacked layers, lowest first.
	Layers          []string
	Env             []string
	WorkingDir      string
	Entrypoint, Cmd []string
	// User is the image's user resolved in its /etc/passwd: root unless
	// the image names another.
	UID, GID uint32
	Home     string
	// IDs are the ids its layers were unpacked with (nil: squashed to
	// the caller), which its sandbox must map the same.
	IDs *idmap.IDs
	// StopSignal is what stopping a detached run of it sends first.
	StopSignal string
}

// argv is the program a run in img executes: the face's, or the image's.
func (img *Image) argv(given []string) []string {
	if len(given) == 0 {
		given = img.Cmd
	}
	return append(slices.Clone(img.Entrypoint), given...)
}

// defaults is the profile of a run without --profile: every default, and
// nothing else.
var defaults = sync.OnceValue(func() *Profile {
	p, err := Decode("default.toml", nil)
	if err != nil {
		panic("profiles: the empty profile does not decode: " + err.Error())
	}
	return p
})

// Default is the profile of a run that names none. It is shared: do not
// change it.
func Default() *Profile { return defaults() }

// Resolve builds the Spec of one run from a profile (nil: the defaults)
// and the overrides on top of it, and validates it. Errors are
// *field.Error values, joined, for the caller to spell in its own terms.
func Resolve(p *Profile, o Overrides) (*sandbox.Spec, error) {
	if p == nil {
		p = defaults()
	}
	lim := p.Limits
	if o.Step != nil {
		lim = o.Step.Limits
	}
	s := &sandbox.Spec{
		Argv:       o.Argv,
		Dir:        pick(o.Workdir, p.Root.Workdir),
		RootFS:     pick(o.RootFS, p.Root.RootFS),
		Hostname:   pick(o.Hostname, p.Root.Hostname),
		Net:        pick(o.Net, p.Root.Network),
		UID:        pick(o.UID, p.Root.UID),
		GID:        pick(o.GID, p.Root.GID),
		Disk:       pick(o.Disk, p.Root.Disk),
		TTY:        o.TTY,
		Limits:     lim.Spec.Merge(o.Limits),
		Strict:     pick(o.Strict, lim.Strict),
		SeccompLog: o.SeccompLog,
	}
	if img := o.Image; img != nil {
		s.Image, s.Layers, s.Argv, s.IDs = img.Name, img.Layers, img.argv(o.Argv), img.IDs
		if o.Workdir == nil && img.WorkingDir != "" {
			s.Dir = img.WorkingDir
		}
		if o.UID == nil {
			s.UID = img.UID
		}
		if o.GID == nil {
			s.GID = img.GID
		}
	}
	s.Binds = append(p.Binds(nil), o.Binds...)
	var err error
	if s.Env, err = environment(p, s.UID, o.Image, o.EnvFiles, o.Env); err != nil {
		return nil, err
	}
	if s.Seccomp, err = seccompPolicy(pick(o.Seccomp, p.Seccomp)); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

func pick[T any](override *T, profile T) T {
	if override != nil {
		return *override
	}
	return profile
}

// seccompPolicy reads a seccomp choice: a built-in name, "none" (nil, no
// filter) or a policy file.
func seccompPolicy(v string) (*seccomp.Policy, error) {
	switch v {
	case "none":
		return nil, nil
	case "":
		v = DefaultSeccomp
	}
	if p, ok := seccomp.Builtin(v); ok {
		return p, nil
	}
	p, err := seccomp.Load(v)
	if err != nil {
		return nil, field.Wrap("seccomp", "", err)
	}
	return p, nil
}
