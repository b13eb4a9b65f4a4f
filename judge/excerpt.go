package judge

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"unicode/utf8"
)

// Excerpt is the start of an output, as a result carries it: as text when
// it is valid UTF-8, else base64, never rewritten (no newline added, no
// bytes replaced). Bytes is the whole output's size.
type Excerpt struct {
	Text      string `json:"text,omitempty"`
	B64       string `json:"b64,omitempty"`
	Bytes     int64  `json:"bytes"`
	Truncated bool   `json:"truncated,omitempty"`
}

// OutputExcerpt is how much of a test's output and stderr a result keeps
// unless the task says otherwise; RunOutput is the same for the one run
// of a task without tests, whose output is what a playground shows.
const (
	OutputExcerpt = 4 << 10
	RunOutput     = 1 << 20
)

// excerptOf reads the first max bytes of f, which holds a whole output.
func excerptOf(f *os.File, max int) (Excerpt, error) {
	st, err := f.Stat()
	if err != nil {
		return Excerpt{}, err
	}
	buf := make([]byte, min(int64(max), st.Size()))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Excerpt{}, err
	}
	return newExcerpt(buf[:n], st.Size()), nil
}

// excerptBuffer keeps the first max bytes of a stream as it is written,
// and counts them all: the excerpt of an output that is never read again.
type excerptBuffer struct {
	max  int
	b    []byte
	size int64
}

func (x *excerptBuffer) add(p []byte) {
	x.size += int64(len(p))
	if room := x.max - len(x.b); room > 0 {
		x.b = append(x.b, p[:min(room, len(p))]...)
	}
}

func (x *excerptBuffer) excerpt() Excerpt { return newExcerpt(x.b, x.size) }

// newExcerpt makes the excerpt of an output of size bytes that starts
// with b. A cut through a character is moved back to the character's
// start, so that text stays text.
func newExcerpt(b []byte, size int64) Excerpt {
	e := Excerpt{Bytes: size, Truncated: int64(len(b)) < size}
	if e.Truncated {
		for cut := len(b); cut > 0 && cut > len(b)-utf8.UTFMax; cut-- {
			if utf8.Valid(b[:cut]) {
				b = b[:cut]
				break
			}
		}
	}
	if utf8.Valid(b) {
		e.Text = string(b)
	} else {
		e.B64 = base64.StdEncoding.EncodeToString(b)
	}
	return e
}

// String is the excerpt as text, for a terminal: base64 output is said to
// be binary.
func (e Excerpt) String() string {
	if e.B64 != "" {
		return "(binary output)"
	}
	return e.Text
}
