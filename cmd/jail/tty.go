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

// ptyRelay gives PROG a pseudo-terminal of its own (-t) and relays it to
// the caller's terminal, which is put in raw mode so that ^C and ^Z reach
// PROG's terminal instead of jail.
type ptyRelay struct {
	master  *os.File
	restore *term.State
	winch   chan os.Signal
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

// relayTerminal relays the caller's terminal to the pty whose master is
// given, sized as the caller's and resized with it.
func relayTerminal(master *os.File) (*ptyRelay, error) {
	p := &ptyRelay{master: master, winch: make(chan os.Signal, 1), copied: make(chan struct{})}
	p.resize()
	signal.Notify(p.winch, syscall.SIGWINCH)
	go func() {
		for range p.winch {
			p.resize()
		}
	}()
	var err error
	if p.restore, err = term.MakeRaw(int(os.Stdin.Fd())); err != nil {
		close(p.copied) // no relay started
		p.close()
		return nil, fmt.Errorf("-t: putting the terminal in raw mode: %w", err)
	}
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

func (p *ptyRelay) resize() {
	if rows, cols := terminalSize(); rows != 0 || cols != 0 {
		_ = sandbox.Resize(p.master, rows, cols)
	}
}

// close waits for PROG's last output and gives the terminal back.
func (p *ptyRelay) close() {
	<-p.copied
	signal.Stop(p.winch)
	close(p.winch)
	if p.restore != nil {
		_ = term.Restore(int(os.Stdin.Fd()), p.restore)
	}
	p.master.Close()
}
