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
// a pseudo-terminal of the sandbox's own; the judge writes Stdin to the terminal (a ^D
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
	done := make(chan struct{})
	var relays sync.WaitGroup
	var master *os.File
	// The init opens PROG's terminal in the sandbox's own devpts, and
	// hands its master over as PROG starts.
	take := func(m *os.File) {
		master = m
		relays.Go(func() {
			// It ends at EIO: the last descriptor of the terminal side
			// closed, PROG and all it started are gone.
			j.pump(master, out, max, "stdout")
		})
		if in := j.task.Stdin; in != nil {
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := in.Read(buf)
					if n > 0 {
						if _, werr := m.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						_, _ = m.Write([]byte{4})
						return
					}
				}
			}()
		}
		// Waited for before master is closed, which must not race with
		// a resize.
		relays.Go(func() {
			for {
				select {
				case w := <-j.task.Resize:
					_ = sandbox.Resize(m, w.Rows, w.Cols)
				case <-done:
					return
				}
			}
		})
	}
	res, err := j.runner.Run(ctx, s, sandbox.IO{Terminal: take, Rows: 24, Cols: 80, Signals: j.task.Signals})
	close(done)
	relays.Wait()
	if master != nil {
		master.Close()
	}
	if err != nil {
		return nil, field.Within("run step", err)
	}
	return res, nil
}
