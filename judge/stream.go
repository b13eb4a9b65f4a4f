package judge

import (
	"errors"
	"fmt"
	"io"
)

// bufSize bounds the memory of a comparison: each side holds one buffer,
// whatever the size of the output or of any line or token in it.
const bufSize = 64 << 10

// stream is a reader with lookahead and a line counter. It replaces
// bufio.Reader because the comparisons need both a cheap byte at a time
// and a view of whole buffered runs, and they must report read errors
// with the side they came from.
type stream struct {
	r        io.Reader
	side     string // "output" or "answer", for errors and messages
	buf      []byte
	pos, end int
	err      error // sticky; io.EOF once r is exhausted
	line     int   // line number of the byte at pos, from 1
}

func newStream(r io.Reader, side string) *stream {
	return &stream{r: r, side: side, buf: make([]byte, bufSize), line: 1}
}

// fill makes at least one byte available and reports whether it could.
func (s *stream) fill() bool {
	for empty := 0; s.pos == s.end; {
		if s.err != nil {
			return false
		}
		n, err := s.r.Read(s.buf)
		s.pos, s.end, s.err = 0, n, err
		s.noProgress(n, &empty)
	}
	return true
}

// noProgress turns a reader that keeps returning 0, nil, which io.Reader
// permits but which would hang the judge, into io.ErrNoProgress after as
// many tries as bufio allows.
func (s *stream) noProgress(n int, empty *int) {
	if n > 0 || s.err != nil {
		*empty = 0
		return
	}
	if *empty++; *empty == 100 {
		s.err = io.ErrNoProgress
	}
}

// failed returns the read error, if there was one other than EOF, naming
// the side so the caller can tell a broken answer file from a broken pipe.
func (s *stream) failed() error {
	if s.err == nil || errors.Is(s.err, io.EOF) {
		return nil
	}
	return fmt.Errorf("reading %s: %w", s.side, s.err)
}

// peek returns the next byte without consuming it; ok is false at the end.
func (s *stream) peek() (b byte, ok bool) {
	if !s.fill() {
		return 0, false
	}
	return s.buf[s.pos], true
}

// next consumes one byte, which peek must have shown to exist.
func (s *stream) next() {
	if s.buf[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// peekN returns up to n buffered bytes without consuming them, reading
// more if fewer are buffered; fewer than n come back only at the end.
// n must not exceed bufSize.
func (s *stream) peekN(n int) []byte {
	for empty := 0; s.end-s.pos < n && s.err == nil; {
		if s.pos > 0 {
			s.end = copy(s.buf, s.buf[s.pos:s.end])
			s.pos = 0
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end, s.err = s.end+m, err
		s.noProgress(m, &empty)
	}
	return s.buf[s.pos:min(s.end, s.pos+n)]
}

// skip consumes bytes while in(b) holds.
func (s *stream) skip(in *[256]bool) {
	for s.fill() {
		chunk := s.buf[s.pos:s.end]
		i := 0
		for i < len(chunk) && in[chunk[i]] {
			if chunk[i] == '\n' {
				s.line++
			}
			i++
		}
		s.pos += i
		if i < len(chunk) {
			return
		}
	}
}

// Byte classes. space is the separator of tokens; blank is the trailing
// whitespace a line may carry, which includes the \r of a CRLF ending.
var space, blank [256]bool

func init() {
	for _, b := range []byte(" \t\n\r\v\f") {
		space[b] = true
	}
	for _, b := range []byte(" \t\r\v\f") {
		blank[b] = true
	}
}
