package judge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"jail/field"
	"jail/rootfs"
	"jail/sandbox"
)

// TranscriptMax caps an interaction's transcript.
const TranscriptMax = 64 << 10

// interactorMargin is how much longer than PROG an interactor may take on
// the wall clock: when PROG and the interactor wait for each other, PROG's
// wall limit ends the wait, and the interactor then needs time to see the
// end of its input and give its verdict.
const interactorMargin = 5 * time.Second

// interact runs PROG and the interactor side by side on one test. The
// judge relays both directions itself, through pipes it creates, so it can
// keep the transcript and so that neither side can hang the other: when
// PROG's output ends (PROG exited, or was killed at a limit), the
// interactor reads end of file; when the interactor's ends, PROG does.
// An interactor that keeps writing after PROG is gone is drained rather
// than killed by SIGPIPE, so that PROG's early exit is judged (as the
// interactor sees it) and never turns into a failure of the interactor.
func (j *judging) interact(ctx context.Context, dir string, t TestCase) (TestResult, *sandbox.Result, error) {
	// The interactor's own output file, its second argument: its host
	// user must be able to write it, and it must be there for the bind.
	intOut := filepath.Join(dir, "interactor.out")
	if err := createFor(intOut); err != nil {
		return TestResult{}, nil, err
	}
	progSpec, err := j.progSpec()
	if err != nil {
		return TestResult{}, nil, err
	}
	view, err := helperView(t, dir)
	if err != nil {
		return TestResult{}, nil, err
	}
	intSpec, err := j.interactor.build.RunSpec(
		[]string{helperTests + "/" + filepath.Base(t.Input), helperOutput},
		rootfs.UserBind{Source: view, Target: helperTests},
		rootfs.UserBind{Source: intOut, Target: helperOutput, Writable: true})
	if err != nil {
		return TestResult{}, nil, fmt.Errorf("interactor %s: %w", j.interactor.path, err)
	}
	if w := progSpec.Limits.Wall; w > 0 && intSpec.Limits.Wall < w+interactorMargin {
		intSpec.Limits.Wall = w + interactorMargin
	}

	// The runs are given their streams and close them; the judge reads
	// the stderr files again by name.
	progErrName, intErrName := filepath.Join(dir, "err"), filepath.Join(dir, "interactor.err")
	progErr, err := os.Create(progErrName)
	if err != nil {
		return TestResult{}, nil, err
	}
	intErr, err := os.Create(intErrName)
	if err != nil {
		progErr.Close()
		return TestResult{}, nil, err
	}
	progIn, toProg, fromProg, progOut, intIn, toInt, fromInt, intStdout, err := interactionPipes()
	if err != nil {
		progErr.Close()
		intErr.Close()
		return TestResult{}, nil, err
	}
	// From here on the relays and the sandboxes own every end.
	rec := &transcript{keep: j.task.Transcript}
	var relays sync.WaitGroup
	relays.Add(2)
	go func() {
		defer relays.Done()
		relay(fromProg, toInt, rec, '>', false)
	}()
	go func() {
		defer relays.Done()
		relay(fromInt, toProg, rec, '<', true)
	}()
	var (
		prog, inter       *sandbox.Result
		progErrV, intErrV error
		both              sync.WaitGroup
	)
	both.Add(2)
	go func() {
		defer both.Done()
		prog, progErrV = j.runner.Run(ctx, progSpec, sandbox.IO{Stdin: progIn, Stdout: progOut, Stderr: progErr, Give: true})
	}()
	go func() {
		defer both.Done()
		inter, intErrV = j.runner.Run(ctx, intSpec, sandbox.IO{Stdin: intIn, Stdout: intStdout, Stderr: intErr, Give: true})
	}()
	both.Wait()
	relays.Wait()
	if progErrV != nil {
		return TestResult{}, nil, field.Within("run step", progErrV)
	}
	if intErrV != nil {
		return TestResult{}, nil, fmt.Errorf("interactor %s: %w", j.interactor.path, intErrV)
	}
	intErr, err = os.Open(intErrName)
	if err != nil {
		return TestResult{}, nil, err
	}
	defer intErr.Close()
	rd, err := j.interactor.reading(inter, intErr)
	if err != nil {
		return TestResult{}, nil, err
	}
	tr := newTestResult(t.Name, prog, &rd)
	tr.Output = rec.prog.excerpt()
	if progErr, err = os.Open(progErrName); err != nil {
		return TestResult{}, nil, err
	}
	defer progErr.Close()
	if tr.Stderr, err = excerptOf(progErr, j.outputMax(OutputExcerpt)); err != nil {
		return TestResult{}, nil, err
	}
	if j.task.Transcript {
		e := newExcerpt(rec.text.Bytes(), rec.total)
		tr.Transcript = &e
	}
	return tr, prog, nil
}

// createFor creates an empty file the sandbox's host user may write.
func createFor(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if os.Getuid() == 0 {
		err = f.Chown(sandbox.OverflowID, sandbox.OverflowID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// relay copies one direction of an interaction. At the end of src it
// closes dst, so the reader sees the end too. When dst's reader is gone,
// it either closes src, so the writer gets EPIPE as with a direct pipe, or,
// with drain, keeps reading src to its end and drops what it reads.
func relay(src, dst *os.File, rec *transcript, dir byte, drain bool) {
	defer src.Close()
	buf := make([]byte, 32<<10)
	open := true
	for {
		n, err := src.Read(buf)
		if n > 0 && open {
			rec.add(dir, buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				open = false
				dst.Close()
				if !drain || !errors.Is(werr, syscall.EPIPE) {
					return
				}
			}
		}
		if err != nil {
			break
		}
	}
	if open {
		dst.Close()
	}
}

// interactionPipes creates the four pipes of an interaction: PROG's stdin and the relay's end of it, PROG's stdout
// and the relay's end, and the same for the interactor. On failure none is
// left open.
func interactionPipes() (progIn, toProg, fromProg, progOut, intIn, toInt, fromInt, intOut *os.File, err error) {
	ends := make([]*os.File, 0, 8)
	for range 4 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range ends {
				f.Close()
			}
			return nil, nil, nil, nil, nil, nil, nil, nil, err
		}
		ends = append(ends, r, w)
	}
	return ends[0], ends[1], ends[2], ends[3], ends[4], ends[5], ends[6], ends[7], nil
}

// transcript records an interaction: PROG's side in full for its output
// excerpt, and, when kept, both sides as lines prefixed "> " (PROG) and
// "< " (the interactor), capped at TranscriptMax.
type transcript struct {
	keep bool
	mu   sync.Mutex
	prog capped
	text bytes.Buffer
	// total is the transcript's size uncapped; last is the direction of
	// the line being written, 0 at a line's start.
	total int64
	last  byte
}

func (t *transcript) add(dir byte, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if dir == '>' {
		t.prog.write(b)
	}
	if !t.keep {
		return
	}
	var out []byte
	for len(b) > 0 {
		if t.last != 0 && t.last != dir {
			out = append(out, '\n')
			t.last = 0
		}
		if t.last == 0 {
			out = append(out, dir, ' ')
			t.last = dir
		}
		line := b
		if k := bytes.IndexByte(b, '\n'); k >= 0 {
			line = b[:k+1]
			t.last = 0
		}
		out = append(out, line...)
		b = b[len(line):]
	}
	t.total += int64(len(out))
	if room := TranscriptMax - t.text.Len(); room > 0 {
		t.text.Write(out[:min(room, len(out))])
	}
}

// capped keeps the first OutputExcerpt bytes of a stream and counts all.
type capped struct {
	head  []byte
	total int64
}

func (c *capped) write(b []byte) {
	c.total += int64(len(b))
	if room := OutputExcerpt - len(c.head); room > 0 {
		c.head = append(c.head, b[:min(room, len(b))]...)
	}
}

func (c *capped) excerpt() Excerpt { return newExcerpt(c.head, c.total) }
