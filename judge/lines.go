package judge

import (
	"bytes"
	"fmt"

	"jail/verdict"
)

// Both exact and lines walk the two streams over their common prefix and
// look closer only where they first differ. The prefix can be any length;
// only the last few bytes of its current line are kept, for the message.

// excerptMax is how many bytes of each side a message shows on either side
// of the first difference.
const excerptMax = 32

// lineCtx follows the shared prefix: where in the line it stands and how
// the line began, so a message can show "…abc5" against "…abc6".
type lineCtx struct {
	col  int    // bytes of the current line already passed
	tail []byte // the last excerptMax of them
}

func (c *lineCtx) reset() { c.col, c.tail = 0, c.tail[:0] }

// consume records p as passed on both sides.
func (c *lineCtx) consume(p []byte) {
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		c.reset()
		p = p[i+1:]
	}
	c.col += len(p)
	if len(p) >= excerptMax {
		c.tail = append(c.tail[:0], p[len(p)-excerptMax:]...)
		return
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > excerptMax {
		c.tail = c.tail[:copy(c.tail, c.tail[len(c.tail)-excerptMax:])]
	}
}

// midToken says whether the prefix stops inside a token, which decides
// whether a whitespace-only difference can start here.
func (c *lineCtx) midToken() bool {
	return len(c.tail) > 0 && !space[c.tail[len(c.tail)-1]]
}

// advanceCommon consumes the longest common prefix of o and a.
func advanceCommon(o, a *stream, c *lineCtx) {
	for o.fill() && a.fill() {
		x, y := o.buf[o.pos:o.end], a.buf[a.pos:a.end]
		n := min(len(x), len(y))
		m := mismatch(x[:n], y[:n])
		c.consume(x[:m])
		nl := bytes.Count(x[:m], []byte{'\n'})
		o.line, a.line = o.line+nl, a.line+nl
		o.pos, a.pos = o.pos+m, a.pos+m
		if m < n {
			return
		}
	}
}

// mismatch returns the index of the first difference of two equal-length
// slices, or their length; bytes.Equal on blocks keeps the common case at
// memcmp speed.
func mismatch(x, y []byte) int {
	const block = 256
	i := 0
	for i+block <= len(x) && bytes.Equal(x[i:i+block], y[i:i+block]) {
		i += block
	}
	for i < len(x) && x[i] == y[i] {
		i++
	}
	return i
}

// show renders one side at the difference: the line so far, then rest,
// what follows on that side (a peekN of excerptMax bytes, so empty only
// at the end), not past the end of the line unless keepEOL.
func show(c *lineCtx, rest []byte, keepEOL bool) string {
	// Past the answer's end, what was expected is that the output end.
	if c.col == 0 && len(rest) == 0 {
		return "end of output"
	}
	cut := len(rest) == excerptMax
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		if keepEOL {
			rest = rest[:i+1]
		} else {
			rest = bytes.TrimRight(rest[:i], " \t\r\v\f")
		}
		cut = false
	} else if !keepEOL && !cut {
		rest = bytes.TrimRight(rest, " \t\r\v\f")
	}
	var b []byte
	if c.col > len(c.tail) {
		b = append(b, "…"...)
	}
	b = append(append(b, c.tail...), rest...)
	if cut {
		b = append(b, "…"...)
	}
	return fmt.Sprintf("%q", b)
}

// mayAgree decides, at the first difference after a common prefix,
// whether the rest of the two streams could still agree as tokens. It
// must look at the first differing bytes, before anything is skipped.
// Given the same prefix, the tokens can agree only if at least one side
// continues with whitespace (two different non-blank bytes differ in some
// token) and, if the prefix ends inside a token, only if both do
// (otherwise one side's token is longer).
func mayAgree(o, a *stream, c *lineCtx) bool {
	bo, moreO := o.peek()
	ba, moreA := a.peek()
	wo, wa := !moreO || space[bo], !moreA || space[ba]
	return (wo || wa) && !(c.midToken() && wo != wa)
}

// compareExact accepts only equal bytes. Where the bytes differ but the
// tokens agree the verdict is PE, as in the judges that kept PE (UVa,
// POJ, ejudge's "presentation error"): the answer is right and only its
// spacing, line breaks or line endings are not.
func compareExact(o, a *stream) Reading {
	var c lineCtx
	advanceCommon(o, a, &c)
	_, moreO := o.peek()
	_, moreA := a.peek()
	if !moreO && !moreA {
		return Reading{Verdict: verdict.OK}
	}
	msg := fmt.Sprintf("line %d, column %d: expected %s, got %s",
		o.line, c.col+1, show(&c, a.peekN(excerptMax), true), show(&c, o.peekN(excerptMax), true))
	if mayAgree(o, a, &c) && compareTokens(o, a, nil).Verdict == verdict.OK {
		return Reading{Verdict: verdict.PE, Message: msg + "; only whitespace differs"}
	}
	return Reading{Verdict: verdict.WA, Message: msg}
}

// compareLines accepts outputs whose lines equal the answer's once
// trailing blanks (space, tab, CR, VT, FF) are cut from every line and
// trailing empty lines from the end. A bare CR inside a line is content.
// Where the lines differ but the tokens agree ("1 2" against "1\n2") the
// verdict is PE, for the same reason as in exact.
func compareLines(o, a *stream) Reading {
	var c lineCtx
	var wantBuf, gotBuf [excerptMax]byte
	for {
		advanceCommon(o, a, &c)
		_, moreO := o.peek()
		_, moreA := a.peek()
		if !moreO && !moreA {
			return Reading{Verdict: verdict.OK}
		}
		// Most differences end up blanks at the end of a line (CRLF
		// against LF), so keep the bytes for a message but format them
		// only once the lines are known to differ.
		line := o.line
		want, got := append(wantBuf[:0], a.peekN(excerptMax)...), append(gotBuf[:0], o.peekN(excerptMax)...)
		agree := mayAgree(o, a, &c)
		// Two lines that differ only from here on are still equal if both
		// have nothing but blanks left. Skipping the blanks loses no
		// token, so the PE test below still sees the same tokens.
		o.skip(&blank)
		a.skip(&blank)
		if atEOL(o) && atEOL(a) {
			endO, endA := !skipNL(o), !skipNL(a)
			c.reset()
			if !endO && !endA {
				continue
			}
			return trailing(o, a, endO)
		}
		msg := fmt.Sprintf("line %d: expected %s, got %s", line, show(&c, want, false), show(&c, got, false))
		if agree && compareTokens(o, a, nil).Verdict == verdict.OK {
			return Reading{Verdict: verdict.PE, Message: msg + "; the tokens agree but the lines do not"}
		}
		return Reading{Verdict: verdict.WA, Message: msg}
	}
}

func atEOL(s *stream) bool {
	b, more := s.peek()
	return !more || b == '\n'
}

// skipNL consumes a newline and reports whether there was one, not EOF.
func skipNL(s *stream) bool {
	if _, more := s.peek(); !more {
		return false
	}
	s.next()
	return true
}

// trailing finishes lines after one side has ended: the other may only
// have empty or blank lines left.
func trailing(o, a *stream, outputEnded bool) Reading {
	rest := o
	if outputEnded {
		rest = a
	}
	rest.skip(&space)
	if _, more := rest.peek(); !more {
		return Reading{Verdict: verdict.OK}
	}
	var none lineCtx
	if outputEnded {
		return Reading{Verdict: verdict.WA, Message: fmt.Sprintf("line %d: expected %s, got end of output", rest.line, show(&none, rest.peekN(excerptMax), false))}
	}
	return Reading{Verdict: verdict.WA, Message: fmt.Sprintf("line %d: expected end of output, got %s", rest.line, show(&none, rest.peekN(excerptMax), false))}
}
