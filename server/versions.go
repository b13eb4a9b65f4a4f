package server

import (
	"context"
	"os"
	"strings"
	"time"

	"jail/profiles"
	"jail/sandbox"
)

// versionCommands ask each language's toolchain for its version.
var versionCommands = map[string][]string{
	"c": {"gcc", "--version"}, "cpp": {"g++", "--version"}, "python3": {"python3", "--version"},
	"go": {"go", "version"}, "node": {"node", "--version"}, "java": {"java", "-version"},
}

// toolchainVersion is the first line the profile's toolchain prints about
// itself, asked once, in a sandbox of the profile; "" when it cannot say.
func (s *Server) toolchainVersion(p *profiles.Profile) string {
	if v, ok := s.versions.Load(p.Name); ok {
		return v.(string)
	}
	v := s.askVersion(p)
	s.versions.Store(p.Name, v)
	return v
}

func (s *Server) askVersion(p *profiles.Profile) string {
	argv, ok := versionCommands[p.Name]
	if !ok {
		return ""
	}
	spec, err := profiles.Resolve(p, profiles.Overrides{Argv: argv, Step: p.Run})
	if err != nil {
		return ""
	}
	out, err := os.CreateTemp("", "jail-version-")
	if err != nil {
		return ""
	}
	defer os.Remove(out.Name())
	defer out.Close()
	ctx, cancel := context.WithTimeout(s.base, 20*time.Second)
	defer cancel()
	res, err := s.cfg.Runner.Run(ctx, spec, sandbox.IO{Stdout: out, Stderr: out})
	if err != nil || res.ExitCode != 0 {
		return ""
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}
