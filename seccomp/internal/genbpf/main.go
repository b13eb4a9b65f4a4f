// Command genbpf compiles jail's built-in seccomp policies into
// seccomp/precompiled, which the seccomp package embeds. It runs from
// `go generate ./seccomp` (make build does it) in the package directory.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"jail/seccomp"
)

func main() {
	if err := generate(); err != nil {
		fmt.Fprintln(os.Stderr, "genbpf:", err)
		os.Exit(1)
	}
}

func generate() error {
	old, _ := filepath.Glob("precompiled/*.bpf")
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	var index strings.Builder
	for _, p := range seccomp.Builtins() {
		for _, opts := range seccomp.BuiltinOptions {
			fresh := opts
			fresh.Fresh = true
			prog, err := p.Compile(fresh)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if err := os.WriteFile(seccomp.PrecompiledPath(p.Fingerprint(opts)), prog.Encode(), 0o644); err != nil {
				return err
			}
			index.WriteString(seccomp.BuiltinIndexLine(p, opts))
		}
	}
	return os.WriteFile(seccomp.BuiltinIndexPath, []byte(index.String()), 0o644)
}
