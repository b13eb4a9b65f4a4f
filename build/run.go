package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"jail/image"
	"jail/profiles"
	"jail/sandbox"
)

// runLine is the program RUN executes and, for a heredoc that starts
// with #!, the script it reads on stdin, as BuildKit has them: a heredoc
// alone is the shell's script, or with #! its interpreter's (the kernel's
// rule: the interpreter, its one argument, the script's path); a heredoc
// inside a longer command is given back to the shell whole.
func (s *state) runLine(c instructions.ShellDependantCmdLine) (argv []string, script string, err error) {
	if len(c.Files) == 0 {
		return s.cmdline(c), "", nil
	}
	if len(c.CmdLine) != 1 || !c.PrependShell {
		return nil, "", fmt.Errorf("a heredoc needs the shell form of RUN")
	}
	if parser.MustParseHeredoc(c.CmdLine[0]) == nil {
		line := c.CmdLine[0]
		for _, f := range c.Files {
			line += "\n" + f.Data + f.Name
		}
		return append(slices.Clone(s.shell), line), "", nil
	}
	data := c.Files[0].Data
	if c.Files[0].Chomp {
		data = parser.ChompHeredocContent(data)
	}
	first, _, _ := strings.Cut(data, "\n")
	interp, ok := strings.CutPrefix(first, "#!")
	if !ok {
		return append(slices.Clone(s.shell), data), "", nil
	}
	argv = strings.Fields(interp)
	if len(argv) == 0 {
		return nil, "", fmt.Errorf("the heredoc's #! line names no interpreter")
	}
	if len(argv) > 2 {
		argv = []string{argv[0], strings.Join(argv[1:], " ")}
	}
	return append(argv, "/dev/stdin"), data, nil
}

// run executes RUN in a sandbox whose root is the stage so far, keeping
// what it writes in a directory of the store that becomes the next
// layer.
func (b *builder) run(ctx context.Context, s *state, c *instructions.RunCommand) error {
	if len(c.FlagsUsed) > 0 {
		return fmt.Errorf("RUN --%s is not supported by jail build", strings.Join(c.FlagsUsed, ", --"))
	}
	argv, script, err := s.runLine(c.ShellDependantCmdLine)
	if err != nil {
		return err
	}
	cfg := s.cfg.Config
	env := s.env()
	key := s.next(map[string]any{"run": argv, "script": script, "env": env, "user": cfg.User, "workdir": cfg.WorkingDir, "network": b.o.Network})
	if b.cached(s, key, c.String()) {
		return nil
	}
	dirs, err := b.o.Store.LayerDirs(s.allLayers())
	if err != nil {
		return err
	}
	u, err := image.ResolveUser(b.o.Tag, dirs, cfg.User)
	if err != nil {
		return err
	}
	scratch, err := b.o.Store.NewScratch("build-")
	if err != nil {
		return err
	}
	defer scratch.Release()
	for _, d := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(scratch.Dir, d), 0o755); err != nil {
			return err
		}
	}
	net := b.o.Network
	workdir := cfg.WorkingDir
	if workdir == "" {
		workdir = "/"
	}
	spec, err := profiles.Resolve(nil, profiles.Overrides{Argv: argv, Workdir: &workdir, Net: &net,
		Image: &profiles.Image{Name: b.o.Tag, Layers: dirs, Env: env, UID: u.UID, GID: u.GID, Home: u.Home, IDs: b.o.Store.IDs}})
	if err != nil {
		return err
	}
	// A Dockerfile's RUN as root expects root's powers (chown, useradd),
	// as docker build gives them; they reach only the sandbox's ids.
	spec.Upper, spec.RootCaps = scratch.Dir, true
	if err := spec.Validate(); err != nil {
		return err
	}
	stdio := sandbox.IO{Stdout: b.o.Out, Stderr: b.o.Out}
	if script != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer r.Close()
		go func() {
			io.WriteString(w, script)
			w.Close()
		}()
		stdio.Stdin = r
	}
	res, err := b.o.Runner.Run(ctx, spec, stdio)
	if err != nil {
		return err
	}
	b.res.Ran++
	if res.ExitCode != 0 || res.Error != "" {
		why := fmt.Sprintf("exited with status %d", res.ExitCode)
		if res.Error != "" {
			why = res.Error
		} else if res.Signal != "" {
			why = "killed by " + res.Signal
		}
		return fmt.Errorf("%q %s", strings.Join(argv, " "), why)
	}
	lw, err := b.o.Store.NewLayer(int(u.UID), int(u.GID))
	if err != nil {
		return err
	}
	if err := lw.AddUpper(filepath.Join(scratch.Dir, "upper")); err != nil {
		lw.Abort()
		return fmt.Errorf("reading what it wrote: %w", err)
	}
	var layer *image.Layer
	if lw.Entries() > 0 {
		l, err := lw.Commit()
		if err != nil {
			return err
		}
		layer = &l
	} else {
		lw.Abort()
	}
	e := &image.CacheEntry{Layer: layer, Made: time.Now().UTC().Truncate(time.Second)}
	if err := b.o.Store.CachePut(key, e); err != nil {
		return err
	}
	s.addLayer(key, c.String(), e)
	return nil
}
