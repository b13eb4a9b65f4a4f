package sandbox

import (
	"os"

	"golang.org/x/sys/unix"
)

// Resize sets a pseudo-terminal's size, by its master.
func Resize(master *os.File, rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}
