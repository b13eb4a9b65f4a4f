package judge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"jail/field"
	"jail/limits"
	"jail/profiles"
	"jail/rootfs"
	"jail/sandbox"
	"jail/verdict"
)

// Program is what a task builds once and then runs: a language profile's
// compile and run steps, or raw steps, over the files they work on. Every
// step runs in its own sandbox, with the same host work directory bound at
// the profile's working directory: read-write for the compile steps, so
// they can leave the program there, read-only for the run step.
type Program struct {
	// Profile gives the sandbox's settings and, for a language profile,
	// the steps; nil is the defaults.
	Profile *profiles.Profile
	// Steps, when given, replace the profile's: every step but the last
	// is a compile step, run once, in order; the last runs the program.
	Steps []Step
	// Files are written into the work directory before the first step.
	Files []File
	// Settings are the face's, on top of the profile (root, network,
	// environment, binds...). Their Limits apply to the run step and
	// CompileLimits to the compile steps; their Argv and Step are the
	// judge's to set.
	Settings      profiles.Overrides
	CompileLimits limits.Spec
	// Args come after the run step's command.
	Args []string
	// WritableRun binds the work directory read-write for the run step
	// too, so that what PROG writes there can be collected; only for a
	// program run once, since a later run would see what an earlier one
	// left.
	WritableRun bool

	// onCompile is told of each compile step as it starts.
	onCompile func(step string)
}

// Step is a raw step: a command and the limits on top of the profile's.
type Step struct {
	Argv   []string
	Limits limits.Spec
}

// File is one file of the work directory: Data, or a copy of the host
// file From.
type File struct {
	Name string // a plain file name: no directories, no "..", no hidden names
	Data []byte
	From string
	// Reader, when set, is the content instead; the judge's own copies
	// are made from open files.
	Reader io.Reader
}

// SourceFile is the host source file path as a work file: under the
// profile's name for its source ({source}), else under its own.
func SourceFile(p *profiles.Profile, path string) File {
	name := p.SourceName
	if name == "" {
		name = filepath.Base(path)
	}
	return File{Name: name, From: path}
}

// StepResult is the sandbox's result of one step, with the step's name
// and, when the judge captured them, the step's output and stderr (a
// compile step's are one stream, in Output).
type StepResult struct {
	Step string `json:"step"`
	*sandbox.Result
	Output *Excerpt `json:"output,omitempty"`
	Stderr *Excerpt `json:"stderr,omitempty"`
	// Collected are the files the task asked to copy out after the run.
	Collected []Collected `json:"collected,omitempty"`
}

// Build is a Program whose compile steps have run: the work directory
// holds what they made. Close removes it.
type Build struct {
	program Program
	runner  *sandbox.Runner
	steps   []*profiles.Step
	// work is made by the compile steps' Prepare, else on first use
	// (workDir): a task's one run in a warm sandbox takes its files
	// straight into the sandbox's slot (InSlot) and needs none.
	work string
	// Compile are the compile steps' results, in order; the last one's
	// verdict is CE when the program was not built.
	Compile []*StepResult
}

// Failed reports whether a compile step failed, so there is nothing to run.
func (b *Build) Failed() bool {
	return len(b.Compile) > 0 && b.Compile[len(b.Compile)-1].Verdict != verdict.OK
}

// Close removes the work directory and everything the steps left in it,
// sandbox.Later: a directory's rmdir alone took 0.1 ms of a task on an
// ext4 TMPDIR.
func (b *Build) Close() error {
	if work := b.work; work != "" {
		sandbox.Later(func() { _ = os.RemoveAll(work) })
	}
	return nil
}

// Work is the host path of the work directory, made on first use; what
// PROG left in it is PROG's, to be read only without following its links
// (Collect).
func (b *Build) Work() (string, error) {
	if b.work == "" {
		work, err := newWorkDir(b.program.Files)
		if err != nil {
			return "", err
		}
		b.work = work
	}
	return b.work, nil
}

// InSlot writes the program's files into a warm sandbox's empty slot and
// gives the run step's Spec there, for a program whose work directory was
// never made: nothing compiled into one, and the task's one run needs no
// other. It saves making and removing a directory per task (0.08 and 0.1
// ms on an ext4 TMPDIR) and a copy of its tree.
func (b *Build) InSlot(slot string) (spec *sandbox.Spec, ok bool, err error) {
	if b.work != "" || b.Failed() {
		return nil, false, nil
	}
	if err := writeFiles(slot, b.program.Files); err != nil {
		return nil, false, err
	}
	spec, err = b.program.spec(b.steps, len(b.steps)-1, slices.Clip(b.program.Args), slot, nil)
	return spec, err == nil, err
}

// steps are the program's steps as profile steps: the raw ones, with the
// profile's limits under their own, or the profile's compile and run.
func (p *Program) steps() ([]*profiles.Step, error) {
	prof := p.profile()
	if len(p.Steps) > 0 {
		out := make([]*profiles.Step, len(p.Steps))
		for i, s := range p.Steps {
			if len(s.Argv) == 0 {
				return nil, field.Errorf(fmt.Sprintf("steps[%d].argv", i), "empty: give the step's command")
			}
			out[i] = &profiles.Step{Command: s.Argv, Limits: prof.Limits.Merge(profiles.Limits{Spec: s.Limits})}
		}
		return out, nil
	}
	if prof.Run == nil {
		return nil, fmt.Errorf("profile %s has no run step: give the program's steps, or a language profile (jail profile list)", prof.Name)
	}
	if prof.Compile != nil {
		return []*profiles.Step{prof.Compile, prof.Run}, nil
	}
	return []*profiles.Step{prof.Run}, nil
}

func (p *Program) profile() *profiles.Profile {
	if p.Profile != nil {
		return p.Profile
	}
	return profiles.Default()
}

// StepNames are what results call the steps: "compile" (numbered when
// there are several) and "run".
func stepName(i, n int) string {
	switch {
	case i == n-1:
		return "run"
	case n == 2:
		return "compile"
	}
	return fmt.Sprintf("compile %d", i+1)
}

// WorkDir is where a program's files are when its profile works in the
// root (the default profile does): a bind may not cover the root.
const WorkDir = "/box"

// workDir is the sandbox path of the work directory, and whether the
// steps must be moved into it.
func (p *Program) workDir() (dir string, moved bool) {
	if d := p.profile().Root.Workdir; d != "/" {
		return d, false
	}
	return WorkDir, p.Settings.Workdir == nil
}

// spec resolves step i's Spec; work is the host work directory ("" when
// only showing the configuration).
func (p *Program) spec(steps []*profiles.Step, i int, args []string, work string, extra []rootfs.UserBind) (*sandbox.Spec, error) {
	prof := p.profile()
	dir, moved := p.workDir()
	o := p.Settings
	if moved {
		o.Workdir = &dir
	}
	o.Step = steps[i]
	o.Argv = append(steps[i].Argv(prof.VarsIn(dir)), args...)
	compile := i < len(steps)-1
	if compile {
		o.Limits = p.CompileLimits
	}
	o.Binds = append([]rootfs.UserBind(nil), o.Binds...)
	if work != "" {
		o.Binds = append(o.Binds, rootfs.UserBind{Source: work, Target: dir, Writable: compile || p.WritableRun})
	}
	o.Binds = append(o.Binds, extra...)
	s, err := profiles.Resolve(p.Profile, o)
	if err != nil {
		return nil, field.Within(stepName(i, len(steps))+" step", err)
	}
	return s, nil
}

// Specs are the Specs the steps would run with, for showing the
// configuration without running anything.
func (p Program) Specs(args []string) (names []string, specs []*sandbox.Spec, err error) {
	steps, err := p.steps()
	if err != nil {
		return nil, nil, err
	}
	for i := range steps {
		s, err := p.spec(steps, i, args, "", nil)
		if err != nil {
			return nil, nil, err
		}
		names, specs = append(names, stepName(i, len(steps))), append(specs, s)
	}
	return names, specs, nil
}

// Prepare writes the files into a fresh work directory and runs the
// compile steps, each once, in order, stopping at the first that fails
// (its verdict is then CE). compileOut receives the compile steps' output
// as it comes; nil captures it into each StepResult's Output instead.
//
// The error is for what kept the judge from trying: a bad file name, a
// missing toolchain, a Spec that does not validate, a sandbox that could
// not start. Anything the compiler did is in the results.
func (p Program) Prepare(ctx context.Context, r *sandbox.Runner, compileOut *os.File) (*Build, error) {
	steps, err := p.steps()
	if err != nil {
		return nil, err
	}
	prof := p.profile()
	b := &Build{program: p, runner: r, steps: steps}
	// Every step's Spec is checked before anything is made.
	var rootFS string
	for i := range steps {
		spec, err := p.spec(steps, i, nil, "", nil)
		if err != nil {
			return nil, err
		}
		rootFS = spec.RootFS
	}
	if err := prof.Check(prof.RootLookPath(rootFS)); err != nil {
		return nil, err
	}
	if err := checkFiles(p.Files); err != nil {
		return nil, err
	}
	if len(steps) > 1 {
		if _, err := b.Work(); err != nil {
			return nil, err
		}
	}
	for i := range steps[:len(steps)-1] {
		if p.onCompile != nil {
			p.onCompile(stepName(i, len(steps)))
		}
		res, err := b.compileStep(ctx, i, compileOut)
		if err != nil {
			b.Close()
			return nil, err
		}
		b.Compile = append(b.Compile, res)
		if res.Verdict != verdict.OK {
			break
		}
	}
	return b, nil
}

// compileStep runs compile step i with no input; anything but a clean exit
// is CE, whatever ended it.
func (b *Build) compileStep(ctx context.Context, i int, out *os.File) (*StepResult, error) {
	spec, err := b.program.spec(b.steps, i, nil, b.work, nil)
	if err != nil {
		return nil, err
	}
	var capture *os.File
	if out == nil {
		if capture, err = os.CreateTemp("", "jail-compile-"); err != nil {
			return nil, err
		}
		os.Remove(capture.Name())
		defer capture.Close()
		out = capture
	}
	res, err := b.runner.Run(ctx, spec, sandbox.IO{Stdout: out, Stderr: out})
	if err != nil {
		return nil, field.Within(stepName(i, len(b.steps))+" step", err)
	}
	o := res.Outcome
	o.CompileFailed = res.Verdict != verdict.OK
	res.Outcome, res.Verdict = o, verdict.Decide(o)
	sr := &StepResult{Step: stepName(i, len(b.steps)), Result: res}
	if capture != nil {
		e, err := excerptOf(capture, CompileExcerpt)
		if err != nil {
			return nil, err
		}
		sr.Output = &e
	}
	return sr, nil
}

// CompileExcerpt is how much of a compiler's output a result keeps.
const CompileExcerpt = 64 << 10

// RunSpec is the run step's Spec, with args after the step's command and
// extra binds after the work directory's.
func (b *Build) RunSpec(args []string, extra ...rootfs.UserBind) (*sandbox.Spec, error) {
	if b.Failed() {
		return nil, errors.New("the program did not compile; there is nothing to run")
	}
	work, err := b.Work()
	if err != nil {
		return nil, err
	}
	return b.program.spec(b.steps, len(b.steps)-1, append(slices.Clip(b.program.Args), args...), work, extra)
}

// Run runs the built program once with stdio.
func (b *Build) Run(ctx context.Context, args []string, stdio sandbox.IO, extra ...rootfs.UserBind) (*StepResult, error) {
	spec, err := b.RunSpec(args, extra...)
	if err != nil {
		if stdio.Give {
			for _, f := range []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr} {
				if f != nil {
					f.Close()
				}
			}
		}
		return nil, err
	}
	res, err := b.runner.Run(ctx, spec, stdio)
	if err != nil {
		return nil, field.Within("run step", err)
	}
	return &StepResult{Step: "run", Result: res}, nil
}

// WarmSpec is the Spec of the sandboxes a pool keeps for programs of
// profile prof (nil: the defaults, as for raw steps) with settings: their
// run step's, with slot as the work directory. A profile without a run
// step gets a stand-in command: a sandbox is made of everything but
// PROG.
func WarmSpec(prof *profiles.Profile, settings profiles.Overrides, slot string) (*sandbox.Spec, error) {
	p := Program{Profile: prof, Settings: settings}
	if p.profile().Run == nil {
		p.Steps = []Step{{Argv: []string{"true"}}}
	}
	steps, err := p.steps()
	if err != nil {
		return nil, err
	}
	return p.spec(steps, len(steps)-1, nil, slot, nil)
}

// NewSlot makes an empty work directory for a warm sandbox (WarmSpec).
func NewSlot() (string, error) { return newWorkDir(nil) }

// linkTree puts src's tree into the empty directory dst, as hard links:
// a warm sandbox sees the work directory its compile steps filled without
// a copy. It follows no link: symbolic links are recreated as they are,
// and anything but directories, files and links is left out. Directories
// get their owner and mode, so that PROG may enter what it made.
func linkTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		switch e.Type() {
		case 0:
			if err := os.Link(from, to); err != nil {
				return err
			}
		case fs.ModeSymlink:
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case fs.ModeDir:
			info, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			if err := linkTree(from, to); err != nil {
				return err
			}
			if st, ok := info.Sys().(*syscall.Stat_t); ok && os.Getuid() == 0 {
				if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
					return err
				}
			}
			if err := os.Chmod(to, info.Mode().Perm()); err != nil {
				return err
			}
		}
	}
	return nil
}

// newWorkDir writes files into a fresh directory PROG's host user may
// write: the caller's own, or, when jail runs as root, given to the
// unprivileged id the sandbox's users map to.
func newWorkDir(files []File) (string, error) {
	work, err := os.MkdirTemp("", "jail-work-")
	if err != nil {
		return "", fmt.Errorf("creating the work directory: %w", err)
	}
	if err := giveToProg(work); err != nil {
		os.RemoveAll(work)
		return "", err
	}
	if err := writeFiles(work, files); err != nil {
		os.RemoveAll(work)
		return "", err
	}
	return work, nil
}

// writeFiles writes files into dir, which PROG's host user owns, as
// files of that user.
func writeFiles(dir string, files []File) error {
	if err := checkFiles(files); err != nil {
		return err
	}
	for _, f := range files {
		dst := filepath.Join(dir, f.Name)
		if err := writeFile(dst, f); err != nil {
			return err
		}
		if err := giveToProg(dst); err != nil {
			return err
		}
	}
	return nil
}

// giveToProg makes path PROG's host user's when jail runs as root; an
// ordinary user's sandbox users map to that user already.
func giveToProg(path string) error {
	if os.Getuid() != 0 {
		return nil
	}
	return os.Lchown(path, sandbox.OverflowID, sandbox.OverflowID)
}

// checkFiles refuses a file name that is not one plain file of the work
// directory, or one given twice, before anything is written.
func checkFiles(files []File) error {
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		name := fmt.Sprintf("files[%d]", i)
		if err := CheckFileName(f.Name); err != nil {
			return field.Wrap(name, "", err)
		}
		if seen[f.Name] {
			return field.Errorf(name, "%s: given twice: each file of the work directory needs its own name", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// CheckFileName refuses a name that is not one plain file of the work
// directory: a service takes names from its clients.
func CheckFileName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not a file name: give a plain name such as main.cpp", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q: a file name may not contain '/' or NUL; the work directory is flat", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%q: a file name may not start with '.'", name)
	case len(name) > 255:
		return fmt.Errorf("%q: a file name may be at most 255 bytes", name[:32]+"…")
	}
	return nil
}

func writeFile(dst string, f File) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: given twice: each file of the work directory needs its own name", f.Name)
		}
		return err
	}
	switch {
	case f.Reader != nil:
		_, err = io.Copy(out, f.Reader)
	case f.From != "":
		err = copyFrom(out, f.From)
	default:
		_, err = out.Write(f.Data)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func copyFrom(out io.Writer, from string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: give a source file", from)
	}
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return nil
}
