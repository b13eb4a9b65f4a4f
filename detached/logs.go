package detached

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// LogMax is the size past which the log is rotated to log.1, the one
// older file kept: a sandbox's log takes at most twice this.
const LogMax = 8 << 20

// maxLine is the longest line kept as one entry, as docker splits them.
const maxLine = 16 << 10

// Line is one entry of the log: docker's json-file form.
type Line struct {
	Text   string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Logger writes PROG's output to the log, a line per entry.
type Logger struct {
	dir  string
	mu   sync.Mutex
	f    *os.File
	size int64
	err  error
}

// OpenLog opens dir's log for appending.
func OpenLog(dir string) (*Logger, error) {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Logger{dir: dir, f: f, size: fi.Size()}, nil
}

func (l *Logger) write(stream string, text []byte) {
	b, _ := json.Marshal(Line{Text: string(text), Stream: stream, Time: time.Now().UTC()})
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	if l.size+int64(len(b)) > LogMax && l.size > 0 {
		l.f.Close()
		p := filepath.Join(l.dir, "log")
		if l.err = os.Rename(p, p+".1"); l.err != nil {
			return
		}
		if l.f, l.err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); l.err != nil {
			return
		}
		l.size = 0
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	l.err = err
}

// Copy logs what r gives as stream's lines until r ends; a last line
// without its newline is logged as it is.
func (l *Logger) Copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			l.write(stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// Close closes the log.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Show calls each for the entries of dir's log from since on: the last
// tail of them (all when tail < 0), older file first; with follow, then
// those written after, until running says the sandbox has ended and its
// log is read to the end.
func Show(dir string, since time.Time, tail int, follow bool, each func(Line), running func() bool) error {
	var history []Line
	keep := func(l Line) {
		history = append(history, l)
		if tail >= 0 && len(history) > tail {
			history = history[1:]
		}
	}
	if f, err := os.Open(filepath.Join(dir, "log.1")); err == nil {
		_, err = readLines(f, since, keep)
		f.Close()
		if err != nil {
			return err
		}
	}
	p := filepath.Join(dir, "log")
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	off, err := readLines(f, since, keep)
	if err != nil {
		return err
	}
	for _, l := range history {
		each(l)
	}
	if !follow {
		return nil
	}
	ino := inodeOf(f)
	for {
		alive := running()
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		n, err := readLines(f, since, each)
		if err != nil {
			return err
		}
		off += n
		if fi, err := os.Stat(p); err == nil && inode(fi) != ino {
			// Rotated: the rest of the old file, then the new one.
			if _, err := f.Seek(off, io.SeekStart); err == nil {
				readLines(f, since, each)
			}
			f.Close()
			if f, err = os.Open(p); err != nil {
				return err
			}
			ino, off = inodeOf(f), 0
			continue
		}
		if !alive {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readLines reads whole lines of r; it returns how many bytes it used,
// so that a follower comes back for a line still being written.
func readLines(r io.Reader, since time.Time, each func(Line)) (int64, error) {
	br := bufio.NewReader(r)
	var used int64
	for {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			return used, nil
		}
		if err != nil {
			return used, err
		}
		used += int64(len(b))
		var l Line
		if json.Unmarshal(bytes.TrimSpace(b), &l) == nil && !l.Time.Before(since) {
			each(l)
		}
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func inodeOf(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return inode(fi)
}
