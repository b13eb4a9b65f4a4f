package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"jail/profiles"
	"jail/rootfs"
	"jail/sandbox"
)

// checkToolchain refuses a language profile whose programs are missing
// from the sandbox's root, naming the profile and the program.
func (f *runFlags) checkToolchain(s *sandbox.Spec) error {
	if f.profile == nil {
		return nil
	}
	return f.profile.Check(f.profile.RootLookPath(s.RootFS))
}

// runSteps runs a language profile: `jail run --profile cpp -- main.cpp
// [ARGS]`. The source is copied into a fresh host work directory, bound
// read-write for the compile step and read-only for the run step, each
// step in its own sandbox with its own limits. A failed compile ends the
// run with verdict CE and the compiler's messages on stderr.
func runSteps(ctx context.Context, f *runFlags, args []string) error {
	p := f.profile
	if len(args) == 0 {
		return fmt.Errorf("profile %s runs a source file: jail run --profile %s -- SOURCE [ARGS...]", p.Name, p.Name)
	}
	vars := p.Vars()
	if f.printConfig {
		return printStepConfigs(f, vars, args)
	}
	work, err := newWorkDir(args[0], p)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var compiled *sandbox.Result
	if p.Compile != nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		defer null.Close()
		// The compiler's output is for the user, never PROG's stdout.
		res, err := runStep(ctx, f, p.Compile, "compile", p.Compile.Argv(vars),
			rootfs.UserBind{Source: work, Target: vars.Dir, Writable: true},
			sandbox.IO{Stdin: null, Stdout: os.Stderr, Stderr: os.Stderr})
		if err != nil {
			return err
		}
		if res.Verdict != sandbox.OK {
			return f.finish(res)
		}
		compiled = res
	}
	res, err := runStep(ctx, f, p.Run, "run", append(p.Run.Argv(vars), args[1:]...),
		rootfs.UserBind{Source: work, Target: vars.Dir},
		sandbox.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	res.Compile = compiled
	return f.finish(res)
}

// printStepConfigs prints each step's effective configuration.
func printStepConfigs(f *runFlags, vars profiles.Vars, args []string) error {
	p := f.profile
	steps := []struct {
		name string
		step *profiles.Step
		argv []string
	}{{"run", p.Run, append(p.Run.Argv(vars), args[1:]...)}}
	if p.Compile != nil {
		steps = append([]struct {
			name string
			step *profiles.Step
			argv []string
		}{{"compile", p.Compile, p.Compile.Argv(vars)}}, steps...)
	}
	for _, st := range steps {
		spec, err := f.spec(st.argv, st.step)
		if err != nil {
			return fmt.Errorf("%s step: %w", st.name, err)
		}
		fmt.Printf("# %s step\n", st.name)
		if err := printConfig(spec); err != nil {
			return err
		}
	}
	return nil
}

func runStep(ctx context.Context, f *runFlags, step *profiles.Step,
	name string, argv []string, work rootfs.UserBind, stdio sandbox.IO) (*sandbox.Result, error) {
	spec, err := f.spec(argv, step)
	if err != nil {
		return nil, fmt.Errorf("%s step: %w", name, err)
	}
	// The work directory is jail's own, bound after validation as
	// before; sandbox.Run validates the whole Spec again.
	spec.Binds = append(spec.Binds, work)
	if err := f.checkToolchain(spec); err != nil {
		return nil, err
	}
	res, err := runOnce(ctx, f, spec, stdio)
	if err != nil {
		return nil, fmt.Errorf("%s step: %w", name, err)
	}
	res.Step = name
	return res, nil
}

// newWorkDir copies the source into a fresh directory PROG's host user
// may write: the caller's own, or, when jail runs as root, given to the
// unprivileged id PROG runs as.
func newWorkDir(source string, p *profiles.Profile) (string, error) {
	st, err := os.Stat(source)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", source, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("source %s is not a regular file: profile %s runs one source file", source, p.Name)
	}
	work, err := os.MkdirTemp("", "jail-work-")
	if err != nil {
		return "", err
	}
	name := p.SourceName
	if name == "" {
		name = filepath.Base(source)
	}
	if err := copyInto(source, filepath.Join(work, name)); err != nil {
		os.RemoveAll(work)
		return "", fmt.Errorf("copying the source: %w", err)
	}
	if os.Getuid() == 0 {
		for _, pth := range []string{work, filepath.Join(work, name)} {
			if err := os.Lchown(pth, sandbox.OverflowID, sandbox.OverflowID); err != nil {
				os.RemoveAll(work)
				return "", err
			}
		}
	}
	return work, nil
}

func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
