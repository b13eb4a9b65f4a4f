package judge

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Collected is a file copied out of the work directory after the run, or
// why it could not be.
type Collected struct {
	Name string `json:"name"`
	Excerpt
	Error string `json:"error,omitempty"`
}

// CollectMax caps each collected file, unless the task sets its own.
const CollectMax = 1 << 20

// CheckCollectName refuses a name that is not a relative path inside the
// work directory.
func CheckCollectName(name string) error {
	switch {
	case name == "" || strings.ContainsRune(name, 0):
		return fmt.Errorf("%q: give a path relative to the work directory, such as out.txt", name)
	case path.IsAbs(name):
		return fmt.Errorf("%q: give a path relative to the work directory, not an absolute one", name)
	case path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == "..":
		return fmt.Errorf("%q: give a clean path inside the work directory (no ., .. or //)", name)
	}
	return nil
}

// collect copies named files out of the work directory that PROG could
// write. Every path is resolved inside the directory with no symlink
// followed at all (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS), and only
// a regular file is read, at most max bytes: a link PROG planted to a host
// file, or a FIFO that would block, yields an error entry, never the
// host's bytes. This is what Judge0's CVE-2024-28185 and -28189 got wrong.
func collect(work string, names []string, max int64) []Collected {
	root, err := unix.Open(work, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		out := make([]Collected, len(names))
		for i, n := range names {
			out[i] = Collected{Name: n, Error: "the work directory is gone: " + err.Error()}
		}
		return out
	}
	defer unix.Close(root)
	var out []Collected
	for _, name := range names {
		c := Collected{Name: name}
		e, err := collectOne(root, name, max)
		if err != nil {
			c.Error = err.Error()
		} else {
			c.Excerpt = e
		}
		out = append(out, c)
	}
	return out
}

func collectOne(root int, name string, max int64) (Excerpt, error) {
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		return Excerpt{}, errors.New("not found: the program did not write it")
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return Excerpt{}, errors.New("a symbolic link or a mount point is on its path: not followed")
	case err != nil:
		return Excerpt{}, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return Excerpt{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Excerpt{}, errors.New("not a regular file")
	}
	buf := make([]byte, min(max, st.Size))
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Excerpt{}, err
	}
	return newExcerpt(buf[:n], st.Size), nil
}
