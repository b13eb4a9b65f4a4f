package judge

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"jail/limits"
	"jail/profiles"
	"jail/rootfs"
	"jail/sandbox"
	"jail/verdict"
)

// Helper is a checker or an interactor: an executable, or a source file
// that the judge compiles once with the built-in profile its extension
// names (HelperLanguages). A C or C++ source gets the headers beside it
// (testlib.h) in its work directory, so a Polygon-style chk.cpp builds as
// it is.
type Helper struct {
	Path string
	// Limits replace HelperLimits where set.
	Limits limits.Spec
}

// HelperLanguages maps a helper's file extension to the profile that
// builds and runs it.
var HelperLanguages = map[string]string{
	".c": "c", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".py": "python3", ".go": "go", ".java": "java", ".js": "node",
}

// headerExts are the files copied beside a C or C++ helper's source.
var headerExts = []string{".h", ".hpp", ".hh"}

// Where a helper's sandbox finds the test and the output it reads.
const (
	helperTests  = "/judge/tests"
	helperOutput = "/judge/output"
	helperBin    = "/judge/bin"
)

// prepared is a helper built and ready to run once per test.
type prepared struct {
	role  string // "checker" or "interactor", for messages
	path  string
	build *Build
}

// prepare builds a helper; a helper that does not compile is an error
// naming the file and the compiler's first complaint, not a verdict.
func (h *Helper) prepare(ctx context.Context, r *sandbox.Runner, role string) (*prepared, error) {
	st, err := os.Stat(h.Path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", role, h.Path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s: not a regular file: give an executable or a source file", role, h.Path)
	}
	lim := HelperLimits.Merge(h.Limits)
	var prog Program
	if lang, ok := HelperLanguages[strings.ToLower(filepath.Ext(h.Path))]; ok {
		p, err := profiles.Builtin(lang)
		if err != nil {
			return nil, err
		}
		files, err := helperFiles(h.Path, p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", role, h.Path, err)
		}
		prog = Program{Profile: p, Files: files, Settings: profiles.Overrides{Limits: lim}}
	} else {
		if st.Mode().Perm()&0o111 == 0 {
			return nil, fmt.Errorf("%s %s: not executable, and not a source file (%s): chmod +x it, or name its language by its extension",
				role, h.Path, strings.Join(slices.Sorted(maps.Keys(HelperLanguages)), " "))
		}
		abs, err := filepath.Abs(h.Path)
		if err != nil {
			return nil, err
		}
		inside := helperBin + "/" + filepath.Base(abs)
		prog = Program{Steps: []Step{{Argv: []string{inside}}}, Settings: profiles.Overrides{Limits: lim,
			Binds: []rootfs.UserBind{{Source: abs, Target: inside}}}}
	}
	b, err := prog.Prepare(ctx, r, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", role, h.Path, err)
	}
	if b.Failed() {
		c := b.Compile[len(b.Compile)-1]
		b.Close()
		return nil, fmt.Errorf("%s %s does not compile (%s): %s", role, h.Path, describe(c.Result), firstComplaint(c.Output))
	}
	return &prepared{role: role, path: h.Path, build: b}, nil
}

// helperFiles are a source helper's work files: the source under the
// profile's name for it, and for C and C++ the headers beside it.
func helperFiles(path string, p *profiles.Profile) ([]File, error) {
	files := []File{SourceFile(p, path)}
	if p.Name != "c" && p.Name != "cpp" {
		return files, nil
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && slices.Contains(headerExts, filepath.Ext(e.Name())) && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, File{Name: e.Name(), From: filepath.Join(filepath.Dir(path), e.Name())})
		}
	}
	return files, nil
}

// check runs the checker on one test's output; tests is the directory
// the checker sees the test's files in.
func (p *prepared) check(ctx context.Context, t TestCase, tests, output, dir string) (Reading, error) {
	errf, err := os.CreateTemp(dir, "checker-")
	if err != nil {
		return Reading{}, err
	}
	defer errf.Close()
	args := []string{helperTests + "/" + filepath.Base(t.Input), helperOutput, helperTests + "/" + filepath.Base(t.Answer)}
	run, err := p.build.Run(ctx, args, sandbox.IO{Stderr: errf},
		rootfs.UserBind{Source: tests, Target: helperTests},
		rootfs.UserBind{Source: output, Target: helperOutput})
	if err != nil {
		return Reading{}, fmt.Errorf("checker %s: %w", p.path, err)
	}
	return p.reading(run.Result, errf)
}

// helperView is the directory a checker or an interactor sees test t's
// files in. The helper runs as the caller's own user, except when jail
// runs as root: then it is the overflow id, which may not read a private
// tests directory, and the test's files are copied (resolved inside the
// tests directory, as ever) into one it may.
func helperView(t TestCase, dir string) (string, error) {
	if os.Getuid() != 0 {
		return t.dir, nil
	}
	view := filepath.Join(dir, "helper-view")
	if err := os.RemoveAll(view); err != nil {
		return "", err
	}
	if err := os.Mkdir(view, 0o755); err != nil {
		return "", err
	}
	files := []struct {
		open func() (*os.File, error)
		base string
	}{{t.OpenInput, filepath.Base(t.Input)}}
	if t.Answer != "" {
		files = append(files, struct {
			open func() (*os.File, error)
			base string
		}{t.OpenAnswer, filepath.Base(t.Answer)})
	}
	for _, f := range files {
		in, err := f.open()
		if err != nil {
			return "", err
		}
		err = writeFile(filepath.Join(view, f.base), File{Name: f.base, Reader: in})
		in.Close()
		if err != nil {
			return "", err
		}
	}
	return view, nil
}

// reading reads a helper's run by testlib's conventions; a helper that hit
// its own limits or could not run is XX.
func (p *prepared) reading(run *sandbox.Result, stderr *os.File) (Reading, error) {
	e, err := excerptOf(stderr, maxMessage)
	if err != nil {
		return Reading{}, err
	}
	switch run.Verdict {
	case verdict.OK, verdict.RE:
		return TestlibOutcome(p.role, run.ExitCode, 0, []byte(e.Text)), nil
	case verdict.SIG:
		return TestlibOutcome(p.role, 0, run.Outcome.Signal, []byte(e.Text)), nil
	}
	return Reading{Verdict: verdict.XX, Message: oneLine(fmt.Sprintf("the %s %s: %s", p.role, describe(run), e.Text))}, nil
}

// describe says in a few words how a helper's run ended.
func describe(r *sandbox.Result) string {
	switch {
	case r.Error != "":
		return r.Verdict.String() + ", " + r.Error
	case r.Reason != "":
		return r.Verdict.String() + ", " + r.Reason
	case r.Signal != "":
		return r.Verdict.String() + ", " + r.Signal
	}
	return fmt.Sprintf("%s, exit status %d", r.Verdict, r.ExitCode)
}

// firstComplaint is the compiler's first error line, or its first line.
func firstComplaint(out *Excerpt) string {
	if out == nil || out.Text == "" {
		return "no compiler output"
	}
	lines := strings.Split(out.Text, "\n")
	for _, l := range lines {
		if strings.Contains(l, "error") {
			return oneLine(l)
		}
	}
	return oneLine(lines[0])
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
