package main

import (
	"strings"

	"jail/field"
	"jail/limits"
)

// flagNames spells the Spec's fields as `jail run` flags; the limits are
// spelled by their descriptors. "" leaves the name out, for messages that
// read on their own.
var flagNames = map[string]string{
	"argv": "", "environment": "environment", "env": "-e", "env_file": "--env-file",
	"binds": "-v", "tty": "-t", "seccomp": "--seccomp", "strict": "--strict",
	"root.workdir": "-w", "root.rootfs": "--rootfs", "root.image": "--image", "root.hostname": "--hostname", "root.network": "--net",
	"root.uid": "--uid/--gid", "root.disk": "--disk",
}

// flagName spells a field path ("limits.mem", "binds[2]") as the flag that
// sets it.
func flagName(path string) string {
	if name, ok := strings.CutPrefix(path, "limits."); ok {
		if f, ok := limits.FieldByName(name); ok {
			return "--" + f.Flag
		}
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	if n, ok := flagNames[path]; ok {
		return n
	}
	return path
}

// flagErrors renders the library's field errors in the command line's
// words: limits.mem → "--mem -1: must be positive".
func flagErrors(err error) error {
	return field.Render(err, func(e *field.Error) string { return field.Spell(e, flagName) })
}
