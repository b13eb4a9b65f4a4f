package judge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// LoadTests lists the tests in dir: every NAME.in with NAME.out or
// NAME.ans, in natural order of NAME. Files with other suffixes and hidden
// files are ignored, so a checker's source or a README may sit beside the
// tests. Each test file is opened once, to fail now rather than halfway
// through a run, and must be a regular file that resolves inside dir: a
// symlink to another test (3.ans -> 2.ans) is fine, one that leaves dir,
// by an absolute target or "..", is refused, so a tests directory cannot
// read the judge's files.
//
// Errors are one line naming the file and what to do:
//
//   - NAME.in without an answer
//   - NAME.out or NAME.ans without NAME.in
//   - both NAME.out and NAME.ans: which one is stale cannot be guessed,
//     and judging against the wrong one would be silent
//   - a file that cannot be opened, is not regular, or leaves dir
//   - no tests at all
func LoadTests(dir string) ([]TestCase, error) { return loadTests(dir, true) }

// LoadInputs is LoadTests for an interactive problem, whose interactor
// needs only the inputs: a test's answer is taken when it is there.
func LoadInputs(dir string) ([]TestCase, error) { return loadTests(dir, false) }

func loadTests(dir string, answers bool) ([]TestCase, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading tests directory: %w", err)
	}
	type files struct{ in, out, ans bool }
	byName := map[string]*files{}
	for _, e := range entries {
		base := e.Name()
		if strings.HasPrefix(base, ".") {
			continue
		}
		ext := filepath.Ext(base)
		name := strings.TrimSuffix(base, ext)
		if ext != ".in" && ext != ".out" && ext != ".ans" || name == "" {
			continue
		}
		f := byName[name]
		if f == nil {
			f = &files{}
			byName[name] = f
		}
		switch ext {
		case ".in":
			f.in = true
		case ".out":
			f.out = true
		case ".ans":
			f.ans = true
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	slices.SortFunc(names, naturalCompare)

	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := func(base string) string { return filepath.Join(dir, base) }
	tests := make([]TestCase, 0, len(names))
	for _, name := range names {
		f := byName[name]
		switch {
		case !f.in:
			ans := name + ".out"
			if !f.out {
				ans = name + ".ans"
			}
			return nil, fmt.Errorf("%s: answer without an input: add %s or remove it", path(ans), path(name+".in"))
		case f.out && f.ans:
			return nil, fmt.Errorf("%s and %s: two answers for one test: keep one", path(name+".out"), path(name+".ans"))
		case !f.out && !f.ans && answers:
			return nil, fmt.Errorf("%s: no answer: add %s or %s", path(name+".in"), path(name+".out"), path(name+".ans"))
		}
		t := TestCase{Name: name, dir: abs, inBase: name + ".in"}
		switch {
		case f.out:
			t.ans = name + ".out"
		case f.ans:
			t.ans = name + ".ans"
		}
		t.Input = path(t.inBase)
		files := []string{t.inBase}
		if t.ans != "" {
			t.Answer = path(t.ans)
			files = append(files, t.ans)
		}
		for _, base := range files {
			file, err := openBeneath(dir, base)
			if err != nil {
				return nil, err
			}
			file.Close()
		}
		tests = append(tests, t)
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("%s: no tests: add NAME.in files, each with NAME.out or NAME.ans", dir)
	}
	return tests, nil
}

// OpenInput opens NAME.in, resolving it inside the directory again: the
// directory may have changed since LoadTests.
func (t TestCase) OpenInput() (*os.File, error) { return openBeneath(t.dir, t.inBase) }

// OpenAnswer opens the answer as OpenInput opens the input.
func (t TestCase) OpenAnswer() (*os.File, error) { return openBeneath(t.dir, t.ans) }

// openBeneath opens dir/base for reading, refusing any resolution that
// leaves dir (openat2 RESOLVE_BENEATH, Linux 5.6) and anything but a
// regular file. O_NONBLOCK keeps a FIFO planted among the tests from
// hanging the open; it changes nothing for regular files.
func openBeneath(dir, base string) (*os.File, error) {
	name := filepath.Join(dir, base)
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(d)
	fd, err := unix.Openat2(d, base, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.EXDEV):
		return nil, fmt.Errorf("%s: resolves outside the tests directory; copy the file in instead of linking to it", name)
	case errors.Is(err, unix.ENOSYS):
		return nil, fmt.Errorf("%s: openat2 is not available (Linux 5.6 or later is needed to open tests safely)", name)
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	// Blocking again before os.NewFile, which treats a non-blocking fd
	// as one for its poller.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}
