package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"jail/sandbox"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// ptyRelay relays the caller's terminal to a pty of the sandbox's own
// (-t), whose master it holds.
type ptyRelay struct {
	master  *os.File
	restore func()
	copied  chan struct{}
}

// terminalSize is the caller's terminal's size, 0 by 0 when unknown.
func terminalSize() (rows, cols uint16) {
	ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return ws.Row, ws.Col
}

// rawTerminal puts the caller's terminal in raw mode, so that ^C and ^Z
// reach the sandbox's terminal instead of jail, and keeps master sized as
// the caller's is (SIGWINCH); restore gives the terminal back.
func rawTerminal(master *os.File) (restore func(), err error) {
	resize := func() {
		if rows, cols := terminalSize(); rows != 0 || cols != 0 {
			_ = sandbox.Resize(master, rows, cols)
		}
	}
	resize()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			resize()
		}
	}()
	stop := func() {
		signal.Stop(winch)
		close(winch)
	}
	state, err := term.MakeRaw(int(os.Stdin.Fd()))
	if err != nil {
		stop()
		return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	return func() {
		stop()
		_ = term.Restore(int(os.Stdin.Fd()), state)
	}, nil
}

// relayTerminal relays the caller's terminal to the pty whose master is
// given, sized as the caller's and resized with it.
func relayTerminal(master *os.File) (*ptyRelay, error) {
	restore, err := rawTerminal(master)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("-t: %w", err)
	}
	p := &ptyRelay{master: master, restore: restore, copied: make(chan struct{})}
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	go func() {
		defer close(p.copied)
		_, err := io.Copy(os.Stdout, master)
		// EIO is how a pty master reports that the last terminal-side
		// descriptor closed: PROG and its children are gone.
		if err != nil && !errors.Is(err, syscall.EIO) {
			fmt.Fprintf(os.Stderr, "jail: -t: %v\r\n", err)
		}
	}()
	return p, nil
}

// close waits for PROG's last output and gives the terminal back.
func (p *ptyRelay) close() {
	<-p.copied
	p.restore()
	p.master.Close()
}
