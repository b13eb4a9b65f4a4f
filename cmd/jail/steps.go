package main

import (
	"context"
	"fmt"
	"os"

	"jail/judge"
	"jail/sandbox"
)

// runSteps runs a language profile: `jail run --profile cpp -- main.cpp
// [ARGS]`. The judge builds the program once (the compile step's
// messages go to stderr as they come) and the run step gets jail's own
// streams. A failed compile ends the run with verdict CE.
func runSteps(ctx context.Context, f *runFlags, args []string) error {
	p := f.profile
	if len(args) == 0 {
		return fmt.Errorf("profile %s runs a source file: jail run --profile %s -- SOURCE [ARGS...]", p.Name, p.Name)
	}
	prog, err := f.program(args[0])
	if err != nil {
		return err
	}
	if f.printConfig {
		return printStepConfigs(prog, args[1:])
	}
	// One Runner for both steps: the host is probed once.
	runner := sandbox.NewRunner()
	build, err := prog.Prepare(ctx, runner, os.Stderr)
	if err != nil {
		return flagErrors(err)
	}
	defer build.Close()
	for _, c := range build.Compile {
		c.SpellWarnings(flagName)
		printMessages(c.Result)
	}
	if build.Failed() {
		c := build.Compile[len(build.Compile)-1]
		return f.finish(c, c.Result)
	}
	spec, err := build.RunSpec(args[1:])
	if err != nil {
		return flagErrors(err)
	}
	res, err := runOnce(ctx, f, runner, spec, sandbox.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return fmt.Errorf("run step: %w", err)
	}
	out := runReport{StepResult: &judge.StepResult{Step: "run", Result: res}}
	if len(build.Compile) > 0 {
		out.Compile = build.Compile[len(build.Compile)-1]
	}
	return f.finish(out, res)
}

// runReport is `jail run --profile`'s result: the run step's, with the
// compile step's inside.
type runReport struct {
	*judge.StepResult
	Compile *judge.StepResult `json:"compile,omitempty"`
}

// program is the judge's Program for a language profile's source file,
// with the flags as its settings, for every step.
func (f *runFlags) program(source string) (judge.Program, error) {
	o, err := f.overrides(nil)
	if err != nil {
		return judge.Program{}, err
	}
	return judge.Program{Profile: f.profile, Files: []judge.File{judge.SourceFile(f.profile, source)},
		Settings: o, CompileLimits: o.Limits}, nil
}

// printStepConfigs prints each step's effective configuration.
func printStepConfigs(prog judge.Program, args []string) error {
	names, specs, err := prog.Specs(args)
	if err != nil {
		return flagErrors(err)
	}
	for i, spec := range specs {
		fmt.Printf("# %s step\n", names[i])
		if err := printConfig(spec); err != nil {
			return err
		}
	}
	return nil
}
