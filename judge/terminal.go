package judge

import (
	"context"
	"os"
	"sync"

	"jail/field"
	"jail/sandbox"
)

// Winsize is a terminal's size.
type Winsize struct{ Rows, Cols uint16 }

// terminalRun is the one run of a task with TTY: PROG's three streams are
// a pseudo-terminal's side; the judge writes Stdin to the terminal (a ^D
// at its end, which a terminal reads as end of file), copies what PROG
// writes into out, at most max bytes of it, and to Output as "stdout", and
// resizes the terminal as asked. A terminal is not a counted stream, so
// the output limit cannot hold: a flood is read and dropped past max
// until a time limit ends it.
func (j *judging) terminalRun(ctx context.Context, out *os.File, max int) (*sandbox.Result, error) {
	s, err := j.build.RunSpec(nil)
	if err != nil {
		return nil, err
	}
	s.TTY, s.Limits.Output = true, 0
	master, term, err := sandbox.OpenPTY()
	if err != nil {
		return nil, err
	}
	defer master.Close()
	if err := sandbox.Resize(master, 24, 80); err != nil {
		term.Close()
		return nil, err
	}
	done := make(chan struct{})
	var relays sync.WaitGroup
	relays.Add(1)
	go func() {
		defer relays.Done()
		// It ends at EIO: the last descriptor of the terminal side
		// closed, PROG and all it started are gone.
		j.pump(master, out, max, "stdout")
	}()
	if in := j.task.Stdin; in != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 {
					if _, werr := master.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					_, _ = master.Write([]byte{4})
					return
				}
			}
		}()
	}
	// Waited for before master is closed, which must not race with a
	// resize.
	relays.Go(func() {
		for {
			select {
			case w := <-j.task.Resize:
				_ = sandbox.Resize(master, w.Rows, w.Cols)
			case <-done:
				return
			}
		}
	})
	res, err := j.runner.Run(ctx, s, sandbox.IO{Stdin: term, Stdout: term, Stderr: term, Give: true, Signals: j.task.Signals})
	close(done)
	relays.Wait()
	if err != nil {
		return nil, field.Within("run step", err)
	}
	return res, nil
}
