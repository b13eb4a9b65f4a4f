// Package profiles reads jail's TOML profiles: named bundles of a sandbox
// configuration (root, mounts, environment, limits, seccomp choice) and,
// for languages, a compile step and a run step with their own limits.
//
// A profile goes through three stages, all before anything is started:
//
//	Find (search path: file, $XDG_CONFIG_HOME/jail/profiles, /etc/jail/profiles, built-ins)
//	→ Decode (strict TOML: unknown keys and bad values are errors naming file:line)
//	→ Check (the toolchain named by `requires` exists in the sandbox's root)
//
// Decode applies every default, so a *Profile is exactly what a run gets;
// Effective prints it back as TOML that decodes to an equal Profile.
//
// Resolve builds a run's sandbox.Spec from a profile (or the defaults) and
// typed Overrides on top of it: a value the face was given wins, the
// profile's holds otherwise. Its errors are field.Error values naming the
// setting ("limits.mem"), which each face spells its own way (the CLI as
// --mem, Decode as the TOML key at its line).
package profiles
